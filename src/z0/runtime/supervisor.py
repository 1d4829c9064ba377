"""The runtime as the gateway sees it: executor processes, routing, host ops, the watchdog.

    runtime = Runtime(RuntimeConfig(executors=2))
    await runtime.start()
    response = await runtime.fetch(script, RuntimeRequest("GET", url, headers, b""), limits, request_id)

Scripts are hashed to an executor and spill to the next when it is busy. The watchdog reads each
executor's turn status; a turn past 1.5 times its CPU budget (a native built-in the engine cannot stop)
gets the executor killed: that request answers `exceeded_cpu`, the executor is replaced, and each
other request inside it runs again elsewhere if it made no host op with effects, else answers
`executor_restarted`. The script that tripped the watchdog runs alone in a quarantine executor for
a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import mmap
import os
import socket
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from z0.observe.tracing import SpanRef
from z0.runtime.executor import STATUS
from z0.runtime.hostops import HostOpError, HostOps, StandardHostOps
from z0.runtime.limits import DEFAULT_LIMITS, Limits
from z0.runtime.outcomes import Outcome, error_body, error_status
from z0.runtime.protocol import EFFECTFUL_OPS, encode_frame, split_frames

__all__ = [
    "CacheStats",
    "CheckResult",
    "Completion",
    "Runtime",
    "RuntimeConfig",
    "RuntimeRequest",
    "RuntimeResponse",
    "ScriptCode",
    "ScriptStartError",
]

logger = logging.getLogger("z0.runtime")
tenant_logger = logging.getLogger("z0.tenant")

SUBREQUEST_OPS = frozenset({"fetch", "dispatch"})
# Host ops one request may have waiting at once (timers included): a loop that starts a million
# timers must not become a million tasks in the gateway.
MAX_PENDING_OPS = 10_000
_LOG_LEVELS = {
    "debug": logging.DEBUG,
    "log": logging.INFO,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    executors: int = max(1, os.cpu_count() or 1)
    max_isolates: int = 1000  # per executor
    max_memory_mb: int = 1024  # per executor, all its isolates
    isolates_per_script: int = 4  # per script version, per executor
    startup_cpu_ms: int = 400  # top-level evaluation of a script
    spill_threshold: int = 8  # requests in flight on a script's executor before it spills to the next
    wait_until_timeout_s: float = 30.0  # waitUntil work after the response
    request_timeout_s: float = 300.0  # wall-clock, until the response
    quarantine_s: float = 300.0
    watchdog_interval_s: float = 0.005
    # A turn this long (CPU) marks its script as hogging the executor: other scripts' requests are
    # routed around it while that script has requests there (they would wait behind its turns).
    long_turn_ms: float = 5.0


@dataclass(frozen=True)
class ScriptCode:
    """A script version ready to run: what executors evaluate, and how to read its stack traces."""

    key: str  # unique per version, e.g. "{namespace_id}/{name}/{version_id}"
    name: str  # for logs: "{namespace}/{script}"
    prelude_files: tuple[str, ...]  # the Workers API files of its prelude, in order (jsapi.prelude_source)
    linked_source: str
    line_offset: int
    setup: str = field(default="{}", repr=False)  # holds the script's env, secrets included
    map_stack: Callable[[str], str] = field(default=lambda stack: stack, repr=False)
    tenant_id: str | None = None  # the script's owner
    # Its bindings by name, as host ops may use them (secret values left out).
    bindings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        return {
            # The executor builds (and compiles, once) the prelude from z0's files by name.
            "prelude_files": list(self.prelude_files),
            "linked": self.linked_source,
            "line_offset": self.line_offset,
            "setup": self.setup,
        }


@dataclass(frozen=True, slots=True)
class RuntimeRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    trace: SpanRef | None = None  # the span its subrequests are children of (their traceparent's parent)


@dataclass(frozen=True, slots=True)
class Completion:
    """How a request ended, once its waitUntil work ended too."""

    outcome: Outcome
    cpu_ms: float
    error: dict[str, str] | None
    logs: list[dict[str, str]]
    subrequests: int = 0


@dataclass(slots=True)
class RuntimeResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    request_id: str
    outcome: Outcome | None  # None: the worker's own response; else the error z0 answered with
    completion: asyncio.Future[Completion]
    cpu_ms: float = 0.0  # used until the response (the completion has the whole)
    subrequests: int = 0  # made until the response


@dataclass(frozen=True, slots=True)
class CacheStats:
    """The isolate cache across this runtime's executors; the counters include replaced executors'."""

    executors: int  # how many there are
    answering: int  # how many answered just now
    isolates: int = 0
    memory_bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0

    @property
    def ready(self) -> bool:
        return self.executors > 0 and self.answering == self.executors


@dataclass(frozen=True, slots=True)
class CheckResult:
    handlers: list[str]
    startup_ms: float
    memory_bytes: int


class ScriptStartError(Exception):
    """A script whose top level throws, runs away or exports no fetch handler."""

    def __init__(self, outcome: Outcome, message: str, stack: str = "") -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.stack = stack


class _Connection(asyncio.Protocol):
    """Reads frames from an executor as they arrive and hands each to the runtime, synchronously."""

    def __init__(
        self, executor: _Executor, on_frame: Callable[[_Executor, dict[str, Any], bytes], None]
    ) -> None:
        self.executor = executor
        self.on_frame = on_frame
        self.buffer = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        for header, payload in split_frames(self.buffer):
            self.on_frame(self.executor, header, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


HOG_HOLD_S = 0.25  # how long one long turn keeps its script marked as holding its executor


class _Executor:
    """The gateway's end of one executor process."""

    def __init__(self, index: int, generation: int) -> None:
        self.index = index
        self.generation = generation
        self.process: asyncio.subprocess.Process | None = None
        self.transport: asyncio.Transport | None = None
        self.connection: _Connection | None = None
        self.inflight: set[int] = set()
        self.checks: set[int] = set()  # upload checks sent to it, not yet answered
        self.alive = False
        self.killed_rid: int | None = None
        # A script whose turns here run long (past long_turn_ms, seen within HOG_HOLD_S), while it has
        # requests here: other scripts' requests go elsewhere.
        self.hog: str | None = None
        self.hog_until = 0.0  # time.monotonic()
        self.last_stats: dict[str, Any] | None = None
        self._status: mmap.mmap | None = None
        self._status_path: Path | None = None

    async def start(
        self,
        config: RuntimeConfig,
        status_dir: Path,
        on_frame: Callable[[_Executor, dict[str, Any], bytes], None],
    ) -> _Connection:
        self._status_path = status_dir / f"executor-{self.index}-{self.generation}.status"
        self._status_path.write_bytes(bytes(STATUS.size))
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "z0.runtime.executor",
                "--fd", str(child.fileno()),
                "--status", str(self._status_path),
                "--max-isolates", str(config.max_isolates),
                "--max-memory-mb", str(config.max_memory_mb),
                "--isolates-per-script", str(config.isolates_per_script),
                "--startup-ms", str(config.startup_cpu_ms),
                pass_fds=(child.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            child.close()
        loop = asyncio.get_running_loop()
        transport, connection = await loop.create_unix_connection(
            lambda: _Connection(self, on_frame), sock=parent
        )
        self.transport, self.connection = transport, connection
        with open(self._status_path, "rb") as file:  # noqa: ASYNC230 (once, at start: a 32-byte file)
            self._status = mmap.mmap(file.fileno(), STATUS.size, access=mmap.ACCESS_READ)
        self.alive = True
        return connection

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if self.transport is not None and self.alive:
            self.transport.write(encode_frame(header, payload))

    def turn(self) -> tuple[int, int, int, int]:
        """(active, rid, CPU clock at the turn's start in ns, budget in ns)."""
        if self._status is None:
            return (0, 0, 0, 0)
        active, rid, started, budget = STATUS.unpack_from(self._status, 0)
        return int(active), int(rid), int(started), int(budget)

    def cpu_ns(self) -> int | None:
        """The executor's main-thread CPU time, the same clock the executor's turn status uses."""
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/schedstat", "rb") as file:
                return int(file.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> None:
        self.alive = False
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def close(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.close()
        if self.process is not None:
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.kill()
                await self.process.wait()
        if self._status is not None:
            self._status.close()
        if self._status_path is not None:
            self._status_path.unlink(missing_ok=True)


@dataclass(eq=False)
class _Call:
    rid: int
    script: ScriptCode = field(repr=False)
    request: RuntimeRequest = field(repr=False)
    limits: Limits
    request_id: str
    expose_errors: bool
    first: asyncio.Future[RuntimeResponse]
    completion: asyncio.Future[Completion]
    executor: _Executor | None = None
    effectful: bool = False
    responded: bool = False
    subrequests: int = 0
    subrequests_exceeded: bool = False
    replays: int = 0
    op_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    logs: list[dict[str, str]] = field(default_factory=list)
    deadline: float = 0.0  # loop time past which the host gives up on it (the watchdog looks)


class Runtime:
    def __init__(self, config: RuntimeConfig | None = None, host_ops: HostOps | None = None) -> None:
        self.config = config or RuntimeConfig()
        self.host_ops: HostOps = host_ops or StandardHostOps()
        self._executors: list[_Executor] = []
        self._quarantine: _Executor | None = None
        # Its first start, shared by every request that needs it meanwhile (each starting its own left
        # all but the last running unowned, never closed).
        self._quarantine_start: asyncio.Task[_Executor] | None = None
        self._quarantined: dict[str, float] = {}
        self._calls: dict[int, _Call] = {}
        self._checks: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._checked_scripts: dict[int, str] = {}
        self._stats: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._work = asyncio.Event()  # set when a request or check starts: wakes an idle watchdog
        self._retired_counts = [0, 0, 0]  # hits, misses, evictions of executors that were replaced
        self._rids = itertools.count(1)
        self._generations = itertools.count(1)
        self._status_dir = Path(tempfile.mkdtemp(prefix="z0-executors-"))
        self._watchdog: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._recoveries: set[asyncio.Task[None]] = set()
        self._closing = False
        self.restarts = 0

    # Lifecycle

    async def start(self) -> None:
        self._executors = list(await asyncio.gather(*(self._spawn(i) for i in range(self.config.executors))))
        self._watchdog = asyncio.create_task(self._watch())

    async def close(self) -> None:
        self._closing = True
        for call in list(self._calls.values()):
            self._settle(call, Outcome.CANCELED, 0.0, None)
        tasks: list[asyncio.Task[Any]] = [*self._background]
        if self._watchdog is not None:
            tasks.append(self._watchdog)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Replacements under way finish (and stop short of spawning), so that every executor is closed.
        await asyncio.gather(*self._recoveries, return_exceptions=True)
        if self._quarantine_start is not None:
            await asyncio.gather(self._quarantine_start, return_exceptions=True)
        executors = [*self._executors, *([self._quarantine] if self._quarantine else [])]
        await asyncio.gather(*(executor.close() for executor in executors), return_exceptions=True)
        for waiter in self._checks.values():  # checks in flight: answered now, not at their time-out
            if not waiter.done():
                waiter.set_result(
                    {
                        "ok": False,
                        "outcome": Outcome.EXECUTOR_RESTARTED.value,
                        "error": {"name": "Error", "message": "z0 is stopping; try again."},
                    }
                )
        with contextlib.suppress(OSError):
            self._status_dir.rmdir()

    def _refuse_when_closing(self, action: str) -> None:
        if self._closing:
            raise RuntimeError(f"Cannot {action}, as the runtime is closing.")

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _spawn(self, index: int) -> _Executor:
        executor = _Executor(index, next(self._generations))
        connection = await executor.start(self.config, self._status_dir, self._on_frame)
        self._keep(asyncio.create_task(self._watch_connection(executor, connection)))
        return executor

    def executor_pids(self) -> list[int]:
        return [e.process.pid for e in self._executors if e.process is not None and e.alive]

    # Requests

    async def fetch(
        self,
        script: ScriptCode,
        request: RuntimeRequest,
        limits: Limits = DEFAULT_LIMITS,
        *,
        request_id: str,
        expose_errors: bool = False,
    ) -> RuntimeResponse:
        """Runs the script's fetch handler; returns once there is a response (waitUntil may go on:
        `response.completion` resolves when everything has ended). Never raises for tenant errors."""
        self._refuse_when_closing("run a request")
        loop = asyncio.get_running_loop()
        call = _Call(
            rid=next(self._rids),
            script=script,
            request=request,
            limits=limits,
            request_id=request_id,
            expose_errors=expose_errors,
            first=loop.create_future(),
            completion=loop.create_future(),
        )
        self._calls[call.rid] = call
        if not self._work.is_set():
            self._work.set()
        call.deadline = loop.time() + self.config.request_timeout_s
        try:
            executor = self._pick(script) or await self._route(script)
        except RuntimeError:  # closing meanwhile, or no executor came back: answered, not raised
            self._settle(call, Outcome.CANCELED if self._closing else Outcome.EXECUTOR_RESTARTED, 0.0, None)
            return await call.first
        self._dispatch(call, executor)
        return await call.first

    async def check(self, script: ScriptCode, limits: Limits = DEFAULT_LIMITS) -> CheckResult:
        """Evaluates a new version's top level once, under the tenant's memory limit and the startup CPU
        limit; raises ScriptStartError with the tenant's module and line when it cannot start."""
        self._refuse_when_closing("check a script")
        rid = next(self._rids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._checks[rid] = future
        self._work.set()
        self._checked_scripts[rid] = script.name
        executor: _Executor | None = None
        try:
            executor = await self._route(script)
            executor.checks.add(rid)
            executor.send(
                {
                    "t": "check",
                    "rid": rid,
                    "key": script.key,
                    "code": script.wire(),
                    "limits": limits.as_dict(),
                }
            )
            answer = await asyncio.wait_for(future, self.config.startup_cpu_ms / 1000 * 4 + 10)
        finally:
            if executor is not None:
                executor.checks.discard(rid)
            self._checks.pop(rid, None)
            self._checked_scripts.pop(rid, None)
        if not answer.get("ok"):
            error = answer.get("error") or {}
            stack = script.map_stack(error.get("stack", ""))
            name, message = error.get("name", "Error"), error.get("message", "the script could not start")
            raise ScriptStartError(Outcome(answer.get("outcome", "exception")), f"{name}: {message}", stack)
        return CheckResult(answer["handlers"], answer["startup_ms"], answer.get("memory", 0))

    async def stats(self, timeout_s: float = 1.0) -> CacheStats:
        """Asks every executor for its isolate cache; one that does not answer within `timeout_s` is
        not counted as answering (readiness looks at that)."""
        executors = [e for e in [*self._executors, self._quarantine] if e is not None]
        answers = await asyncio.gather(*(self._ask_stats(e, timeout_s) for e in executors))
        found = [answer for answer in answers if answer is not None]
        counts = [sum(answer[name] for answer in found) for name in ("hits", "misses", "evictions")]
        hits, misses, evictions = (a + b for a, b in zip(counts, self._retired_counts, strict=True))
        return CacheStats(
            executors=len(self._executors),
            answering=sum(
                1 for e, a in zip(executors, answers, strict=True) if a and e is not self._quarantine
            ),
            isolates=sum(answer["isolates"] for answer in found),
            memory_bytes=sum(answer["memory"] for answer in found),
            hits=hits,
            misses=misses,
            evictions=evictions,
        )

    async def _ask_stats(self, executor: _Executor, timeout_s: float) -> dict[str, Any] | None:
        if not executor.alive:
            return None
        rid = next(self._rids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._stats[rid] = waiter
        executor.send({"t": "stats", "rid": rid})
        try:
            answer = await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._stats.pop(rid, None)
        executor.last_stats = answer
        return answer

    def drop(self, key: str) -> None:
        """Tells every executor to forget a version (a newer one was deployed)."""
        for executor in self._executors:
            executor.send({"t": "drop", "key": key})

    def _dispatch(self, call: _Call, executor: _Executor) -> None:
        call.executor = executor
        executor.inflight.add(call.rid)
        request = call.request
        meta = {
            "id": call.request_id,
            "method": request.method,
            "url": request.url,
            "headers": request.headers,
            "seed": os.urandom(32).hex(),
            "bodyEncoding": "base64",
        }
        executor.send(
            {
                "t": "fetch",
                "rid": call.rid,
                "key": call.script.key,
                "meta": meta,
                "limits": call.limits.as_dict(),
            },
            request.body,
        )

    def _on_frame(self, executor: _Executor, header: dict[str, Any], payload: bytes) -> None:
        """A frame from an executor: the request it belongs to moves on."""
        kind = header["t"]
        if kind == "checked" or kind == "stats":
            waiter = (self._checks if kind == "checked" else self._stats).get(header["rid"])
            if waiter is not None and not waiter.done():
                waiter.set_result(header)
            return
        call = self._calls.get(header["rid"])
        if call is None or call.executor is not executor:
            return
        try:
            if kind == "need":  # the executor holds the request until it has the code
                executor.send({"t": "load", "key": call.script.key, "code": call.script.wire()})
            elif kind == "ops":
                self._perform(call, header["ops"])
            elif kind == "response":
                self._respond(call, header, payload)
                done = header.get("done")
                if done is not None:
                    self._finish(call, done)
            elif kind == "done":
                self._finish(call, header)
        except Exception:  # a z0 bug must not leave the client hanging
            logger.exception("request %s failed inside the runtime", call.request_id)
            self._settle(call, Outcome.EXCEPTION, 0.0, None)

    def _perform(self, call: _Call, ops: list[dict[str, Any]]) -> None:
        for op in ops:
            if len(call.op_tasks) >= MAX_PENDING_OPS:
                self._result(
                    call, op["id"], False, f"Too many operations waiting at once (over {MAX_PENDING_OPS})."
                )
                continue
            if op.get("op") in EFFECTFUL_OPS:
                call.effectful = True
            if op.get("op") in SUBREQUEST_OPS:
                call.subrequests += 1
                if call.subrequests > call.limits.subrequests:
                    call.subrequests_exceeded = True
                    limit = call.limits.subrequests
                    self._result(call, op["id"], False, f"Too many subrequests (the limit is {limit}).")
                    continue
            task = asyncio.create_task(self._perform_one(call, op))
            call.op_tasks.add(task)
            task.add_done_callback(call.op_tasks.discard)

    async def _perform_one(self, call: _Call, op: dict[str, Any]) -> None:
        try:
            value = await self.host_ops.perform(call.script, call.request_id, op, call.request.trace)
        except HostOpError as exc:
            self._result(call, op["id"], False, str(exc))
        except Exception:
            logger.exception("host op %r failed for %s", op.get("op"), call.script.name)
            self._result(call, op["id"], False, f"z0 failed to perform {op.get('op')!r}.")
        else:
            self._result(call, op["id"], True, value)

    def _result(self, call: _Call, op_id: int, ok: bool, value: Any) -> None:
        if call.executor is None or call.rid not in self._calls:
            return
        result = {"id": op_id, "ok": ok, "value": value} if ok else {"id": op_id, "ok": False, "error": value}
        call.executor.send({"t": "result", "rid": call.rid, "results": [result]})

    def _respond(self, call: _Call, header: dict[str, Any], body: bytes) -> None:
        call.responded = True
        call.logs.extend(header.get("logs", ()))
        call.deadline = asyncio.get_running_loop().time() + self.config.wait_until_timeout_s
        if not call.first.done():
            headers = [(str(name), str(value)) for name, value in header["headers"]]
            call.first.set_result(
                RuntimeResponse(
                    header["status"],
                    headers,
                    body,
                    call.request_id,
                    None,
                    call.completion,
                    cpu_ms=float(header.get("cpu_ms", 0.0)),
                    subrequests=call.subrequests,
                )
            )

    def _finish(self, call: _Call, header: dict[str, Any]) -> None:
        call.logs.extend(header.get("logs", ()))
        outcome = Outcome(header["outcome"])
        if outcome is Outcome.EXCEPTION and call.subrequests_exceeded:
            outcome = Outcome.EXCEEDED_SUBREQUESTS
        error = header.get("error")
        if error:
            error = {**error, "stack": call.script.map_stack(error.get("stack", ""))}
        self._settle(call, outcome, float(header.get("cpu_ms", 0.0)), error)

    def _settle(self, call: _Call, outcome: Outcome, cpu_ms: float, error: dict[str, str] | None) -> None:
        """Ends a call: the error response if none was sent, the completion, the logs."""
        if self._calls.pop(call.rid, None) is None:
            return
        if call.executor is not None:
            call.executor.inflight.discard(call.rid)
        for task in call.op_tasks:
            task.cancel()
        if not call.first.done():
            message = stack = None
            if call.expose_errors and error:
                message = f"{error.get('name', 'Error')}: {error.get('message', '')}"
                stack = error.get("stack") or None
            failure = outcome if outcome is not Outcome.OK else Outcome.EXCEPTION
            body = error_body(failure, call.request_id, message=message, stack=stack)
            call.first.set_result(
                RuntimeResponse(
                    error_status(failure),
                    [("content-type", "application/json")],
                    body,
                    call.request_id,
                    failure,
                    call.completion,
                    cpu_ms=cpu_ms,
                    subrequests=call.subrequests,
                )
            )
        if call.logs or outcome is not Outcome.OK:
            self._log(call, outcome, error)
        if not call.completion.done():
            call.completion.set_result(Completion(outcome, cpu_ms, error, call.logs, call.subrequests))

    def _log(self, call: _Call, outcome: Outcome, error: dict[str, str] | None) -> None:
        for line in call.logs:
            tenant_logger.log(
                _LOG_LEVELS.get(line.get("level", "log"), logging.INFO),
                "%s %s: %s",
                call.request_id,
                call.script.name,
                line.get("message", "")[:8192],
            )
        if outcome is not Outcome.OK:
            detail = ""
            if error:
                detail = f": {error.get('name')}: {error.get('message')}\n{error.get('stack', '')}".rstrip()
            logger.warning(
                "request %s to %s ended %s%s", call.request_id, call.script.name, outcome.value, detail
            )

    def _cancel(self, call: _Call) -> None:
        if call.executor is not None:
            call.executor.send({"t": "cancel", "rid": call.rid})
        self._settle(call, Outcome.CANCELED, 0.0, None)

    async def _after_death(self, call: _Call, killed_rid: int | None, running_rid: int | None) -> None:
        """The call's executor died: the call ends, or runs again elsewhere when that is safe."""
        if killed_rid == call.rid:
            self._settle(call, Outcome.EXCEEDED_CPU, float(call.limits.cpu_ms), None)
            return
        if running_rid == call.rid or call.effectful or call.responded or call.replays >= 2:
            self._settle(call, Outcome.EXECUTOR_RESTARTED, 0.0, None)
            return
        call.replays += 1
        for task in call.op_tasks:  # the new isolate numbers its ops afresh: no late result may reach it
            task.cancel()
        call.op_tasks.clear()
        dead = call.executor
        call.executor = None
        executor = await self._route(call.script, avoid=dead)
        if call.rid in self._calls:
            self._dispatch(call, executor)

    # Executors

    async def _watch_connection(self, executor: _Executor, connection: _Connection) -> None:
        await connection.closed
        if not self._closing:
            recovery = asyncio.create_task(self._lost(executor))
            self._recoveries.add(recovery)
            recovery.add_done_callback(self._recoveries.discard)

    async def _lost(self, executor: _Executor) -> None:
        running = executor.turn()
        executor.alive = False
        if executor.process is not None:
            with contextlib.suppress(ProcessLookupError):
                executor.process.kill()
            await executor.process.wait()
        if self._closing:
            return
        killed = executor.killed_rid
        running_rid = running[1] if running[0] else None
        if killed is None:
            code = executor.process.returncode if executor.process else None
            logger.error("executor %d exited (code %s); replacing it", executor.index, code)
        for rid in list(executor.inflight):
            call = self._calls.get(rid)
            if call is not None and call.executor is executor:
                self._keep(asyncio.create_task(self._after_death(call, killed, running_rid)))
        for waiter_rid in list(executor.checks):
            waiter = self._checks.get(waiter_rid)
            if waiter is None or waiter.done():
                continue
            if waiter_rid == killed:
                outcome, message = Outcome.EXCEEDED_CPU, "The script's top level ran away and was stopped."
            else:
                outcome, message = (
                    Outcome.EXECUTOR_RESTARTED,
                    "The executor checking the script stopped; try again.",
                )
            waiter.set_result(
                {"ok": False, "outcome": outcome.value, "error": {"name": "Error", "message": message}}
            )
        await executor.close()
        if executor.last_stats is not None:  # its counters since the last reading are lost with it
            for index, name in enumerate(("hits", "misses", "evictions")):
                self._retired_counts[index] += executor.last_stats[name]
        if self._closing:
            return
        self.restarts += 1
        owned = executor is self._quarantine or (
            executor.index < len(self._executors) and self._executors[executor.index] is executor
        )
        if not owned:
            return  # nobody routes to it: a replacement would run unowned
        replacement = await self._spawn(executor.index)
        if executor is self._quarantine:
            self._quarantine = replacement
        else:
            self._executors[executor.index] = replacement

    async def _start_quarantine(self) -> _Executor:
        if self._quarantine_start is None:
            if self._closing:
                raise RuntimeError("Cannot start the quarantine executor, as the runtime is closing.")
            self._quarantine_start = asyncio.create_task(self._spawn_quarantine())
        start = self._quarantine_start
        try:
            # Shielded: a request canceled while it waits must not cancel a start that others wait for.
            return await asyncio.shield(start)
        except Exception:
            if self._quarantine_start is start:
                self._quarantine_start = None  # the next request that needs it tries again
            raise

    async def _spawn_quarantine(self) -> _Executor:
        # Owned as soon as it exists, whether or not anyone still waits for it.
        started = await self._spawn(len(self._executors))
        if self._quarantine is None:
            self._quarantine = started
        return self._quarantine

    def _pick(self, script: ScriptCode) -> _Executor | None:
        """The executor for a script, without waiting: its home, or the next when the home is busy."""
        if script.name in self._quarantined:
            return None
        count = len(self._executors)
        home = self._home(script)
        best: _Executor | None = None
        hogged: _Executor | None = None
        for step in range(count):
            executor = self._executors[(home + step) % count]
            if not executor.alive:
                continue
            hog = self._hog_of(executor)
            if hog is not None and hog != script.name:
                # Another script's long turns hold it: only where every executor is so held. (The hog
                # itself stays at home, queued behind its own turns.)
                hogged = hogged or executor
                continue
            if len(executor.inflight) < self.config.spill_threshold:
                return executor
            if best is None or len(executor.inflight) < len(best.inflight):
                best = executor
        return best or hogged

    async def _route(self, script: ScriptCode, avoid: _Executor | None = None) -> _Executor:
        until = self._quarantined.get(script.name)
        if until is not None and until <= time.monotonic():
            del self._quarantined[script.name]
            until = None
        for _ in range(200):
            self._refuse_when_closing("route a request")
            if until is not None:
                quarantine = self._quarantine or await self._start_quarantine()
                if quarantine.alive:
                    return quarantine
            else:
                executor = self._pick(script)
                if executor is not None and (executor is not avoid or len(self._executors) == 1):
                    return executor
                others = [e for e in self._executors if e.alive and e is not avoid]
                if others:
                    return min(others, key=lambda e: len(e.inflight))
            await asyncio.sleep(0.01)  # the executor is being replaced
        raise RuntimeError("no executor came back within 2 s")

    async def _watch(self) -> None:
        """Kills an executor whose current turn is past 1.5 times its budget in CPU time; every
        quarter of a second, cancels the requests past their wall-clock deadline."""
        interval = self.config.watchdog_interval_s
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            if self._calls or self._checks:
                await asyncio.sleep(interval)
            else:  # nothing runs: no turn to watch until a request or check arrives
                self._work.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), 1.0)
                continue
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + 0.25
                for late in [c for c in self._calls.values() if c.deadline <= loop.time()]:
                    self._cancel(late)
            for executor in [*self._executors, *([self._quarantine] if self._quarantine else [])]:
                if not executor.alive:
                    continue
                self._hog_of(executor)  # forgets a hog whose mark expired or whose requests ended
                active, rid, started, budget = executor.turn()
                if not active or budget <= 0:
                    continue
                used = executor.cpu_ns()
                if used is not None and used - started > self.config.long_turn_ms * 1e6:
                    running = self._calls.get(rid)
                    if running is not None and running.executor is executor:
                        executor.hog = running.script.name
                        executor.hog_until = time.monotonic() + HOG_HOLD_S
                if used is None or used - started <= budget * 1.5:
                    continue
                if executor.turn() != (active, rid, started, budget):
                    continue  # that turn ended while we looked
                call = self._calls.get(rid)
                name = call.script.name if call else self._checked_scripts.get(rid)
                logger.warning(
                    "watchdog: %s ran %.0f ms in one turn (budget %.0f ms); restarting executor %d",
                    name or "a script", (used - started) / 1e6, budget / 1e6, executor.index,
                )  # fmt: skip
                if name is not None:
                    self._quarantined[name] = time.monotonic() + self.config.quarantine_s
                executor.killed_rid = rid
                executor.kill()

    def _home(self, script: ScriptCode) -> int:
        """The index of the executor a script version is hashed to."""
        return zlib.crc32(script.key.encode()) % len(self._executors)

    def _hog_of(self, executor: _Executor) -> str | None:
        """The script holding this executor with long turns, if its mark holds (not expired, and it has
        requests there); a mark that no longer holds is cleared."""
        hog = executor.hog
        if hog is not None and (
            executor.hog_until <= time.monotonic() or not self._has_requests_of(executor, hog)
        ):
            executor.hog = hog = None
        return hog

    def _has_requests_of(self, executor: _Executor, name: str) -> bool:
        for rid in executor.inflight:
            call = self._calls.get(rid)
            if call is not None and call.script.name == name:
                return True
        return False

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)
