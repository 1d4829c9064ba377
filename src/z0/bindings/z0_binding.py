"""The `z0` binding: a worker reads its own tenant's Configs and Facts. It is read only.

Binding contract (web/z0.js ⇄ host), each op naming the script's own `z0` binding:

    z0.config.get {binding, name}      -> {name, data, global_version, tenant_version} | null
    z0.facts.list {binding, type?, subtype?, since?, limit?, cursor?}
                                       -> {facts: [Fact as the control API shows it], cursor: id | null}

The tenant is always the calling script's owner (`ScriptCode.tenant_id`), never anything the worker
sends: an op carrying any other argument is refused, and so is a script that belongs to no tenant.
`since` is ISO 8601 (no offset means UTC); `limit` is 1 to 1000 (100 if not given); `cursor` is the
last Fact id of the previous page, and a page's `cursor` is set only when more Facts follow. There is
no op that writes.
"""

from __future__ import annotations

import asyncio
import functools
import re
from datetime import UTC, datetime
from typing import Any

from z0.billing import ConfigStore, Ledger
from z0.bindings._router import HostOpRouter, OpContext
from z0.registry import Registry
from z0.runtime.hostops import HostOpError
from z0.settings import Settings

__all__ = ["DEFAULT_LIST", "MAX_LIST", "register"]

DEFAULT_LIST = 100
MAX_LIST = 1000
_CONFIG_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_CURSOR = re.compile(r"^fact_[0-9a-f]{22}$")
_OP_FIELDS = frozenset({"id", "op", "binding"})
_GET_ARGS = _OP_FIELDS | {"name"}
_LIST_ARGS = _OP_FIELDS | {"type", "subtype", "since", "limit", "cursor"}


def _tenant_of(context: OpContext, what: str) -> str:
    tenant_id = context.script.tenant_id
    if tenant_id is None:
        raise HostOpError(
            f"Z0 {what} failed: this script belongs to no tenant, so it has no Configs or Facts."
        )
    return tenant_id


def _only(op: dict[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(op) - allowed)
    if unknown:
        raise HostOpError(
            f"Z0 {what} failed: it reads only the calling tenant's data and takes no {', '.join(unknown)}."
        )


def _text(op: dict[str, Any], name: str, what: str) -> str | None:
    value = op.get(name)
    if value is not None and not isinstance(value, str):
        raise HostOpError(f"Z0 {what} failed: {name} is a string.")
    return value


def _since(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise HostOpError("Z0 facts.list failed: since is an ISO 8601 string.")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise HostOpError(f"Z0 facts.list failed: since {value!r} is not an ISO 8601 date.") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _limit(value: object) -> int:
    if value is None:
        return DEFAULT_LIST
    if isinstance(value, bool) or not isinstance(value, int):
        raise HostOpError("Z0 facts.list failed: limit is a whole number.")
    if not 1 <= value <= MAX_LIST:
        raise HostOpError(f"Z0 facts.list failed: limit is between 1 and {MAX_LIST}.")
    return value


def register(router: HostOpRouter, *, settings: Settings, registry: Registry) -> None:
    configs = ConfigStore(registry.db)
    ledger = Ledger(registry.db)

    async def config_get(context: OpContext, op: dict[str, Any]) -> Any:
        tenant_id = _tenant_of(context, "config.get")
        _only(op, _GET_ARGS, "config.get")
        name = op.get("name")
        if not isinstance(name, str) or not _CONFIG_NAME.match(name):
            raise HostOpError(
                "Z0 config.get failed: a Config name is lowercase letters, digits, '_' and '-'."
            )
        config = await asyncio.to_thread(configs.effective, name, tenant_id)
        return None if config is None else config.as_json()

    async def facts_list(context: OpContext, op: dict[str, Any]) -> Any:
        tenant_id = _tenant_of(context, "facts.list")
        _only(op, _LIST_ARGS, "facts.list")
        limit = _limit(op.get("limit"))
        cursor = _text(op, "cursor", "facts.list")
        if cursor is not None and not _CURSOR.match(cursor):
            raise HostOpError("Z0 facts.list failed: the cursor is not one this binding gave out.")
        find = functools.partial(
            ledger.find,
            tenant_id=tenant_id,
            type=_text(op, "type", "facts.list"),
            subtype=_text(op, "subtype", "facts.list"),
            since=_since(op.get("since")),
            after=cursor,
            limit=limit + 1,  # one more tells whether another page follows
        )
        found = await asyncio.to_thread(find)
        page = found[:limit]
        return {
            "facts": [fact.as_json() for fact in page],
            "cursor": page[-1].id if len(found) > limit else None,
        }

    router.register("z0.config.get", config_get, binding_type="z0")
    router.register("z0.facts.list", facts_list, binding_type="z0")
