"""The dispatcher: authenticate, resolve the tenant, check its status, route, add context, run.

    401 Unauthorized        no credential, a wrong one, or an unknown tenant (alike: no enumeration)
    403 Tenant suspended    a suspended or deleted tenant
    404 Tenant not deployed no script for the route, or one the tenant does not own
    413 Payload Too Large   a body over the gateway's limit
    5xx                     the runtime's answer when the worker fails (JSON with the request id)

`/_z0/…` on the gateway port is z0's own: health, readiness and (when `gateway_metrics` is set) metrics.

Every answer is counted in `metrics` (labels from the registry only), every invocation also once it
ended (CPU, outcome), and published to `tail` for `z0 tail`. With tracing, each answer is a
`z0.wfp.dispatch` span, and each worker invocation a `z0.wfp.user_worker` span under it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from z0.gateway._context import RequestContext, TraceIds, W3CTraceIds
from z0.gateway._routing import Router
from z0.gateway._scripts import ScriptCache
from z0.gateway._spans import Trail
from z0.gateway._strategies import HostnameStrategy, KeyStrategy, PathStrategy, Resolution, Strategy
from z0.gateway._view import RegistryView
from z0.metering import Entry, Measures, UsageLog, UsageRecord
from z0.observe.health import Health
from z0.observe.metrics import METRICS_CONTENT_TYPE, Metrics
from z0.observe.tail import TailEvent, TailSink
from z0.observe.tracing import Tracing
from z0.registry import TenantStatus
from z0.runtime.limits import Limits
from z0.runtime.outcomes import Outcome
from z0.runtime.supervisor import Completion, Runtime, RuntimeRequest, RuntimeResponse

__all__ = ["Gateway", "GatewayConfig"]

logger = logging.getLogger("z0.gateway")

Scope = dict[str, Any]

_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te", b"trailer"}
)
_RESPONSE_DROPPED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "x-z0-request-id"}
)


class GatewayConfig:
    def __init__(
        self,
        *,
        namespace: str,
        namespaces_by_host: Mapping[str, str] | None = None,
        strategies: Sequence[str] = ("key", "hostname", "path"),
        base_domain: str | None = None,
        dev_namespace: str = "z0-dev-tenants",
        routes: Mapping[str, str] | None = None,
        max_request_bytes: int = 100 * 1024 * 1024,
        default_limits: Limits | None = None,
    ) -> None:
        self.namespace = namespace
        self.exact_hosts: dict[str, str] = {}
        self.host_suffixes: list[tuple[str, str]] = []
        for pattern, target in (namespaces_by_host or {}).items():
            pattern = pattern.lower().rstrip(".")
            if pattern.startswith("*."):
                self.host_suffixes.append((pattern[1:], target))
            elif "*" in pattern:
                raise ValueError(f"hostname pattern {pattern!r}: only a leading '*.' is allowed")
            else:
                self.exact_hosts[pattern] = target
        self.host_suffixes.sort(key=lambda item: -len(item[0]))
        known = {"key": KeyStrategy, "hostname": HostnameStrategy, "path": PathStrategy}
        unknown = [name for name in strategies if name not in known]
        if unknown or not strategies:
            raise ValueError(
                f"gateway strategies must be some of key, hostname, path; got {list(strategies)}"
            )
        self.strategies: list[Strategy] = []
        for name in strategies:
            if name == "key":
                self.strategies.append(KeyStrategy())
            elif name == "hostname":
                self.strategies.append(HostnameStrategy(base_domain))
            else:
                self.strategies.append(PathStrategy(dev_namespace))
        self.dev_namespace = dev_namespace
        self.router = Router(routes if routes is not None else {})
        self.max_request_bytes = max_request_bytes
        self.default_limits = default_limits or Limits()

    def namespace_for(self, host: str) -> str:
        exact = self.exact_hosts.get(host)
        if exact is not None:
            return exact
        for suffix, target in self.host_suffixes:
            if host.endswith(suffix):
                return target
        return self.namespace


class _TooLarge(Exception):
    pass


class _ClientGone(Exception):
    """The client left before its body was whole: the worker never sees a truncated body."""


class Gateway:
    """The gateway's ASGI application."""

    def __init__(
        self,
        config: GatewayConfig,
        view: RegistryView,
        scripts: ScriptCache,
        runtime: Runtime,
        trace_ids: TraceIds | None = None,
        usage: UsageLog | None = None,
        metrics: Metrics | None = None,
        tail: TailSink | None = None,
        health: Health | None = None,
        metrics_page: Callable[[], bytes] | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.config = config
        self.view = view
        self.scripts = scripts
        self.runtime = runtime
        self.trace_ids = trace_ids or W3CTraceIds()
        self.usage = usage
        self.metrics = metrics or Metrics()
        self.tail = tail
        self.health = health
        self.metrics_page = metrics_page
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        arrived = time.time()
        began = time.perf_counter()
        path: str = scope["path"]
        if path.startswith("/_z0/"):
            await self._own(path, send)
            return
        headers: dict[bytes, bytes] = {name: value for name, value in scope["headers"]}
        context = self.trace_ids.begin(headers.get(b"traceparent"))
        tracing = self.tracing
        if tracing is None or not context.sampled:
            await self._dispatch(scope, receive, send, headers, context, arrived, began, None)
            return
        trail = Trail(int(arrived * 1e9))
        try:
            trail.status = await self._dispatch(scope, receive, send, headers, context, arrived, began, trail)
        finally:
            trail.record(tracing, context, scope["method"], path)

    async def _dispatch(
        self,
        scope: Scope,
        receive: Any,
        send: Any,
        headers: dict[bytes, bytes],
        context: RequestContext,
        arrived: float,
        began: float,
        trail: Trail | None,
    ) -> int | None:
        """Answers the request; returns the status sent (None when the client left before its body was
        whole)."""
        path: str = scope["path"]
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        metrics = self.metrics
        request_id = context.request_id
        host_header = headers.get(b"host", b"").decode("latin-1")
        host = _hostname(host_header)
        config = self.config
        namespace = config.namespace_for(host)
        view = self.view.data

        resolution: Resolution | None = None
        for strategy in config.strategies:
            found = strategy.resolve(view, namespace, host, path, headers)
            if found is None:
                continue
            if isinstance(found, Resolution):
                resolution = found
            break
        tenant = view.tenants.get(resolution.tenant_id) if resolution is not None else None
        if resolution is None or tenant is None:
            metrics.dispatch("", "", 401, _ms_since(began))
            return await _plain(send, 401, "Unauthorized", request_id)
        script_name = config.router.script_for(tenant.id, resolution.path)
        if trail is not None:
            trail.tenant_id, trail.script_name = tenant.id, script_name
        if tenant.status is not TenantStatus.ACTIVE:
            metrics.dispatch(tenant.id, "", 403, _ms_since(began))
            return await _plain(send, 403, "Tenant suspended", request_id)
        head = view.heads.get((namespace, script_name)) if script_name is not None else None
        if head is None or head.tenant_id != tenant.id:
            metrics.dispatch(tenant.id, "", 404, _ms_since(began))
            return await _plain(send, 404, "Tenant not deployed", request_id)

        declared = headers.get(b"content-length")
        too_large = declared is not None and declared.isdigit() and int(declared) > config.max_request_bytes
        if not too_large:
            try:
                body = await _read_body(receive, config.max_request_bytes)
            except _TooLarge:
                too_large = True
            except _ClientGone:
                return None
        if too_large:
            metrics.dispatch(tenant.id, head.name, 413, _ms_since(began))
            return await _plain(send, 413, "Payload Too Large", request_id)

        forwarded = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in raw_headers
            if not name.startswith(b"x-z0-")
            and name not in resolution.consumed
            and name not in _HOP_BY_HOP
            and name != b"traceparent"
        ]
        forwarded += [
            ("x-z0-tenant-id", tenant.id),
            ("x-z0-request-id", request_id),
            ("x-z0-trace-id", context.trace_id),
            ("x-z0-span-id", context.span_id),
            ("traceparent", context.traceparent),
        ]
        query = scope.get("query_string", b"")
        url = f"{scope.get('scheme', 'http')}://{host_header or 'localhost'}{resolution.path}"
        if query:
            url += "?" + query.decode("latin-1")
        code = await self.scripts.get(head)
        limits = config.default_limits.override(**tenant.limits.as_dict())
        trace = context.span  # the parent of the worker's subrequests
        if trail is not None:
            trace = trail.worker = trace.child()
            trail.worker_started_ns = time.time_ns()
        result = await self.runtime.fetch(
            code,
            RuntimeRequest(scope["method"], url, forwarded, body, trace),
            limits,
            request_id=request_id,
            expose_errors=namespace == config.dev_namespace,
        )
        if trail is not None:
            trail.result = result
        record = UsageRecord(arrived, request_id, namespace, head.name, tenant.id)
        self._account(record, result, began, scope["method"], url)  # before the response is finished
        out = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in result.headers
            if name.lower() not in _RESPONSE_DROPPED
        ]
        out.append((b"x-z0-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": result.status, "headers": out})
        await send({"type": "http.response.body", "body": result.body})
        return result.status

    def _account(
        self, record: UsageRecord, result: RuntimeResponse, began: float, method: str, url: str
    ) -> None:
        """Usage (durable before the response is finished: DESIGN.md, "Usage"), metrics, and once the
        invocation ended (waitUntil work included), its CPU, outcome and tail event."""
        duration_ms = _ms_since(began)
        self.metrics.dispatch(record.tenant_id, record.script, result.status, duration_ms)
        usage = self.usage
        completion = result.completion
        if completion.done() and not completion.cancelled():
            done = completion.result()
            if usage is not None:
                whole = Measures(
                    result.status, done.outcome.value, done.cpu_ms, duration_ms, done.subrequests
                )
                usage.add(Entry("final", record, whole))
            self._ended(record, result.status, done, duration_ms, method, url)
            return
        first = None
        if usage is not None:
            outcome = (result.outcome or Outcome.OK).value
            first = Measures(result.status, outcome, result.cpu_ms, duration_ms, result.subrequests)
            usage.add(Entry("response", record, first))

        def ended(future: asyncio.Future[Completion]) -> None:
            if future.cancelled():
                return
            done = future.result()
            total_ms = _ms_since(began)
            if usage is not None and first is not None:
                last = Measures(result.status, done.outcome.value, done.cpu_ms, total_ms, done.subrequests)
                usage.add(Entry("end", record, last, replaces=first))
            self._ended(record, result.status, done, total_ms, method, url)

        completion.add_done_callback(ended)

    def _ended(
        self, record: UsageRecord, status: int, done: Completion, duration_ms: float, method: str, url: str
    ) -> None:
        self.metrics.invocation(record.tenant_id, done.cpu_ms, done.outcome.value)
        if self.tail is not None:
            self.tail.publish(
                TailEvent(
                    request_id=record.request_id,
                    time=record.time,
                    namespace=record.namespace,
                    script=record.script,
                    tenant_id=record.tenant_id,
                    method=method,
                    url=url,
                    status=status,
                    outcome=done.outcome.value,
                    duration_ms=duration_ms,
                    cpu_ms=done.cpu_ms,
                    logs=done.logs,
                    exception=done.error,
                )
            )

    async def _own(self, path: str, send: Any) -> None:
        if path in ("/_z0/healthz", "/_z0/health"):
            await _json(send, 200, {"status": "ok", "registry_version": self.view.data.counter})
        elif path == "/_z0/readyz" and self.health is not None:
            ready, report = await self.health.readiness()
            await _json(send, 200 if ready else 503, report)
        elif path == "/_z0/metrics" and self.metrics_page is not None:
            page = await asyncio.to_thread(self.metrics_page)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", METRICS_CONTENT_TYPE.encode())],
                }
            )
            await send({"type": "http.response.body", "body": page})
        else:
            await _plain(send, 404, "Not Found", None)


def _ms_since(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 3)


def _hostname(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.split(":", 1)[0].rstrip(".")


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _json(send: Any, status: int, data: Any) -> None:
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(data).encode()})


async def _plain(send: Any, status: int, text: str, request_id: str | None) -> int:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if request_id:
        headers.append((b"x-z0-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})
    return status


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
