"""Lookups and clean-ups shared by the stores."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, delete, exists, select
from sqlalchemy.engine import Connection, RowMapping

from z0.errors import NamespaceNotFound
from z0.registry._tables import blobs, namespaces, script_versions, version_modules

__all__ = ["blobs_of_versions", "delete_orphan_blobs", "namespace_row"]


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
    as_module = exists().where(version_modules.c.blob_sha256 == blobs.c.sha256)
    as_linked = exists().where(script_versions.c.linked_sha256 == blobs.c.sha256)
    connection.execute(delete(blobs).where(blobs.c.sha256.in_(candidates), ~as_module, ~as_linked))


def blobs_of_versions(connection: Connection, versions: Select[Any]) -> set[str]:
    """The blobs (modules and linked forms) of the versions a query selects by id."""
    modules = select(version_modules.c.blob_sha256).where(version_modules.c.version_id.in_(versions))
    linked = select(script_versions.c.linked_sha256).where(
        script_versions.c.id.in_(versions), script_versions.c.linked_sha256.is_not(None)
    )
    return set(connection.execute(modules).scalars()) | set(connection.execute(linked).scalars())
