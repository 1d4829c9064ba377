"""The gateway's transport: the writes of one loop step go out together, and the usage entries added
before them are in the usage log before any of those bytes reach the socket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from z0.gateway._protocol import CoalescingHttpProtocol, _CoalescingTransport
from z0.metering import UsageLog
from z0.metering.records import Entry, Measures, UsageRecord


class Socket:
    """Stands in for the socket's transport, and reads the usage log at each write."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.writes: list[tuple[bytes, int]] = []

    def write(self, data: bytes) -> None:
        self.writes.append((data, entries_in(self.log_dir)))

    def is_closing(self) -> bool:
        return False


def entries_in(log_dir: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in log_dir.glob("usage-*.log"))


def entry(n: int) -> Entry:
    record = UsageRecord(time.time(), f"req-{n}", "z0-prod-tenants", "acme", "acme")
    return Entry("final", record, Measures(200, "ok", 0.2, 1.0, 0))


async def test_usage_entries_reach_the_log_before_the_responses_they_account_for(tmp_path: Path) -> None:
    log = UsageLog(tmp_path)
    socket = Socket(tmp_path)
    transport = _CoalescingTransport(socket, log.flush)  # type: ignore[arg-type]
    # One loop step: a response (its entry written in an earlier step) goes first, so the transport's
    # flush is due before the log's; then another request is accounted and answered.
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"one")
    log.add(entry(2))
    transport.write(b"HTTP/1.1 200 OK\r\n\r\ntwo")
    assert socket.writes == []  # nothing sent within the step
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    # One send for the step, and the second response's entry was in the log when it was made.
    assert socket.writes == [(b"HTTP/1.1 200 OK\r\n\r\noneHTTP/1.1 200 OK\r\n\r\ntwo", 1)]
    log.close()


async def test_added_entries_are_written_at_the_next_loop_step_without_a_response(tmp_path: Path) -> None:
    log = UsageLog(tmp_path)
    log.add(entry(1))  # e.g. an invocation's end entry, once its waitUntil work is over
    await asyncio.sleep(0)
    assert entries_in(tmp_path) == 1
    log.close()


def test_the_protocol_calls_its_hook_only_where_one_is_given() -> None:
    assert CoalescingHttpProtocol.sending_after(None) is CoalescingHttpProtocol
    calls: list[int] = []
    protocol = CoalescingHttpProtocol.sending_after(lambda: calls.append(1))
    assert issubclass(protocol, CoalescingHttpProtocol) and protocol.before_send is not None
    protocol.before_send()
    assert calls == [1]
