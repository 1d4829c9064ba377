"""The executor's isolate cache in process: what it counts as resident matches its pools through boots,
evictions and drops (it keeps counts rather than summing its pools on every miss), and the memory that
evicted isolates free is handed back to the system."""

from __future__ import annotations

import pytest

from z0.registry import Module
from z0.runtime import executor as executor_module
from z0.runtime.compile import compile_script
from z0.runtime.executor import Executor, ExecutorConfig

JS = "application/javascript+module"


class Frames:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def check(executor: Executor, key: str, rid: int) -> None:
    source = f"export default {{ fetch() {{ return new Response({key!r}); }} }};"
    script = compile_script(key, key, [Module("index.js", JS, source.encode())], "index.js")
    executor.check({"key": key, "code": script.wire(), "limits": {"memory_mb": 32}, "rid": rid})


def resident(executor: Executor) -> tuple[int, int]:
    slots = [slot for pool in executor.pools.values() for slot in pool]
    return len(slots), sum(slot.memory for slot in slots)


def test_resident_counts_follow_boots_evictions_and_drops() -> None:
    executor = Executor(Frames(), None, ExecutorConfig(max_isolates=3))  # type: ignore[arg-type]
    for rid, key in enumerate(["ns/a/1", "ns/b/1", "ns/c/1", "ns/d/1", "ns/e/1"], start=1):
        check(executor, key, rid)
        stats = executor.stats()
        assert (stats["isolates"], stats["memory"]) == resident(executor)
    assert executor.stats()["isolates"] == 3 and executor.evictions == 2
    assert set(executor.pools) == {"ns/c/1|33554432", "ns/d/1|33554432", "ns/e/1|33554432"}  # LRU out
    executor.drop("ns/d/1")
    assert (executor.stats()["isolates"], executor.stats()["memory"]) == resident(executor) and (
        executor.stats()["isolates"] == 2
    )
    executor.config = ExecutorConfig(max_isolates=3, max_memory_bytes=1)  # every isolate is over this
    executor.evict()
    assert executor.stats()["isolates"] == 0 and executor.stats()["memory"] == 0 and not executor.pools


def test_memory_freed_by_evictions_is_trimmed_once_enough_is_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(executor_module, "_malloc_trim", lambda: trims.append(1))
    monkeypatch.setattr(executor_module, "TRIM_AFTER_FREED_BYTES", 1)
    executor = Executor(Frames(), None, ExecutorConfig(max_isolates=1))  # type: ignore[arg-type]
    check(executor, "ns/a/1", 1)
    assert not executor.trim_memory() and trims == []  # nothing freed yet
    check(executor, "ns/b/1", 2)  # evicts a's isolate
    executor.runs[99] = object()  # type: ignore[assignment]  # busy: waits for idle (or the interval)
    assert not executor.trim_memory()
    del executor.runs[99]
    assert executor.trim_memory() and trims == [1]
    assert executor.freed_since_trim == 0 and not executor.trim_memory()


def test_this_machine_can_trim() -> None:
    assert executor_module._libc() is not None  # glibc: the trim is real here, not skipped
