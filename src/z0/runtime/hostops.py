"""Host ops: what tenant JS asks the host to do, performed by the gateway process.

Each op is checked against the calling script before it runs (its own bindings only). Timers are the
only op so far; `fetch` and the bindings (KV, SQL, secrets) plug in here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from z0.observe.tracing import SpanRef
    from z0.runtime.supervisor import ScriptCode

__all__ = ["MAX_TIMER_MS", "HostOpError", "HostOps", "StandardHostOps"]

MAX_TIMER_MS = 15 * 60 * 1000


class HostOpError(Exception):
    """An op the host refuses or fails; its message reaches the tenant's code as the rejection."""


class HostOps(Protocol):
    async def perform(
        self, script: ScriptCode, request_id: str, op: dict[str, Any], trace: SpanRef | None = None
    ) -> Any:
        """`trace`: the span the request's subrequests are children of."""


class StandardHostOps:
    """The ops every script has, whatever its bindings."""

    async def perform(
        self, script: ScriptCode, request_id: str, op: dict[str, Any], trace: SpanRef | None = None
    ) -> Any:
        kind = op.get("op")
        if kind == "timer":
            delay = op.get("ms", 0)
            if not isinstance(delay, (int, float)) or delay < 0:
                raise HostOpError("A timer needs a delay in milliseconds.")
            await asyncio.sleep(min(float(delay), MAX_TIMER_MS) / 1000)
            return None
        raise HostOpError(f"z0 does not provide {kind!r} to this script.")
