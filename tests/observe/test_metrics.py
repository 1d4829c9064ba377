"""Metrics: names, labels and values after a known sequence of requests and deploys, through a real
`z0 serve --workers 2` (every process counts its own and the node's /metrics adds them up); and the
merge of snapshots itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.operator import JS, Operator
from tests.gateway.test_gateway import wait_for
from tests.support import LiveServer, start_server
from z0.observe.metrics import CPU_BUCKETS_MS, DISPATCH_BUCKETS_MS, Metrics, MetricsFiles, render

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

WORKER = """
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/boom") throw new Error("boom");
    if (path === "/spin") { const end = Date.now() + 5000; while (Date.now() < end) {} }
    if (path === "/teapot") return new Response("short and stout", { status: 418 });
    return new Response("ok");
  },
};
"""


def samples(page: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


# The merge, without processes


def test_histograms_put_a_value_on_a_bound_in_that_bucket_and_add_up_across_processes(tmp_path: Path) -> None:
    files = MetricsFiles(tmp_path / "metrics")
    other = Metrics()
    other.dispatch("acme", "acme", 200, 1.0)  # exactly on the first bound: le="1.0"
    other.dispatch("acme", "acme", 200, 30_001.0)  # above the last: only +Inf
    other.invocation("acme", 50.0, "exceeded_cpu")
    snapshot = other.snapshot()
    snapshot.pid = 1  # pid 1 is alive but not this process: it counts as another process
    files.write(snapshot)
    live = Metrics()
    live.dispatch("acme", "acme", 200, 3.0)
    live.dispatch("", "", 401, 0.2)
    live.deployment("acme", succeeded=False)

    found = samples(render(files, live).decode())
    assert value(found, "z0_wfp_dispatches_total", tenant_id="acme", script_name="acme", status="200") == 3
    assert value(found, "z0_wfp_dispatches_total", tenant_id="", script_name="", status="401") == 1
    assert value(found, "z0_wfp_dispatch_duration_ms_bucket", tenant_id="acme", le="1.0") == 1
    assert value(found, "z0_wfp_dispatch_duration_ms_bucket", tenant_id="acme", le="5.0") == 2
    assert value(found, "z0_wfp_dispatch_duration_ms_bucket", tenant_id="acme", le="30000.0") == 2
    assert value(found, "z0_wfp_dispatch_duration_ms_bucket", tenant_id="acme", le="+Inf") == 3
    assert value(found, "z0_wfp_dispatch_duration_ms_count", tenant_id="acme") == 3
    assert value(found, "z0_wfp_dispatch_duration_ms_sum", tenant_id="acme") == pytest.approx(30_005.0)
    assert value(found, "z0_wfp_user_worker_cpu_ms_bucket", tenant_id="acme", le="50.0") == 1
    assert value(found, "z0_wfp_user_worker_cpu_ms_bucket", tenant_id="acme", le="25.0") == 0
    assert value(found, "z0_wfp_user_worker_errors_total", tenant_id="acme", error_type="exceeded_cpu") == 1
    assert value(found, "z0_wfp_deployments_total", tenant_id="acme", status="failed") == 1
    edges = {le for (name, labels) in found for key, le in labels if key == "le" and "dispatch" in name}
    assert edges == {repr(b) for b in DISPATCH_BUCKETS_MS} | {"+Inf"}
    cpu_edges = {le for (name, labels) in found for key, le in labels if key == "le" and "cpu" in name}
    assert cpu_edges == {repr(b) for b in CPU_BUCKETS_MS} | {"+Inf"}


def test_a_dead_process_keeps_its_counts_but_not_its_gauges(tmp_path: Path) -> None:
    files = MetricsFiles(tmp_path / "metrics")
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(child.stdout)
    gone = Metrics()
    gone.dispatch("acme", "acme", 200, 2.0)
    snapshot = gone.snapshot()
    snapshot.pid = dead_pid
    snapshot.cache = {"hits": 5, "misses": 2, "evictions": 1, "isolates": 7, "memory": 1000}
    snapshot.executors = snapshot.executors_answering = 1
    files.write(snapshot)

    found = samples(render(files, Metrics()).decode())
    assert value(found, "z0_wfp_dispatches_total", tenant_id="acme", script_name="acme", status="200") == 1
    assert (
        value(found, "z0_isolate_cache_hits_total") == 5 and value(found, "z0_isolate_evictions_total") == 1
    )
    assert value(found, "z0_isolates_resident") == 0  # not resident: that process is gone
    assert value(found, "z0_executors", state="running") == 0
    files.clear()
    assert value(samples(render(files, Metrics()).decode()), "z0_wfp_dispatches_total") == 0


def test_a_torn_or_foreign_snapshot_is_left_out(tmp_path: Path) -> None:
    files = MetricsFiles(tmp_path / "metrics")
    files.directory.mkdir(parents=True)
    (files.directory / "123.json").write_text('{"pid": 123, "written_')
    live = Metrics()
    live.dispatch("acme", "acme", 200, 2.0)
    found = samples(render(files, live).decode())
    assert value(found, "z0_wfp_dispatches_total", tenant_id="acme", script_name="acme", status="200") == 1


# A live z0 with two gateway processes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("metrics-z0")
    live = start_server(
        root / "data",
        "--workers", "2", "--executors", "2",
        env={"Z0_METRICS_FLUSH_INTERVAL_S": "0.2", "Z0_GATEWAY_METRICS": "true", "Z0_DEFAULT_CPU_MS": "20"},
    )  # fmt: skip
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def operator(server: LiveServer) -> Iterator[Operator]:
    with Operator(server) as op:
        yield op


def scrape(server: LiveServer) -> Samples:
    response = httpx.get(server.api_url.removesuffix("/client/v4") + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def settled(server: LiveServer, check: object, timeout: float = 10.0) -> Samples:
    """Scrapes until `check(samples)` holds: every process writes its snapshot every 0.2 s."""
    deadline = time.monotonic() + timeout
    while True:
        found = scrape(server)
        if check(found):  # type: ignore[operator]
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never settled; last scrape: {found}")
        time.sleep(0.1)


def test_the_spec_metrics_after_a_known_sequence(server: LiveServer, operator: Operator) -> None:
    tenant = operator.tenant("metrics")
    operator.deploy(tenant, WORKER)
    broken = operator.api.put(
        f"/workers/dispatch/namespaces/z0-prod-tenants/scripts/{tenant}",
        files=[
            ("metadata", (None, '{"main_module": "index.js"}', "application/json")),
            ("files", ("index.js", b"export default { fetch() { return new Response('x' } };", JS)),
        ],
    )
    assert broken.status_code == 400
    key = operator.key(tenant)["key"]
    headers = {"x-z0-api-key": key}
    wait_for(lambda: operator.gateway.get("/", headers=headers).status_code == 200)  # ≥ 1 ok request
    before = scrape(server)
    ok_before = value(before, "z0_wfp_dispatches_total", tenant_id=tenant, script_name=tenant, status="200")

    for _ in range(20):  # spread over both gateway processes by the kernel
        assert operator.gateway.get("/", headers=headers).status_code == 200
    assert operator.gateway.get("/teapot", headers=headers).status_code == 418
    for _ in range(2):
        assert operator.gateway.get("/boom", headers=headers).status_code == 500
    assert operator.gateway.get("/spin", headers=headers).status_code == 503
    wrong = httpx.get(server.gateway_url + "/", headers={"x-z0-api-key": key + "x"})
    assert wrong.status_code == 401
    for path in ("/a/b", "/c?d=e", "/%2e%2e/x"):  # raw paths never become labels
        operator.gateway.get(path, headers={"x-z0-api-key": "z0k_nobody"})

    invocations = ok_before + 20 + 1 + 2 + 1
    unresolved_before = value(before, "z0_wfp_dispatches_total", tenant_id="", script_name="", status="401")

    def done(found: Samples) -> bool:  # every process has written what it counted
        return (
            value(found, "z0_wfp_user_worker_cpu_ms_count", tenant_id=tenant) == invocations
            and value(found, "z0_wfp_dispatches_total", tenant_id="", script_name="", status="401")
            == unresolved_before + 4
        )

    found = settled(server, done)
    labels = {"tenant_id": tenant, "script_name": tenant}
    assert value(found, "z0_wfp_dispatches_total", **labels, status="418") == 1
    assert value(found, "z0_wfp_dispatches_total", **labels, status="500") == 2
    assert value(found, "z0_wfp_dispatches_total", **labels, status="503") == 1
    assert value(found, "z0_wfp_user_worker_errors_total", tenant_id=tenant, error_type="exception") == 2
    # a worker's own 418 is not an error of the worker
    assert {
        dict(labels)["error_type"]
        for (name, labels) in found
        if name.startswith("z0_wfp_user_worker_errors") and dict(labels)["tenant_id"] == tenant
    } == {"exception", "exceeded_cpu"}
    assert value(found, "z0_wfp_dispatches_total", **labels, status="200") == ok_before + 20
    assert value(found, "z0_wfp_user_worker_errors_total", tenant_id=tenant, error_type="exceeded_cpu") == 1
    assert value(found, "z0_wfp_dispatch_duration_ms_count", tenant_id=tenant) == invocations
    assert value(found, "z0_wfp_user_worker_cpu_ms_count", tenant_id=tenant) == invocations
    # the runaway used more than its 20 ms: it is above the 10 ms bucket
    assert value(found, "z0_wfp_user_worker_cpu_ms_bucket", tenant_id=tenant, le="+Inf") == invocations
    assert value(found, "z0_wfp_user_worker_cpu_ms_bucket", tenant_id=tenant, le="10.0") <= invocations - 1
    assert value(found, "z0_wfp_deployments_total", tenant_id=tenant, status="success") == 1
    assert value(found, "z0_wfp_deployments_total", tenant_id=tenant, status="failed") == 1

    script_names = {
        dict(labels).get("script_name") for (name, labels) in found if name == "z0_wfp_dispatches_total"
    }
    assert not any(name and "/" in name for name in script_names)
    # --executors 2 is shared out: one per gateway process, and the control API's own for upload checks
    assert value(found, "z0_executors", state="running") == 3
    assert value(found, "z0_executors", state="answering") == 3
    assert value(found, "z0_isolates_resident") >= 1
    hits, misses = value(found, "z0_isolate_cache_hits_total"), value(found, "z0_isolate_cache_misses_total")
    assert misses >= 1 and hits + misses >= 20


def test_the_gateway_port_serves_the_same_metrics_behind_a_setting(
    server: LiveServer, live_server: LiveServer
) -> None:
    page = httpx.get(server.gateway_url + "/_z0/metrics", timeout=10)
    assert page.status_code == 200 and "z0_wfp_dispatches_total" in page.text
    off = httpx.get(live_server.gateway_url + "/_z0/metrics", timeout=10)  # the setting is off there
    assert off.status_code == 404 and "z0_wfp" not in off.text


def test_health_and_readiness_on_both_ports(server: LiveServer) -> None:
    root = server.api_url.removesuffix("/client/v4")
    assert httpx.get(root + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(root + "/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["storage"] == "ok" and checks["executors"] == "1 of 1 answering"
    workers = [name for name in checks if name.startswith("process ")]
    assert len(workers) == 2 and all("1 of 1 executors answering" in checks[name] for name in workers)
    assert httpx.get(server.gateway_url + "/_z0/healthz").json()["status"] == "ok"
    gateway_ready = httpx.get(server.gateway_url + "/_z0/readyz")
    assert (
        gateway_ready.status_code == 200 and gateway_ready.json()["checks"]["executors"] == "1 of 1 answering"
    )


def test_readiness_fails_while_an_executor_does_not_answer(server: LiveServer) -> None:
    root = server.api_url.removesuffix("/client/v4")
    executors = _executor_pids(server.process.pid)
    assert len(executors) == 3
    frozen = executors[-1]
    os.kill(frozen, 19)  # SIGSTOP: alive, but answers nothing
    try:

        def not_ready() -> bool:
            return httpx.get(root + "/readyz", timeout=10).status_code == 503

        wait_for(not_ready, timeout=10)
        report = httpx.get(root + "/readyz", timeout=10).json()
        assert report["status"] == "not ready"
    finally:
        os.kill(frozen, 18)  # SIGCONT
    wait_for(lambda: httpx.get(root + "/readyz", timeout=10).status_code == 200, timeout=10)


def _executor_pids(root_pid: int) -> list[int]:
    """Every `z0.runtime.executor` process under `root_pid`, by walking /proc."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        for child in children.get(pid, []):
            if "z0.runtime.executor" in commands.get(child, ""):
                found.append(child)
            stack.append(child)
    return sorted(found)
