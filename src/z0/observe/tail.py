"""Live tenant logs, what `wrangler tail` gives: one event per invocation (its `console.*` lines, an
uncaught exception with its stack, outcome, status, duration and CPU), keyed by request id.

The hub lives in the process that serves the control API. It keeps the last `tail_ring_size` events
of each script (within a byte budget for all of them) and hands events to subscribers of that exact
script. Gateway workers (other processes) send theirs over a socket pair `z0 serve` made for each:
frames of events, batched every 50 ms, and dropped (counted) rather than ever slowing a request
when the hub falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

__all__ = [
    "STATUS_FILTERS",
    "Subscription",
    "TailEvent",
    "TailHub",
    "TailReceiver",
    "TailSender",
    "TailSink",
]

logger = logging.getLogger("z0.tail")

MAX_LOG_LINES = 100  # per event; the rest are counted in `logs_dropped`
MAX_LINE_CHARS = 2048
MAX_STACK_CHARS = 8192
STATUS_FILTERS = ("ok", "error", "canceled")  # as wrangler tail's --status
_FRAME = struct.Struct(">I")
_MAX_FRAME = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TailEvent:
    request_id: str
    time: float  # arrival, unix seconds
    namespace: str
    script: str
    tenant_id: str
    method: str
    url: str
    status: int
    outcome: str
    duration_ms: float
    cpu_ms: float
    logs: list[dict[str, str]] = field(default_factory=list)  # {level, message}
    exception: dict[str, str] | None = None  # {name, message, stack}
    logs_dropped: int = 0

    def bounded(self) -> TailEvent:
        """The event as kept and sent: at most MAX_LOG_LINES lines of MAX_LINE_CHARS, a clipped stack.
        Most events log little and throw nothing: those are kept as they are (no copy)."""
        logs, exception = self.logs, self.exception
        if (
            len(logs) <= MAX_LOG_LINES
            and all(len(line.get("message", "")) <= MAX_LINE_CHARS for line in logs)
            and (exception is None or len(exception.get("stack", "")) <= MAX_STACK_CHARS)
            and (exception is None or len(exception.get("message", "")) <= MAX_LINE_CHARS)
        ):
            return self
        kept = [
            {"level": line.get("level", "log"), "message": line.get("message", "")[:MAX_LINE_CHARS]}
            for line in logs[:MAX_LOG_LINES]
        ]
        if exception is not None:
            exception = {
                "name": str(exception.get("name", "Error"))[:200],
                "message": str(exception.get("message", ""))[:MAX_LINE_CHARS],
                "stack": str(exception.get("stack", ""))[:MAX_STACK_CHARS],
            }
        dropped = self.logs_dropped + max(0, len(logs) - MAX_LOG_LINES)
        return TailEvent(
            self.request_id, self.time, self.namespace, self.script, self.tenant_id, self.method,
            self.url, self.status, self.outcome, self.duration_ms, self.cpu_ms, kept, exception, dropped,
        )  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "time": self.time,
            "namespace": self.namespace,
            "script": self.script,
            "tenant_id": self.tenant_id,
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "outcome": self.outcome,
            "duration_ms": self.duration_ms,
            "cpu_ms": self.cpu_ms,
            "logs": self.logs,
            "exception": self.exception,
            "logs_dropped": self.logs_dropped,
        }

    @property
    def size(self) -> int:
        """Roughly the bytes it holds (the hub's budget counts these)."""
        size = 256 + len(self.url)
        for line in self.logs:
            size += len(line.get("message", "")) + 16
        if self.exception is not None:
            size += sum(len(str(value)) for value in self.exception.values())
        return size

    def passes(self, status: str | None) -> bool:
        if status is None:
            return True
        if status == "ok":
            return self.outcome == "ok"
        if status == "canceled":
            return self.outcome == "canceled"
        return self.outcome not in ("ok", "canceled")


class TailSink(Protocol):
    def publish(self, event: TailEvent) -> None: ...


class Subscription:
    """One `z0 tail`: the events of one script (of one tenant, for a tenant token), as they come."""

    def __init__(
        self, hub: TailHub, namespace: str, script: str, tenant_id: str | None, status: str | None
    ) -> None:
        self.hub = hub
        self.namespace = namespace
        self.script = script
        self.tenant_id = tenant_id
        self.status = status
        self.queue: asyncio.Queue[TailEvent] = asyncio.Queue(maxsize=1000)
        self.dropped = 0

    def wants(self, event: TailEvent) -> bool:
        return (
            event.namespace == self.namespace
            and event.script == self.script
            and (self.tenant_id is None or event.tenant_id == self.tenant_id)
            and event.passes(self.status)
        )

    def offer(self, event: TailEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:  # a slow reader loses events, never slows the hub
            self.dropped += 1

    def take_dropped(self) -> int:
        dropped, self.dropped = self.dropped, 0
        return dropped

    def close(self) -> None:
        self.hub.subscribers.discard(self)


class TailHub:
    """Recent events per script, and the live subscribers. Owned by one event loop."""

    def __init__(self, ring_size: int = 100, *, budget_bytes: int = 64 * 1024 * 1024) -> None:
        self.ring_size = ring_size
        self.budget_bytes = budget_bytes
        self.rings: OrderedDict[tuple[str, str], deque[TailEvent]] = OrderedDict()
        self.subscribers: set[Subscription] = set()
        self.held_bytes = 0

    def publish(self, event: TailEvent) -> None:
        event = event.bounded()
        for subscription in self.subscribers:
            if subscription.wants(event):
                subscription.offer(event)
        if self.ring_size <= 0:
            return
        key = (event.namespace, event.script)
        ring = self.rings.get(key)
        if ring is None:
            ring = self.rings[key] = deque()
        else:
            self.rings.move_to_end(key)
        if len(ring) >= self.ring_size:
            self.held_bytes -= ring.popleft().size
        ring.append(event)
        self.held_bytes += event.size
        while self.held_bytes > self.budget_bytes and self.rings:
            oldest_key, oldest = next(iter(self.rings.items()))  # the script published to longest ago
            self.held_bytes -= oldest.popleft().size
            if not oldest:
                del self.rings[oldest_key]

    def recent(
        self, namespace: str, script: str, *, tenant_id: str | None, status: str | None, limit: int
    ) -> list[TailEvent]:
        ring = self.rings.get((namespace, script), ())
        found = [
            event
            for event in ring
            if (tenant_id is None or event.tenant_id == tenant_id) and event.passes(status)
        ]
        return found[-limit:] if limit > 0 else []

    def subscribe(
        self, namespace: str, script: str, *, tenant_id: str | None, status: str | None
    ) -> Subscription:
        subscription = Subscription(self, namespace, script, tenant_id, status)
        self.subscribers.add(subscription)
        return subscription


async def follow(subscription: Subscription, heartbeat_s: float) -> AsyncIterator[TailEvent | int | None]:
    """Events as they come; an int: events dropped for this reader; None: nothing for `heartbeat_s`."""
    try:
        while True:
            try:
                event = await asyncio.wait_for(subscription.queue.get(), heartbeat_s)
            except TimeoutError:
                yield None
                continue
            dropped = subscription.take_dropped()
            if dropped:
                yield dropped
            yield event
    finally:
        subscription.close()


# Across processes: gateway workers → the hub


class TailSender:
    """A gateway worker's end: batches events and writes them as frames to the hub's process."""

    FLUSH_S = 0.05
    HIGH_WATER = 8 * 1024 * 1024  # bytes waiting in the socket's buffer past which events are dropped

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._transport: asyncio.WriteTransport | None = None
        self._pending: list[dict[str, Any]] = []
        self._flush: asyncio.TimerHandle | None = None
        self.dropped = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock=self._sock)
        self._transport = transport

    def publish(self, event: TailEvent) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > self.HIGH_WATER:
            self.dropped += 1
            return
        self._pending.append(event.bounded().as_json())
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.FLUSH_S, self._send)

    def _send(self) -> None:
        self._flush = None
        pending, self._pending = self._pending, []
        if pending and self._transport is not None and not self._transport.is_closing():
            data = orjson.dumps(pending)
            self._transport.write(_FRAME.pack(len(data)) + data)

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        self._send()
        if self._transport is not None:
            self._transport.close()


class _Receiving(asyncio.Protocol):
    def __init__(self, hub: TailHub) -> None:
        self.hub = hub
        self.buffer = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= _FRAME.size:
            (size,) = _FRAME.unpack_from(self.buffer)
            if size > _MAX_FRAME:
                logger.error("a tail frame of %d bytes from a gateway worker: connection dropped", size)
                self.buffer.clear()
                if self.transport is not None:
                    self.transport.close()
                return
            if len(self.buffer) < _FRAME.size + size:
                return
            data = bytes(self.buffer[_FRAME.size : _FRAME.size + size])
            del self.buffer[: _FRAME.size + size]
            try:
                events = [TailEvent(**fields) for fields in orjson.loads(data)]
            except (orjson.JSONDecodeError, TypeError) as exc:
                logger.warning("a malformed tail frame from a gateway worker, skipped: %s", exc)
                continue
            for event in events:
                self.hub.publish(event)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.BaseTransport | None = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class TailReceiver:
    """The hub's end of one gateway worker's socket pair."""

    def __init__(self, hub: TailHub) -> None:
        self.hub = hub

    def pair(self) -> tuple[socket.socket, socket.socket]:
        """(ours, the worker's): pass the second to the worker, then `receive(ours)`."""
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    async def receive(self, sock: socket.socket) -> None:
        """Publishes what arrives until the worker closes its end."""
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_unix_connection(lambda: _Receiving(self.hub), sock=sock)
        try:
            await protocol.closed
        finally:
            with contextlib.suppress(Exception):
                transport.close()
