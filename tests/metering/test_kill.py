"""`kill -9` of z0 in the middle of load, then a restart: every answered request is in the usage API,
and nothing beyond what was in flight (DESIGN.md: answered ≤ recorded ≤ answered + in flight)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from pathlib import Path

import httpx

from tests.gateway.operator import Operator
from tests.gateway.test_gateway import wait_for
from tests.support import LiveServer, start_server

CLIENTS = 16
MAX_REQUESTS = 4000  # bounded whatever happens
KILL_AFTER_ANSWERED = 400


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.05)
    return False


async def load(server: LiveServer, key: str) -> tuple[int, int]:
    """Requests from CLIENTS connections until z0 is killed; (answered, sent)."""
    answered = sent = 0
    killed = False

    async def client() -> None:
        nonlocal answered, sent, killed
        async with httpx.AsyncClient(base_url=server.gateway_url, timeout=10) as http:
            while not killed and sent < MAX_REQUESTS:
                sent += 1
                try:
                    response = await http.get("/", headers={"x-z0-api-key": key})
                except httpx.HTTPError:
                    return
                if response.status_code == 200 and response.content == b"ok":
                    answered += 1
                if answered >= KILL_AFTER_ANSWERED and not killed:
                    killed = True
                    os.kill(server.process.pid, signal.SIGKILL)

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return answered, sent


def test_kill_9_during_load_then_restart(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    env = {"Z0_API_TOKEN": token}
    server = start_server(tmp_path / "data", "--workers", "2", "--executors", "2", env=env)
    operator = Operator(server)
    try:
        tenant_id = operator.tenant("crash")
        operator.deploy(tenant_id, "export default { fetch() { return new Response('ok'); } };")
        key = operator.key(tenant_id)["key"]
        warmup = 0

        def ready() -> bool:
            nonlocal warmup
            response = operator.gateway.get("/", headers={"x-z0-api-key": key})
            warmup += response.status_code == 200
            return response.status_code == 200

        wait_for(ready)
        workers = children(server.process.pid)
        answered, sent = asyncio.run(load(server, key))
        server.process.wait(10)
        # The gateway workers follow their parent down (they would go on serving the port otherwise).
        assert gone(workers, 20), "gateway workers outlived a killed z0 serve"
    finally:
        operator.api.close()
        operator.gateway.close()
        server.stop()
    assert answered >= KILL_AFTER_ANSWERED

    restarted = start_server(tmp_path / "data", "--workers", "1", env=env)
    again = Operator(restarted)
    try:
        path = f"/workers/dispatch/namespaces/z0-prod-tenants/scripts/{tenant_id}/usage"
        result = again.ok("GET", path)
        recorded = result["requests"]
        in_flight = sent - answered
        assert warmup + answered <= recorded <= warmup + answered + in_flight, (answered, sent, recorded)
        assert result["by_outcome"].keys() <= {"ok", "canceled"}
    finally:
        again.api.close()
        again.gateway.close()
        assert restarted.stop() == 0
