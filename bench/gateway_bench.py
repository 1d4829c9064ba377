"""Gateway throughput: a hello-world tenant worker through the whole dispatcher, beside a bare ASGI
hello world on the same HTTP servers (the Python limit), with wrk on the same machine.

    .venv/bin/python bench/gateway_bench.py [--seconds 8] [--connections 16] [--write]

Needs `wrk` (Debian: apt-get install wrk). Every server listens on 127.0.0.1 only. `--write`
replaces the gateway section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from runtime_bench import write_section  # noqa: E402

BIN = Path(sys.executable).parent
BARE_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})
"""
WORKER = "export default { fetch(request) { return new Response('hello'); } };\n"


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str] | None = None) -> tuple[float, str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"errors while measuring {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    return rate, p99[1] if p99 else "?"


def wait_until_up(url: str, headers: dict[str, str] | None = None) -> None:
    for _ in range(200):
        try:
            if httpx.get(url, headers=headers, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def bare(server: str, port: int, workdir: Path, seconds: int, connections: int) -> tuple[float, str]:
    (workdir / "bare.py").write_text(BARE_APP)
    if server == "uvicorn":
        command = [str(BIN / "uvicorn"), "bare:app", "--port", str(port), "--loop", "uvloop",
                   "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    else:
        command = [str(BIN / "granian"), "--interface", "asgi", "--port", str(port), "--loop", "uvloop",
                   "--no-ws", "--log-level", "warning", "bare:app"]  # fmt: skip
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/")
        return wrk(f"http://127.0.0.1:{port}/", seconds, connections)
    finally:
        process.terminate()
        process.wait()


def gateway(workers: int, workdir: Path, seconds: int, connections: int) -> tuple[float, str]:
    env = {**os.environ, "Z0_API_TOKEN": "bench-token"}
    data = workdir / f"z0-{workers}"
    process = subprocess.Popen(
        [str(BIN / "z0"), "serve", "--data-dir", str(data), "--workers", str(workers),
         "--executors", str(workers), "--api-port", "9301", "--gateway-port", "9302"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        api = "http://127.0.0.1:9301/client/v4"
        auth = {"authorization": "Bearer bench-token"}
        wait_until_up(f"{api}/accounts", auth)
        account = httpx.get(f"{api}/accounts", headers=auth).json()["result"][0]["id"]
        base = f"{api}/accounts/{account}"
        httpx.post(f"{base}/z0/tenants", headers=auth, json={"id": "tenant_bench"}).raise_for_status()
        key = httpx.post(f"{base}/z0/tenants/tenant_bench/keys", headers=auth).json()["result"]["key"]
        files = [
            ("metadata", (None, '{"main_module": "index.js"}', "application/json")),
            ("files", ("index.js", WORKER.encode(), "application/javascript+module")),
        ]
        httpx.put(
            f"{base}/workers/dispatch/namespaces/z0-prod-tenants/scripts/tenant_bench",
            headers=auth,
            files=files,
        ).raise_for_status()
        headers = {"authorization": f"Bearer {key}"}
        for _ in range(100):
            if httpx.get("http://127.0.0.1:9302/", headers=headers).status_code == 200:
                break
            time.sleep(0.1)
        time.sleep(1)
        wrk("http://127.0.0.1:9302/", 2, connections, headers)  # warm every isolate
        return wrk("http://127.0.0.1:9302/", seconds, connections, headers)
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for server in ("uvicorn", "granian"):
            rate, p99 = bare(server, 9311, workdir, args.seconds, args.connections)
            rows.append((f"bare ASGI hello world on {server} (1 process)", rate, p99))
        for workers in (1, os.cpu_count() or 1):
            rate, p99 = gateway(workers, workdir, args.seconds, args.connections)
            rows.append(
                (f"z0 gateway → tenant hello world, {workers} worker(s), {workers} executor(s)", rate, p99)
            )
    command = (
        f".venv/bin/python bench/gateway_bench.py --seconds {args.seconds} --connections {args.connections}"
    )
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} CPUs, with wrk) "
        f"(-t1 -c{args.connections}): `{command} --write`",
        "",
        "| server | requests/s | p99 |",
        "|---|---|---|",
        *(f"| {label} | {rate:,.0f} | {p99} |" for label, rate, p99 in rows),
    ]
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_section("Gateway", report)


if __name__ == "__main__":
    main()
