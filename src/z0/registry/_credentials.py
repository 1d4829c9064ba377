"""Secrets that prove who is calling: tenant gateway keys (`z0k_…`) and API tokens (`z0t_…`).

Each is 32 random bytes, shown once at creation and stored only as its SHA-256 (a fast hash is
enough for 256 bits of entropy: there is nothing to brute-force), so a lookup is one index probe.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping

from z0.errors import Conflict, KeyNotFound, TokenNotFound
from z0.registry._db import Database, utcnow
from z0.registry._records import ApiToken, TenantKey, TenantStatus
from z0.registry._tables import api_tokens, tenant_keys, tenants
from z0.registry._tenants import tenant_row

__all__ = ["API_TOKEN_PREFIX", "ENV_TOKEN_ID", "GATEWAY_KEY_PREFIX", "CredentialStore", "hash_secret"]

GATEWAY_KEY_PREFIX = "z0k_"
API_TOKEN_PREFIX = "z0t_"  # noqa: S105 (a prefix, not a secret)
# The operator token that `Z0_API_TOKEN` sets: one row, replaced when the variable changes.
ENV_TOKEN_ID = "env_z0_api_token"  # noqa: S105 (an id, not a secret)
_SHOWN_PREFIX_LENGTH = 10


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


class CredentialStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Tenant gateway keys

    def create_key(self, tenant_id: str) -> tuple[TenantKey, str]:
        """Returns the key record and the key itself, which is never available again."""
        secret = _new_secret(GATEWAY_KEY_PREFIX)
        key = TenantKey(secrets.token_hex(16), tenant_id, secret[:_SHOWN_PREFIX_LENGTH], utcnow())
        with self._db.write() as connection:
            tenant = tenant_row(connection, tenant_id)
            if tenant["status"] == TenantStatus.DELETED.value:
                raise Conflict(f"Tenant {tenant_id!r} is deleted; it cannot get new keys.")
            connection.execute(
                insert(tenant_keys).values(
                    id=key.id,
                    tenant_id=tenant_id,
                    prefix=key.prefix,
                    key_hash=hash_secret(secret),
                    created_on=key.created_on,
                )
            )
        return key, secret

    def list_keys(self, tenant_id: str) -> list[TenantKey]:
        """The tenant's keys that are not revoked."""
        query = (
            select(tenant_keys)
            .where(tenant_keys.c.tenant_id == tenant_id, tenant_keys.c.revoked_on.is_(None))
            .order_by(tenant_keys.c.created_on, tenant_keys.c.id)
        )
        with self._db.read() as connection:
            tenant_row(connection, tenant_id)
            return [_key(row) for row in connection.execute(query).mappings()]

    def revoke_key(self, tenant_id: str, key_id: str) -> None:
        with self._db.write() as connection:
            result = connection.execute(
                update(tenant_keys)
                .where(
                    tenant_keys.c.id == key_id,
                    tenant_keys.c.tenant_id == tenant_id,
                    tenant_keys.c.revoked_on.is_(None),
                )
                .values(revoked_on=utcnow())
            )
            if result.rowcount == 0:
                raise KeyNotFound(f"Tenant {tenant_id!r} has no active key {key_id!r}.")

    def active_key_hashes(self) -> dict[str, str]:
        """Hash of every usable gateway key → its tenant id (the gateway keeps this in memory)."""
        query = (
            select(tenant_keys.c.key_hash, tenant_keys.c.tenant_id)
            .join(tenants, tenants.c.id == tenant_keys.c.tenant_id)
            .where(tenant_keys.c.revoked_on.is_(None), tenants.c.status != TenantStatus.DELETED.value)
        )
        with self._db.read() as connection:
            return {key_hash: tenant_id for key_hash, tenant_id in connection.execute(query)}

    # API tokens

    def create_token(
        self, account_id: str, *, name: str, tenant_id: str | None = None
    ) -> tuple[ApiToken, str]:
        secret = _new_secret(API_TOKEN_PREFIX)
        token = ApiToken(
            secrets.token_hex(16), account_id, name, tenant_id, secret[:_SHOWN_PREFIX_LENGTH], utcnow()
        )
        with self._db.write() as connection:
            if tenant_id is not None:
                tenant = tenant_row(connection, tenant_id)
                if tenant["status"] == TenantStatus.DELETED.value:
                    raise Conflict(f"Tenant {tenant_id!r} is deleted; it cannot get new tokens.")
            connection.execute(
                insert(api_tokens).values(**_token_values(token), token_hash=hash_secret(secret))
            )
        return token, secret

    def set_env_token(self, account_id: str, secret: str) -> ApiToken:
        """Makes `secret` (from Z0_API_TOKEN) an operator token, replacing the previous one it set."""
        token = ApiToken(ENV_TOKEN_ID, account_id, "Z0_API_TOKEN", None, "(env)", utcnow())
        with self._db.write() as connection:
            existing = connection.execute(
                select(api_tokens.c.id).where(api_tokens.c.id == ENV_TOKEN_ID).with_for_update()
            ).first()
            values = {**_token_values(token), "token_hash": hash_secret(secret), "revoked_on": None}
            if existing is None:
                connection.execute(insert(api_tokens).values(**values))
            else:
                connection.execute(update(api_tokens).where(api_tokens.c.id == ENV_TOKEN_ID).values(**values))
        return token

    def list_tokens(self, account_id: str) -> list[ApiToken]:
        query = (
            select(api_tokens)
            .where(api_tokens.c.account_id == account_id, api_tokens.c.revoked_on.is_(None))
            .order_by(api_tokens.c.created_on, api_tokens.c.id)
        )
        with self._db.read() as connection:
            return [_token(row) for row in connection.execute(query).mappings()]

    def revoke_token(self, account_id: str, token_id: str) -> None:
        with self._db.write() as connection:
            result = connection.execute(
                update(api_tokens)
                .where(
                    api_tokens.c.id == token_id,
                    api_tokens.c.account_id == account_id,
                    api_tokens.c.revoked_on.is_(None),
                )
                .values(revoked_on=utcnow())
            )
            if result.rowcount == 0:
                raise TokenNotFound(f"No active API token {token_id!r}.")

    def authenticate(self, secret: str) -> ApiToken | None:
        """The token `secret` proves, or None: unknown, revoked, or its tenant is deleted."""
        query = (
            select(api_tokens, tenants.c.status.label("tenant_status"))
            .outerjoin(tenants, tenants.c.id == api_tokens.c.tenant_id)
            .where(api_tokens.c.token_hash == hash_secret(secret), api_tokens.c.revoked_on.is_(None))
        )
        with self._db.read() as connection:
            row = connection.execute(query).mappings().first()
        if row is None or row["tenant_status"] == TenantStatus.DELETED.value:
            return None
        return _token(row)


def _token_values(token: ApiToken) -> dict[str, object]:
    return {
        "id": token.id,
        "account_id": token.account_id,
        "name": token.name,
        "tenant_id": token.tenant_id,
        "prefix": token.prefix,
        "created_on": token.created_on,
    }


def _key(row: RowMapping) -> TenantKey:
    return TenantKey(row["id"], row["tenant_id"], row["prefix"], row["created_on"])


def _token(row: RowMapping) -> ApiToken:
    return ApiToken(
        row["id"], row["account_id"], row["name"], row["tenant_id"], row["prefix"], row["created_on"]
    )
