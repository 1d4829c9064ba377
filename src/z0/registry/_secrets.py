"""Scripts' secrets: names in clear, values only as AES-GCM ciphertexts (z0.secrets seals them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import ColumnElement

from z0.errors import NotFound
from z0.registry._db import Database, insert_ignoring_conflicts, utcnow
from z0.registry._lookups import namespace_row
from z0.registry._tables import script_secrets

__all__ = ["SealedSecret", "SecretInfo", "SecretStore", "store_secret"]


@dataclass(frozen=True, slots=True)
class SecretInfo:
    name: str
    created_on: datetime
    modified_on: datetime


@dataclass(frozen=True, slots=True)
class SealedSecret:
    namespace_id: str
    script_name: str
    name: str
    nonce: bytes
    ciphertext: bytes
    key_id: str

    @property
    def place(self) -> tuple[str, str, str]:
        return (self.namespace_id, self.script_name, self.name)


class SecretStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def namespace_id(self, account_id: str, namespace: str) -> str:
        with self._db.read() as connection:
            return str(namespace_row(connection, account_id, namespace)["id"])

    def put(
        self, namespace_id: str, script_name: str, name: str, nonce: bytes, ciphertext: bytes, key_id: str
    ) -> None:
        with self._db.write() as connection:
            store_secret(connection, namespace_id, script_name, name, nonce, ciphertext, key_id, utcnow())

    def names(self, namespace_id: str, script_name: str) -> list[SecretInfo]:
        query = (
            select(script_secrets.c.name, script_secrets.c.created_on, script_secrets.c.modified_on)
            .where(script_secrets.c.namespace_id == namespace_id, script_secrets.c.script_name == script_name)
            .order_by(script_secrets.c.name)
        )
        with self._db.read() as connection:
            return [SecretInfo(*row) for row in connection.execute(query)]

    def sealed(self, namespace_id: str, script_name: str) -> list[SealedSecret]:
        query = select(script_secrets).where(
            script_secrets.c.namespace_id == namespace_id, script_secrets.c.script_name == script_name
        )
        with self._db.read() as connection:
            return [_sealed(row) for row in connection.execute(query).mappings()]

    def delete(self, namespace_id: str, script_name: str, name: str) -> None:
        with self._db.write() as connection:
            result = connection.execute(
                delete(script_secrets).where(*_where(namespace_id, script_name, name))
            )
        if result.rowcount == 0:
            raise NotFound(f"Script {script_name!r} has no secret {name!r}.")

    def reseal_all(self, reseal: Callable[[SealedSecret], tuple[bytes, bytes, str]]) -> int:
        """Re-encrypts every secret in one transaction (master key rotation); returns how many."""
        with self._db.write() as connection:
            rows = [_sealed(row) for row in connection.execute(select(script_secrets)).mappings()]
            for secret in rows:
                nonce, ciphertext, key_id = reseal(secret)
                connection.execute(
                    update(script_secrets)
                    .where(*_where(secret.namespace_id, secret.script_name, secret.name))
                    .values(nonce=nonce, ciphertext=ciphertext, key_id=key_id)
                )
        return len(rows)


def _where(namespace_id: str, script_name: str, name: str) -> tuple[ColumnElement[bool], ...]:
    return (
        script_secrets.c.namespace_id == namespace_id,
        script_secrets.c.script_name == script_name,
        script_secrets.c.name == name,
    )


def _sealed(row: RowMapping) -> SealedSecret:
    return SealedSecret(
        row["namespace_id"],
        row["script_name"],
        row["name"],
        bytes(row["nonce"]),
        bytes(row["ciphertext"]),
        row["key_id"],
    )


def store_secret(
    connection: Connection,
    ns_id: str,
    script_name: str,
    name: str,
    nonce: bytes,
    ciphertext: bytes,
    key_id: str,
    now: datetime,
) -> None:
    """Sets one sealed secret of a script (inside the caller's write transaction)."""
    place = {"namespace_id": ns_id, "script_name": script_name, "name": name}
    sealed = {"nonce": nonce, "ciphertext": ciphertext, "key_id": key_id, "modified_on": now}
    insert_ignoring_conflicts(
        connection, script_secrets, [{**place, **sealed, "created_on": now}], list(place)
    )
    connection.execute(
        update(script_secrets)
        .where(*(script_secrets.c[column] == value for column, value in place.items()))
        .values(**sealed)
    )
