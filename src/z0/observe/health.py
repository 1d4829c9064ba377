"""Health and readiness.

`healthz`: the process is up and its event loop answers. `readyz`: storage answers a query, every
executor of this process answers, and (on the control API, which sees the whole node) every other
running z0 process wrote its metrics snapshot lately with all of its executors answering.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from z0.observe.metrics import MetricsFiles, alive
from z0.registry import Registry
from z0.runtime.supervisor import Runtime

__all__ = ["Health"]


@dataclass
class Health:
    registry: Registry
    runtime: Runtime | None = None
    files: MetricsFiles | None = None  # the other processes' snapshots, when this one sees the node
    stale_after_s: float = 5.0
    timeout_s: float = 2.0

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {}
        ready = True
        try:
            await asyncio.wait_for(asyncio.to_thread(self._query), self.timeout_s)
            checks["storage"] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is the answer
            ready = False
            checks["storage"] = f"unreachable: {type(exc).__name__}: {exc}"[:300]
        if self.runtime is not None:
            stats = await self.runtime.stats(timeout_s=self.timeout_s / 2)
            checks["executors"] = f"{stats.answering} of {stats.executors} answering"
            ready = ready and stats.ready
        if self.files is not None:
            now = time.time()
            for snapshot in await asyncio.to_thread(self.files.read):
                if snapshot.pid == os.getpid() or not alive(snapshot.pid):
                    continue
                age = now - snapshot.written_at
                fine = age <= self.stale_after_s and snapshot.executors_answering == snapshot.executors
                checks[f"process {snapshot.pid}"] = (
                    f"{snapshot.executors_answering} of {snapshot.executors} executors answering, "
                    f"reported {age:.1f} s ago"
                )
                ready = ready and fine
        return ready, {"status": "ready" if ready else "not ready", "checks": checks}

    def _query(self) -> None:
        with self.registry.db.read() as connection:
            connection.execute(text("SELECT 1")).scalar()
