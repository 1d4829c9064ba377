"""Accounts and dispatch namespaces."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from z0.errors import Conflict
from z0.names import validate_namespace_name
from z0.registry._db import Database, utcnow
from z0.registry._lookups import blobs_of_versions, delete_orphan_blobs, namespace_row
from z0.registry._records import Account, Namespace
from z0.registry._tables import accounts, namespaces, script_versions, scripts

__all__ = ["NamespaceStore"]


class NamespaceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Accounts: z0 serves one account per registry, made on first start.

    def account(self) -> Account | None:
        with self._db.read() as connection:
            row = (
                connection.execute(select(accounts).order_by(accounts.c.created_on).limit(1))
                .mappings()
                .first()
            )
        return Account(row["id"], row["created_on"]) if row else None

    def create_account(self, account_id: str) -> Account:
        created_on = utcnow()
        with self._db.write() as connection:
            connection.execute(insert(accounts).values(id=account_id, created_on=created_on))
        return Account(account_id, created_on)

    # Namespaces

    def create(self, account_id: str, name: str, *, created_by: str | None = None) -> Namespace:
        validate_namespace_name(name)
        now = utcnow()
        row = {
            "id": str(uuid.uuid4()),
            "account_id": account_id,
            "name": name,
            "created_on": now,
            "modified_on": now,
            "created_by": created_by,
            "modified_by": created_by,
        }
        try:
            with self._db.write() as connection:
                connection.execute(insert(namespaces).values(**row))
        except IntegrityError as exc:
            raise Conflict(f"A namespace named {name!r} already exists.") from exc
        return _namespace(row, script_count=0)

    def list(self, account_id: str) -> list[Namespace]:
        counts = (
            select(scripts.c.namespace_id, func.count().label("script_count"))
            .group_by(scripts.c.namespace_id)
            .subquery()
        )
        query = (
            select(namespaces, func.coalesce(counts.c.script_count, 0).label("script_count"))
            .outerjoin(counts, counts.c.namespace_id == namespaces.c.id)
            .where(namespaces.c.account_id == account_id)
            .order_by(namespaces.c.created_on, namespaces.c.name)
        )
        with self._db.read() as connection:
            rows = connection.execute(query).mappings().all()
        return [_namespace(row, script_count=row["script_count"]) for row in rows]

    def get(self, account_id: str, name: str) -> Namespace:
        with self._db.read() as connection:
            row = namespace_row(connection, account_id, name)
            count = connection.execute(
                select(func.count()).select_from(scripts).where(scripts.c.namespace_id == row["id"])
            ).scalar_one()
        return _namespace(row, script_count=count)

    def delete(self, account_id: str, name: str) -> None:
        """Deletes the namespace and every script in it, with their versions."""
        with self._db.write() as connection:
            row = namespace_row(connection, account_id, name)
            versions = select(script_versions.c.id).where(script_versions.c.namespace_id == row["id"])
            doomed = blobs_of_versions(connection, versions)
            connection.execute(delete(namespaces).where(namespaces.c.id == row["id"]))
            delete_orphan_blobs(connection, doomed)


def _namespace(row: Any, *, script_count: int) -> Namespace:
    return Namespace(
        id=row["id"],
        account_id=row["account_id"],
        name=row["name"],
        created_on=row["created_on"],
        modified_on=row["modified_on"],
        created_by=row["created_by"],
        modified_by=row["modified_by"],
        script_count=int(script_count),
    )
