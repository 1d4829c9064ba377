"""Scale and cold start, against a real `z0 serve` (one gateway worker, one executor, SQLite):

    .venv/bin/python bench/scale_bench.py [--scripts 1000,10000] [--runs 3] [--quick] [--write] [--plots]

For each N in --scripts, on a fresh z0 with its isolate cap (`Z0_MAX_ISOLATES`) at N/4:
  - N tenants and N scripts (one each) over the control API, 4 requests in flight: deploys per second;
    then, one at a time, deploy → first 200 from the gateway (a new tenant's script, and a new version
    of an existing one, each polled every 2 ms until its own answer comes back);
  - uniformly random access over all N with wrk (a Lua `request()` picks the host), after a warm-up:
    requests/s, p50/p99, and the isolate cache's hit ratio from z0's own /metrics;
  - density: the executor's RSS (VmRSS) before any isolate and with the cap's worth resident.
Cold start on its own z0 (cap 100): a filler pass evicts every sample script, then each sample gets a
first (cold) and a second (warm) request, through the gateway, for a hello world and for a script that
uses the Workers API broadly; with the engine alone (create + boot in this process) beside it.

Tenants are found by hostname (`t00042.scale.test`, the hostname strategy): no key per tenant.
Needs `wrk`. Every process runs on 127.0.0.1, ports 9501-9510; `--write` replaces the "Scale and
cold start" section of BENCHMARKS.md, `--plots` writes bench/plots/cold_start.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from live_z0 import Z0, OthersMeter, Pool, cpu_s, machine, percentile, rss_kib, run, spread, z0_serve  # noqa: E402
from runtime_bench import code_for, write_section  # noqa: E402

from z0.runtime.engine import Prelude, QuickJsIsolate  # noqa: E402
from z0.runtime.jsapi import prelude_source  # noqa: E402
from z0.runtime.supervisor import ScriptCode  # noqa: E402

DOMAIN = "scale.test"
API_PORT, GATEWAY_PORT = 9501, 9502
COLD_API_PORT, COLD_GATEWAY_PORT = 9503, 9504
HELLO = "export default { fetch(request) { return new Response('hello MARK'); } };\n"
# A hello world that uses the Workers API broadly, so that its files are in the isolate (and run).
API_HELLO = """\
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const headers = new Headers({ "content-type": "application/json; charset=utf-8" });
    headers.set("x-request-id", crypto.randomUUID());
    const payload = JSON.stringify({
      hello: "MARK",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      agent: request.headers.get("user-agent"),
    });
    const body = new TextEncoder().encode(payload);
    const echo = new Request(url.toString(), { method: "POST", headers, body });
    const text = new TextDecoder().decode(new Uint8Array(await echo.arrayBuffer()));
    return new Response(text, { status: 200, headers });
  },
};
"""


def tenant_id(index: int, prefix: str = "t") -> str:
    return f"{prefix}{index:05d}"


def host_of(tenant: str) -> str:
    return f"{tenant.replace('_', '-')}.{DOMAIN}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def in_flight(
    items: Sequence[Any], job: Callable[[Any], Awaitable[None]], concurrency: int, label: str = ""
) -> tuple[float, list[float]]:
    """Runs job(item) for every item, `concurrency` at a time: (wall seconds, each job's ms)."""
    queue = list(reversed(items))
    durations: list[float] = []
    step = max(1000, len(items) // 10)

    async def worker() -> None:
        while queue:
            item = queue.pop()
            began = time.perf_counter()
            await job(item)
            durations.append((time.perf_counter() - began) * 1000)
            if label and len(durations) % step == 0:
                log(f"{label}: {len(durations)}/{len(items)}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, durations


async def until_visible(pool: Pool, host: str, mark: str, timeout_s: float = 30.0) -> float:
    """Polls the gateway every 2 ms until the answer has `mark`: the seconds it took."""
    began = time.perf_counter()
    while True:
        status, body = await pool.get(host)
        if status == 200 and mark.encode() in body:
            return time.perf_counter() - began
        if time.perf_counter() - began > timeout_s:
            raise RuntimeError(f"{host} did not answer with {mark!r} within {timeout_s} s: {status} {body!r}")
        await asyncio.sleep(0.002)


async def settled_metrics(z0: Z0) -> dict[str, float]:
    """/metrics once every process has flushed what it counted so far (flush interval 0.2 s)."""
    await asyncio.sleep(0.6)
    return await z0.metrics()


def view_rebuild_ms(data_dir: Path) -> dict[str, float]:
    """What one rebuild of the gateway's view costs at this size (RegistryView._load runs these after
    every registry change), by part: medians of 5, in ms."""
    from z0.registry import Registry
    from z0.registry._db import create_registry_engine

    registry = Registry(create_registry_engine(f"sqlite:///{data_dir / 'z0.sqlite3'}"))
    parts: dict[str, Callable[[], object]] = {
        "keys": registry.credentials.active_key_hashes,
        "tenants": registry.tenants.states,
        "hostnames": registry.tenants.hostnames,
        "heads": registry.scripts.heads,
    }
    try:
        times: dict[str, list[float]] = {name: [] for name in parts}
        for _ in range(5):
            for name, part in parts.items():
                began = time.perf_counter()
                part()
                times[name].append((time.perf_counter() - began) * 1000)
        result = {name: statistics.median(values) for name, values in times.items()}
        result["total"] = sum(result.values())
        return result
    finally:
        registry.close()


WRK_LUA = """\
local n = {n}
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
request = function()
  return wrk.format("GET", "/", {{ ["Host"] = string.format("t%05d.{domain}", math.random(0, n - 1)) }})
end
"""


def wrk(script: Path, port: int, seconds: float, connections: int) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "-s", str(script),
               f"http://127.0.0.1:{port}/"]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    result = {
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        "requests": float(requests[1]) if requests else 0.0,
        "errors": float(errors[1]) if errors else 0.0,
    }
    for q in ("50", "99"):
        found = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found:
            value = float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]
            result[f"p{q}"] = value
    return result


async def scale_run(n: int, args: argparse.Namespace) -> dict[str, Any]:
    cap = max(1, int(n * args.cache_fraction))
    sample = min(args.sample, n // 4)
    env = {
        "Z0_BASE_DOMAIN": DOMAIN,
        "Z0_MAX_ISOLATES": str(cap),
        "Z0_EXECUTOR_MEMORY_MB": "16384",  # the count cap decides what stays, not the memory budget
    }
    result: dict[str, Any] = {"n": n, "cap": cap, "sample": sample}
    async with z0_serve(API_PORT, GATEWAY_PORT, env=env) as z0:
        [executor] = z0.executor_pids()
        pool = Pool(GATEWAY_PORT)
        await asyncio.sleep(1)
        result["rss_start_kib"] = rss_kib(executor)
        # z0 serve's own background (watchdog, view poll, metrics flush): taken out of the CPU per deploy
        # and per request below.
        idle = cpu_s(z0.process.pid), time.perf_counter()
        await asyncio.sleep(2)
        background = (cpu_s(z0.process.pid) - idle[0]) / (time.perf_counter() - idle[1])
        result["background_cpu"] = background
        log(f"N={n}: z0 up, executor {executor} at {result['rss_start_kib']} KiB; creating {n} tenants")
        tenants = [tenant_id(i) for i in range(n)]
        serve_cpu = cpu_s(z0.process.pid)
        wall, _ = await in_flight(tenants, z0.tenant, args.concurrency, "tenants")
        result["tenants_per_s"] = n / wall
        result["tenants_s"] = wall
        result["tenant_cpu_ms"] = (cpu_s(z0.process.pid) - serve_cpu - background * wall) / n * 1000

        bulk = tenants[: n - sample]

        async def deploy(tenant: str) -> None:
            await z0.deploy(tenant, API_HELLO.replace("MARK", f"{tenant} v1"))

        # The first `cap` deploys leave `cap` isolates resident (each upload is booted once and kept).
        pids = (z0.process.pid, executor)
        others = OthersMeter(z0.process.pid)
        before = [cpu_s(pid) for pid in pids]
        first, first_ms = await in_flight(bulk[:cap], deploy, args.concurrency, "deploys")
        used = [cpu_s(pid) - was for pid, was in zip(pids, before, strict=True)]
        metrics = await settled_metrics(z0)
        result["resident_after_deploys"] = metrics.get("z0_isolates_resident", 0)
        result["heap_after_deploys"] = metrics.get("z0_isolates_heap_bytes", 0)
        result["rss_after_deploys_kib"] = rss_kib(executor)
        before = [cpu_s(pid) for pid in pids]
        rest, rest_ms = await in_flight(bulk[cap:], deploy, args.concurrency, "deploys")
        used = [cpu_s(pid) - was + so_far for pid, was, so_far in zip(pids, before, used, strict=True)]
        result["deploy_others_cpus"] = others.cpus()
        used[0] -= background * (first + rest)
        result["deploy_cpu_ms"] = [seconds / len(bulk) * 1000 for seconds in used]
        result["deploys_per_s"] = len(bulk) / (first + rest)
        result["deploys_s"] = first + rest
        result["put_ms"] = first_ms + rest_ms
        log(f"N={n}: {len(bulk)} deploys in {first + rest:.1f} s ({result['deploys_per_s']:.1f}/s)")

        # Deploy → first 200, one at a time: a new script, then a new version of an existing one.
        new_put, new_visible = [], []
        for tenant in tenants[n - sample :]:
            began = time.perf_counter()
            await z0.deploy(tenant, API_HELLO.replace("MARK", f"{tenant} v1"))
            new_put.append((time.perf_counter() - began) * 1000)
            new_visible.append(await until_visible(pool, host_of(tenant), f"{tenant} v1") * 1000)
        update_put, update_visible = [], []
        step = max(1, len(bulk) // sample)
        for tenant in bulk[::step][:sample]:
            began = time.perf_counter()
            await z0.deploy(tenant, API_HELLO.replace("MARK", f"{tenant} v2"))
            update_put.append((time.perf_counter() - began) * 1000)
            update_visible.append(await until_visible(pool, host_of(tenant), f"{tenant} v2") * 1000)
        result.update(
            new_put=new_put, new_visible=new_visible, update_put=update_put, update_visible=update_visible
        )
        result["view_rebuild_ms"] = await asyncio.to_thread(view_rebuild_ms, z0.data_dir)
        log(f"N={n}: deploy→200 p50 {statistics.median(new_visible):.0f} ms; view rebuild "
            f"{result['view_rebuild_ms']} ms; random access")  # fmt: skip

        # Uniformly random access over every script, isolate cache at N/4.
        lua = z0.root / "random.lua"
        lua.write_text(WRK_LUA.format(n=n, domain=DOMAIN))
        await asyncio.to_thread(wrk, lua, GATEWAY_PORT, args.warmup, args.connections)
        windows = []
        for _ in range(args.runs):
            before = await settled_metrics(z0)
            cpu = cpu_s(z0.process.pid), cpu_s(executor), time.perf_counter()
            others = OthersMeter(z0.process.pid)
            measured = await asyncio.to_thread(wrk, lua, GATEWAY_PORT, args.seconds, args.connections)
            measured["others_cpus"] = others.cpus()
            cpu = (
                cpu_s(z0.process.pid) - cpu[0] - background * (time.perf_counter() - cpu[2]),
                cpu_s(executor) - cpu[1],
            )
            measured["cpu_ms"] = (
                cpu[0] / max(1.0, measured["requests"]) * 1000,
                cpu[1] / max(1.0, measured["requests"]) * 1000,
            )
            after = await settled_metrics(z0)
            hits = after["z0_isolate_cache_hits_total"] - before["z0_isolate_cache_hits_total"]
            misses = after["z0_isolate_cache_misses_total"] - before["z0_isolate_cache_misses_total"]
            measured["hit_ratio"] = hits / max(1.0, hits + misses)
            measured["misses"] = misses
            windows.append(measured)
            log(f"N={n}: {measured['rate']:.0f} req/s, p99 {measured.get('p99', 0):.1f} ms, "
                f"hit ratio {measured['hit_ratio']:.2f}, non-2xx {measured['errors']:.0f}")  # fmt: skip
        result["windows"] = windows
        result["resident_after_access"] = after.get("z0_isolates_resident", 0)
        result["heap_after_access"] = after.get("z0_isolates_heap_bytes", 0)
        result["rss_after_access_kib"] = rss_kib(executor)
        result["evictions"] = after.get("z0_isolate_evictions_total", 0)
        pool.close()
    return result


async def cold_starts(args: argparse.Namespace) -> dict[str, Any]:
    """First request to a script with no resident isolate, then a second (warm) one, through the gateway."""
    cap = args.cold_cap
    fillers = [tenant_id(i, "f") for i in range(cap + 50)]
    kinds = {"hello": HELLO, "api": API_HELLO}
    samples = {kind: [tenant_id(i, kind[0]) for i in range(args.cold_sample)] for kind in kinds}
    env = {"Z0_BASE_DOMAIN": DOMAIN, "Z0_MAX_ISOLATES": str(cap)}
    rows: list[dict[str, Any]] = []
    checks = []
    async with z0_serve(COLD_API_PORT, COLD_GATEWAY_PORT, env=env) as z0:
        everyone = fillers + [tenant for names in samples.values() for tenant in names]
        await in_flight(everyone, z0.tenant, args.concurrency)
        sources = {tenant: HELLO.replace("MARK", tenant) for tenant in fillers}
        for kind, names in samples.items():
            sources.update({tenant: kinds[kind].replace("MARK", tenant) for tenant in names})

        async def deploy(tenant: str) -> None:
            await z0.deploy(tenant, sources[tenant])

        await in_flight(everyone, deploy, args.concurrency)
        log(f"cold start: {len(everyone)} scripts deployed (cap {cap})")
        pool = Pool(COLD_GATEWAY_PORT)
        await until_visible(pool, host_of(everyone[-1]), everyone[-1])  # the view has them all
        [executor] = z0.executor_pids()
        pair_cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
        for round_index in range(args.cold_rounds):
            for filler in fillers:  # evicts every sample's isolate (and its code in the executor)
                status, _ = await pool.get(host_of(filler))
                assert status == 200, status
            before = await settled_metrics(z0)
            for kind, names in samples.items():
                executor_cpu = cpu_s(executor)
                for tenant in names:
                    times = []
                    for _ in range(2):
                        began = time.perf_counter()
                        status, body = await pool.get(host_of(tenant))
                        times.append((time.perf_counter() - began) * 1000)
                        assert status == 200 and tenant.encode() in body, (status, body[:200])
                    rows.append({"kind": kind, "round": round_index, "cold": times[0], "warm": times[1]})
                pair_cpu[kind].append((cpu_s(executor) - executor_cpu) / len(names) * 1000)
            after = await settled_metrics(z0)
            expected = len(samples) * args.cold_sample
            misses = after["z0_isolate_cache_misses_total"] - before["z0_isolate_cache_misses_total"]
            hits = after["z0_isolate_cache_hits_total"] - before["z0_isolate_cache_hits_total"]
            checks.append((misses, hits, expected))
        # Warm requests alone, for the executor's CPU per hit.
        warm_cpu = {}
        for kind, names in samples.items():
            executor_cpu = cpu_s(executor)
            for _ in range(200):
                await pool.get(host_of(names[-1]))
            warm_cpu[kind] = (cpu_s(executor) - executor_cpu) / 200 * 1000
        pool.close()
    engine = {kind: boot_steps(code_for(kind, source)) for kind, source in kinds.items()}
    return {
        "rows": rows,
        "checks": checks,
        "engine": engine,
        "cap": cap,
        # Executor CPU of a cold request: a cold + warm pair's, less a warm request's.
        "cold_cpu_ms": {kind: statistics.median(pair_cpu[kind]) - warm_cpu[kind] for kind in kinds},
        "warm_cpu_ms": warm_cpu,
    }


def boot_steps(code: ScriptCode, repeat: int = 30) -> dict[str, float]:
    """CPU ms of each step of an isolate's boot, as the executor's `_boot` does them, in this process
    (the engine alone): medians of `repeat`."""
    steps: dict[str, list[float]] = {"create": [], "prelude": [], "script": [], "total": []}
    source = prelude_source(code.prelude_files)
    prelude = Prelude.compile(source)  # once, as an executor compiles it for every script that needs it
    for _ in range(repeat):
        began = time.thread_time()
        isolate = QuickJsIsolate(128 * 1024 * 1024)
        created = time.thread_time()
        isolate.load_prelude(prelude, 5)
        preluded = time.thread_time()
        isolate.call("setup", code.setup, budget_s=5)
        linked = isolate.eval("\n" * code.line_offset + code.linked_source, 5)
        isolate.call("boot", linked, budget_s=5)
        isolate.pump(time.thread_time() + 5)
        assert '"ok"' in isolate.call("bootState", budget_s=5)
        ended = time.thread_time()
        for name, value in (("create", created - began), ("prelude", preluded - created),
                            ("script", ended - preluded), ("total", ended - began)):  # fmt: skip
            steps[name].append(value * 1000)
    result = {name: statistics.median(values) for name, values in steps.items()}
    result["prelude_kib"] = len(source.encode()) / 1024
    return result


def plot(cold: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    rows = cold["rows"]
    top = percentile([r["cold"] for r in rows], 99) * 1.2
    bins = [top * i / 60 for i in range(61)]
    for kind, label in (("hello", "hello world"), ("api", "Workers API hello")):
        for which, style in (("cold", "-"), ("warm", ":")):
            values = [min(r[which], top) for r in rows if r["kind"] == kind]
            axis.hist(values, bins=bins, histtype="step", linestyle=style, linewidth=1.5,
                      label=f"{label}, {which}")  # fmt: skip
    axis.axvline(5, color="grey", linewidth=0.8)
    axis.text(5, axis.get_ylim()[1] * 0.95, " 5 ms target", color="grey", va="top")
    axis.set_xlabel("latency through the gateway (ms)")
    axis.set_ylabel("requests")
    axis.set_title("First request to a script with no resident isolate (cold) and the next (warm)")
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def pq(values: Sequence[float]) -> str:
    return f"{percentile(values, 50):.1f} / {percentile(values, 99):.1f}"


def report(saved: dict[str, Any]) -> str:
    runs: list[dict[str, Any]] = saved["runs"]
    cold: dict[str, Any] | None = saved["cold"]
    counts = " | ".join(f"N = {r['n']:,}" for r in runs)
    bar = "|---|" + "---|" * len(runs)

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> str:
        return f"| {label} | " + " | ".join(cell(r) for r in runs) + " |"

    lines = [
        f"Measured {saved['date']} on {saved['machine']} (how busy other people's work kept it is in the "
        f"'CPUs busy with other people's work' rows), in {saved['took_s'] / 60:.1f} min: "
        f"`{saved['command']}`",
        "",
        "One `z0 serve --workers 1 --executors 1` per N (SQLite, a fresh data directory), everything on "
        "127.0.0.1. Tenants are found by hostname (`t00042.scale.test`): the hostname strategy needs no key "
        "per tenant. Each script is a hello world that uses the Workers API (`new URL`, `Headers`, "
        "`crypto.randomUUID`, `JSON`, `TextEncoder`/`TextDecoder`, a `Request` body, `Response`).",
        "",
        f"| deploys (control API, {runs[0]['concurrency'] if runs else 4} requests in flight) | {counts} |",
        bar,
        row("tenants created (per s)", lambda r: f"{r['tenants_per_s']:.0f}"),
        row("scripts deployed (per s)", lambda r: f"{r['deploys_per_s']:.1f}"),
        row("PUT latency p50 / p99 (ms)", lambda r: pq(r["put_ms"])),
        row("time for all tenants + deploys", lambda r: f"{(r['tenants_s'] + r['deploys_s']) / 60:.1f} min"),
        row(
            "deploy → first 200, new script: p50 / p99 (ms after the PUT returned)",
            lambda r: pq(r["new_visible"]),
        ),
        row("deploy → first 200 of a new version: p50 / p99 (ms)", lambda r: pq(r["update_visible"])),
        row("(the PUT itself, one at a time: p50 ms)", lambda r: f"{percentile(r['new_put'], 50):.0f}"),
        row(
            "one rebuild of the gateway's view, ms (tenants + script heads + keys + hostnames)",
            lambda r: "{total:.0f} ({tenants:.0f} + {heads:.0f} + {keys:.0f} + {hostnames:.0f})".format(
                **r["view_rebuild_ms"]
            ),
        ),
        row(
            "CPUs busy with other people's work meanwhile (of 2)",
            lambda r: f"{r['deploy_others_cpus']:.2f}",
        ),
        row("z0 serve's background when idle (share of a core)", lambda r: f"{r['background_cpu']:.2f}"),
        row("z0's CPU per tenant created (ms)", lambda r: f"{r['tenant_cpu_ms']:.1f}"),
        row(
            "z0's CPU per deploy: z0 serve + executor (ms)",
            lambda r: f"{r['deploy_cpu_ms'][0]:.1f} + {r['deploy_cpu_ms'][1]:.1f}",
        ),
        "",
    ]
    if runs:
        first = runs[0]
        lines += [
            f"| uniformly random access over all N (wrk -t1 -c{first['connections']}, "
            f"{len(first['windows'])} x {first['seconds']} s after a {first['warmup']} s warm-up) "
            f"| {counts} |",
            bar,
            row("isolate cap (`Z0_MAX_ISOLATES`)", lambda r: f"{r['cap']:,}"),
            row("requests/s", lambda r: spread([w["rate"] for w in r["windows"]], "{:,.0f}")),
            row("p50 (ms)", lambda r: spread([w.get("p50", 0) for w in r["windows"]], "{:.2f}")),
            row("p99 (ms)", lambda r: spread([w.get("p99", 0) for w in r["windows"]], "{:.2f}")),
            row(
                "hit ratio (z0's metrics; cap/N would be uniform LRU's)",
                lambda r: (
                    spread([w["hit_ratio"] for w in r["windows"]], "{:.3f}") + f" ({r['cap'] / r['n']:.2f})"
                ),
            ),
            row("non-2xx answers", lambda r: f"{sum(w['errors'] for w in r['windows']):.0f}"),
            row(
                "CPUs busy with other people's work meanwhile (of 2)",
                lambda r: spread([w["others_cpus"] for w in r["windows"]], "{:.2f}"),
            ),
            row(
                "CPU per request: z0 serve + executor (ms)",
                lambda r: (
                    spread([w["cpu_ms"][0] for w in r["windows"]], "{:.2f}")
                    + " + "
                    + spread([w["cpu_ms"][1] for w in r["windows"]], "{:.2f}")
                ),
            ),
            "",
            "| density (executor VmRSS, isolates of the Workers API hello world) | " + counts + " |",
            bar,
            row(
                "resident isolates after the first cap deploys (booted, not yet run)",
                lambda r: f"{r['resident_after_deploys']:,.0f}",
            ),
            row("RSS: empty executor → with them (MiB)", lambda r: _rss_pair(r, "rss_after_deploys_kib")),
            row("RSS per isolate (KiB) → isolates per GiB", lambda r: _density(r, "after_deploys")),
            row(
                "heap per isolate as z0 reads it (`z0_isolates_heap_bytes`, KiB)",
                lambda r: _heap(r, "after_deploys"),
            ),
            row(
                "after random access: resident isolates; RSS per isolate → per GiB",
                lambda r: f"{r['resident_after_access']:,.0f}; {_density(r, 'after_access')}",
            ),
            row("after random access: heap per isolate (KiB)", lambda r: _heap(r, "after_access")),
            "",
        ]
    if cold is not None:
        rows = cold["rows"]

        def cell(kind: str, which: str, first_round: bool | None) -> str:
            values = [
                r[which]
                for r in rows
                if r["kind"] == kind and (first_round is None or (r["round"] == 0) == first_round)
            ]
            return pq(values) if values else "-"

        diff = {
            kind: statistics.median(r["cold"] - r["warm"] for r in rows if r["kind"] == kind)
            for kind in ("hello", "api")
        }
        checked = all(misses >= expected and hits >= expected for misses, hits, expected in cold["checks"])
        lines += [
            f"| cold start (another z0, cap {cold['cap']}; sequential requests through the gateway, ms) "
            "| hello world | Workers API hello |",
            "|---|---|---|",
            "| first request after deploy, isolate evicted before it ran: p50 / p99 | "
            f"{cell('hello', 'cold', True)} | {cell('api', 'cold', True)} |",
            "| first request after its isolate was evicted: p50 / p99 | "
            f"{cell('hello', 'cold', False)} | {cell('api', 'cold', False)} |",
            "| the next request (warm): p50 / p99 | "
            f"{cell('hello', 'warm', None)} | {cell('api', 'warm', None)} |",
            f"| cold - warm, median of pairs (≈ isolate create + boot + code to the executor) | "
            f"{diff['hello']:.2f} | {diff['api']:.2f} |",
            "| executor CPU per cold request (a cold + warm pair's, less a warm request's) | "
            f"{cold['cold_cpu_ms']['hello']:.2f} | {cold['cold_cpu_ms']['api']:.2f} |",
            "| executor CPU per warm request | "
            f"{cold['warm_cpu_ms']['hello']:.2f} | {cold['warm_cpu_ms']['api']:.2f} |",
            "| the engine alone, in process (CPU, median of 30): create + prelude (its size) + script "
            "and boot = total | "
            + " | ".join(_steps(cold["engine"][kind]) for kind in ("hello", "api"))
            + " |",
            "",
            f"{len(rows) // 2} cold/warm pairs per column; z0's metrics counted "
            + ("a miss for every cold request and a hit for every warm one." if checked else
               f"misses/hits/expected per round {cold['checks']} (not every cold request was a miss).")
        ]  # fmt: skip
    lines += ["", *notes(runs, cold)]
    return "\n".join(lines).rstrip("\n")


def notes(runs: list[dict[str, Any]], cold: dict[str, Any] | None) -> list[str]:
    """What dominates each figure, and the issue's targets, from the measurements above."""
    out = ["What dominates:", ""]
    if runs:
        big = runs[-1]
        rebuilds = ", ".join(f"{r['view_rebuild_ms']['total']:.0f} ms at N = {r['n']:,}" for r in runs)
        serve, executor = big["deploy_cpu_ms"]
        out += [
            f"- A deploy costs z0 about {serve:.0f} ms of CPU in `z0 serve` (control API, about ten SQLite "
            "transactions, linking, and the gateway view's rebuilds) and "
            f"{executor:.0f} ms in the executor (the upload check boots the script once) at "
            f"N = {big['n']:,}; `z0 serve` is one process, so deploys go at the speed of its one core.",
            "- Deploy → first 200 is the gateway's view: it polls the registry's change counter every "
            "200 ms, then rebuilds itself whole (every tenant, key, hostname and script head: "
            f"{rebuilds}), so a new version answers about 100 ms + one rebuild after its PUT, and later as N "
            "grows (the rebuild is O(N) and runs after every change). No cold start is in it: the upload "
            "check's isolate stays resident for the first request.",
            "- Random access: each miss boots an isolate; the executor spent "
            + " and ".join(
                f"{statistics.median(w['cpu_ms'][1] for w in r['windows']):.1f} ms of CPU per request at "
                f"N = {r['n']:,}"
                for r in runs
            )
            + " (hit ratio about 0.25 in both). One executor is one process on one core: that CPU per "
            "request sets the rate. In `z0 serve`, "
            + " and ".join(f"{_first_touch(r):.0%} at N = {r['n']:,}" for r in runs)
            + " of the measured requests (expected, for uniform access after the warm-up) were the "
            "gateway's first for their script: it loads and prepares the script from the registry then "
            "(`ScriptCache` in gateway/_scripts.py), hence its higher CPU per request at 10,000.",
        ]
    if cold is not None:
        api, hello = cold["engine"]["api"], cold["engine"]["hello"]
        out.append(
            "- Cold start in the engine: reading z0's Workers API JS (the prelude, compiled once per "
            "executor into QuickJS bytecode) into the new isolate takes "
            f"{api['prelude']:.1f} of {api['total']:.1f} ms for the Workers API hello "
            f"({api['prelude_kib']:.0f} KiB of JS), {hello['prelude']:.1f} of {hello['total']:.1f} ms "
            f"for a hello world ({hello['prelude_kib']:.0f} KiB); creating the isolate and booting the "
            "tenant's script are the rest. Through the gateway a cold request adds the code's trip to the "
            "executor (its cache of code is as small as its isolate cap) and, for a script never run, "
            "loading it from the registry."
        )
    if runs:
        r = runs[-1]
        rss = (r["rss_after_deploys_kib"] - r["rss_start_kib"]) / max(1.0, r["resident_after_deploys"])
        heap = r["heap_after_deploys"] / max(1.0, r["resident_after_deploys"]) / 1024
        out.append(
            f"- Density: at N = {r['n']:,} an isolate of the Workers API hello costs {rss:.0f} KiB of "
            f"the executor's RSS for {heap:.0f} KiB of heap; the rest is each script's code (its linked "
            "modules and env; the prelude is shared, one per set of Workers API files) and malloc's own "
            "overhead. After random access (isolates booted and evicted) RSS per resident isolate stays "
            "close: the executor hands freed memory back (malloc_trim) once 16 MB were freed."
        )
    out += ["", "Targets (issue 9):", ""]
    if cold is not None:
        evicted = [row["cold"] for row in cold["rows"] if row["kind"] == "api" and row["round"] > 0]
        evicted_hello = [row["cold"] for row in cold["rows"] if row["kind"] == "hello" and row["round"] > 0]
        if evicted:
            p50, hello_p50 = percentile(evicted, 50), percentile(evicted_hello, 50)
            verdict = "met" if p50 <= 5 else "not met"
            out.append(
                f"- cold start p50 <= 5 ms with the Workers API loaded (stretch 2 ms): {verdict}, "
                f"{p50:.1f} ms through the gateway ({hello_p50:.1f} ms for a plain hello world; the engine "
                f"alone needs {cold['engine']['api']['total']:.1f} ms of CPU to boot it)."
            )
    if runs:
        per_gib = [
            1024 * 1024 / ((r["rss_after_deploys_kib"] - r["rss_start_kib"]) / r["resident_after_deploys"])
            for r in runs
            if r["resident_after_deploys"] and r["rss_after_deploys_kib"] > r["rss_start_kib"]
        ]
        if per_gib:
            best = max(per_gib)
            verdict = "met" if best >= 2000 else "not met"
            out.append(
                f"- >= 2,000 resident isolates per GiB of RSS with the Workers API loaded: {verdict}, "
                f"{best:,.0f} per GiB at best (booted isolates, before any churn)."
            )
    return out


def _first_touch(r: dict[str, Any]) -> float:
    """The expected share of the measured requests that reached a script the gateway had not seen yet
    (uniform access; the warm-up's count estimated from the first window's rate)."""
    n = r["n"]
    seen = r["windows"][0]["rate"] * r["warmup"]
    measured = sum(w["requests"] for w in r["windows"])

    def distinct(requests: float) -> float:
        return n * (1 - (1 - 1 / n) ** requests)

    return (distinct(seen + measured) - distinct(seen)) / max(1.0, measured)


def _steps(steps: dict[str, float]) -> str:
    return (
        f"{steps['create']:.2f} + {steps['prelude']:.2f} ({steps['prelude_kib']:.0f} KiB) + "
        f"{steps['script']:.2f} = {steps['total']:.2f}"
    )


def _heap(r: dict[str, Any], when: str) -> str:
    resident = r[f"resident_{when}"]
    return f"{r[f'heap_{when}'] / resident / 1024:.0f}" if resident else "-"


def _rss_pair(r: dict[str, Any], key: str) -> str:
    return f"{r['rss_start_kib'] / 1024:.0f} → {r[key] / 1024:.0f}"


def _density(r: dict[str, Any], when: str) -> str:
    resident = r[f"resident_{when}"]
    delta = r[f"rss_{when}_kib"] - r["rss_start_kib"]
    if resident <= 0 or delta <= 0:
        return "-"
    per = delta / resident
    return f"{per:.0f} KiB → {1024 * 1024 / per:,.0f}"


async def main_async(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    runs = []
    for n in args.scripts:
        result = await scale_run(n, args)
        result.update(
            concurrency=args.concurrency,
            connections=args.connections,
            seconds=args.seconds,
            warmup=args.warmup,
        )
        runs.append(result)
    cold = None if args.no_cold else await cold_starts(args)
    return runs, cold


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scripts", default=None, help="comma-separated N (default 1000,10000)")
    parser.add_argument("--cache-fraction", type=float, default=0.25, help="isolate cap as a fraction of N")
    parser.add_argument("--sample", type=int, default=None, help="deploy → first 200 samples (50)")
    parser.add_argument("--concurrency", type=int, default=4, help="control API requests in flight")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections for random access")
    parser.add_argument("--seconds", type=float, default=None, help="each random-access window (8)")
    parser.add_argument("--warmup", type=float, default=None, help="random-access warm-up (4)")
    parser.add_argument("--runs", type=int, default=None, help="random-access windows (3)")
    parser.add_argument("--cold-cap", type=int, default=100)
    parser.add_argument("--cold-sample", type=int, default=None, help="scripts per kind (50)")
    parser.add_argument("--cold-rounds", type=int, default=None, help="eviction rounds (3)")
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--quick", action="store_true", help="small and short, for development")
    parser.add_argument("--plots", action="store_true", help="write bench/plots/cold_start.png")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--save", help="also write the measurements to this JSON file")
    parser.add_argument("--load", help="no measuring: the report from a file --save wrote")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    quick = args.quick
    defaults = {
        "scripts": "300" if quick else "1000,10000",
        "sample": 10 if quick else 50,
        "seconds": 3 if quick else 8,
        "warmup": 1 if quick else 4,
        "runs": 1 if quick else 3,
        "cold_sample": 10 if quick else 50,
        "cold_rounds": 2 if quick else 3,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.scripts = [int(part) for part in str(args.scripts).split(",") if part]
    if args.load:  # the report again, from the measurements a run saved
        saved = json.loads(Path(args.load).read_text())
    else:
        began = time.monotonic()
        runs, cold = run(main_async(args))
        command = ".venv/bin/python bench/scale_bench.py " + " ".join(
            part for i, part in enumerate(sys.argv[1:]) if part not in ("--write", "--plots", "--save")
            and sys.argv[i] != "--save"
        )  # fmt: skip
        saved = {
            "runs": runs,
            "cold": cold,
            "command": f"{command.strip()} --write",
            "took_s": time.monotonic() - began,
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
        }
        if args.save:
            Path(args.save).write_text(json.dumps(saved))
    runs, cold = saved["runs"], saved["cold"]
    text = report(saved)
    print(text)
    if args.plots and cold is not None:
        plot(cold, ROOT / "bench" / "plots" / "cold_start.png")
    if args.write:
        write_section("Scale and cold start", text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
