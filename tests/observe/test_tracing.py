"""Tracing through real `z0 serve` processes on 127.0.0.1: the W3C trace context the worker and its
subrequests see (exported or not), and the spans exported over OTLP/HTTP to a receiver in this test.

Outbound fetches go to an upstream on 127.0.0.1 that the servers let through (`fetch_allow_hosts`).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.bindings.fetch_upstream import Upstream
from tests.gateway.operator import Operator
from tests.observe.otlp_receiver import CLIENT, INTERNAL, SERVER, OtlpReceiver
from tests.support import LiveServer, start_server
from z0.observe.tracing import SpanRef, Tracing, otlp_endpoint, sample_ratio

# Answers with the headers it saw; `?fetches=N` fetches the upstream N times, each time trying to send
# a traceparent of its own (z0 puts the subrequest's in its place); `?throw=1` throws.
WORKER = """
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.searchParams.get("throw")) throw new Error("boom");
    const seen = {};
    for (const [name, value] of request.headers) seen[name] = value;
    const upstream = [];
    for (let i = 0; i < Number(url.searchParams.get("fetches") || "0"); i++) {
      const response = await fetch(env.UPSTREAM + "?token=secret", {
        headers: { traceparent: "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01" },
      });
      upstream.push((await response.json()).headers);
    }
    return Response.json({ headers: seen, upstream });
  },
};
"""
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")
NO_EXPORT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}


@dataclass
class Site:
    """A live z0 with one tenant whose worker is WORKER."""

    server: LiveServer
    operator: Operator
    key: str
    tenant_id: str

    def get(self, path: str, traceparent: str | None = None, key: str | None = None) -> Any:
        headers = {"x-z0-api-key": key or self.key}
        if traceparent is not None:
            headers["traceparent"] = traceparent
        return self.operator.gateway.get(path, headers=headers)


def new_trace() -> tuple[str, str]:
    return uuid.uuid4().hex, uuid.uuid4().hex[:16]


def upstream_traceparents(answer: dict[str, Any]) -> list[list[str]]:
    """The traceparent headers each subrequest arrived with (each a list, to show there is one)."""
    return [[value for name, value in headers if name == "traceparent"] for headers in answer["upstream"]]


def open_site(root: Path, upstream: Upstream, *args: str, env: dict[str, str]) -> Site:
    root.mkdir(parents=True, exist_ok=True)
    (root / "z0.toml").write_text(f'[z0]\nfetch_allow_hosts = ["127.0.0.1:{upstream.port}"]\n')
    server = start_server(root / "data", "--config", str(root / "z0.toml"), *args, env=env)
    operator = Operator(server)
    tenant_id = operator.tenant("trace")
    target = f"http://127.0.0.1:{upstream.port}/echo"
    operator.deploy(tenant_id, WORKER, bindings=[{"name": "UPSTREAM", "type": "plain_text", "text": target}])
    site = Site(server, operator, operator.key(tenant_id)["key"], tenant_id)
    deadline = time.monotonic() + 10
    while site.get("/").status_code != 200:
        assert time.monotonic() < deadline, "the worker was not served in time"
        time.sleep(0.05)
    time.sleep(0.5)  # every gateway worker has seen the deploy (each refreshes its view every 200 ms)
    return site


def close_site(site: Site) -> int:
    site.operator.api.close()
    site.operator.gateway.close()
    return site.server.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Site]:
    """z0 with no OTLP endpoint: nothing is exported."""
    site = open_site(tmp_path_factory.mktemp("plain"), upstream, "--executors", "1", env=NO_EXPORT)
    yield site
    close_site(site)


@pytest.fixture(scope="module")
def exporting(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, receiver: OtlpReceiver
) -> Iterator[Site]:
    """z0 with two gateway worker processes, exporting to the receiver every 100 ms."""
    env = {**NO_EXPORT, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    root = tmp_path_factory.mktemp("exporting")
    site = open_site(root, upstream, "--workers", "2", "--executors", "2", env=env)
    yield site
    close_site(site)


# Without an OTLP endpoint: the trace context still goes to the worker and on to its subrequests.


def test_an_incoming_trace_reaches_the_worker_and_its_subrequests(plain: Site) -> None:
    trace_id, parent = new_trace()
    response = plain.get("/?fetches=2", f"00-{trace_id}-{parent}-01")
    assert response.status_code == 200
    seen = response.json()["headers"]
    span_id = seen["x-z0-span-id"]
    assert seen["x-z0-trace-id"] == trace_id
    assert HEX16.fullmatch(span_id) and span_id != parent
    assert seen["traceparent"] == f"00-{trace_id}-{span_id}-01"
    subrequests = [sent.split("-") for [sent] in upstream_traceparents(response.json())]
    assert len(subrequests) == 2
    for version, sent_trace, sent_span, flags in subrequests:
        assert (version, sent_trace, flags) == ("00", trace_id, "01")
        assert HEX16.fullmatch(sent_span) and sent_span != "0" * 16
        assert sent_span not in (span_id, parent)
    assert subrequests[0][2] != subrequests[1][2]  # a span of its own for each subrequest
    assert not any(line.startswith("traces:") for line in plain.server.lines)


def test_a_request_without_traceparent_starts_a_trace(plain: Site) -> None:
    first, second = plain.get("/?fetches=1"), plain.get("/?fetches=1")
    trace_ids = set()
    for response in (first, second):
        seen = response.json()["headers"]
        trace_id = seen["x-z0-trace-id"]
        assert HEX32.fullmatch(trace_id) and trace_id != "0" * 32
        assert seen["traceparent"] == f"00-{trace_id}-{seen['x-z0-span-id']}-01"
        [[sent]] = upstream_traceparents(response.json())
        assert sent.startswith(f"00-{trace_id}-") and sent.endswith("-01")
        trace_ids.add(trace_id)
    assert len(trace_ids) == 2


# Exported over OTLP/HTTP


def test_dispatch_worker_and_subrequest_spans_are_exported(
    exporting: Site, receiver: OtlpReceiver, upstream: Upstream
) -> None:
    trace_id, parent = new_trace()
    response = exporting.get("/orders?fetches=1", f"00-{trace_id}-{parent}-01")
    assert response.status_code == 200
    seen = response.json()["headers"]
    span_id, request_id = seen["x-z0-span-id"], response.headers["x-z0-request-id"]
    assert seen["x-z0-trace-id"] == trace_id
    [[sent]] = upstream_traceparents(response.json())
    names = {"z0.wfp.dispatch", "z0.wfp.user_worker", "z0.wfp.fetch"}
    spans = receiver.wait_for(trace_id, lambda found: names <= {span.name for span in found})

    dispatch = spans["z0.wfp.dispatch"]
    assert (dispatch.span_id, dispatch.parent_span_id, dispatch.kind) == (span_id, parent, SERVER)
    assert dispatch.parent_is_remote and not dispatch.error
    assert dispatch.attributes == {
        "tenant_id": exporting.tenant_id,
        "script_name": exporting.tenant_id,
        "request_path": "/orders",
        "request_id": request_id,
        "http.request.method": "GET",
        "http.response.status_code": 200,
    }
    worker = spans["z0.wfp.user_worker"]
    assert (worker.parent_span_id, worker.kind) == (span_id, INTERNAL)
    assert HEX16.fullmatch(worker.span_id) and worker.span_id not in (span_id, parent)
    assert not worker.parent_is_remote and not worker.error
    assert worker.attributes["request_id"] == request_id
    assert worker.attributes["outcome"] == "ok" and worker.attributes["subrequests"] == 1
    assert isinstance(worker.attributes["cpu_ms"], float) and worker.attributes["cpu_ms"] >= 0
    fetch = spans["z0.wfp.fetch"]
    assert sent == f"00-{trace_id}-{fetch.span_id}-01"
    assert (fetch.parent_span_id, fetch.kind) == (worker.span_id, CLIENT)
    assert fetch.attributes == {
        "http.request.method": "GET",
        "url.full": f"http://127.0.0.1:{upstream.port}/echo",  # no query: it may hold secrets
        "server.address": "127.0.0.1",
        "server.port": upstream.port,
        "http.response.status_code": 200,
    }
    assert dispatch.start_ns <= worker.start_ns <= fetch.start_ns < fetch.end_ns <= worker.end_ns
    assert fetch.end_ns <= dispatch.end_ns
    for span in spans.values():
        assert span.resource["service.name"] == "z0"
        assert span.resource["service.version"] == "0.1.0"
    assert receiver.paths == {"/v1/traces"} and receiver.content_types == {"application/x-protobuf"}
    endpoint = f"traces: OTLP/HTTP to {receiver.endpoint}/v1/traces"
    assert endpoint in exporting.server.lines


def test_refused_and_failed_requests_are_spans_too(exporting: Site, receiver: OtlpReceiver) -> None:
    trace_id, parent = new_trace()
    assert exporting.get("/", f"00-{trace_id}-{parent}-01", key="z0k_wrong").status_code == 401
    refused = receiver.wait_for(trace_id, lambda found: len(found) > 0)["z0.wfp.dispatch"]
    assert refused.attributes["http.response.status_code"] == 401 and not refused.error
    assert "tenant_id" not in refused.attributes and "script_name" not in refused.attributes

    trace_id, parent = new_trace()
    assert exporting.get("/?throw=1", f"00-{trace_id}-{parent}-01").status_code == 500
    spans = receiver.wait_for(trace_id, lambda found: len(found) == 2)
    failed, worker = spans["z0.wfp.dispatch"], spans["z0.wfp.user_worker"]
    assert failed.error and failed.attributes["http.response.status_code"] == 500
    assert worker.error and worker.attributes["outcome"] == "exception"
    assert worker.status_message == "exception"


def test_an_unsampled_trace_is_propagated_but_not_exported(exporting: Site, receiver: OtlpReceiver) -> None:
    trace_id, parent = new_trace()
    response = exporting.get("/?fetches=1", f"00-{trace_id}-{parent}-00")
    assert response.status_code == 200
    seen = response.json()["headers"]
    assert seen["x-z0-trace-id"] == trace_id
    assert seen["traceparent"] == f"00-{trace_id}-{seen['x-z0-span-id']}-00"
    [[sent]] = upstream_traceparents(response.json())
    _, sent_trace, sent_span, flags = sent.split("-")
    assert (sent_trace, flags) == (trace_id, "00")
    assert sent_span not in (seen["x-z0-span-id"], parent)
    # A sampled request after it: once its spans are in, and ten more batch delays have passed, the
    # unsampled one would have been too.
    marker, marker_parent = new_trace()
    exporting.get("/", f"00-{marker}-{marker_parent}-01")
    receiver.wait_for(marker, lambda found: len(found) == 2)
    time.sleep(1.0)
    assert receiver.spans(trace_id) == []


def test_spans_still_in_the_batch_are_exported_when_z0_stops(
    tmp_path: Path, upstream: Upstream, receiver: OtlpReceiver
) -> None:
    env = {
        **NO_EXPORT,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.endpoint}/v1/traces",
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # ten minutes: only the shutdown sends them
        "OTEL_SERVICE_NAME": "z0-edge",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",  # no new trace is sampled; incoming ones keep their flag
    }
    site = open_site(tmp_path, upstream, "--workers", "1", "--executors", "1", env=env)
    try:
        trace_id, parent = new_trace()
        assert site.get("/?fetches=1", f"00-{trace_id}-{parent}-01").status_code == 200
        fresh = site.get("/?fetches=1").json()
        fresh_trace = fresh["headers"]["x-z0-trace-id"]
        assert fresh["headers"]["traceparent"].endswith("-00")
        assert upstream_traceparents(fresh)[0][0].startswith(f"00-{fresh_trace}-")
        time.sleep(0.3)
        assert receiver.spans(trace_id) == []
    finally:
        assert close_site(site) == 0
    spans = receiver.wait_for(trace_id, lambda found: len(found) == 3, timeout=2)
    assert {span.resource["service.name"] for span in spans.values()} == {"z0-edge"}
    assert receiver.spans(fresh_trace) == []


# The pieces


def test_otlp_endpoint_from_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert otlp_endpoint({}) is None
    assert otlp_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}) is None
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert otlp_endpoint(base) == "http://collector:4318/v1/traces"
    traces = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example/otlp"}
    assert otlp_endpoint(traces) == "https://traces.example/otlp"
    assert otlp_endpoint({**base, "OTEL_SDK_DISABLED": "true"}) is None
    assert otlp_endpoint({**base, "OTEL_TRACES_EXPORTER": "none"}) is None
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    assert Tracing.from_environment() is None


def test_sample_ratio_of_new_traces_from_the_standard_variables() -> None:
    assert sample_ratio({}) == 1.0
    assert sample_ratio({"OTEL_TRACES_SAMPLER": "parentbased_always_on"}) == 1.0
    assert sample_ratio({"OTEL_TRACES_SAMPLER": "always_off"}) == 0.0
    ratio = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.05"}
    assert sample_ratio(ratio) == 0.05
    assert sample_ratio({**ratio, "OTEL_TRACES_SAMPLER": "traceidratio"}) == 0.05
    assert sample_ratio({"OTEL_TRACES_SAMPLER": "traceidratio"}) == 1.0
    assert sample_ratio({**ratio, "OTEL_TRACES_SAMPLER_ARG": "lots"}) == 1.0  # and a warning
    assert sample_ratio({"OTEL_TRACES_SAMPLER": "xray"}) == 1.0


class StuckExporter(SpanExporter):
    """A collector that never answers."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.released.wait(30)
        return SpanExportResult.FAILURE


def test_a_stuck_collector_does_not_hold_up_the_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    exporter = StuckExporter()
    tracing = Tracing(exporter)
    ref = SpanRef(uuid.uuid4().hex, uuid.uuid4().hex[:16], True)
    now = time.time_ns()
    tracing.fetch(
        ref.child(), ref.span_id, now, now, method="GET", url="http://a.test/", status=200, failure=None
    )
    started = time.monotonic()
    tracing.shutdown(timeout_s=0.3)
    assert time.monotonic() - started < 2
    assert "spans not exported within 0.3 s of stopping were dropped" in caplog.text
    exporter.released.set()


def test_a_subrequest_span_names_no_credentials_query_or_fragment() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(exporter)
    request = SpanRef(uuid.uuid4().hex, uuid.uuid4().hex[:16], True)
    now = time.time_ns()
    tracing.fetch(
        request.child(), request.span_id, now, now + 1000, method="POST",
        url="https://user:pw@api.example.com/v1/items?key=secret#top", status=503, failure=None,
    )  # fmt: skip
    tracing.fetch(
        request.child(), request.span_id, now, now + 1000, method="GET",
        url="http://[::1/x?y", status=None, failure=TimeoutError("The subrequest timed out."),
    )  # fmt: skip
    tracing.shutdown()
    failed, broken = exporter.get_finished_spans()
    assert failed.kind is SpanKind.CLIENT and failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {}) == {
        "http.request.method": "POST",
        "url.full": "https://api.example.com/v1/items",
        "server.address": "api.example.com",
        "server.port": 443,
        "http.response.status_code": 503,
        "error.type": "503",
    }
    assert dict(broken.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": "http://[::1/x",
        "error.type": "TimeoutError",
    }
    assert broken.status.description == "The subrequest timed out."
