"""Tenant resources a script may bind: KV namespaces and D1 databases (their records; a D1
database's data is its own SQLite file, see z0.bindings.d1).

Each belongs to a tenant, or to the platform (`tenant_id` None). A tenant token sees and touches only
its tenant's; the upload check refuses a script binding a resource of another tenant.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from z0.errors import Conflict, Forbidden, InvalidRequest, NotFound
from z0.registry._db import Database, utcnow
from z0.registry._tables import d1_databases, kv_namespaces

__all__ = ["D1Database", "KvNamespace", "ResourceStore"]


@dataclass(frozen=True, slots=True)
class KvNamespace:
    id: str
    account_id: str
    title: str
    tenant_id: str | None
    created_on: datetime


@dataclass(frozen=True, slots=True)
class D1Database:
    id: str
    account_id: str
    name: str
    tenant_id: str | None
    created_on: datetime


class ResourceStore:
    """Records of one kind of bindable resource (`kv` or `d1`)."""

    def __init__(self, db: Database, kind: str) -> None:
        if kind not in ("kv", "d1"):
            raise ValueError(f"unknown resource kind {kind!r}")
        self._db = db
        self.kind = kind
        self._table: Table = kv_namespaces if kind == "kv" else d1_databases
        self._label = "KV namespace" if kind == "kv" else "D1 database"

    def create(
        self, account_id: str, title: str, *, tenant_id: str | None = None
    ) -> KvNamespace | D1Database:
        title = title.strip()
        if not title or len(title) > 255:
            raise InvalidRequest(f"A {self._label} needs a name of 1 to 255 characters.")
        if tenant_id is not None:
            from z0.registry._tenants import tenant_row

            with self._db.read() as connection:
                tenant_row(connection, tenant_id)
        resource_id = secrets.token_hex(16) if self.kind == "kv" else str(uuid.uuid4())
        values = {
            "id": resource_id,
            "account_id": account_id,
            self._name_column: title,
            "tenant_id": tenant_id,
            "created_on": utcnow(),
        }
        try:
            with self._db.write() as connection:
                connection.execute(insert(self._table).values(**values))
        except IntegrityError as exc:
            raise Conflict(f"A {self._label} named {title!r} already exists.") from exc
        return self._record(values)

    def list(self, account_id: str, *, tenant_id: str | None = None) -> list[KvNamespace | D1Database]:
        """All of them, or only a tenant's (for a tenant token)."""
        query = select(self._table).where(self._table.c.account_id == account_id)
        if tenant_id is not None:
            query = query.where(self._table.c.tenant_id == tenant_id)
        with self._db.read() as connection:
            rows = connection.execute(query.order_by(self._table.c.created_on, self._table.c.id)).mappings()
            return [self._record(row) for row in rows]

    def get(
        self, account_id: str, resource_id: str, *, acting_tenant: str | None = None
    ) -> KvNamespace | D1Database:
        with self._db.read() as connection:
            row = (
                connection.execute(
                    select(self._table).where(
                        self._table.c.id == resource_id, self._table.c.account_id == account_id
                    )
                )
                .mappings()
                .first()
            )
        if row is None or (acting_tenant is not None and row["tenant_id"] != acting_tenant):
            # a tenant token learns nothing about another tenant's resources
            raise NotFound(f"{self._label} {resource_id!r} was not found.")
        return self._record(row)

    def delete(self, account_id: str, resource_id: str, *, acting_tenant: str | None = None) -> None:
        self.get(account_id, resource_id, acting_tenant=acting_tenant)
        with self._db.write() as connection:
            connection.execute(delete(self._table).where(self._table.c.id == resource_id))

    def check_owner(self, account_id: str, resource_id: str, tenant_id: str | None, binding: str) -> None:
        """Refuses (403) binding a resource that is not the script owner's, naming the binding."""
        try:
            resource = self.get(account_id, resource_id)
        except NotFound:
            raise NotFound(f"Binding {binding!r}: {self._label} {resource_id!r} was not found.") from None
        if resource.tenant_id != tenant_id:
            owner = f"tenant {tenant_id!r}" if tenant_id else "the platform"
            raise Forbidden(f"Binding {binding!r}: {self._label} {resource_id!r} does not belong to {owner}.")

    @property
    def _name_column(self) -> str:
        return "title" if self.kind == "kv" else "name"

    def _record(self, row: Mapping[str, Any] | RowMapping) -> KvNamespace | D1Database:
        fields = (row["id"], row["account_id"], row[self._name_column], row["tenant_id"], row["created_on"])
        return KvNamespace(*fields) if self.kind == "kv" else D1Database(*fields)
