"""The gateway's in-memory view of the registry: keys, tenants, hostnames, script heads.

Every lookup on the request path is one dict probe. The view is rebuilt when the registry's change
counter moves (polled every 200 ms), so a deploy, a suspension or a revoked key is seen within 1 s
by every gateway process, with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from z0.registry import Registry, ScriptHead, Tenant

__all__ = ["RegistryView", "ViewData"]

logger = logging.getLogger("z0.gateway")


@dataclass(frozen=True, slots=True)
class ViewData:
    counter: int = -1
    tenant_by_key_hash: dict[str, str] = field(default_factory=dict)
    tenants: dict[str, Tenant] = field(default_factory=dict)
    tenant_by_hostname: dict[str, str] = field(default_factory=dict)
    heads: dict[tuple[str, str], ScriptHead] = field(default_factory=dict)


class RegistryView:
    def __init__(self, registry: Registry, *, poll_interval_s: float = 0.2) -> None:
        self.registry = registry
        self.poll_interval_s = poll_interval_s
        self.data = ViewData()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[ViewData, ViewData], None]] = []

    def on_change(self, listener: Callable[[ViewData, ViewData], None]) -> None:
        """Called with (old, new) after each rebuild."""
        self._listeners.append(listener)

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._poll())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def refresh(self) -> None:
        """Rebuilds the view if the registry changed since the last build."""
        counter = await asyncio.to_thread(self.registry.change_counter)
        if counter == self.data.counter:
            return
        new = await asyncio.to_thread(self._load, counter)
        old, self.data = self.data, new
        for listener in self._listeners:
            listener(old, new)

    def _load(self, counter: int) -> ViewData:
        registry = self.registry
        return ViewData(
            counter=counter,
            tenant_by_key_hash=registry.credentials.active_key_hashes(),
            tenants=registry.tenants.states(),
            tenant_by_hostname=registry.tenants.hostnames(),
            heads=registry.scripts.heads(),
        )

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.refresh()
            except Exception:  # the database may be briefly unavailable; keep serving the last view
                logger.exception("could not refresh the registry view")
