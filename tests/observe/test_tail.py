"""Live tenant logs through a real `z0 serve` (two gateway processes sending their events to the
control API's process): what an invocation's event holds, the status filter, recent history, `z0 tail`,
and that one tenant never sees another's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import httpx
import pytest

from tests.gateway.operator import Operator
from tests.gateway.test_gateway import wait_for
from tests.support import LiveServer
from z0.observe.tail import MAX_LOG_LINES, TailEvent, TailHub

WORKER = """
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    console.log("hello from", env.WHO, url.pathname);
    if (url.pathname === "/boom") {
      console.error("about to fail");
      throw new TypeError("no such thing");
    }
    if (url.pathname === "/later") {
      const work = (resolve) => setTimeout(() => { console.warn("after the response"); resolve(); }, 100);
      ctx.waitUntil(new Promise(work));
    }
    return new Response("ok");
  },
};
"""


class Tail:
    """An SSE reader in a thread: `events` fills as invocations arrive."""

    def __init__(self, server: LiveServer, path: str, token: str, **params: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.kinds: list[str] = []
        self.status: int | None = None
        self.body = ""
        self._client = httpx.Client(
            base_url=f"{server.api_url}/accounts/{server.account_id}",
            headers={"authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10, read=30),
        )
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(path, params), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the tail never answered"

    def _read(self, path: str, params: dict[str, Any]) -> None:
        try:
            with self._client.stream("GET", path, params=params) as response:
                self.status = response.status_code
                if response.status_code != 200:
                    self.body = response.read().decode()
                    self._ready.set()
                    return
                kind = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                        self.kinds.append(kind)
                        if kind == "ready":
                            self._ready.set()
                    elif line.startswith("data: ") and kind == "invocation":
                        self.events.append(json.loads(line[6:]))
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self._ready.set()

    def wait(self, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not check(self.events):
            assert time.monotonic() < deadline, f"the tail did not get there: {self.events}"
            time.sleep(0.05)

    def close(self) -> None:
        self._client.close()


@pytest.fixture(scope="module")
def operator(live_server: LiveServer) -> Iterator[Operator]:
    with Operator(live_server) as op:
        yield op


def tenant_with_worker(operator: Operator, who: str) -> tuple[str, str, str]:
    """(tenant id, gateway key, tenant API token)."""
    tenant = operator.tenant(who)
    operator.deploy(tenant, WORKER, bindings=[{"type": "plain_text", "name": "WHO", "text": who}])
    key = operator.key(tenant)["key"]
    token = operator.ok("POST", "/z0/tokens", json={"tenant_id": tenant})["value"]
    wait_for(lambda: operator.gateway.get("/warm", headers={"x-z0-api-key": key}).status_code == 200)
    return tenant, key, token


def tail_path(script: str) -> str:
    return f"/workers/dispatch/namespaces/z0-prod-tenants/scripts/{script}/tail"


def test_an_invocation_event_and_isolation_between_tenants(
    live_server: LiveServer, operator: Operator
) -> None:
    a, a_key, a_token = tenant_with_worker(operator, "alpha")
    b, b_key, b_token = tenant_with_worker(operator, "bravo")
    tail = Tail(live_server, tail_path(a), a_token)
    try:
        answered = operator.gateway.get("/hi?x=1", headers={"x-z0-api-key": a_key})
        failed = operator.gateway.get("/boom", headers={"x-z0-api-key": a_key})
        for _ in range(5):
            operator.gateway.get("/hi", headers={"x-z0-api-key": b_key})
        assert (answered.status_code, failed.status_code) == (200, 500)
        tail.wait(lambda events: len(events) >= 2)
        time.sleep(0.3)  # room for anything that should not come
        events = tail.events
        assert {event["tenant_id"] for event in events} == {a}
        assert not any("bravo" in json.dumps(event) for event in events)
        ok, boom = (
            next(e for e in events if e["request_id"] == r.headers["x-z0-request-id"])
            for r in (answered, failed)
        )
        assert ok["script"] == a and ok["namespace"] == "z0-prod-tenants"
        assert ok["method"] == "GET" and ok["url"].endswith("/hi?x=1")
        assert (ok["status"], ok["outcome"], ok["exception"]) == (200, "ok", None)
        assert ok["logs"] == [{"level": "log", "message": "hello from alpha /hi"}]
        assert ok["duration_ms"] > 0 and ok["cpu_ms"] > 0
        assert (boom["status"], boom["outcome"]) == (500, "exception")
        assert boom["logs"] == [
            {"level": "log", "message": "hello from alpha /boom"},
            {"level": "error", "message": "about to fail"},
        ]
        assert boom["exception"]["name"] == "TypeError" and boom["exception"]["message"] == "no such thing"
        assert "index.js:8" in boom["exception"]["stack"]
    finally:
        tail.close()

    # A tenant's token cannot tail another tenant's script, and B's own tail shows B only.
    refused = Tail(live_server, tail_path(b), a_token)
    assert refused.status in (403, 404) and b not in refused.body.replace(f"'{b}'", "")
    refused.close()
    b_tail = Tail(live_server, tail_path(b), b_token, history=100)
    try:
        b_tail.wait(lambda events: len(events) >= 5)
        assert {event["tenant_id"] for event in b_tail.events} == {b}
    finally:
        b_tail.close()


def test_history_status_filter_and_wait_until_logs(live_server: LiveServer, operator: Operator) -> None:
    tenant, key, _ = tenant_with_worker(operator, "charlie")
    for path in ("/one", "/boom", "/two"):
        operator.gateway.get(path, headers={"x-z0-api-key": key})
    # the operator's token reaches any script; history replays what was kept, filtered
    errors = Tail(live_server, tail_path(tenant), live_server.token, history=50, status="error")
    everything = Tail(live_server, tail_path(tenant), live_server.token, history=50)
    try:
        errors.wait(lambda events: len(events) >= 1)
        everything.wait(lambda events: len(events) >= 4)  # /warm once or more, /one, /boom, /two
        assert [e["outcome"] for e in errors.events] == ["exception"]
        paths = [e["url"].rsplit("/", 1)[1] for e in everything.events]
        assert paths[-3:] == ["one", "boom", "two"]

        later = operator.gateway.get("/later", headers={"x-z0-api-key": key})
        assert later.status_code == 200
        everything.wait(
            lambda events: any(e["request_id"] == later.headers["x-z0-request-id"] for e in events)
        )
        event = next(e for e in everything.events if e["request_id"] == later.headers["x-z0-request-id"])
        # one event once the waitUntil work ended, with the line it logged after the response
        assert [line["message"] for line in event["logs"]] == [
            "hello from charlie /later",
            "after the response",
        ]
        assert event["duration_ms"] >= 100
        assert len(errors.events) == 1
    finally:
        errors.close()
        everything.close()


def test_z0_tail_prints_invocations(live_server: LiveServer, operator: Operator) -> None:
    tenant, key, token = tenant_with_worker(operator, "delta")
    operator.gateway.get("/boom", headers={"x-z0-api-key": key})
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("Z0_")},
        "Z0_API_URL": live_server.api_url,
        "Z0_API_TOKEN": token,
    }
    for output, expected in (("json", '"outcome": "exception"'), ("pretty", "TypeError: no such thing")):
        process = subprocess.Popen(
            [sys.executable, "-m", "z0", "tail", tenant, "-n", "z0-prod-tenants", "--history", "5",
             "--status", "error", "--format", output],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        lines: list[str] = []

        def read(stream: IO[str], into: list[str]) -> None:
            for line in stream:
                into.append(line)

        assert process.stdout is not None
        reader = threading.Thread(target=read, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            wait_for(lambda seen=lines, text=expected: any(text in line for line in seen), timeout=15)
        finally:
            process.terminate()
            process.wait(10)
            reader.join(5)
            process.stdout.close()
        if output == "json":
            event = json.loads(next(line for line in lines if expected in line))
            assert event["tenant_id"] == tenant and event["exception"]["name"] == "TypeError"
        else:
            text = "".join(lines)
            assert "GET http" in text and "500 exception" in text and "(error) about to fail" in text
    refused = subprocess.run(
        [sys.executable, "-m", "z0", "tail", "someone_else", "-n", "z0-prod-tenants"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert refused.returncode == 1 and "error:" in refused.stderr and "Traceback" not in refused.stderr


# The hub itself


def event(n: int, script: str = "s", **changes: Any) -> TailEvent:
    fields: dict[str, Any] = {
        "request_id": f"r{n}", "time": 0.0, "namespace": "ns", "script": script, "tenant_id": "acme",
        "method": "GET", "url": "https://x/", "status": 200, "outcome": "ok", "duration_ms": 1.0,
        "cpu_ms": 0.5,
    }  # fmt: skip
    fields.update(changes)
    return TailEvent(**fields)


def test_events_are_bounded_and_rings_keep_the_latest_within_a_budget() -> None:
    hub = TailHub(ring_size=3)
    chatty = event(0, logs=[{"level": "log", "message": "x" * 5000}] * 150, exception={"stack": "s" * 20_000})
    hub.publish(chatty)
    kept = hub.recent("ns", "s", tenant_id=None, status=None, limit=10)[0]
    assert len(kept.logs) == MAX_LOG_LINES and kept.logs_dropped == 50
    assert {len(line["message"]) for line in kept.logs} == {2048}
    assert kept.exception is not None and len(kept.exception["stack"]) == 8192
    for n in range(1, 6):
        hub.publish(event(n))
    assert [e.request_id for e in hub.recent("ns", "s", tenant_id=None, status=None, limit=10)] == [
        "r3",
        "r4",
        "r5",
    ]
    assert [e.request_id for e in hub.recent("ns", "s", tenant_id=None, status=None, limit=2)] == ["r4", "r5"]
    assert hub.recent("ns", "s", tenant_id="someone_else", status=None, limit=10) == []

    small = TailHub(ring_size=100, budget_bytes=3000)  # about ten small events in all
    for n in range(40):
        small.publish(event(n, script=f"s{n % 4}"))
    assert small.held_bytes <= 3000
    assert sum(len(ring) for ring in small.rings.values()) < 40
    newest = small.recent("ns", "s3", tenant_id=None, status=None, limit=100)
    assert newest and newest[-1].request_id == "r39"


def test_a_subscriber_that_falls_behind_loses_events_not_the_hub() -> None:
    hub = TailHub(ring_size=0)
    slow = hub.subscribe("ns", "s", tenant_id="acme", status="error")
    other = hub.subscribe("ns", "s", tenant_id="globex", status=None)
    for n in range(1200):
        hub.publish(event(n, outcome="exception" if n % 2 else "ok"))
    assert slow.queue.qsize() == 600 and slow.take_dropped() == 0
    for n in range(1200):
        hub.publish(event(n, outcome="exceeded_cpu"))
    assert slow.queue.qsize() == 1000 and slow.take_dropped() == 800
    assert other.queue.qsize() == 0  # another tenant's subscription sees none of acme's
    slow.close()
    other.close()
    assert hub.subscribers == set()
