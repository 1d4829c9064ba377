"""Tracing: W3C trace context on every request, and OpenTelemetry spans exported over OTLP when configured.

    z0.wfp.dispatch        server    the gateway's answer: tenant_id, script_name, request_path, status
      z0.wfp.user_worker   internal  the worker's invocation, waitUntil work included: outcome, cpu_ms, …
        z0.wfp.fetch       client    each outbound fetch: method, URL (no query), status

The ids are z0's own (gateway/_context.py, `new_span_id`) and go out in headers whether or not anything
is exported: the worker sees the dispatch span as its parent, and each fetch carries a `traceparent`
naming its own span. A span is recorded once it has ended, with those ids, and only when an OTLP
endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and the
trace is sampled; otherwise no OpenTelemetry object is made for a request.

A trace that comes in with a `traceparent` keeps its sampled flag. New traces are all sampled, unless
`OTEL_TRACES_SAMPLER=parentbased_traceidratio` and `OTEL_TRACES_SAMPLER_ARG=0.05` (say) choose a share.
Measured on the 2-CPU dev machine: recording a span costs the event loop ~5 µs, but the OTLP exporter's
protobuf encoding ~90 µs of CPU a span, in the batch thread yet under the gateway process's GIL; with
every request sampled, a hello-world request went from ~210 to ~410 µs of gateway CPU.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

import z0

__all__ = ["SpanRef", "Tracing", "new_span_id", "otlp_endpoint", "sample_ratio"]

logger = logging.getLogger("z0.tracing")

Attributes = dict[str, AttributeValue]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)


def new_span_id() -> str:
    return os.urandom(8).hex()


@dataclass(frozen=True, slots=True)
class SpanRef:
    """A span as W3C trace context names it. A request carries the span its subrequests are children
    of to the host ops that make them, so that each outbound `traceparent` continues the trace."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16
    sampled: bool

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self) -> SpanRef:
        return SpanRef(self.trace_id, new_span_id(), self.sampled)


def otlp_endpoint(environ: Mapping[str, str] | None = None) -> str | None:
    """Where spans go (the OTLP/HTTP traces URL), or None when tracing export is off: no endpoint set,
    `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return f"{base.rstrip('/')}/v1/traces" if base else None


def sample_ratio(environ: Mapping[str, str] | None = None) -> float:
    """The share of new traces to sample, from `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`. Every
    sampler is read as its parent-based form: an incoming trace's own flag always wins."""
    env = os.environ if environ is None else environ
    sampler = env.get("OTEL_TRACES_SAMPLER", "").strip().lower().removeprefix("parentbased_")
    if sampler in ("", "always_on"):
        return 1.0
    if sampler == "always_off":
        return 0.0
    if sampler != "traceidratio":
        logger.warning("OTEL_TRACES_SAMPLER=%s is not one z0 knows; sampling every new trace", sampler)
        return 1.0
    argument = env.get("OTEL_TRACES_SAMPLER_ARG", "").strip() or "1.0"
    try:
        ratio = float(argument)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        logger.warning(
            "OTEL_TRACES_SAMPLER_ARG=%s is not a ratio from 0 to 1; sampling every new trace", argument
        )
        return 1.0
    return ratio


class Tracing:
    """Records z0's spans and exports them in batches, off the event loop; one per process that serves
    the gateway, shut down (which flushes what is left) when it stops."""

    def __init__(
        self, exporter: SpanExporter, *, service_name: str = "z0", sample_ratio: float = 1.0
    ) -> None:
        self.sample_ratio = sample_ratio  # of new traces; the gateway's ids decide (W3CTraceIds)
        resource = Resource.create({"service.name": service_name, "service.version": z0.__version__})
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self._processor = BatchSpanProcessor(exporter)
        self.provider.add_span_processor(self._processor)
        self._resource = resource
        self._scope = InstrumentationScope("z0", z0.__version__)

    @classmethod
    def from_environment(cls) -> Tracing | None:
        """Tracing to the OTLP/HTTP (protobuf) endpoint the standard `OTEL_*` variables name, or None.
        The exporter and the batch processor read their own variables too (headers, timeout,
        `OTEL_BSP_SCHEDULE_DELAY`, …); `OTEL_SERVICE_NAME` overrides the service name "z0"."""
        if otlp_endpoint() is None:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        service_name = os.environ.get("OTEL_SERVICE_NAME", "").strip() or "z0"
        return cls(OTLPSpanExporter(), service_name=service_name, sample_ratio=sample_ratio())

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Exports what is still queued and stops. Blocks, for `timeout_s` at most: a collector that is
        down (the exporter retries for 10 s a batch) must not hold up z0's stop."""
        stopping = threading.Thread(target=self.provider.shutdown, name="z0-tracing-shutdown", daemon=True)
        stopping.start()
        stopping.join(timeout_s)
        if stopping.is_alive():
            logger.warning("spans not exported within %g s of stopping were dropped", timeout_s)

    # The spans

    def dispatch(
        self,
        span: SpanRef,
        parent_id: str | None,
        start_ns: int,
        end_ns: int,
        *,
        method: str,
        path: str,
        request_id: str,
        status: int | None,
        tenant_id: str | None,
        script_name: str | None,
    ) -> None:
        """The gateway's answer to one request; `parent_id` is the incoming `traceparent`'s span."""
        attributes: Attributes = {
            "request_path": path,
            "http.request.method": method,
            "request_id": request_id,
        }
        if tenant_id is not None:
            attributes["tenant_id"] = tenant_id
        if script_name is not None:
            attributes["script_name"] = script_name
        if status is not None:
            attributes["http.response.status_code"] = status
        error = str(status) if status is not None and status >= 500 else None
        self._record("z0.wfp.dispatch", span, parent_id, SpanKind.SERVER, start_ns, end_ns, attributes, error)

    def user_worker(
        self,
        span: SpanRef,
        parent_id: str,
        start_ns: int,
        end_ns: int,
        *,
        tenant_id: str,
        script_name: str,
        request_id: str,
        outcome: str,
        cpu_ms: float,
        subrequests: int,
        status: int,
    ) -> None:
        """One invocation of a user worker, until its waitUntil work ended."""
        attributes: Attributes = {
            "tenant_id": tenant_id,
            "script_name": script_name,
            "request_id": request_id,
            "outcome": outcome,
            "cpu_ms": cpu_ms,
            "subrequests": subrequests,
            "http.response.status_code": status,
        }
        error = None if outcome == "ok" else outcome
        self._record(
            "z0.wfp.user_worker", span, parent_id, SpanKind.INTERNAL, start_ns, end_ns, attributes, error
        )

    def fetch(
        self,
        span: SpanRef,
        parent_id: str,
        start_ns: int,
        end_ns: int,
        *,
        method: str,
        url: str,
        status: int | None,
        failure: BaseException | None,
    ) -> None:
        """One outbound `fetch` of a worker (redirects followed inside it)."""
        attributes: Attributes = {"http.request.method": method, **_url_attributes(url)}
        error = None
        if status is not None:
            attributes["http.response.status_code"] = status
            if status >= 400:
                attributes["error.type"] = error = str(status)
        if failure is not None:
            attributes["error.type"] = type(failure).__name__
            error = str(failure) or type(failure).__name__
        self._record("z0.wfp.fetch", span, parent_id, SpanKind.CLIENT, start_ns, end_ns, attributes, error)

    def _record(
        self,
        name: str,
        span: SpanRef,
        parent_id: str | None,
        kind: SpanKind,
        start_ns: int,
        end_ns: int,
        attributes: Attributes,
        error: str | None,
    ) -> None:
        # The ended span goes straight to the batch: the SDK's tracer would make its own ids (these went
        # out in headers before the span ended), and measured 30 µs a span against 3 µs for this.
        trace_id = int(span.trace_id, 16)
        parent = None
        if parent_id is not None:
            # Only the dispatch span's parent is another process's (the incoming traceparent).
            remote = kind is SpanKind.SERVER
            parent = SpanContext(trace_id, int(parent_id, 16), is_remote=remote, trace_flags=_SAMPLED)
        self._processor.on_end(
            ReadableSpan(
                name,
                SpanContext(trace_id, int(span.span_id, 16), is_remote=False, trace_flags=_SAMPLED),
                parent,
                self._resource,
                attributes,
                kind=kind,
                status=_UNSET if error is None else Status(StatusCode.ERROR, error),
                start_time=start_ns,
                end_time=end_ns,
                instrumentation_scope=self._scope,
            )
        )


def _url_attributes(url: str) -> Attributes:
    """`url.full` without query, fragment or credentials (they may hold the tenant's secrets; z0's
    logs leave them out too), and the server's address and port."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return {"url.full": url.partition("?")[0].partition("#")[0][:2048]}
    netloc = parts.netloc.rpartition("@")[2]
    attributes: Attributes = {"url.full": f"{parts.scheme}://{netloc}{parts.path}"[:2048]}
    if host:
        attributes["server.address"] = host
        attributes["server.port"] = port or (443 if parts.scheme == "https" else 80)
    return attributes
