"""Helpers for benchmarks that drive a real `z0 serve`: start and stop it (with every process it
started), the control API, a small keep-alive HTTP/1.1 client for latency measurements, /metrics,
RSS of the executors, percentiles.

Each `z0 serve` gets its own temporary data directory and TMPDIR (the executors' status files go
there too), runs in its own process group, and is stopped with SIGTERM, then SIGKILL of the group
if it does not stop within 20 s; the directory is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

BIN = Path(sys.executable).parent
JS = "application/javascript+module"
TOKEN = "bench-token"
T = TypeVar("T")
IDLE_CLOSE_S = 4.0  # a keep-alive connection idle this long is not reused


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """'median (min-max)' of repeated figures, or the one figure."""
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used so far."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (every CPU, /proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as file:
        fields = [int(part) for part in file.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class OthersMeter:
    """How many CPUs processes other than this benchmark's kept busy (on a shared machine): the machine's
    busy time less that of z0's processes, this process and its finished children (wrk, clients). A z0
    process that ended meanwhile (an executor the watchdog killed) counts as idle since the start, so
    the figure is then a little high."""

    def __init__(self, z0_pid: int) -> None:
        self.z0_pid = z0_pid
        self.start = (machine_busy_s(), self._mine(), self._z0(), time.perf_counter())

    def _z0(self) -> dict[int, float]:
        used = {}
        for pid in [self.z0_pid, *children(self.z0_pid)]:
            with contextlib.suppress(OSError, IndexError, ValueError):
                used[pid] = cpu_s(pid)
        return used

    @staticmethod
    def _mine() -> float:
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system

    def cpus(self) -> float:
        busy, mine, z0, began = self.start
        now = self._z0()
        own = (self._mine() - mine) + sum(used - z0.get(pid, 0.0) for pid, used in now.items())
        return max(0.0, (machine_busy_s() - busy) - own) / (time.perf_counter() - began)


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as file:
                found += [int(part) for part in file.read().split()]
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {'name{labels}': value} (comments skipped)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            values[name] = float(value)
    return values


@dataclass
class Z0:
    """A running `z0 serve` and its control API."""

    process: subprocess.Popen[bytes]
    root: Path  # temp dir: data/, tmp/, z0.log
    api_port: int
    gateway_port: int
    account_id: str = ""
    api: httpx.AsyncClient = field(init=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/client/v4/accounts/{self.account_id}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def executor_pids(self) -> list[int]:
        return sorted(pid for pid in children(self.process.pid) if "z0.runtime.executor" in cmdline(pid))

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.api.request(method, f"{self.base}{path}", **kwargs)
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()["result"]

    async def tenant(self, tenant_id: str, limits: dict[str, int] | None = None) -> None:
        body: dict[str, Any] = {"id": tenant_id}
        if limits:
            body["limits"] = limits
        await self.ok("POST", "/z0/tenants", json=body)

    async def deploy(self, name: str, source: str, namespace: str = "z0-prod-tenants") -> dict[str, Any]:
        files = [
            ("metadata", (None, json.dumps({"main_module": "index.js"}), "application/json")),
            ("files", ("index.js", source.encode(), JS)),
        ]
        result: dict[str, Any] = await self.ok(
            "PUT", f"/workers/dispatch/namespaces/{namespace}/scripts/{name}", files=files
        )
        return result

    async def metrics(self) -> dict[str, float]:
        response = await self.api.get(f"http://127.0.0.1:{self.api_port}/metrics")
        response.raise_for_status()
        return parse_metrics(response.text)

    def log_text(self) -> str:
        return (self.root / "z0.log").read_text(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "z0.log").read_text(errors="replace").splitlines()[-lines:])
        return ""


@contextlib.asynccontextmanager
async def z0_serve(
    api_port: int,
    gateway_port: int,
    *,
    workers: int = 1,
    executors: int = 1,
    env: dict[str, str] | None = None,
) -> Any:
    """`z0 serve` on 127.0.0.1 in a temp dir, ready, with its account id; stopped and cleaned after."""
    root = Path(tempfile.mkdtemp(prefix="z0-bench-"))
    (root / "tmp").mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("Z0_")}
    environment.update(
        {
            "Z0_API_TOKEN": TOKEN,
            "TMPDIR": str(root / "tmp"),
            "Z0_METRICS_FLUSH_INTERVAL_S": "0.2",
            **(env or {}),
        }
    )
    command = [str(BIN / "z0"), "serve", "--data-dir", str(root / "data"), "--host", "127.0.0.1",
               "--workers", str(workers), "--executors", str(executors),
               "--api-port", str(api_port), "--gateway-port", str(gateway_port)]  # fmt: skip
    log = (root / "z0.log").open("wb")
    process = _spawn(command, environment, log)
    server = Z0(process, root, api_port, gateway_port)
    server.api = httpx.AsyncClient(headers={"authorization": f"Bearer {TOKEN}"}, timeout=120)
    try:
        accounts = f"http://127.0.0.1:{api_port}/client/v4/accounts"
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"z0 serve exited ({process.returncode}):\n{server.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                response = await server.api.get(accounts)
                if response.status_code == 200:
                    server.account_id = response.json()["result"][0]["id"]
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"z0 serve did not come up:\n{server.log_tail()}")
            await asyncio.sleep(0.1)
        # The gateway answers too (its view is loaded).
        while True:
            with contextlib.suppress(httpx.TransportError):
                await server.api.get(f"http://127.0.0.1:{gateway_port}/_z0/healthz")
                break
            await asyncio.sleep(0.05)
        yield server
    finally:
        await server.api.aclose()
        stop(process)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _spawn(command: list[str], environment: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    """In its own process group, so that whatever it starts can be stopped with it."""
    return subprocess.Popen(
        command, env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def stop(process: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL to the whole process group (z0 and every child it started)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of its group (executors, roll-up)
    process.wait()


@contextlib.contextmanager
def started(command: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A helper process (a load generator), killed if still running when the block ends."""
    process = subprocess.Popen(command, start_new_session=True, **kwargs)
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection: GET and read the answer (Content-Length or chunked)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = time.monotonic()

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def get(
        self, host: str, path: str = "/", headers: Sequence[tuple[str, str]] = ()
    ) -> tuple[int, bytes]:
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        self.writer.write(f"GET {path} HTTP/1.1\r\nhost: {host}\r\n{extra}\r\n".encode("latin-1"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append((await self.reader.readexactly(size + 2))[:-2])
            return status, b"".join(parts)
        if length is None:
            raise HttpError("a response without a length on a keep-alive connection")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Keep-alive connections to one port, opened as needed, reused when free."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.free: list[Connection] = []

    async def get(
        self, host: str, path: str = "/", headers: Sequence[tuple[str, str]] = ()
    ) -> tuple[int, bytes]:
        connection = None
        while self.free:
            connection = self.free.pop()
            if time.monotonic() - connection.last_used < IDLE_CLOSE_S:
                break
            connection.close()  # the server may be closing it (uvicorn: after 5 s idle)
            connection = None
        if connection is None:
            connection = await Connection.open(self.port)
        try:
            answer = await connection.get(host, path, headers)
        except BaseException:
            connection.close()
            raise
        connection.last_used = time.monotonic()
        self.free.append(connection)
        return answer

    def close(self) -> None:
        for connection in self.free:
            connection.close()
        self.free.clear()


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is there (a cheaper client: less noise in what it measures).
    SIGINT and SIGTERM cancel the benchmark, so that it stops every process it started and removes its
    directories on the way out (a background job started by a shell ignores SIGINT)."""

    async def cancellable() -> T:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        return await task

    try:
        import uvloop
    except ImportError:
        return asyncio.run(cancellable())
    return uvloop.run(cancellable())


def machine() -> str:
    import platform

    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
