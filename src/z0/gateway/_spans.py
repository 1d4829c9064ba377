"""What the gateway records of a traced request: the dispatch span when the answer is sent, and the
user-worker span under it once the worker's work has ended (waitUntil included)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from z0.gateway._context import RequestContext
from z0.observe.tracing import SpanRef, Tracing
from z0.runtime.supervisor import Completion, RuntimeResponse

__all__ = ["Trail"]


@dataclass(slots=True)
class Trail:
    """Filled in by the dispatcher as it learns each thing; made only for sampled requests while spans
    are exported."""

    started_ns: int
    tenant_id: str | None = None
    script_name: str | None = None
    status: int | None = None  # None: the client left before its request was whole
    worker: SpanRef | None = None  # the user-worker span, once the worker is called
    worker_started_ns: int = 0
    result: RuntimeResponse | None = None

    def record(self, tracing: Tracing, context: RequestContext, method: str, path: str) -> None:
        tracing.dispatch(
            context.span, context.parent_span_id, self.started_ns, time.time_ns(),
            method=method, path=path, request_id=context.request_id, status=self.status,
            tenant_id=self.tenant_id, script_name=self.script_name,
        )  # fmt: skip
        worker, result = self.worker, self.result
        if worker is None or result is None or self.tenant_id is None or self.script_name is None:
            return
        tenant_id, script_name, started_ns = self.tenant_id, self.script_name, self.worker_started_ns

        def ended(completion: asyncio.Future[Completion]) -> None:
            if completion.cancelled():
                return
            done = completion.result()
            tracing.user_worker(
                worker, context.span_id, started_ns, time.time_ns(),
                tenant_id=tenant_id, script_name=script_name, request_id=context.request_id,
                outcome=done.outcome.value, cpu_ms=done.cpu_ms, subrequests=done.subrequests,
                status=result.status,
            )  # fmt: skip

        if result.completion.done():
            ended(result.completion)
        else:
            result.completion.add_done_callback(ended)
