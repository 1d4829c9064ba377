"""The engine interface and its QuickJS-ng implementation. One Isolate is one JS runtime with its own
heap; it must only ever be used from the thread that made it (the binding's own warning).

Everything the host asks of an isolate goes through `call(command, a, b)` (host.js's entry) or
`pump()` (pending jobs), each under a CPU budget: the engine stops JS at the budget with
Interrupted, and an allocation past the memory limit with OutOfMemory.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any

import quickjs

from z0.runtime import _bytecode

__all__ = [
    "EngineError",
    "Interrupted",
    "Isolate",
    "OutOfMemory",
    "Prelude",
    "QuickJsIsolate",
    "ScriptFailed",
]

STACK_BYTES = 1024 * 1024
_BOOT_GLOBAL = "__z0_boot"  # where the prelude's bytecode leaves host.js's entry, deleted at once


class EngineError(Exception):
    """The engine stopped the isolate; after any of these the isolate is thrown away."""


class Interrupted(EngineError):
    """The CPU budget ran out inside JS."""


class OutOfMemory(EngineError):
    """The isolate reached its memory limit."""


class ScriptFailed(EngineError):
    """JS threw past z0's own code (an engine-level error: stack overflow, a broken prelude)."""


@dataclass(frozen=True, eq=False)
class Prelude:
    """z0's JS for a set of Workers API files: its source (an expression whose value is host.js's
    entry) and, where the binding allows it, that source compiled once into bytecode that sets
    `globalThis.__z0_boot` instead (see _bytecode.py for why: ~8x faster to load, less heap)."""

    source: str
    bytecode: bytes | None = field(default=None, repr=False)

    @classmethod
    def compile(cls, source: str) -> Prelude:
        if not _bytecode.available():
            return cls(source)
        try:
            return cls(source, _bytecode.compile_script(f"globalThis.{_BOOT_GLOBAL} = {source}"))
        except _bytecode.BytecodeError:
            return cls(source)


class Isolate(abc.ABC):
    """One JS runtime holding one script version. Not thread-safe: one thread, for life."""

    @abc.abstractmethod
    def eval(self, source: str, budget_s: float) -> Any:
        """Evaluates a script; its completion value (a handle for objects and functions)."""

    @abc.abstractmethod
    def call(self, command: str, a: Any = None, b: Any = None, *, budget_s: float) -> Any:
        """host.js's entry(command, a, b); returns what it returns (str for JSON answers)."""

    @abc.abstractmethod
    def pump(self, deadline: float) -> bool:
        """Runs pending jobs until there are none (True) or the thread's CPU clock passes `deadline`
        (False: the job queue outlived the budget, e.g. a self-rescheduling microtask)."""

    @abc.abstractmethod
    def memory_bytes(self) -> int:
        """Bytes the isolate has allocated."""


class QuickJsIsolate(Isolate):
    def __init__(self, memory_limit_bytes: int) -> None:
        self.memory_limit = memory_limit_bytes
        self._ctx = quickjs.Context()
        self._ctx.set_memory_limit(memory_limit_bytes)
        self._ctx.set_max_stack_size(STACK_BYTES)
        self._entry: Any = None

    def set_entry(self, entry: Any) -> None:
        self._entry = entry

    def load_prelude(self, prelude: Prelude, budget_s: float) -> None:
        """Loads z0's JS, from its bytecode where there is some, and keeps host.js's entry."""
        if prelude.bytecode is not None:
            try:
                _bytecode.run_script(self._ctx, prelude.bytecode)
            except _bytecode.BytecodeError as exc:
                if self.memory_bytes() >= self.memory_limit * 0.9:
                    raise OutOfMemory(str(exc)) from exc
                raise ScriptFailed(str(exc)) from exc
            self._entry = self._guarded(self._ctx.get, budget_s, _BOOT_GLOBAL)
            self._guarded(self._ctx.eval, budget_s, f"delete globalThis.{_BOOT_GLOBAL}")
            return
        self._entry = self.eval(prelude.source, budget_s)

    def eval(self, source: str, budget_s: float) -> Any:
        return self._guarded(self._ctx.eval, budget_s, source)

    def call(self, command: str, a: Any = None, b: Any = None, *, budget_s: float) -> Any:
        if self._entry is None:
            raise ScriptFailed("the isolate has no host entry: its prelude did not load")
        if b is not None:
            return self._guarded(self._entry, budget_s, command, a, b)
        if a is not None:
            return self._guarded(self._entry, budget_s, command, a)
        return self._guarded(self._entry, budget_s, command)

    def pump(self, deadline: float) -> bool:
        # One limit for the whole pump: no single job outlives the budget, and the loop checks the
        # sum between jobs (a self-rescheduling microtask is many short jobs).
        remaining = deadline - time.thread_time()
        if remaining <= 0:
            return False
        job = self._ctx.execute_pending_job
        while self._guarded(job, remaining):
            if time.thread_time() >= deadline:
                return False
        return True

    def memory_bytes(self) -> int:
        return int(self._ctx.memory()["malloc_size"])

    def _guarded(self, function: Any, budget_s: float, *args: Any) -> Any:
        # The limit counts from the start of each call into the engine; JS never calls back into
        # Python (host ops are queued), so it can stay set between calls.
        self._ctx.set_time_limit(max(budget_s, 0.0005))
        try:
            return function(*args)
        except quickjs.StackOverflow as exc:
            raise ScriptFailed(f"RangeError: Maximum call stack size exceeded\n{exc}") from exc
        except quickjs.JSException as exc:
            raise self._classify(exc) from exc
        except MemoryError as exc:
            raise OutOfMemory(str(exc)) from exc

    def _classify(self, exc: Exception) -> EngineError:
        text = str(exc)
        if text.startswith("InternalError: interrupted"):
            return Interrupted(text)
        # A runaway that dies of memory may come back with an error whose message is just "null":
        # judge by the heap, not the text (DESIGN.md).
        if "out of memory" in text or self.memory_bytes() >= self.memory_limit * 0.9:
            return OutOfMemory(text)
        return ScriptFailed(text)
