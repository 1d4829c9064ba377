"""Workers KV: keys and values in a tenant's KV namespace, for the control API and for workers.

Binding contract (web/kv.js ⇄ host), each op naming the script's own `kv_namespace` binding:

    kv.get    {binding, key, type?}            -> {value (base64) | null, metadata, expiration} | null
    kv.put    {binding, key, value (base64), expiration?, expirationTtl?, metadata?} -> null
    kv.delete {binding, key}                   -> null
    kv.list   {binding, prefix?, limit?, cursor?} -> {keys: [{name, expiration?, metadata?}],
                                                  list_complete, cursor?}

Limits as in Workers KV: keys of 1 to 512 bytes (not "." or ".."), values to 25 MiB, metadata to
1024 bytes of JSON, expirations at least 60 seconds ahead. Expired keys are never returned.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from z0.bindings._router import HostOpRouter, OpContext
from z0.errors import InvalidRequest, PayloadTooLarge
from z0.registry import Registry
from z0.registry._tables import kv_entries
from z0.runtime.hostops import HostOpError
from z0.settings import Settings

__all__ = ["MAX_KEY_BYTES", "MAX_METADATA_BYTES", "MAX_VALUE_BYTES", "KvData", "KvEntry", "register"]

MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_METADATA_BYTES = 1024
MIN_TTL_S = 60
MAX_LIST = 1000


@dataclass(frozen=True, slots=True)
class KvEntry:
    key: str
    value: bytes
    metadata: Any
    expiration: int | None


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidRequest("KV keys must be non-empty strings.")
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise InvalidRequest(f"KV key is {size} bytes; the limit is {MAX_KEY_BYTES}.")
    if key in (".", ".."):
        raise InvalidRequest("KV keys cannot be '.' or '..'.")
    return key


def expiration_of(expiration: object, ttl: object, now: float) -> int | None:
    """The absolute expiration (unix seconds) of a put, from `expiration` or `expirationTtl`."""
    if expiration is None and ttl is None:
        return None
    if expiration is not None:
        when = _seconds(expiration)
        ahead = when - now
    else:
        ahead = _seconds(ttl)
        when = int(now) + ahead
    if ahead < MIN_TTL_S:
        raise InvalidRequest(f"KV expirations must be at least {MIN_TTL_S} seconds in the future.")
    return when


def _seconds(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequest("KV expiration and expirationTtl are whole numbers of seconds.")
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest("KV expiration and expirationTtl are whole numbers of seconds.") from None


def metadata_json(metadata: object) -> str | None:
    if metadata is None:
        return None
    encoded = json.dumps(metadata, separators=(",", ":"))
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise InvalidRequest(f"KV metadata is over {MAX_METADATA_BYTES} bytes once serialized to JSON.")
    return encoded


class KvData:
    """The entries of KV namespaces, in the registry's database."""

    def __init__(self, registry: Registry) -> None:
        self._db = registry.db

    def get(self, namespace_id: str, key: str) -> KvEntry | None:
        query = select(kv_entries).where(
            kv_entries.c.namespace_id == namespace_id, kv_entries.c.key == check_key(key), _alive()
        )
        with self._db.read() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            return None
        metadata = json.loads(row["metadata_json"]) if row["metadata_json"] else None
        return KvEntry(row["key"], bytes(row["value"]), metadata, row["expiration"])

    def put(
        self,
        namespace_id: str,
        key: str,
        value: bytes,
        *,
        expiration: object = None,
        expiration_ttl: object = None,
        metadata: object = None,
    ) -> None:
        check_key(key)
        if len(value) > MAX_VALUE_BYTES:
            raise PayloadTooLarge(f"KV value is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}.")
        row = {
            "namespace_id": namespace_id,
            "key": key,
            "value": value,
            "metadata_json": metadata_json(metadata),
            "expiration": expiration_of(expiration, expiration_ttl, time.time()),
        }
        with self._db.write(registry_change=False) as connection:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(kv_entries).values(**row)
            statement = statement.on_conflict_do_update(
                index_elements=["namespace_id", "key"],
                set_={name: statement.excluded[name] for name in ("value", "metadata_json", "expiration")},
            )
            connection.execute(statement)

    def delete(self, namespace_id: str, key: str) -> None:
        with self._db.write(registry_change=False) as connection:
            connection.execute(
                delete(kv_entries).where(
                    kv_entries.c.namespace_id == namespace_id, kv_entries.c.key == check_key(key)
                )
            )

    def list(
        self, namespace_id: str, *, prefix: str = "", limit: int = MAX_LIST, cursor: str | None = None
    ) -> dict[str, Any]:
        """Cloudflare's list result: keys in order, at most `limit`, and a cursor when there are more."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidRequest(f"A KV list limit is between 1 and {MAX_LIST}.")
        after = _decode_cursor(cursor) if cursor else None
        query = (
            select(kv_entries.c.key, kv_entries.c.expiration, kv_entries.c.metadata_json)
            .where(kv_entries.c.namespace_id == namespace_id, _alive())
            .order_by(kv_entries.c.key)
            .limit(limit + 1)
        )
        if prefix:
            query = query.where(kv_entries.c.key.startswith(prefix, autoescape=True))
        if after is not None:
            query = query.where(kv_entries.c.key > after)
        with self._db.read() as connection:
            rows = connection.execute(query).all()
        keys = []
        for name, expiration, metadata in rows[:limit]:
            entry: dict[str, Any] = {"name": name}
            if expiration is not None:
                entry["expiration"] = expiration
            if metadata:
                entry["metadata"] = json.loads(metadata)
            keys.append(entry)
        result: dict[str, Any] = {"keys": keys, "list_complete": len(rows) <= limit}
        if len(rows) > limit:
            result["cursor"] = base64.urlsafe_b64encode(keys[-1]["name"].encode()).decode()
        return result

    def purge_expired(self) -> int:
        with self._db.write(registry_change=False) as connection:
            result = connection.execute(delete(kv_entries).where(~_alive()))
        return int(result.rowcount or 0)


def _alive() -> Any:
    return or_(kv_entries.c.expiration.is_(None), kv_entries.c.expiration > int(time.time()))


def _decode_cursor(cursor: str) -> str:
    try:
        key = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        key = ""
    if not key or base64.urlsafe_b64encode(key.encode()).decode() != cursor:
        raise InvalidRequest("The KV list cursor is not one this API gave out.")
    return key


# Host ops


def register(router: HostOpRouter, *, settings: Settings, registry: Registry) -> None:
    data = KvData(registry)

    async def run(function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except (InvalidRequest, PayloadTooLarge) as exc:
            raise HostOpError(f"KV {function.__name__.upper()} failed: {exc.message}") from exc
        except (TypeError, ValueError) as exc:  # arguments of the wrong kind from the worker
            raise HostOpError(f"KV {function.__name__.upper()} failed: invalid arguments.") from exc

    def namespace_of(context: OpContext) -> str:
        assert context.binding is not None
        return str(context.binding["namespace_id"])

    async def kv_get(context: OpContext, op: dict[str, Any]) -> Any:
        entry = await run(data.get, namespace_of(context), op.get("key"))
        if entry is None:
            return None
        return {
            "value": base64.b64encode(entry.value).decode(),
            "metadata": entry.metadata,
            "expiration": entry.expiration,
        }

    async def kv_put(context: OpContext, op: dict[str, Any]) -> None:
        try:
            value = base64.b64decode(str(op.get("value", "")), validate=True)
        except ValueError:
            raise HostOpError("KV PUT failed: the value did not arrive as bytes.") from None
        await run(
            data.put,
            namespace_of(context),
            op.get("key"),
            value,
            expiration=op.get("expiration"),
            expiration_ttl=op.get("expirationTtl"),
            metadata=op.get("metadata"),
        )

    async def kv_delete(context: OpContext, op: dict[str, Any]) -> None:
        await run(data.delete, namespace_of(context), op.get("key"))

    async def kv_list(context: OpContext, op: dict[str, Any]) -> Any:
        limit = op.get("limit") if op.get("limit") is not None else MAX_LIST
        if not isinstance(limit, int):
            raise HostOpError("KV LIST failed: limit must be a whole number.")
        prefix = op.get("prefix") or ""
        cursor = op.get("cursor") or None
        if not isinstance(cursor, str | None):
            raise HostOpError("KV LIST failed: cursor must be a string.")
        return await run(data.list, namespace_of(context), prefix=str(prefix), limit=limit, cursor=cursor)

    for name, handler in (
        ("kv.get", kv_get),
        ("kv.put", kv_put),
        ("kv.delete", kv_delete),
        ("kv.list", kv_list),
    ):
        router.register(name, handler, binding_type="kv_namespace")
