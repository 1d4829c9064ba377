"""The executor's isolate cache in process: what it counts as resident matches its pools through boots,
evictions and drops (it keeps counts rather than summing its pools on every miss)."""

from __future__ import annotations

from z0.registry import Module
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
