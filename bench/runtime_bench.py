"""Runtime benchmarks: cold start, per-request overhead and isolate memory.

    .venv/bin/python bench/runtime_bench.py [--requests 2000] [--write]

Cold start: create an isolate and load a ~50 KB script (prelude + linked code + top level), in
process (the engine alone) and through an executor (the upload check: a round trip included).
Per-request overhead: a hello-world worker through the runtime (gateway-side supervisor → executor →
isolate and back), sequential and with 16 in flight. Memory: one isolate's heap with z0's Workers
API loaded for a hello world, with every API loaded, and what that means in isolates per GiB.
`--write` replaces the runtime section of BENCHMARKS.md with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from z0.registry import Module  # noqa: E402
from z0.runtime.compile import compile_script  # noqa: E402
from z0.runtime.engine import Prelude, QuickJsIsolate  # noqa: E402
from z0.runtime.jsapi import api_files, build_prelude, files_named, prelude_source  # noqa: E402
from z0.runtime.limits import Limits  # noqa: E402
from z0.runtime.supervisor import Runtime, RuntimeConfig, RuntimeRequest, ScriptCode  # noqa: E402

JS = "application/javascript+module"
HELLO = "export default { fetch(request) { return new Response('hello'); } };\n"


def fifty_kb_script() -> str:
    """About 50 KB of plausible worker code: routes, helpers, a data table, one fetch handler."""
    parts = ["const routes = new Map();\n"]
    index = 0
    while sum(len(p) for p in parts) < 50_000:
        parts.append(
            f"function handler{index}(request, params) {{\n"
            f"  const items = [{', '.join(str(i * index % 97) for i in range(12))}];\n"
            f"  const total = items.reduce((sum, value) => sum + value, 0);\n"
            f"  return Response.json({{ route: {index}, total, params, method: request.method }});\n"
            f"}}\nroutes.set('/r{index}', handler{index});\n"
        )
        index += 1
    parts.append(
        "export default {\n  fetch(request) {\n    const url = new URL(request.url);\n"
        "    const handler = routes.get(url.pathname);\n"
        "    return handler ? handler(request, {}) : new Response('not found', { status: 404 });\n  },\n};\n"
    )
    return "".join(parts)


def code_for(name: str, source: str) -> ScriptCode:
    return compile_script(
        f"bench/{name}/{uuid.uuid4().hex[:8]}",
        f"bench/{name}",
        [Module("index.js", JS, source.encode())],
        "index.js",
    )


def boot_in_process(code: ScriptCode) -> tuple[float, int]:
    """(CPU ms to create + boot, heap bytes) for one isolate, in this process."""
    prelude = compiled_prelude(code.prelude_files)  # as an executor does: once per set of files
    started = time.thread_time()
    isolate = QuickJsIsolate(128 * 1024 * 1024)
    isolate.load_prelude(prelude, 5)
    isolate.call("setup", code.setup, budget_s=5)
    linked = isolate.eval("\n" * code.line_offset + code.linked_source, 5)
    isolate.call("boot", linked, budget_s=5)
    isolate.pump(time.thread_time() + 5)
    state = json.loads(isolate.call("bootState", budget_s=5))
    assert state["state"] == "ok", state
    elapsed = (time.thread_time() - started) * 1000
    return elapsed, isolate.memory_bytes()


@functools.cache
def compiled_prelude(names: tuple[str, ...]) -> Prelude:
    return Prelude.compile(prelude_source(names))


def heap_of(prelude: str) -> int:
    isolate = QuickJsIsolate(128 * 1024 * 1024)
    isolate.load_prelude(Prelude.compile(prelude), 5)
    return isolate.memory_bytes()


async def through_runtime(requests: int) -> dict[str, float]:
    async with Runtime(RuntimeConfig(executors=1)) as runtime:
        hello = code_for("hello", HELLO)
        big = code_for("fifty-kb", fifty_kb_script())
        checks = []
        for code in [code_for("fifty-kb", fifty_kb_script()) for _ in range(20)]:
            started = time.perf_counter()
            await runtime.check(code)
            checks.append((time.perf_counter() - started) * 1000)
        request = RuntimeRequest("GET", "https://bench.example/r3", [("accept", "*/*")], b"")
        for _ in range(200):  # warm up
            await runtime.fetch(hello, request, Limits(), request_id="warm")
        started = time.perf_counter()
        for _ in range(requests):
            response = await runtime.fetch(hello, request, Limits(), request_id="seq")
            assert response.status == 200
        sequential = (time.perf_counter() - started) / requests * 1e6

        async def worker(count: int) -> None:
            for _ in range(count):
                await runtime.fetch(hello, request, Limits(), request_id="conc")

        started = time.perf_counter()
        await asyncio.gather(*(worker(requests // 16) for _ in range(16)))
        concurrent = (time.perf_counter() - started) / (requests // 16 * 16) * 1e6
        cpu = []
        for _ in range(200):
            response = await runtime.fetch(big, request, Limits(), request_id="cpu")
            cpu.append((await response.completion).cpu_ms)
        return {
            "check_ms_median": statistics.median(checks),
            "sequential_us": sequential,
            "concurrent_us": concurrent,
            "fifty_kb_request_cpu_ms_median": statistics.median(cpu),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()

    big = code_for("fifty-kb", fifty_kb_script())
    boots = [boot_in_process(big) for _ in range(30)]
    hello = code_for("hello", HELLO)
    hello_boots = [boot_in_process(hello) for _ in range(30)]
    everything = build_prelude(files_named(name for name, api in api_files().items() if not api.lazy))
    memory = {
        "empty isolate": heap_of("(function(){ return function(){}; })()"),
        "hello world (its API only)": hello_boots[0][1],
        "50 KB script": boots[0][1],
        "every Workers API file loaded": heap_of(everything),
    }
    runtime = asyncio.run(through_runtime(args.requests))

    command = f".venv/bin/python bench/runtime_bench.py --requests {args.requests} --write"
    big_boot = statistics.median(b[0] for b in boots)
    hello_boot = statistics.median(b[0] for b in hello_boots)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}: `{command}`",
        "",
        "| cold start | median |",
        "|---|---|",
        f"| create isolate + boot a ~50 KB script, in process (CPU) | {big_boot:.2f} ms |",
        f"| create isolate + boot hello world, in process (CPU) | {hello_boot:.2f} ms |",
        f"| upload check of the 50 KB script in an executor (wall) | {runtime['check_ms_median']:.2f} ms |",
        "",
        "| per request (hello world, through supervisor → executor → isolate) | |",
        "|---|---|",
        f"| one at a time | {runtime['sequential_us']:.0f} µs |",
        f"| 16 in flight, one executor | {runtime['concurrent_us']:.0f} µs |",
        f"| CPU charged to a request of the 50 KB script (`new URL`, a Map lookup, `Response.json`) | "
        f"{runtime['fifty_kb_request_cpu_ms_median']:.3f} ms |",
        "",
        "| isolate heap (QuickJS `malloc_size`) | bytes | per GiB |",
        "|---|---|---|",
    ]
    for label, size in memory.items():
        lines.append(f"| {label} | {size:,} | {2**30 // size:,} |")
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_section("Runtime", report)


def write_section(title: str, body: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = (
        path.read_text() if path.exists() else "# Benchmarks\n\nEach section says the command that made it.\n"
    )
    head = f"## {title}\n"
    if head in text:
        before, _, rest = text.partition(head)
        after = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
        text = before + head + "\n" + body + "\n\n" + after
    else:
        text = text.rstrip("\n") + "\n\n" + head + "\n" + body + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
