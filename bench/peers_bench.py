"""Peers: z0's gateway beside the Python limit and the native peer, in one run, with one HTTP client.

    .venv/bin/python bench/peers_bench.py [--seconds 8] [--runs 3] [--write]

Configurations (DESIGN.md, "Performance yardsticks"):

- z0: client → gateway (the tenant's key in `x-z0-api-key`) → a hello-world user worker, with
  `z0 serve --workers 1 --executors 1` and `--workers 2 --executors 2`;
- the Python limit: a bare ASGI hello world on z0's own HTTP server and event loop (bench/bare_server.py:
  `make_server` under `asyncio.run`), 1 and 2 processes; the same on uvloop; granian (1 process);
- the native peer: workerd (npm `workerd`, pinned below, installed into bench/.workerd by this script),
  one process, running bench/workerd/config.capnp: a dispatcher worker that finds the tenant by its key,
  sets z0's context headers and calls the tenant's hello world through a service binding.

Every configuration is started afresh for each run, and the runs are interleaved (all configurations,
then all again), so that a busy minute on the machine does not land on one configuration. Each run:
start, wait until the server is at rest, a 2 s warm-up, then `wrk -t1 -c16 -d{seconds}s --latency`
with a Lua `done` hook that prints the latency percentiles 1..99.9 (for the plots). Everything listens
on 127.0.0.1 (ports from --port-base, 9401 by default; a port in use is an error); every process
started is stopped, its whole process group, when its run ends, also on error. Server CPU is the CPU
time of the server's processes (all threads, child processes included) during the measured run, per
request answered; for z0 also by process, for workerd by thread.

`--write` replaces the "Peers" section of BENCHMARKS.md and the plots in bench/plots/.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from runtime_bench import write_section  # noqa: E402

WORKERD_VERSION = "1.20261117.1"
WORKERD_PREFIX = BENCH / ".workerd"
WORKERD = WORKERD_PREFIX / "node_modules" / ".bin" / "workerd"
WORKERD_CONFIG = BENCH / "workerd" / "config.capnp"
PLOTS = BENCH / "plots"
BIN = Path(sys.executable).parent
CONNECTIONS = 16
WARMUP_SECONDS = 2
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
SETTLE_TIMEOUT_S = 20
PERCENTILES = [*range(1, 100), 99.5, 99.9]
WORKER = "export default { fetch(request) { return new Response('hello'); } };\n"
# wrk calls `done` once, after the run: the latency histogram's percentiles, in microseconds.
WRK_LUA = (
    "local points = {"
    + ", ".join(str(p) for p in PERCENTILES)
    + "}\n"
    + """
done = function(summary, latency, requests)
  for _, p in ipairs(points) do
    io.write(string.format("z0-percentile %g %d\\n", p, latency:percentile(p)))
  end
end
"""
)


class BenchError(Exception):
    pass


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    processes: int
    family: str  # z0, bare, workerd: the plots' colours
    short: str  # the plots' label
    env: tuple[tuple[str, str], ...] = ()  # settings for z0 (the platform's own work on or off)


@dataclass
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_us: float  # server CPU per request
    percentiles_ms: dict[float, float]
    parts: dict[str, float] = field(default_factory=dict)  # CPU seconds: z0 by process, workerd by thread


@dataclass
class Target:
    url: str
    headers: dict[str, str]
    pid: int


CONFIGS = [
    Config("z0-1", "z0 gateway → hello-world worker, 1 worker, 1 executor", 1, "z0",
           "z0, 1 worker + 1 executor"),
    Config("z0-2", "z0 gateway → hello-world worker, 2 workers, 2 executors", 2, "z0",
           "z0, 2 workers + 2 executors"),
    Config("z0-1-off", "z0, 1 worker, metering, metrics and tail off", 1, "z0",
           "z0, 1 + 1, metering/metrics/tail off",
           (("Z0_METERING", "false"), ("Z0_METRICS", "false"), ("Z0_TAIL", "false"))),
    Config("z0-1-traced", "z0, 1 worker, every request traced and exported (OTLP/HTTP)", 1, "z0",
           "z0, 1 + 1, traced", (("OTEL_EXPORTER_OTLP_ENDPOINT", "otlp"),)),
    Config("bare-1", "bare ASGI hello world, z0's server (uvicorn, httptools, asyncio)", 1, "bare",
           "bare, z0's server (asyncio), 1 process"),
    Config("bare-2", "bare ASGI hello world, z0's server (uvicorn, httptools, asyncio)", 2, "bare",
           "bare, z0's server (asyncio), 2 processes"),
    Config("uvloop-1", "bare ASGI hello world, z0's server on uvloop", 1, "bare",
           "bare, z0's server on uvloop, 1 process"),
    Config("granian-1", "bare ASGI hello world, granian (uvloop)", 1, "bare",
           "bare, granian, 1 process"),
    Config("workerd-1", "workerd: dispatcher → tenant worker (service binding)", 1, "workerd",
           "workerd, dispatcher → tenant, 1 process"),
]  # fmt: skip


# --- processes -------------------------------------------------------------------------------------


class _Discard(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that accepts spans and keeps none (for the traced configuration)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def otlp_receiver(port: int) -> Iterator[None]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Discard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def check_port_free(port: int, wait_s: float = 0.0) -> None:
    """Fails clearly when something listens on 127.0.0.1:`port`, after waiting up to `wait_s` for it
    to go (the processes of the previous configuration, killed, may take a moment to close it)."""
    deadline = time.monotonic() + wait_s
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise BenchError(
                        f"127.0.0.1:{port} is taken ({exc.strerror}): stop what listens there, "
                        "or choose other ports with --port-base"
                    ) from exc
        time.sleep(0.1)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def started(
    name: str, command: list[str], workdir: Path, ports: list[int], env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Runs `command` in a process group of its own; on the way out, SIGTERM to it, then SIGKILL to
    whatever is left of its group (children it did not stop: forked workers, executors)."""
    for port in ports:
        check_port_free(port, wait_s=10)
    log_path = workdir / f"{name}.log"
    log: IO[bytes] = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process, log_path
    finally:
        stopping = time.monotonic()
        try:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    print(f"  {name} did not stop within {STOP_TIMEOUT_S} s: killed", file=sys.stderr)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its group: the id is the one we started
            process.wait()
            log.close()
            print(f"  {name}: stopped in {time.monotonic() - stopping:.1f} s", file=sys.stderr)


def wait_until_up(
    client: httpx.Client,
    url: str,
    process: subprocess.Popen[bytes],
    log: Path,
    headers: dict[str, str] | None = None,
    status: int = 200,
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{process.args!r} exited with {process.returncode}:\n{log_tail(log)}")
        try:
            response = client.get(url, headers=headers, timeout=2)
            if response.status_code == status:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise BenchError(f"{url} did not answer {status} within {START_TIMEOUT_S} s ({last}):\n{log_tail(log)}")


def _ticks(stat: str) -> tuple[int, int]:
    """(parent pid, user + system CPU ticks) from a /proc stat line."""
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _role(pid: int, root: int) -> str:
    """What a process of a z0 server is, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    module = argv[argv.index(b"-m") + 1].decode() if b"-m" in argv[:-1] else ""
    roles = {"z0.gateway.worker": "gateway workers", "z0.runtime.executor": "executors",
             "z0.metering.worker": "usage roll-up"}  # fmt: skip
    return roles.get(module, "main process" if pid == root else module or "other")


def cpu_parts(root: int, family: str) -> dict[str, float]:
    """CPU seconds (user + system, every thread) of `root` and its living descendants, by part: the
    processes of a z0 server by role, workerd's threads by name, else one part."""
    tick = os.sysconf("SC_CLK_TCK")
    if family == "workerd":
        parts: dict[str, float] = {}
        for entry in os.scandir(f"/proc/{root}/task"):
            with contextlib.suppress(OSError):
                stat = Path(entry.path, "stat").read_text()
                name = stat[stat.find("(") + 1 : stat.rfind(")")]
                parts[name] = parts.get(name, 0.0) + _ticks(stat)[1] / tick
        return parts
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry.name)], ticks[int(entry.name)] = _ticks(
                    Path(entry.path, "stat").read_text()
                )
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    parts = {}
    for pid in tree:
        role = _role(pid, root) if family == "z0" else "all"
        parts[role] = parts.get(role, 0.0) + ticks.get(pid, 0) / tick
    return parts


# --- wrk ---------------------------------------------------------------------------------------------


def duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise BenchError(f"wrk printed a latency I cannot read: {text!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[match[2]]
    return float(match[1]) * scale


def wrk(target: Target, seconds: int, script: Path) -> tuple[float, float, float, int, dict[float, float]]:
    """One wrk run: requests/s, p50 and p99 (ms, wrk's --latency lines), requests, percentiles (ms)."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script)]
    for name, value in target.headers.items():
        command += ["-H", f"{name}: {value}"]
    try:
        done = subprocess.run(
            [*command, target.url], capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {seconds + 30} s: {' '.join(command)}") from exc
    out = done.stdout
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or out}")
    if "Non-2xx" in out or "Socket errors" in out:
        raise BenchError(f"errors while measuring {target.url}:\n{out}")
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    count = re.search(r"^\s+(\d+) requests in", out, re.MULTILINE)
    if rate is None or p50 is None or p99 is None or count is None:
        raise BenchError(f"wrk's output is not what this bench reads:\n{out}")
    percentiles = {
        float(point): int(micros) / 1000
        for point, micros in re.findall(r"^z0-percentile (\S+) (\d+)$", out, re.MULTILINE)
    }
    return float(rate[1]), duration_ms(p50[1]), duration_ms(p99[1]), int(count[1]), percentiles


# --- the configurations -----------------------------------------------------------------------------


@contextlib.contextmanager
def z0_target(config: Config, workdir: Path, ports: dict[str, int], client: httpx.Client) -> Iterator[Target]:
    token = "bench-token"
    api_port, gateway_port = ports["z0-api"], ports["z0-gateway"]
    command = [
        str(BIN / "z0"), "serve", "--data-dir", str(workdir / f"data-{config.key}-{time.monotonic_ns()}"),
        "--host", "127.0.0.1", "--api-port", str(api_port), "--gateway-port", str(gateway_port),
        "--workers", str(config.processes), "--executors", str(config.processes),
    ]  # fmt: skip
    env = {**os.environ, "Z0_API_TOKEN": token}
    for name, value in config.env:  # "otlp": the discarding receiver this bench runs
        env[name] = f"http://127.0.0.1:{ports['otlp']}" if value == "otlp" else value
    with started(config.key, command, workdir, [api_port, gateway_port], env) as (process, log):
        api = f"http://127.0.0.1:{api_port}/client/v4"
        auth = {"authorization": f"Bearer {token}"}
        wait_until_up(client, f"{api}/accounts", process, log, auth)
        account = client.get(f"{api}/accounts", headers=auth).json()["result"][0]["id"]
        base = f"{api}/accounts/{account}"
        client.post(f"{base}/z0/tenants", headers=auth, json={"id": "tenant_bench"}).raise_for_status()
        created = client.post(f"{base}/z0/tenants/tenant_bench/keys", headers=auth)
        created.raise_for_status()
        key = created.json()["result"]["key"]
        files: list[tuple[str, tuple[str | None, bytes | str, str]]] = [
            ("metadata", (None, '{"main_module": "index.js"}', "application/json")),
            ("files", ("index.js", WORKER.encode(), "application/javascript+module")),
        ]
        client.put(
            f"{base}/workers/dispatch/namespaces/z0-prod-tenants/scripts/tenant_bench",
            headers=auth,
            files=files,
        ).raise_for_status()
        url = f"http://127.0.0.1:{gateway_port}/"
        headers = {"x-z0-api-key": key}
        wait_until_up(client, url, process, log, headers)
        yield Target(url, headers, process.pid)


@contextlib.contextmanager
def bare_target(
    config: Config, workdir: Path, ports: dict[str, int], client: httpx.Client
) -> Iterator[Target]:
    port = ports["bare"]
    if config.key.startswith("granian"):
        command = [
            str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
            "--loop", "uvloop", "--no-ws", "--log-level", "warning", "--workers", str(config.processes),
            "bare_server:app",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(BENCH)}
    else:
        command = [sys.executable, str(BENCH / "bare_server.py"), str(port), str(config.processes)]
        if config.key.startswith("uvloop"):
            command.append("--uvloop")
        env = None
    with started(config.key, command, workdir, [port], env) as (process, log):
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(client, url, process, log)
        yield Target(url, {}, process.pid)


def workerd_key() -> str:
    match = re.search(r'"(z0k_[^"]+)": "tenant_bench"', (BENCH / "workerd" / "dispatcher.js").read_text())
    if match is None:
        raise BenchError("bench/workerd/dispatcher.js has no key for tenant_bench")
    return match[1]


@contextlib.contextmanager
def workerd_target(
    config: Config, workdir: Path, ports: dict[str, int], client: httpx.Client
) -> Iterator[Target]:
    port = ports["workerd"]
    command = [str(WORKERD), "serve", str(WORKERD_CONFIG), "--socket-addr", f"http=127.0.0.1:{port}"]
    with started(config.key, command, workdir, [port]) as (process, log):
        url = f"http://127.0.0.1:{port}/"
        headers = {"x-z0-api-key": workerd_key()}
        wait_until_up(client, url, process, log, headers)
        wait_until_up(client, url, process, log, {"x-z0-api-key": "z0k_wrong"}, status=401)
        yield Target(url, headers, process.pid)


LAUNCHERS: dict[str, Callable[[Config, Path, dict[str, int], httpx.Client], Any]] = {
    "z0": z0_target,
    "bare": bare_target,
    "workerd": workerd_target,
}


def ensure_workerd() -> str:
    """Installs the pinned workerd into bench/.workerd (git-ignored) unless it is there; its version."""
    package = WORKERD_PREFIX / "node_modules" / "workerd" / "package.json"
    installed = json.loads(package.read_text())["version"] if package.exists() else None
    if installed != WORKERD_VERSION or not WORKERD.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise BenchError(
                f"npm is needed to install workerd {WORKERD_VERSION} (Debian: apt-get install npm)"
            )
        print(
            f"installing workerd {WORKERD_VERSION} into {WORKERD_PREFIX.relative_to(ROOT)} (npm)", flush=True
        )
        WORKERD_PREFIX.mkdir(exist_ok=True)
        subprocess.run(
            [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(WORKERD_PREFIX),
             f"workerd@{WORKERD_VERSION}"],
            check=True, timeout=600,
        )  # fmt: skip
    version = subprocess.run(
        [str(WORKERD), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    return version.stdout.strip()


def settle(pid: int, family: str) -> None:
    """Waits (up to SETTLE_TIMEOUT_S) until the server is at rest: under a tenth of a core for half a
    second, so that its start (a child process still importing, a first roll-up) is not measured."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    before = sum(cpu_parts(pid, family).values())
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(cpu_parts(pid, family).values())
        if now - before < 0.05:
            return
        before = now


def measure(
    config: Config, workdir: Path, ports: dict[str, int], client: httpx.Client, seconds: int, script: Path
) -> Run:
    with LAUNCHERS[config.family](config, workdir, ports, client) as target:
        settle(target.pid, config.family)
        wrk(target, WARMUP_SECONDS, script)  # every isolate, connection and cache warm
        before = cpu_parts(target.pid, config.family)
        rate, p50, p99, requests, percentiles = wrk(target, seconds, script)
        after = cpu_parts(target.pid, config.family)
    parts = {name: spent - before.get(name, 0.0) for name, spent in after.items()}
    return Run(rate, p50, p99, requests, sum(parts.values()) / requests * 1e6, percentiles, parts)


# --- the report -----------------------------------------------------------------------------------


def median_range(values: list[float], digits: int = 0, unit: str = "") -> str:
    def show(value: float) -> str:
        return f"{value:,.{digits}f}"

    return f"{show(statistics.median(values))}{unit} ({show(min(values))}-{show(max(values))})"


def machine(workerd_version: str) -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        model = found[1].strip() if found else model
    memory = "?"
    with contextlib.suppress(OSError):
        found = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory = f"{int(found[1]) / 2**20:.1f} GiB" if found else memory
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_line = (wrk_version.stdout or wrk_version.stderr).splitlines()[0]
    wrk_line = wrk_line.split(" Copyright")[0]
    return (
        f"{model}, {os.cpu_count()} cores, {memory} RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}, workerd {WORKERD_VERSION} (`{workerd_version}`), {wrk_line}"
    )


def plot(results: dict[str, list[Run]], runs: int, seconds: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"z0": ["#d62728", "#ff7f0e"], "bare": ["#1f77b4", "#17becf", "#9467bd", "#2ca02c"],
               "workerd": ["#000000"]}  # fmt: skip
    used: dict[str, int] = {}

    def colour(config: Config) -> str:
        index = used.get(config.family, 0)
        used[config.family] = index + 1
        return colours[config.family][index % len(colours[config.family])]

    by_key = {config.key: colour(config) for config in CONFIGS if config.key in results}
    names = {config.key: config.short for config in CONFIGS}
    PLOTS.mkdir(exist_ok=True)

    # Latency by percentile, on a "nines" axis: the median of the runs at each percentile.
    figure, axis = plt.subplots(figsize=(10, 6))
    for key, measured in results.items():
        points = sorted(measured[0].percentiles_ms)
        xs = [-_log10(1 - point / 100) for point in points]
        ys = [statistics.median(run.percentiles_ms[point] for run in measured) for point in points]
        axis.plot(xs, ys, label=names[key], color=by_key[key], linewidth=1.8)
    ticks = [1, 50, 90, 99, 99.9]
    axis.set_xticks([-_log10(1 - tick / 100) for tick in ticks], [f"p{tick:g}" for tick in ticks])
    axis.set_yscale("log")
    axis.set_ylabel("latency (ms, log scale)")
    axis.set_xlabel("percentile")
    axis.set_title(
        f"Latency by percentile: wrk -t1 -c{CONNECTIONS}, {seconds} s, "
        f"median of {runs} runs at each percentile"
    )
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    latency = PLOTS / "peers_latency.png"
    figure.savefig(latency, dpi=110)
    plt.close(figure)

    # Requests/s and server CPU per request: median, min-max as error bars.
    keys = list(results)
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), sharey=True)
    ypos = list(range(len(keys)))[::-1]
    for axis, attribute, title in (
        (left, "rate", "requests/s"),
        (right, "cpu_us", "server CPU per request (µs)"),
    ):
        medians = [statistics.median(getattr(run, attribute) for run in results[key]) for key in keys]
        lows = [
            m - min(getattr(run, attribute) for run in results[key])
            for m, key in zip(medians, keys, strict=True)
        ]
        highs = [
            max(getattr(run, attribute) for run in results[key]) - m
            for m, key in zip(medians, keys, strict=True)
        ]
        axis.barh(ypos, medians, xerr=[lows, highs], color=[by_key[key] for key in keys], capsize=4)
        for y, value, high in zip(ypos, medians, highs, strict=True):
            axis.annotate(f"  {value:,.0f}", (value + high, y), va="center", fontsize=8)
        axis.set_title(f"{title}: median of {runs}, min-max")
        axis.grid(True, axis="x", alpha=0.3)
        axis.margins(x=0.2)
    left.set_yticks(ypos, [names[key] for key in keys], fontsize=8)
    figure.tight_layout()
    throughput = PLOTS / "peers_throughput.png"
    figure.savefig(throughput, dpi=110)
    plt.close(figure)
    return [throughput, latency]


def _log10(value: float) -> float:
    import math

    return math.log10(value)


def report(
    results: dict[str, list[Run]], args: argparse.Namespace, workerd_version: str, loads: tuple[str, str]
) -> str:
    command = f".venv/bin/python bench/peers_bench.py --seconds {args.seconds} --runs {args.runs}"
    configs = {config.key: config for config in CONFIGS}
    rows = [
        f"| {configs[key].label} | {configs[key].processes} | {median_range([r.rate for r in runs])} "
        f"| {median_range([r.p50_ms for r in runs], 2)} | {median_range([r.p99_ms for r in runs], 2)} "
        f"| {median_range([r.cpu_us for r in runs])} |"
        for key, runs in results.items()
    ]

    def rate(key: str) -> float:
        return statistics.median(run.rate for run in results[key])

    def cpu(key: str) -> float:
        return statistics.median(run.cpu_us for run in results[key])

    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine(workerd_version)}. "
        f"Load average (1 min) {loads[0]} before the run, {loads[1]} after"
        + (f"; {args.note}" if args.note else "")
        + "."
        + (
            " **The machine was busy** (a load average above its core count): every figure is inflated "
            "and noisy; the CPU per request and the ratios are the steadier ones."
            if max(float(load) for load in loads) > (os.cpu_count() or 1)
            else ""
        ),
        "",
        f"`{command} --write`: each configuration started afresh for each of {args.runs} runs, the runs "
        f"interleaved; client `wrk -t1 -c{CONNECTIONS} -d{args.seconds}s --latency` on 127.0.0.1 after a "
        f"{WARMUP_SECONDS} s warm-up; median (min-max) of the runs. Server CPU: CPU time of the server's "
        "processes (every thread, child processes included) during the run, per request. z0 with 1 worker "
        "is the gateway process, one executor process and the usage roll-up process; with 2, a parent "
        "(control API), 2 gateway processes with an executor each, and the roll-up.",
        "",
        "| configuration | processes | requests/s | p50 ms | p99 ms | server CPU µs/request |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    ratios = []
    peers = [
        ("bare-1", "bare hello world, z0's server"),
        ("uvloop-1", "bare hello world, z0's server on uvloop"),
        ("granian-1", "bare hello world, granian"),
        ("workerd-1", "workerd, dispatcher → tenant"),
    ]
    for other, name in peers:
        if "z0-1" in results and other in results:
            ratios.append(f"| {name} | {rate('z0-1') / rate(other):.2f} | {cpu('z0-1') / cpu(other):.2f} |")
    if ratios:
        lines += [
            "",
            "z0 with 1 worker and 1 executor against (medians):",
            "",
            "| peer, 1 process | z0 requests/s ÷ peer's | z0 CPU per request ÷ peer's |",
            "|---|---|---|",
            *ratios,
        ]

    if "z0-1" in results and "z0-1-off" in results:
        lines += [
            "",
            "The platform's own work (z0 with 1 worker; medians): metering, metrics and tail cost "
            f"{cpu('z0-1') - cpu('z0-1-off'):.0f} µs of CPU per request "
            f"({(cpu('z0-1') / cpu('z0-1-off') - 1) * 100:.1f}% of the request's CPU); with them on, "
            f"{rate('z0-1') / rate('z0-1-off') * 100:.1f}% of the requests/s with them off."
            + (
                f" Tracing every request and exporting it adds {cpu('z0-1-traced') - cpu('z0-1'):.0f} µs "
                f"({(cpu('z0-1-traced') / cpu('z0-1') - 1) * 100:.1f}%); requests/s "
                f"{rate('z0-1-traced') / rate('z0-1') * 100:.1f}% of untraced. Without an OTLP endpoint "
                "nothing is exported and no span is made."
                if "z0-1-traced" in results
                else ""
            ),
        ]

    def shares(key: str) -> str:
        """Each part's share of the configuration's CPU and its CPU per request (medians of the runs)."""
        found: dict[str, list[tuple[float, float]]] = {}
        for run in results[key]:
            total = sum(run.parts.values()) or 1.0
            for name, spent in run.parts.items():
                found.setdefault(name, []).append((100 * spent / total, spent / run.requests * 1e6))
        ordered = sorted(found.items(), key=lambda item: -statistics.median(s for s, _ in item[1]))
        return ", ".join(
            f"{name} {statistics.median(s for s, _ in values):.0f}% "
            f"({statistics.median(u for _, u in values):.0f} µs/request)"
            for name, values in ordered
        )

    where = [f"- {configs[key].label}: {shares(key)}" for key in ("z0-1", "z0-2") if key in results]
    if "workerd-1" in results:
        where.append(
            f"- workerd, one process (`workerd serve bench/workerd/config.capnp`), by thread: "
            f"{shares('workerd-1')}. Requests are served by its one event-loop thread (`workerd`); "
            "V8's platform threads (GC, compilation) are the rest."
        )
    if where:
        lines += ["", "Where the server's CPU went (share of its CPU during the run; medians):", "", *where]
    lines += [
        "",
        "![requests/s and CPU per request](bench/plots/peers_throughput.png)",
        "",
        "![latency by percentile](bench/plots/peers_latency.png)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="each measured wrk run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each configuration")
    parser.add_argument("--port-base", type=int, default=9401, help="ports used: this and the next 4")
    parser.add_argument(
        "--only", default="", help=f"comma-separated configurations, of {','.join(c.key for c in CONFIGS)}"
    )
    parser.add_argument("--note", default="", help="a note for the report (e.g. 'a shared machine')")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md and bench/plots/")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every started process is stopped
    chosen = [c for c in CONFIGS if not args.only or c.key in args.only.split(",")]
    if not chosen:
        sys.exit(f"--only names none of {', '.join(c.key for c in CONFIGS)}")
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk (or make bench, as root)")
    base = args.port_base
    bench_began = time.monotonic()
    ports = {"z0-api": base, "z0-gateway": base + 1, "bare": base + 2, "workerd": base + 3, "otlp": base + 4}
    try:
        for port in ports.values():
            check_port_free(port)
        workerd_version = ensure_workerd() if any(c.family == "workerd" for c in chosen) else "not run"
        loads = (f"{os.getloadavg()[0]:.2f}", "")
        results: dict[str, list[Run]] = {c.key: [] for c in chosen}
        with (
            tempfile.TemporaryDirectory(prefix="z0-peers-") as tmp,
            httpx.Client(trust_env=False) as client,
            otlp_receiver(ports["otlp"]),
        ):
            workdir = Path(tmp)
            script = workdir / "percentiles.lua"
            script.write_text(WRK_LUA)
            for number in range(1, args.runs + 1):
                for config in chosen:
                    began = time.monotonic()
                    run = measure(config, workdir, ports, client, args.seconds, script)
                    results[config.key].append(run)
                    print(
                        f"run {number}/{args.runs} {config.key:<10} {run.rate:>9,.0f} req/s  "
                        f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  "
                        f"CPU {run.cpu_us:6.0f} µs/req  ({time.monotonic() - began:.0f} s)",
                        flush=True,
                    )
        loads = (loads[0], f"{os.getloadavg()[0]:.2f}")
    except BenchError as exc:
        sys.exit(f"peers bench: {exc}")
    text = report(results, args, workerd_version, loads)
    print()
    print(text)
    if args.write:
        for path in plot(results, args.runs, args.seconds):
            print(f"wrote {path.relative_to(ROOT)}")
        write_section("Peers", text)
    print(f"peers bench: {(time.monotonic() - bench_began) / 60:.1f} min")


if __name__ == "__main__":
    main()
