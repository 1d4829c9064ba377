"""Scripts, their immutable versions, module contents and tags.

Every upload is a new version; the script points at the newest. Concurrent uploads of one script
queue on its row (SQLite: the write lock; PostgreSQL: `SELECT … FOR UPDATE`), so both versions are
recorded and the last to commit is current.

`acting_tenant` is the tenant a tenant API token speaks for (None for an operator): such a caller
may touch only scripts it owns, and learns nothing about other tenants' scripts beyond a 403.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql import Select

from z0.errors import Forbidden, InvalidRequest, OwnershipMismatch, ScriptNotFound
from z0.names import parse_script_name, script_owner, validate_tags
from z0.registry._db import Database, insert_ignoring_conflicts, utcnow
from z0.registry._lookups import blobs_of_versions, delete_orphan_blobs, namespace_row
from z0.registry._records import Module, ModuleInfo, Script, ScriptHead, ScriptUpload, ScriptVersion
from z0.registry._secrets import store_secret
from z0.registry._tables import (
    blobs,
    namespaces,
    script_tags,
    script_versions,
    scripts,
    version_modules,
)

__all__ = ["ScriptStore", "upload_etag"]


def upload_etag(upload: ScriptUpload) -> str:
    """SHA-256 over the metadata and every module (name, type, content), in upload order."""
    digest = hashlib.sha256()
    digest.update(json.dumps(upload.metadata, sort_keys=True, separators=(",", ":")).encode())
    for module in upload.modules:
        digest.update(b"\0module\0" + module.name.encode() + b"\0" + module.content_type.encode() + b"\0")
        digest.update(hashlib.sha256(module.content).digest())
    return digest.hexdigest()


class ScriptStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._heads: dict[tuple[str, str], tuple[tuple[Any, ...], ScriptHead]] = {}  # the last heads()

    def put(
        self,
        account_id: str,
        namespace: str,
        upload: ScriptUpload,
        *,
        acting_tenant: str | None = None,
        version_id: str | None = None,
        linked: bytes | None = None,
        handlers: Sequence[str] | None = None,
        startup_ms: float | None = None,
        secrets: Sequence[tuple[str, bytes, bytes, str]] = (),
    ) -> Script:
        """Records a new version and makes it current. `linked`, `handlers` and `startup_ms` are what
        the upload check found (the linked form is kept as a blob); `secrets` are sealed values
        (name, nonce, ciphertext, key id) to set with it, in the same transaction."""
        version_id = version_id or str(uuid.uuid4())
        new_tags = list(validate_tags(list(upload.tags))) if upload.tags is not None else None
        owner_if_new = script_owner(upload.name, new_tags or []) or acting_tenant
        module_rows, blob_rows = _module_rows(version_id, upload.modules)
        linked_sha256 = hashlib.sha256(linked).hexdigest() if linked is not None else None
        if linked is not None:
            blob_rows.append({"sha256": linked_sha256, "size": len(linked), "content": linked})
        with self._db.write() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            provisional = utcnow()
            insert_ignoring_conflicts(
                connection,
                scripts,
                [
                    {
                        "namespace_id": ns_id,
                        "name": upload.name,
                        "tenant_id": owner_if_new,
                        "current_version_id": version_id,
                        "created_on": provisional,
                        "modified_on": provisional,
                    }
                ],
                ["namespace_id", "name"],
            )
            row = _script_row(connection, ns_id, upload.name, for_update=True)
            assert row is not None
            # Taken once the script's row is ours, so that versions are ordered as they commit.
            now = utcnow()
            created = row["current_version_id"] == version_id
            owner = _owner_for_put(
                connection, ns_id, upload.name, new_tags, None if created else row, acting_tenant
            )
            connection.execute(
                update(scripts)
                .where(scripts.c.namespace_id == ns_id, scripts.c.name == upload.name)
                .values(
                    current_version_id=version_id,
                    modified_on=now,
                    tenant_id=owner,
                    created_on=now if created else row["created_on"],
                )
            )
            if new_tags is not None:
                _replace_tags(connection, ns_id, upload.name, new_tags)
            insert_ignoring_conflicts(connection, blobs, blob_rows, ["sha256"])
            connection.execute(
                insert(script_versions).values(
                    id=version_id,
                    namespace_id=ns_id,
                    script_name=upload.name,
                    etag=upload_etag(upload),
                    main_module=upload.main_module,
                    format=upload.format,
                    metadata_json=json.dumps(upload.metadata, separators=(",", ":")),
                    size=upload.size,
                    created_on=now,
                    linked_sha256=linked_sha256,
                    handlers_json=json.dumps(list(handlers)) if handlers is not None else None,
                    startup_ms=startup_ms,
                )
            )
            connection.execute(insert(version_modules), module_rows)
            for secret_name, nonce, ciphertext, key_id in secrets:
                store_secret(connection, ns_id, upload.name, secret_name, nonce, ciphertext, key_id, now)
            return _load_scripts(
                connection, namespace, _scripts_query(ns_id).where(scripts.c.name == upload.name)
            )[0]

    def authorize_put(
        self, account_id: str, namespace: str, upload: ScriptUpload, *, acting_tenant: str | None = None
    ) -> str | None:
        """Whether this upload may be made (before any of its code runs): its namespace exists, its owner
        stays its owner, a tenant token deploys only its own; returns the owner it will have."""
        new_tags = list(validate_tags(list(upload.tags))) if upload.tags is not None else None
        with self._db.read() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            row = _script_row(connection, ns_id, upload.name)
            return _owner_for_put(connection, ns_id, upload.name, new_tags, row, acting_tenant)

    def redeploy(
        self, account_id: str, namespace: str, name: str, *, acting_tenant: str | None = None
    ) -> Script:
        """A new version with the current one's code and metadata (as a secret change makes one, so
        that every gateway process loads the script again)."""
        with self._db.write() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            row = _require_script(connection, ns_id, name, acting_tenant, for_update=True)
            current = (
                connection.execute(
                    select(script_versions).where(script_versions.c.id == row["current_version_id"])
                )
                .mappings()
                .one()
            )
            version_id = str(uuid.uuid4())
            now = utcnow()
            connection.execute(
                insert(script_versions).values({**current, "id": version_id, "created_on": now})
            )
            modules = (
                connection.execute(
                    select(version_modules).where(version_modules.c.version_id == current["id"])
                )
                .mappings()
                .all()
            )
            connection.execute(
                insert(version_modules), [{**module, "version_id": version_id} for module in modules]
            )
            connection.execute(
                update(scripts)
                .where(scripts.c.namespace_id == ns_id, scripts.c.name == name)
                .values(current_version_id=version_id, modified_on=now)
            )
            return _load_scripts(connection, namespace, _scripts_query(ns_id).where(scripts.c.name == name))[
                0
            ]

    def get(self, account_id: str, namespace: str, name: str, *, acting_tenant: str | None = None) -> Script:
        with self._db.read() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            _require_script(connection, ns_id, name, acting_tenant)
            return _load_scripts(connection, namespace, _scripts_query(ns_id).where(scripts.c.name == name))[
                0
            ]

    def find(
        self,
        account_id: str,
        namespace: str,
        *,
        tag_filter: Sequence[tuple[str, bool]] = (),
        tenant_id: str | None = None,
    ) -> list[Script]:
        with self._db.read() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            return _load_scripts(connection, namespace, _filtered_query(ns_id, tag_filter, tenant_id))

    def delete(self, account_id: str, namespace: str, name: str, *, acting_tenant: str | None = None) -> None:
        with self._db.write() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            _require_script(connection, ns_id, name, acting_tenant, for_update=True)
            _delete_scripts(connection, ns_id, [name])

    def delete_by_tags(
        self,
        account_id: str,
        namespace: str,
        tag_filter: Sequence[tuple[str, bool]],
        *,
        tenant_id: str | None = None,
    ) -> list[str]:
        """Deletes every script the filter matches (only `tenant_id`'s, when given); returns their names."""
        if not tag_filter:
            raise InvalidRequest("Deleting by tag needs a tag filter: ?tags=TAG:yes (or TAG:no).")
        with self._db.write() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            query = _filtered_query(ns_id, tag_filter, tenant_id).with_only_columns(scripts.c.name)
            names = list(connection.execute(query).scalars())
            _delete_scripts(connection, ns_id, names)
        return names

    def versions(
        self, account_id: str, namespace: str, name: str, *, acting_tenant: str | None = None
    ) -> list[ScriptVersion]:
        """Every version of a script, newest first."""
        with self._db.read() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            _require_script(connection, ns_id, name, acting_tenant)
            rows = (
                connection.execute(
                    select(script_versions)
                    .where(script_versions.c.namespace_id == ns_id, script_versions.c.script_name == name)
                    .order_by(script_versions.c.created_on.desc(), script_versions.c.id)
                )
                .mappings()
                .all()
            )
            infos = _module_infos(connection, [row["id"] for row in rows])
        return [_version(row, infos[row["id"]]) for row in rows]

    def heads(self) -> dict[tuple[str, str], ScriptHead]:
        """Every script's current version and owner, by (namespace name, script name)."""
        query = (
            select(
                namespaces.c.name.label("namespace"),
                scripts.c.name,
                scripts.c.tenant_id,
                scripts.c.current_version_id,
                script_versions.c.main_module,
                script_versions.c.format,
            )
            .join(namespaces, namespaces.c.id == scripts.c.namespace_id)
            .join(script_versions, script_versions.c.id == scripts.c.current_version_id)
        )
        # Rebuilt after every registry change: unchanged heads are the objects of the last call, and rows
        # are read as plain tuples (attribute access per field was half the time at 10,000 scripts).
        previous = self._heads
        current: dict[tuple[str, str], tuple[tuple[Any, ...], ScriptHead]] = {}
        with self._db.read() as connection:
            for row in connection.execute(query):
                values = tuple(row)
                key = (values[0], values[1])
                known = previous.get(key)
                current[key] = (
                    known if known is not None and known[0] == values else (values, ScriptHead(*values))
                )
        self._heads = current
        return {key: head for key, (_, head) in current.items()}

    def version(self, version_id: str) -> ScriptVersion:
        with self._db.read() as connection:
            row = (
                connection.execute(select(script_versions).where(script_versions.c.id == version_id))
                .mappings()
                .first()
            )
            if row is None:
                raise ScriptNotFound(f"Version {version_id!r} was not found.")
            return _version(row, _module_infos(connection, [version_id])[version_id])

    def blob(self, sha256: str) -> bytes | None:
        with self._db.read() as connection:
            content = connection.execute(select(blobs.c.content).where(blobs.c.sha256 == sha256)).scalar()
        return bytes(content) if content is not None else None

    def modules(self, version_id: str) -> list[Module]:
        """The modules of one version, with their contents, in upload order."""
        query = (
            select(version_modules.c.name, version_modules.c.content_type, blobs.c.content)
            .join(blobs, blobs.c.sha256 == version_modules.c.blob_sha256)
            .where(version_modules.c.version_id == version_id)
            .order_by(version_modules.c.position)
        )
        with self._db.read() as connection:
            rows = connection.execute(query).all()
        return [Module(name, content_type, bytes(content)) for name, content_type, content in rows]

    def set_tags(
        self, account_id: str, namespace: str, name: str, tags: list[str], *, acting_tenant: str | None = None
    ) -> list[str]:
        tags = validate_tags(tags)
        with self._db.write() as connection:
            ns_id = _namespace_id(connection, account_id, namespace)
            row = _require_script(connection, ns_id, name, acting_tenant, for_update=True)
            owner = _owner_after(name, tags, row["tenant_id"])
            if owner != row["tenant_id"]:
                connection.execute(
                    update(scripts)
                    .where(scripts.c.namespace_id == ns_id, scripts.c.name == name)
                    .values(tenant_id=owner)
                )
            _replace_tags(connection, ns_id, name, tags)
        return tags

    def add_tag(
        self, account_id: str, namespace: str, name: str, tag: str, *, acting_tenant: str | None = None
    ) -> list[str]:
        current = self.get(account_id, namespace, name, acting_tenant=acting_tenant).tags
        return self.set_tags(account_id, namespace, name, [*current, tag], acting_tenant=acting_tenant)

    def remove_tag(
        self, account_id: str, namespace: str, name: str, tag: str, *, acting_tenant: str | None = None
    ) -> list[str]:
        current = self.get(account_id, namespace, name, acting_tenant=acting_tenant).tags
        return self.set_tags(
            account_id, namespace, name, [t for t in current if t != tag], acting_tenant=acting_tenant
        )


def _namespace_id(connection: Connection, account_id: str, namespace: str) -> str:
    return str(namespace_row(connection, account_id, namespace)["id"])


def _module_rows(
    version_id: str, modules: Sequence[Module]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    module_rows: list[dict[str, Any]] = []
    blob_rows: dict[str, dict[str, Any]] = {}
    for position, module in enumerate(modules):
        sha256 = hashlib.sha256(module.content).hexdigest()
        blob_rows[sha256] = {"sha256": sha256, "size": len(module.content), "content": module.content}
        module_rows.append(
            {
                "version_id": version_id,
                "position": position,
                "name": module.name,
                "content_type": module.content_type,
                "blob_sha256": sha256,
            }
        )
    return module_rows, list(blob_rows.values())


def _owner_for_put(
    connection: Connection,
    ns_id: str,
    name: str,
    new_tags: list[str] | None,
    existing: RowMapping | None,
    acting_tenant: str | None,
) -> str | None:
    """The owner an upload gives a script (None: nobody's), or Forbidden for a tenant token that
    would deploy another tenant's script."""
    if existing is None:
        owner = script_owner(name, new_tags or [])
    else:
        tags = new_tags if new_tags is not None else _tags_of(connection, ns_id, [name])[name]
        owner = _owner_after(name, tags, existing["tenant_id"])
    if acting_tenant is None:
        return owner
    owner = owner or acting_tenant
    # An existing script must already be the tenant's: a platform script (no owner) is not for taking.
    if owner != acting_tenant or (existing is not None and existing["tenant_id"] != acting_tenant):
        raise Forbidden(f"This token may deploy only tenant {acting_tenant!r}'s scripts.")
    return owner


def _owner_after(name: str, tags: list[str], current_owner: str | None) -> str | None:
    """The owner after a change of tags; ownership, once set, never moves to another tenant."""
    owner = script_owner(name, tags)
    if current_owner is not None and owner is not None and owner != current_owner:
        raise OwnershipMismatch(
            f"Script {name!r} belongs to tenant {current_owner!r}; its tags cannot give it to {owner!r}. "
            "Delete it and upload it again to change its owner."
        )
    return owner if owner is not None else current_owner


def _script_row(
    connection: Connection, ns_id: str, name: str, *, for_update: bool = False
) -> RowMapping | None:
    query = select(scripts).where(scripts.c.namespace_id == ns_id, scripts.c.name == name)
    if for_update:
        query = query.with_for_update()
    return connection.execute(query).mappings().first()


def _require_script(
    connection: Connection, ns_id: str, name: str, acting_tenant: str | None, *, for_update: bool = False
) -> RowMapping:
    row = _script_row(connection, ns_id, name, for_update=for_update)
    if acting_tenant is not None:
        if row is not None:
            owner = row["tenant_id"]
        else:
            role = parse_script_name(name)
            owner = role.tenant_id if role else None
        if owner != acting_tenant:
            raise Forbidden(f"This token may touch only tenant {acting_tenant!r}'s scripts.")
    if row is None:
        raise ScriptNotFound(f"Script {name!r} was not found in this namespace.")
    return row


def _tags_of(connection: Connection, ns_id: str, names: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {name: [] for name in names}
    query = (
        select(script_tags.c.script_name, script_tags.c.tag)
        .where(script_tags.c.namespace_id == ns_id, script_tags.c.script_name.in_(list(names)))
        .order_by(script_tags.c.script_name, script_tags.c.tag)
    )
    for script_name, tag in connection.execute(query):
        found[script_name].append(tag)
    return found


def _replace_tags(connection: Connection, ns_id: str, name: str, tags: Sequence[str]) -> None:
    connection.execute(
        delete(script_tags).where(script_tags.c.namespace_id == ns_id, script_tags.c.script_name == name)
    )
    if tags:
        connection.execute(
            insert(script_tags), [{"namespace_id": ns_id, "script_name": name, "tag": tag} for tag in tags]
        )


def _delete_scripts(connection: Connection, ns_id: str, names: Sequence[str]) -> None:
    if not names:
        return
    versions = select(script_versions.c.id).where(
        script_versions.c.namespace_id == ns_id, script_versions.c.script_name.in_(list(names))
    )
    doomed = blobs_of_versions(connection, versions)
    connection.execute(
        delete(scripts).where(scripts.c.namespace_id == ns_id, scripts.c.name.in_(list(names)))
    )
    delete_orphan_blobs(connection, doomed)


def _scripts_query(ns_id: str) -> Select[Any]:
    return (
        select(
            scripts.c.name,
            scripts.c.tenant_id,
            scripts.c.created_on.label("script_created_on"),
            scripts.c.modified_on.label("script_modified_on"),
            script_versions,
        )
        .join(script_versions, script_versions.c.id == scripts.c.current_version_id)
        .where(scripts.c.namespace_id == ns_id)
        .order_by(scripts.c.name)
    )


def _filtered_query(ns_id: str, tag_filter: Sequence[tuple[str, bool]], tenant_id: str | None) -> Select[Any]:
    query = _scripts_query(ns_id)
    for tag, wanted in tag_filter:
        has_tag = exists().where(
            and_(
                script_tags.c.namespace_id == scripts.c.namespace_id,
                script_tags.c.script_name == scripts.c.name,
                script_tags.c.tag == tag,
            )
        )
        query = query.where(has_tag if wanted else ~has_tag)
    if tenant_id is not None:
        query = query.where(scripts.c.tenant_id == tenant_id)
    return query


def _load_scripts(connection: Connection, namespace: str, query: Select[Any]) -> list[Script]:
    rows = connection.execute(query).mappings().all()
    if not rows:
        return []
    ns_id = rows[0]["namespace_id"]
    tags = (
        _tags_of(connection, ns_id, [row["name"] for row in rows])
        if len(rows) < 500
        else _all_tags(connection, ns_id)
    )
    infos = _module_infos(connection, [row["id"] for row in rows])
    return [
        Script(
            namespace=namespace,
            name=row["name"],
            tenant_id=row["tenant_id"],
            tags=tuple(tags.get(row["name"], ())),
            created_on=row["script_created_on"],
            modified_on=row["script_modified_on"],
            version=_version(row, infos[row["id"]]),
        )
        for row in rows
    ]


def _all_tags(connection: Connection, ns_id: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    query = (
        select(script_tags.c.script_name, script_tags.c.tag)
        .where(script_tags.c.namespace_id == ns_id)
        .order_by(script_tags.c.script_name, script_tags.c.tag)
    )
    for script_name, tag in connection.execute(query):
        found[script_name].append(tag)
    return found


def _module_infos(connection: Connection, version_ids: Sequence[str]) -> dict[str, list[ModuleInfo]]:
    found: dict[str, list[ModuleInfo]] = defaultdict(list)
    for chunk_start in range(0, len(version_ids), 500):
        chunk = list(version_ids[chunk_start : chunk_start + 500])
        query = (
            select(
                version_modules.c.version_id,
                version_modules.c.name,
                version_modules.c.content_type,
                blobs.c.size,
                blobs.c.sha256,
            )
            .join(blobs, blobs.c.sha256 == version_modules.c.blob_sha256)
            .where(version_modules.c.version_id.in_(chunk))
            .order_by(version_modules.c.version_id, version_modules.c.position)
        )
        for version_id, name, content_type, size, sha256 in connection.execute(query):
            found[version_id].append(ModuleInfo(name, content_type, int(size), sha256))
    return found


def _version(row: RowMapping, modules: Sequence[ModuleInfo]) -> ScriptVersion:
    created_on: datetime = row["created_on"]
    return ScriptVersion(
        id=row["id"],
        namespace_id=row["namespace_id"],
        script_name=row["script_name"],
        etag=row["etag"],
        main_module=row["main_module"],
        format=row["format"],
        metadata=json.loads(row["metadata_json"]),
        size=int(row["size"]),
        created_on=created_on,
        modules=tuple(modules),
        handlers=tuple(json.loads(row["handlers_json"])) if row["handlers_json"] else (),
        startup_ms=row["startup_ms"],
        linked_sha256=row["linked_sha256"],
    )
