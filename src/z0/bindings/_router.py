"""Host ops by name, each checked against the calling script before it runs.

An op that acts on a binding names the binding (`{"op": "kv.get", "binding": "TENANT_KV", …}`); the
router finds it among the calling script's own bindings, checks its type, and hands the handler the
binding's descriptor (with the resource id the script was allowed to bind at upload). A script can
only ever name its own bindings: there is no op that takes a raw resource id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from z0.observe.tracing import SpanRef
from z0.runtime.hostops import HostOpError, StandardHostOps
from z0.runtime.supervisor import ScriptCode

__all__ = ["Handler", "HostOpRouter", "OpContext"]


@dataclass(frozen=True, slots=True)
class OpContext:
    script: ScriptCode
    request_id: str
    binding: Mapping[str, Any] | None  # the binding's descriptor, for ops that act on one
    trace: SpanRef | None = None  # the span the request's subrequests are children of


Handler = Callable[[OpContext, dict[str, Any]], Awaitable[Any]]


class HostOpRouter:
    """The runtime's HostOps: timers, plus every op registered here."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[Handler, str | None]] = {}
        self._standard = StandardHostOps()

    def register(self, op: str, handler: Handler, *, binding_type: str | None = None) -> None:
        """`binding_type`: the op acts on a binding of this type, which the op names in `binding`."""
        if op in self._handlers:
            raise ValueError(f"host op {op!r} is registered twice")
        self._handlers[op] = (handler, binding_type)

    async def perform(
        self, script: ScriptCode, request_id: str, op: dict[str, Any], trace: SpanRef | None = None
    ) -> Any:
        name = op.get("op")
        entry = self._handlers.get(name) if isinstance(name, str) else None
        if entry is None:
            return await self._standard.perform(script, request_id, op, trace)
        handler, binding_type = entry
        binding = None
        if binding_type is not None:
            binding_name = op.get("binding")
            binding = script.bindings.get(binding_name) if isinstance(binding_name, str) else None
            if binding is None or binding.get("type") != binding_type:
                raise HostOpError(f"{binding_name!r} is not a {binding_type} binding of this script.")
        return await handler(OpContext(script, request_id, binding, trace), op)
