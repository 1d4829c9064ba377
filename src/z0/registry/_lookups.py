"""Lookups and clean-ups shared by the stores."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, exists, select
from sqlalchemy.engine import Connection, RowMapping

from z0.errors import NamespaceNotFound
from z0.registry._tables import blobs, namespaces, version_modules

__all__ = ["delete_orphan_blobs", "namespace_row"]


def namespace_row(connection: Connection, account_id: str, name: str) -> RowMapping:
    row = (
        connection.execute(
            select(namespaces).where(namespaces.c.account_id == account_id, namespaces.c.name == name)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NamespaceNotFound(f"Dispatch namespace {name!r} was not found.")
    return row


def delete_orphan_blobs(connection: Connection, candidates: Iterable[str]) -> None:
    """Deletes the given blobs that no version refers to any more."""
    candidates = list(candidates)
    if not candidates:
        return
    referenced = exists().where(version_modules.c.blob_sha256 == blobs.c.sha256)
    connection.execute(delete(blobs).where(blobs.c.sha256.in_(candidates), ~referenced))
