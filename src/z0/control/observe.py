"""z0 observed from the control API port: `/metrics` (Prometheus), `/healthz`, `/readyz`, and a script's
live logs, `…/scripts/{name}/tail`, as Server-Sent Events.

`/metrics` and the health routes sit outside `/client/v4` and need no token (scrapers and probes);
the control API listens on 127.0.0.1 unless the operator says otherwise. A tail needs a token that
reaches the script: an operator's, or its own tenant's (another tenant's script is 'not found').
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from z0.control._auth import AccountId, Caller, registry_of
from z0.observe.health import Health
from z0.observe.metrics import METRICS_CONTENT_TYPE, Metrics, MetricsFiles, render
from z0.observe.tail import TailEvent, TailHub, follow

__all__ = ["probes", "router"]

probes = APIRouter(tags=["observability"])
router = APIRouter(
    prefix="/accounts/{account_id}/workers/dispatch/namespaces/{namespace}/scripts", tags=["observability"]
)

HEARTBEAT_S = 15.0


@probes.get("/metrics", summary="Prometheus metrics of this node (every z0 process on it)")
async def metrics(request: Request) -> Response:
    state = request.app.state
    files: MetricsFiles = state.metrics_files
    live: Metrics = state.metrics
    page = await run_in_threadpool(render, files, live)
    return Response(page, media_type=METRICS_CONTENT_TYPE)


@probes.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@probes.get("/readyz", summary="Storage answers and every executor of every z0 process answers")
async def readyz(request: Request) -> JSONResponse:
    health: Health = request.app.state.health
    ready, report = await health.readiness()
    return JSONResponse(report, status_code=200 if ready else 503)


@router.get(
    "/{script_name}/tail",
    summary="Live logs of a script's invocations (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def tail(
    namespace: str,
    script_name: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    status: Annotated[
        Literal["ok", "error", "canceled"] | None,
        Query(description="Only invocations that ended ok, with an error, or canceled."),
    ] = None,
    history: Annotated[
        int, Query(ge=0, le=10_000, description="Recent invocations to send first (those kept).")
    ] = 0,
) -> StreamingResponse:
    registry = registry_of(request)
    script = await run_in_threadpool(
        lambda: registry.scripts.get(account_id, namespace, script_name, acting_tenant=caller.tenant_id)
    )
    hub: TailHub = request.app.state.tail
    # A tenant token sees its own tenant's invocations only, whatever the script's history.
    tenant_id = caller.tenant_id
    recent = hub.recent(namespace, script.name, tenant_id=tenant_id, status=status, limit=history)
    subscription = hub.subscribe(namespace, script.name, tenant_id=tenant_id, status=status)

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield _event("ready", {"namespace": namespace, "script": script.name, "history": len(recent)})
            for event in recent:
                yield _invocation(event)
            async for item in follow(subscription, HEARTBEAT_S):
                if await request.is_disconnected():
                    return
                if item is None:
                    yield b": keep-alive\n\n"
                elif isinstance(item, int):
                    yield _event("dropped", {"count": item})
                else:
                    yield _invocation(item)
        finally:
            subscription.close()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


def _event(kind: str, data: Any) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _invocation(event: TailEvent) -> bytes:
    return (
        b"event: invocation\nid: "
        + event.request_id.encode()
        + b"\ndata: "
        + orjson.dumps(event.as_json())
        + b"\n\n"
    )
