"""z0's Prometheus metrics.

Each process counts in its own memory (a dict update per request: no lock, no file write) and writes
a snapshot of its totals to `{data_dir}/metrics/{pid}.json` every `metrics_flush_interval_s`. Whichever
process answers `/metrics` merges the snapshots of every process of this node with its own live
counts. A process that died keeps its last snapshot, so counters never go back while z0 runs; its
gauges are left out. `z0 serve` empties the directory when it starts (Prometheus sees a restart as a
counter reset, as for any process).

Labels come from the registry only (tenant ids, script names), never from a request's path or host:
a request that never resolved to a tenant is counted with `tenant_id=""` and `script_name=""`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from z0.runtime.supervisor import CacheStats, Runtime
from z0.settings import Settings

__all__ = [
    "CPU_BUCKETS_MS",
    "DISPATCH_BUCKETS_MS",
    "METRICS_CONTENT_TYPE",
    "Metrics",
    "MetricsFiles",
    "MetricsReporter",
    "NoMetrics",
    "Snapshot",
    "for_settings",
    "render",
]

logger = logging.getLogger("z0.metrics")

# The text format every Prometheus since 2.0 reads (what we write needs nothing newer).
METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# 1 ms to 30 s: the spec's p99 alert (500 ms) falls on a bucket edge.
DISPATCH_BUCKETS_MS = (
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
    30000.0,
)
# 0.5 ms to 1 s of CPU: the default limit (50 ms) falls on a bucket edge.
CPU_BUCKETS_MS = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)


class _Histogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # `le`: a value on a bound is in it
        self.total += value


def _key(*labels: str) -> str:
    return "\x1f".join(labels)


@dataclass
class Snapshot:
    """One process's totals, as written to (and read from) its file."""

    pid: int
    written_at: float
    dispatches: dict[str, int] = field(default_factory=dict)  # tenant \x1f script \x1f status
    errors: dict[str, int] = field(default_factory=dict)  # tenant \x1f error_type
    deployments: dict[str, int] = field(default_factory=dict)  # tenant \x1f status
    durations: dict[str, tuple[list[int], float]] = field(default_factory=dict)  # tenant → counts, sum
    cpu: dict[str, tuple[list[int], float]] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)  # hits, misses, evictions, isolates, memory
    executors: int = 0
    executors_answering: int = 0

    def encode(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def decode(cls, data: bytes) -> Snapshot:
        fields = orjson.loads(data)
        for name in ("durations", "cpu"):
            fields[name] = {tenant: (counts, total) for tenant, (counts, total) in fields[name].items()}
        return cls(**fields)


class Metrics:
    """This process's counts. Not thread-safe: the event loop owns it."""

    def __init__(self) -> None:
        self.dispatches: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.deployments: dict[str, int] = {}
        self.durations: dict[str, _Histogram] = {}
        self.cpu: dict[str, _Histogram] = {}
        self.cache: CacheStats | None = None

    def dispatch(self, tenant_id: str, script_name: str, status: int, duration_ms: float) -> None:
        key = _key(tenant_id, script_name, str(status))
        self.dispatches[key] = self.dispatches.get(key, 0) + 1
        histogram = self.durations.get(tenant_id)
        if histogram is None:
            histogram = self.durations[tenant_id] = _Histogram(DISPATCH_BUCKETS_MS)
        histogram.observe(duration_ms)

    def invocation(self, tenant_id: str, cpu_ms: float, outcome: str) -> None:
        """A user worker's invocation, once it ended (waitUntil work included)."""
        histogram = self.cpu.get(tenant_id)
        if histogram is None:
            histogram = self.cpu[tenant_id] = _Histogram(CPU_BUCKETS_MS)
        histogram.observe(cpu_ms)
        if outcome != "ok":
            key = _key(tenant_id, outcome)
            self.errors[key] = self.errors.get(key, 0) + 1

    def deployment(self, tenant_id: str, succeeded: bool) -> None:
        key = _key(tenant_id, "success" if succeeded else "failed")
        self.deployments[key] = self.deployments.get(key, 0) + 1

    def snapshot(self) -> Snapshot:
        cache = self.cache
        return Snapshot(
            pid=os.getpid(),
            written_at=time.time(),
            dispatches=dict(self.dispatches),
            errors=dict(self.errors),
            deployments=dict(self.deployments),
            durations={tenant: (list(h.counts), h.total) for tenant, h in self.durations.items()},
            cpu={tenant: (list(h.counts), h.total) for tenant, h in self.cpu.items()},
            cache=(
                {
                    "hits": cache.hits,
                    "misses": cache.misses,
                    "evictions": cache.evictions,
                    "isolates": cache.isolates,
                    "memory": cache.memory_bytes,
                }
                if cache is not None
                else {}
            ),
            executors=cache.executors if cache is not None else 0,
            executors_answering=cache.answering if cache is not None else 0,
        )


class NoMetrics(Metrics):
    """Counts nothing (the `metrics = false` setting)."""

    def dispatch(self, tenant_id: str, script_name: str, status: int, duration_ms: float) -> None:
        pass

    def invocation(self, tenant_id: str, cpu_ms: float, outcome: str) -> None:
        pass

    def deployment(self, tenant_id: str, succeeded: bool) -> None:
        pass


class MetricsFiles:
    """The node's snapshot files: one per process that counts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> MetricsFiles:
        return cls(data_dir / "metrics")

    def clear(self) -> None:
        """At `z0 serve`'s start: the counts of an earlier run are not this run's."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.directory.glob("*.json*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def write(self, snapshot: Snapshot) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"{snapshot.pid}.json"
        partial = final.with_suffix(".json.new")
        partial.write_bytes(snapshot.encode())
        partial.replace(final)  # a reader sees the old snapshot or the new one, never half of one

    def read(self, *, except_pid: int | None = None) -> list[Snapshot]:
        snapshots = []
        with contextlib.suppress(FileNotFoundError):
            for path in sorted(self.directory.glob("*.json")):
                if path.stem == str(except_pid):
                    continue
                try:
                    snapshots.append(Snapshot.decode(path.read_bytes()))
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    logger.warning("metrics snapshot %s unreadable, left out: %s", path.name, exc)
        return snapshots


class MetricsReporter:
    """Every `interval_s`: asks the runtime's executors for their isolate cache (which also tells
    whether each answers) and writes this process's snapshot."""

    def __init__(
        self, metrics: Metrics, files: MetricsFiles, runtime: Runtime | None, interval_s: float
    ) -> None:
        self.metrics = metrics
        self.files = files
        self.runtime = runtime
        self.interval_s = interval_s

    async def flush(self) -> None:
        if self.runtime is not None:
            self.metrics.cache = await self.runtime.stats(timeout_s=min(1.0, self.interval_s))
        self.files.write(self.metrics.snapshot())

    async def run(self) -> None:
        while True:
            try:
                await self.flush()
            except OSError as exc:  # a full disk, say: /metrics shows the last snapshot meanwhile
                logger.warning("metrics snapshot not written: %s", exc)
            await asyncio.sleep(self.interval_s)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Merged(Collector):
    def __init__(self, snapshots: list[Snapshot]) -> None:
        self.snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        snapshots = self.snapshots
        yield _counter(
            "z0_wfp_dispatches",
            "Requests the dispatcher answered, by tenant, script and HTTP status.",
            ["tenant_id", "script_name", "status"],
            (s.dispatches for s in snapshots),
        )
        yield _histogram(
            "z0_wfp_dispatch_duration_ms",
            "Time from a request's arrival to its response, in milliseconds.",
            DISPATCH_BUCKETS_MS,
            (s.durations for s in snapshots),
        )
        yield _histogram(
            "z0_wfp_user_worker_cpu_ms",
            "CPU time of each user worker invocation (waitUntil work included), in milliseconds.",
            CPU_BUCKETS_MS,
            (s.cpu for s in snapshots),
        )
        yield _counter(
            "z0_wfp_user_worker_errors",
            "User worker invocations that did not end ok, by outcome.",
            ["tenant_id", "error_type"],
            (s.errors for s in snapshots),
        )
        yield _counter(
            "z0_wfp_deployments",
            "Script uploads, by tenant and whether they were deployed.",
            ["tenant_id", "status"],
            (s.deployments for s in snapshots),
        )
        live = [s for s in snapshots if alive(s.pid)]
        resident = GaugeMetricFamily("z0_isolates_resident", "Isolates held by the executors now.")
        resident.add_metric([], sum(s.cache.get("isolates", 0) for s in live))
        yield resident
        heap = GaugeMetricFamily(
            "z0_isolates_heap_bytes", "Heap of the resident isolates, as last read (bytes)."
        )
        heap.add_metric([], sum(s.cache.get("memory", 0) for s in live))
        yield heap
        for name, text in (
            ("hits", "Requests that found an idle isolate of their script version."),
            ("misses", "Requests that needed a new isolate (a cold start)."),
            ("evictions", "Idle isolates dropped to stay within the executors' count or memory budget."),
        ):
            family = CounterMetricFamily(
                f"z0_isolate_cache_{name}" if name != "evictions" else "z0_isolate_evictions", text
            )
            family.add_metric([], sum(s.cache.get(name, 0) for s in snapshots))
            yield family
        executors = GaugeMetricFamily(
            "z0_executors", "Executor processes, and how many answered lately.", labels=["state"]
        )
        executors.add_metric(["running"], sum(s.executors for s in live))
        executors.add_metric(["answering"], sum(s.executors_answering for s in live))
        yield executors


def _counter(name: str, text: str, labels: list[str], parts: Iterable[dict[str, int]]) -> Metric:
    totals: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            totals[key] = totals.get(key, 0) + value
    family = CounterMetricFamily(name, text, labels=labels)
    for key in sorted(totals):
        family.add_metric(key.split("\x1f"), totals[key])
    return family


def _histogram(
    name: str, text: str, bounds: tuple[float, ...], parts: Iterable[dict[str, tuple[list[int], float]]]
) -> Metric:
    totals: dict[str, tuple[list[int], float]] = {}
    for part in parts:
        for tenant, (counts, total) in part.items():
            if tenant in totals:
                summed, summed_total = totals[tenant]
                totals[tenant] = ([a + b for a, b in zip(summed, counts, strict=True)], summed_total + total)
            else:
                totals[tenant] = (list(counts), total)
    family = HistogramMetricFamily(name, text, labels=["tenant_id"])
    edges = [*(repr(float(bound)) for bound in bounds), "+Inf"]  # as prometheus_client writes them
    for tenant in sorted(totals):
        counts, total = totals[tenant]
        cumulative, running = [], 0
        for edge, count in zip(edges, counts, strict=True):
            running += count
            cumulative.append((edge, float(running)))
        family.add_metric([tenant], cumulative, sum_value=total)
    return family


def for_settings(settings: Settings) -> Metrics:
    return Metrics() if settings.metrics else NoMetrics()


def render(files: MetricsFiles, live: Metrics) -> bytes:
    """The node's metrics in Prometheus' text format: every process's snapshot, this one's live."""
    snapshots = [*files.read(except_pid=os.getpid()), live.snapshot()]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(snapshots))
    return generate_latest(registry)
