"""An executor: a single-threaded process that runs tenants' JavaScript and nothing else.

It holds isolates (one script version each, one request at a time each), a few per script version
up to a cap, least-recently-used first out when over its count or memory budget. Every host op
goes to the gateway, which performs it and sends the result back; no DNS, no files, no threads
here, so the CPU clock of a turn is the turn's own.

Before each turn it writes (rid, CPU clock, budget) into a small shared status file, which the
gateway's watchdog reads: a turn that a native built-in keeps running past the engine's own time
limit gets the whole process killed and replaced.

    python -m z0.runtime.executor --fd N --status FILE [--max-isolates …]
"""

from __future__ import annotations

import argparse
import binascii
import ctypes
import functools
import json
import mmap
import os
import signal
import socket
import struct
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from z0.runtime.engine import EngineError, Interrupted, OutOfMemory, Prelude, QuickJsIsolate
from z0.runtime.jsapi import lazy_source, prelude_source
from z0.runtime.outcomes import Outcome
from z0.runtime.protocol import EFFECTFUL_OPS, encode_frame, split_frames

__all__ = ["STATUS", "ExecutorConfig", "main"]

# active (0/1), rid, CPU clock at the turn's start (ns, this thread), budget (ns)
STATUS = struct.Struct("<qqqq")
_ACTIVE = struct.Struct("<q")
_FIELDS = struct.Struct("<qqq")
INTERNAL_BUDGET_S = 1.0  # z0's own calls into the isolate (take, end): never the tenant's code


HEAP_READ_AFTER_CPU_S = 0.0005
HEAP_GROWTH_WATCHED_BYTES = 64 * 1024


@dataclass(frozen=True)
class ExecutorConfig:
    max_isolates: int = 1000
    max_memory_bytes: int = 1024 * 1024 * 1024
    isolates_per_script: int = 4
    startup_budget_s: float = 0.4


# Freed isolates' memory goes back to the system only when malloc trims its heap (glibc keeps it
# otherwise, and RSS per resident isolate doubled under random access): trim once this much was freed,
# when the executor goes idle, or at the latest after TRIM_BUSY_INTERVAL_S of constant work.
TRIM_AFTER_FREED_BYTES = 16 * 1024 * 1024
TRIM_BUSY_INTERVAL_S = 10.0

PRELUDES_KEPT = 64  # compiled preludes (one per set of Workers API files in use), least recent out


@dataclass(slots=True)
class Code:
    prelude_files: list[str]
    linked: str
    line_offset: int
    setup: str


@dataclass(eq=False, slots=True)
class Slot:
    isolate: QuickJsIsolate
    pool_key: str
    handlers: list[str]
    busy: bool = False
    memory: int = 0
    served: int = 0
    growing: bool = False  # its heap grew at the last reading: read it after every request


class BootFailed(Exception):
    def __init__(self, outcome: Outcome, error: dict[str, str]) -> None:
        super().__init__(error.get("message", ""))
        self.outcome = outcome
        self.error = error


@dataclass(eq=False, slots=True)
class Run:
    rid: int
    key: str
    meta: str
    body: str | None
    cpu_budget_s: float
    memory_bytes: int
    slot: Slot | None = None
    cpu_used: float = 0.0
    responded: bool = False
    effectful: bool = False
    replays: int = 0
    ended: bool = False  # the isolate has forgotten the request (host.js ends it when it is done)
    logs: list[dict[str, str]] = field(default_factory=list)

    @property
    def pool_key(self) -> str:
        return f"{self.key}|{self.memory_bytes}"


def _error(name: str, message: str, stack: str = "") -> dict[str, str]:
    return {"name": name, "message": message, "stack": stack}


class Executor:
    def __init__(self, writer: _Writer, status: mmap.mmap | None, config: ExecutorConfig) -> None:
        self._writer = writer
        self._status = status
        self.config = config
        self.pools: OrderedDict[str, list[Slot]] = OrderedDict()
        self.codes: OrderedDict[str, Code] = OrderedDict()
        self.runs: dict[int, Run] = {}
        self.waiting: dict[str, deque[Run]] = {}
        self.needing_code: dict[str, list[Run]] = {}
        self.preludes: OrderedDict[tuple[str, ...], Prelude] = OrderedDict()
        # Kept as slots come and go (summing them on every miss took 0.6 ms at 2,500 isolates).
        self.resident = 0
        self.resident_memory = 0
        self.freed_since_trim = 0
        self.trimmed_at = time.monotonic()
        # The isolate cache's counters since this executor started (the supervisor reads them).
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    # Messages

    def handle(self, header: dict[str, Any], payload: bytes) -> None:
        kind = header["t"]
        if kind == "fetch":
            limits = header["limits"]
            run = Run(
                rid=header["rid"],
                key=header["key"],
                meta=orjson.dumps(header["meta"]).decode(),
                # Bytes cross into the isolate as base64: Uint8Array.fromBase64 is native there.
                body=binascii.b2a_base64(payload, newline=False).decode("ascii") if payload else None,
                cpu_budget_s=limits["cpu_ms"] / 1000,
                memory_bytes=limits["memory_mb"] * 1024 * 1024,
            )
            self.runs[run.rid] = run
            self.start(run)
        elif kind == "result":
            waiting_run = self.runs.get(header["rid"])
            if waiting_run is not None and waiting_run.slot is not None:
                results = orjson.dumps(header["results"]).decode()
                slot = waiting_run.slot
                self.turn(waiting_run, lambda budget: slot.isolate.call("resolve", results, budget_s=budget))
        elif kind == "load":
            self.codes[header["key"]] = Code(**header["code"])
            self.codes.move_to_end(header["key"])
            while len(self.codes) > self.config.max_isolates:
                self.codes.popitem(last=False)
            for ready in self.needing_code.pop(header["key"], []):
                if ready.rid in self.runs:
                    self.start(ready)
        elif kind == "check":
            self.check(header)
        elif kind == "cancel":
            canceled = self.runs.get(header["rid"])
            if canceled is not None:
                self.finish(canceled, Outcome.CANCELED, discard=True)
        elif kind == "drop":
            self.drop(header["key"])
        elif kind == "stats":
            self.send({"t": "stats", "rid": header["rid"], **self.stats()})

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        self._writer.write(encode_frame(header, payload))

    def stats(self) -> dict[str, int]:
        """The isolate cache: resident isolates and their heap as last read, hits, misses, evictions."""
        return {
            "isolates": self.resident,
            "memory": self.resident_memory,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }

    def fail(self, header: dict[str, Any], exc: Exception) -> None:
        """A frame whose handling failed inside z0: its run ends with an exception."""
        print(
            f"z0 executor: {header.get('t')} for request {header.get('rid')} failed: {exc!r}", file=sys.stderr
        )
        run = self.runs.get(header.get("rid", -1))
        if run is not None:
            self.finish(
                run, Outcome.EXCEPTION, error=_error("Error", "z0 failed to run this request."), discard=True
            )

    # Isolates

    def prelude(self, names: list[str]) -> Prelude:
        """The prelude of these files, compiled the first time a script needs it (scripts that use
        the same Workers API share one: the executor keeps no copy of it per script)."""
        key = tuple(names)
        prelude = self.preludes.get(key)
        if prelude is None:
            prelude = self.preludes[key] = Prelude.compile(prelude_source(key))
            while len(self.preludes) > PRELUDES_KEPT:
                self.preludes.popitem(last=False)
        self.preludes.move_to_end(key)
        return prelude

    def create(self, code: Code, memory_bytes: int, pool_key: str, rid: int) -> tuple[Slot, float]:
        """A booted isolate for this code, and the CPU seconds it took; BootFailed if it can't boot."""
        started = time.thread_time()
        deadline = started + self.config.startup_budget_s
        self._status_write(1, rid, started, self.config.startup_budget_s)
        try:
            return self._boot(code, memory_bytes, pool_key, started, deadline)
        finally:
            self._status_write(0, 0, 0.0, 0.0)

    def _boot(
        self, code: Code, memory_bytes: int, pool_key: str, started: float, deadline: float
    ) -> tuple[Slot, float]:
        isolate = QuickJsIsolate(memory_bytes)
        try:
            isolate.load_prelude(self.prelude(code.prelude_files), self.config.startup_budget_s)
            isolate.call("setup", code.setup, budget_s=INTERNAL_BUDGET_S)
            linked = isolate.eval("\n" * code.line_offset + code.linked, deadline - time.thread_time())
            isolate.call("boot", linked, budget_s=deadline - time.thread_time())
            settled = isolate.pump(deadline)
            state = json.loads(isolate.call("bootState", budget_s=INTERNAL_BUDGET_S))
        except Interrupted:
            raise BootFailed(Outcome.EXCEEDED_CPU, _error("Error", self._startup_message())) from None
        except OutOfMemory:
            raise BootFailed(
                Outcome.EXCEEDED_MEMORY, _error("Error", "The script's top level ran out of memory.")
            ) from None
        except EngineError as exc:
            raise BootFailed(
                Outcome.EXCEPTION, _error("Error", str(exc).split("\n", 1)[0], str(exc))
            ) from None
        if not settled or state["state"] == "pending":
            raise BootFailed(Outcome.EXCEEDED_CPU, _error("Error", self._startup_message()))
        if state["state"] != "ok":
            error = state["error"] or _error("Error", "The script failed to start.")
            outcome = Outcome.EXCEEDED_MEMORY if self._out_of_memory(isolate, error) else Outcome.EXCEPTION
            raise BootFailed(outcome, error)
        slot = Slot(isolate, pool_key, handlers=state["handlers"], memory=isolate.memory_bytes())
        return slot, time.thread_time() - started

    def _startup_message(self) -> str:
        budget = round(self.config.startup_budget_s * 1000)
        return f"The script's top level did not finish within the startup CPU limit ({budget} ms)."

    @staticmethod
    def _out_of_memory(isolate: QuickJsIsolate, error: dict[str, str]) -> bool:
        return (
            "out of memory" in error.get("message", "")
            or isolate.memory_bytes() >= isolate.memory_limit * 0.9
        )

    def acquire(self, run: Run) -> Slot | Literal[False] | None:
        """An idle isolate for the run; None to wait for one; False when the code is needed first."""
        pool = self.pools.get(run.pool_key)
        if pool is not None:
            self.pools.move_to_end(run.pool_key)
            for slot in pool:
                if not slot.busy:
                    self.hits += 1
                    return slot
            if len(pool) >= self.config.isolates_per_script:
                return None
        code = self.codes.get(run.key)
        if code is None:
            return False
        self.misses += 1
        slot, _ = self.create(code, run.memory_bytes, run.pool_key, run.rid)
        slot.busy = True  # taken: the eviction below must not count it out
        self._add(slot)
        self.pools.move_to_end(run.pool_key)
        self.evict()
        return slot

    def release(self, slot: Slot, *, discard: bool, cpu_used: float = 0.0) -> None:
        pool = self.pools.get(slot.pool_key, [])
        slot.served += 1
        grew = False
        # Reading the heap walks it (~35 µs for a small isolate, a fifth of a hello-world request):
        # read it after any request that ran long enough to allocate much, after every request while
        # the isolate keeps growing, and every 8th otherwise. The engine's own limit still stops any
        # one isolate at its memory limit.
        if not discard and (slot.growing or cpu_used >= HEAP_READ_AFTER_CPU_S or slot.served % 8 == 1):
            memory = slot.isolate.memory_bytes()
            grew = memory > slot.memory
            slot.growing = memory > slot.memory + HEAP_GROWTH_WATCHED_BYTES
            if slot in pool:  # still resident (not dropped by a deploy meanwhile)
                self.resident_memory += memory - slot.memory
            slot.memory = memory
            # An isolate that grew close to its limit between requests would fail the next one.
            discard = memory >= slot.isolate.memory_limit * 0.8
        slot.busy = False
        if discard and slot in pool:
            pool.remove(slot)
            self._forget(slot)
            if not pool:
                self.pools.pop(slot.pool_key, None)
        waiting = self.waiting.get(slot.pool_key)
        while waiting:
            queued = waiting.popleft()
            if queued.rid in self.runs:  # skip those canceled while they waited
                self.start(queued)
                break
        if waiting is not None and not waiting:
            self.waiting.pop(slot.pool_key, None)
        if grew:
            self.evict()

    def _add(self, slot: Slot) -> None:
        self.pools.setdefault(slot.pool_key, []).append(slot)
        self.resident += 1
        self.resident_memory += slot.memory

    def _forget(self, slot: Slot) -> None:
        """Counts out a slot just taken out of its pool (its isolate goes with the last reference)."""
        self.resident -= 1
        self.resident_memory -= slot.memory
        self.freed_since_trim += slot.memory

    def trim_memory(self) -> bool:
        """Gives freed memory back to the system when enough was freed and the moment suits."""
        if self.freed_since_trim < TRIM_AFTER_FREED_BYTES:
            return False
        if self.runs and time.monotonic() - self.trimmed_at < TRIM_BUSY_INTERVAL_S:
            return False
        self.freed_since_trim = 0
        self.trimmed_at = time.monotonic()
        _malloc_trim()
        return True

    def _over_budget(self) -> bool:
        return self.resident > self.config.max_isolates or self.resident_memory > self.config.max_memory_bytes

    def evict(self) -> None:
        """Drops least-recently-used idle isolates while over the count or memory budget."""
        if not self._over_budget():
            return
        for pool_key in list(self.pools):
            pool = self.pools[pool_key]
            for slot in [slot for slot in pool if not slot.busy]:
                pool.remove(slot)
                self._forget(slot)
                self.evictions += 1
                if not self._over_budget():
                    break
            if not pool:
                del self.pools[pool_key]
            if not self._over_budget():
                return

    def drop(self, key: str) -> None:
        """Forgets a script version (superseded by a deploy): its idle isolates and its code."""
        self.codes.pop(key, None)
        for pool_key in [pool_key for pool_key in self.pools if pool_key.startswith(key + "|")]:
            for slot in self.pools[pool_key]:
                if not slot.busy:
                    self._forget(slot)
            pool = [slot for slot in self.pools[pool_key] if slot.busy]
            if pool:
                self.pools[pool_key] = pool
            else:
                del self.pools[pool_key]

    # Requests

    def start(self, run: Run) -> None:
        if run.rid not in self.runs:  # canceled while it waited for an isolate or for its code
            return
        try:
            slot = self.acquire(run)
        except BootFailed as failed:
            self.finish(run, failed.outcome, error=failed.error)
            return
        if slot is False:
            waiting_for_code = self.needing_code.setdefault(run.key, [])
            if not waiting_for_code:
                self.send({"t": "need", "rid": run.rid, "key": run.key})
            waiting_for_code.append(run)
            return
        if slot is None:
            self.waiting.setdefault(run.pool_key, deque()).append(run)
            return
        run.slot = slot
        slot.busy = True
        meta, body = run.meta, run.body
        self.turn(
            run, lambda budget: slot.isolate.call("dispatch", meta, body if body else "", budget_s=budget)
        )

    def turn(self, run: Run, step: Callable[[float], Any]) -> None:
        """One slice of the run's JS: `step`, then its pending jobs, all within what is left of its budget."""
        slot = run.slot
        assert slot is not None
        remaining = run.cpu_budget_s - run.cpu_used
        started = time.thread_time()
        self._status_write(1, run.rid, started, remaining)
        outcome: Outcome | None = None
        try:
            step(remaining)
            if not slot.isolate.pump(started + remaining):
                outcome = Outcome.EXCEEDED_CPU
        except Interrupted:
            outcome = Outcome.EXCEEDED_CPU
        except OutOfMemory:
            outcome = Outcome.EXCEEDED_MEMORY
        except EngineError as exc:
            self.finish(
                run,
                Outcome.EXCEPTION,
                error=_error("Error", str(exc).split("\n", 1)[0], str(exc)),
                discard=True,
            )
            return
        finally:
            run.cpu_used += time.thread_time() - started
            self._status_write(0, 0, 0.0, 0.0)
        if outcome is None and run.cpu_used > run.cpu_budget_s:
            outcome = Outcome.EXCEEDED_CPU
        if outcome is not None:
            self.finish(run, outcome, discard=True)
            return
        try:
            self.after_turn(run)
        except EngineError as exc:
            # z0's own calls after the turn (take, end, a lazy file) can still meet the engine's
            # limits, e.g. serializing a huge error message: the run ends, the process does not.
            failed = Outcome.EXCEEDED_MEMORY if isinstance(exc, OutOfMemory) else Outcome.EXCEPTION
            if run.rid in self.runs:
                self.finish(
                    run, failed, error=_error("Error", str(exc).split("\n", 1)[0][:500]), discard=True
                )

    def after_turn(self, run: Run) -> None:
        slot = run.slot
        assert slot is not None
        isolate = slot.isolate
        state = orjson.loads(isolate.call("take", budget_s=INTERNAL_BUDGET_S))
        run.logs.extend(state["logs"])
        if state["missing"] and not run.responded:
            self.load_lazy(slot, state["missing"])
            if not run.effectful and run.replays < 2:
                run.replays += 1
                run.cpu_used = 0.0
                isolate.call("end", budget_s=INTERNAL_BUDGET_S)
                meta, body = run.meta, run.body
                self.turn(
                    run, lambda budget: isolate.call("dispatch", meta, body if body else "", budget_s=budget)
                )
                return
        if state["error"] is not None:
            error = state["error"]
            if self._out_of_memory(isolate, error):
                self.finish(run, Outcome.EXCEEDED_MEMORY, discard=True)
            else:
                self.finish(run, Outcome.EXCEPTION, error=error)
            return
        if state["ops"]:
            if any(op["op"] in EFFECTFUL_OPS for op in state["ops"]):
                run.effectful = True
            self.send({"t": "ops", "rid": run.rid, "ops": state["ops"]})
        run.ended = state["done"]
        response = state["response"]
        if response is not None:
            body = response.get("body") or ""
            raw = (
                binascii.a2b_base64(body)
                if response.get("bodyEncoding") == "base64"
                else body.encode("latin-1")
            )
            frame = {
                "t": "response",
                "rid": run.rid,
                "status": response["status"],
                "statusText": response.get("statusText", ""),
                "headers": response["headers"],
                "logs": self._drain_logs(run),
                "cpu_ms": round(run.cpu_used * 1000, 3),
            }
            run.responded = True
            if state["done"]:  # the common case: response and end in one frame
                frame["done"] = self.finish(run, Outcome.OK, send=False)
            self.send(frame, raw)
            return
        if state["done"]:
            self.finish(run, Outcome.OK)

    def load_lazy(self, slot: Slot, names: list[str]) -> None:
        for name in dict.fromkeys(names):
            exports = slot.isolate.eval(lazy_source(name), self.config.startup_budget_s)
            slot.isolate.call("lazy", name, exports, budget_s=INTERNAL_BUDGET_S)

    def finish(
        self,
        run: Run,
        outcome: Outcome,
        *,
        error: dict[str, str] | None = None,
        discard: bool = False,
        send: bool = True,
    ) -> dict[str, Any]:
        """Ends a run: frees (or throws away) its isolate; returns (and sends) its `done` message."""
        self.runs.pop(run.rid, None)
        slot = run.slot
        run.slot = None
        if slot is not None and not discard and not run.ended:
            try:
                slot.isolate.call("end", budget_s=INTERNAL_BUDGET_S)
            except EngineError:
                discard = True
        done = {
            "t": "done",
            "rid": run.rid,
            "outcome": outcome.value,
            "cpu_ms": round(run.cpu_used * 1000, 3),
            "error": error,
            "logs": self._drain_logs(run),
        }
        if send:
            self.send(done)
        if slot is not None:
            self.release(slot, discard=discard, cpu_used=run.cpu_used)
        return done

    @staticmethod
    def _drain_logs(run: Run) -> list[dict[str, str]]:
        logs, run.logs = run.logs, []
        return logs

    def check(self, header: dict[str, Any]) -> None:
        """Boots a new version once (the upload check) and keeps the isolate warm for its first request."""
        key = header["key"]
        code = Code(**header["code"])
        memory_bytes = header["limits"]["memory_mb"] * 1024 * 1024
        pool_key = f"{key}|{memory_bytes}"
        try:
            slot, seconds = self.create(code, memory_bytes, pool_key, header["rid"])
        except BootFailed as failed:
            self.send(
                {
                    "t": "checked",
                    "rid": header["rid"],
                    "ok": False,
                    "outcome": failed.outcome.value,
                    "error": failed.error,
                }
            )
            return
        self.codes[key] = code
        self._add(slot)
        self.send(
            {
                "t": "checked",
                "rid": header["rid"],
                "ok": True,
                "handlers": slot.handlers,
                "startup_ms": round(seconds * 1000, 3),
                "memory": slot.memory,
            }
        )
        self.evict()

    def _status_write(self, active: int, rid: int, started: float, budget: float) -> None:
        """The watchdog reads this while it changes: the turn's fields go in before `active` is set,
        and `active` is cleared before anything else."""
        status = self._status
        if status is None:
            return
        if active:
            _FIELDS.pack_into(status, 8, rid, int(started * 1e9), int(budget * 1e9))
            _ACTIVE.pack_into(status, 0, 1)
        else:
            _ACTIVE.pack_into(status, 0, 0)


class _Writer:
    """Frames to send, gathered while the frames just read are handled, then sent in one write."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._sock.sendall(data)


def _serve(fd: int, status_path: str | None, config: ExecutorConfig) -> None:
    """Reads frames, handles them, answers: a plain blocking loop (the executor has nothing else to do)."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    status = None
    if status_path:
        with open(status_path, "r+b") as file:
            status = mmap.mmap(file.fileno(), STATUS.size)
    writer = _Writer(sock)
    executor = Executor(writer, status, config)
    buffer = bytearray()
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionError:
            return
        if not chunk:
            return
        buffer += chunk
        for header, payload in split_frames(buffer):
            try:
                executor.handle(header, payload)
            except Exception as exc:
                executor.fail(header, exc)
        try:
            writer.flush()
        except ConnectionError:
            return
        executor.trim_memory()


def _malloc_trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc: nothing to trim with
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A z0 executor (started by z0 itself).")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--status")
    parser.add_argument("--max-isolates", type=int, default=ExecutorConfig.max_isolates)
    parser.add_argument("--max-memory-mb", type=int, default=ExecutorConfig.max_memory_bytes // (1024 * 1024))
    parser.add_argument("--isolates-per-script", type=int, default=ExecutorConfig.isolates_per_script)
    parser.add_argument("--startup-ms", type=int, default=round(ExecutorConfig.startup_budget_s * 1000))
    args = parser.parse_args(argv)
    # The gateway stops its executors itself; a Ctrl-C in the terminal reaches the whole group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = ExecutorConfig(
        max_isolates=args.max_isolates,
        max_memory_bytes=args.max_memory_mb * 1024 * 1024,
        isolates_per_script=args.isolates_per_script,
        startup_budget_s=args.startup_ms / 1000,
    )
    _serve(args.fd, args.status, config)
    os._exit(0)


if __name__ == "__main__":
    main()
