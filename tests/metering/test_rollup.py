"""The usage log and its roll-up, on real files and real databases (SQLite and PostgreSQL): merging a
request's two entries, exactly-once counting across crashes and racing roll-ups, torn lines."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from z0.metering import Entry, Measures, Usage, UsageLog, UsageQueries, UsageRecord, UsageRollup
from z0.metering.log import is_complete
from z0.registry import Registry

T0 = datetime(2026, 11, 3, 10, 15, 20, tzinfo=UTC).timestamp()


def record(n: int = 0, *, at: float = T0, script: str = "acme", tenant: str = "acme") -> UsageRecord:
    return UsageRecord(at, f"req-{n}", "z0-prod-tenants", script, tenant)


def measures(cpu: float = 1.5, *, outcome: str = "ok", status: int = 200, sub: int = 0) -> Measures:
    return Measures(status, outcome, cpu, cpu * 2, sub)


def window(hours: float = 1) -> tuple[datetime, datetime]:
    start = datetime.fromtimestamp(T0, UTC) - timedelta(minutes=30)
    return start, start + timedelta(hours=hours)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "usage"


def test_entries_are_summed_per_minute_and_month(registry: Registry, log_dir: Path) -> None:
    log = UsageLog(log_dir)
    for n in range(10):
        log.append(Entry("final", record(n, at=T0 + n * 20), measures(0.25, sub=1)))
    log.append(Entry("final", record(99), measures(50, outcome="exceeded_cpu", status=503)))
    log.close()
    rollup = UsageRollup(registry.db, log_dir)
    result = rollup.run_once()
    assert (result.entries, result.malformed, result.segments_finished) == (11, 0, 1)
    report = UsageQueries(registry.db).for_tenant("acme", *window())
    assert report.total == Usage(requests=11, cpu_us=52_500, duration_us=105_000, subrequests=10)
    assert report.by_outcome["exceeded_cpu"] == Usage(1, 50_000, 100_000, 0)
    assert report.by_outcome["ok"].requests == 10
    # Minutes: the query range is widened to whole minutes, and only those minutes count.
    first_minute = datetime.fromtimestamp(T0, UTC).replace(second=0)
    one = UsageQueries(registry.db).for_tenant("acme", first_minute, first_minute + timedelta(seconds=1))
    assert one.end == first_minute + timedelta(minutes=1)
    assert one.total.requests == 2 + 1  # at :20 and :40 (and the one that ran out of CPU); :00 is next
    assert UsageQueries(registry.db).month("acme", "2026-11").requests == 11
    assert UsageQueries(registry.db).month("acme", "2026-10") == Usage()


def test_a_response_and_its_end_entry_merge_into_one_request(registry: Registry, log_dir: Path) -> None:
    log = UsageLog(log_dir)
    first = measures(2.0, sub=1)
    log.append(Entry("response", record(1), first))
    queries = UsageQueries(registry.db)
    rollup = UsageRollup(registry.db, log_dir)
    rollup.run_once()
    assert queries.for_tenant("acme", *window()).total == Usage(1, 2000, 4000, 1)
    # waitUntil work went on: more CPU, a subrequest, and it ended past its CPU limit.
    log.append(Entry("end", record(1), Measures(200, "exceeded_cpu", 51.0, 900.0, 2), replaces=first))
    rollup.run_once()
    report = queries.for_tenant("acme", *window())
    assert report.total == Usage(1, 51_000, 900_000, 2)
    assert set(report.by_outcome) == {"exceeded_cpu"}  # no empty "ok" row shows
    log.close()


def test_rerunning_and_racing_roll_ups_count_each_entry_once(registry: Registry, log_dir: Path) -> None:
    writers = [UsageLog(log_dir, segment_bytes=4096) for _ in range(3)]  # small: many segments
    for n in range(600):
        writers[n % 3].append(Entry("final", record(n, at=T0 + n % 50), measures(0.125)))
    rollups = [UsageRollup(registry.db, log_dir) for _ in range(4)]
    errors: list[BaseException] = []

    def run(rollup: UsageRollup) -> None:
        try:
            for _ in range(3):
                rollup.run_once()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rollup,)) for rollup in rollups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for writer in writers:
        writer.close()
    rollups[0].run_once()
    rollups[0].run_once()
    assert UsageQueries(registry.db).for_tenant("acme", *window()).total == Usage(600, 75_000, 150_000, 0)
    assert list(log_dir.glob("*.log")) == []  # every segment complete and consumed
    assert len(list(log_dir.glob("*.log.done"))) >= 3


def test_a_crash_after_the_commit_counts_nothing_twice(registry: Registry, log_dir: Path) -> None:
    log = UsageLog(log_dir)
    for n in range(5):
        log.append(Entry("final", record(n), measures(1.0)))
    log.close()
    segment = next(log_dir.glob("*.log"))
    rollup = UsageRollup(registry.db, log_dir)
    original = Path.rename

    def crash(self: Path, target: Path) -> Path:  # the process dies right after its last commit
        raise SystemExit("killed")

    Path.rename = crash  # type: ignore[assignment,method-assign]
    try:
        with pytest.raises(SystemExit):
            rollup.run_once()
    finally:
        Path.rename = original  # type: ignore[method-assign]
    assert segment.exists()
    UsageRollup(registry.db, log_dir).run_once()  # the restarted roll-up
    assert UsageQueries(registry.db).for_tenant("acme", *window()).total.requests == 5


def test_lines_still_being_written_wait_and_torn_lines_are_skipped(registry: Registry, log_dir: Path) -> None:
    log = UsageLog(log_dir)
    log.append(Entry("final", record(1), measures()))
    assert log.path is not None and not is_complete(log.path)
    # A line half-written: the roll-up takes only whole lines while the writer holds the segment.
    fd = os.open(log.path, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b'{"k":"final","t":')
    rollup = UsageRollup(registry.db, log_dir)
    assert rollup.run_once().entries == 1
    assert log.path.exists()
    log.close()  # the writer is gone (as after kill -9): the torn line can never be finished
    os.close(fd)
    result = rollup.run_once()
    assert (result.entries, result.malformed, result.segments_finished) == (0, 1, 1)
    assert UsageQueries(registry.db).for_tenant("acme", *window()).total.requests == 1


def test_malformed_lines_are_skipped_and_the_rest_counted(registry: Registry, log_dir: Path) -> None:
    log_dir.mkdir()
    (log_dir / "usage-0000000000001-1-aaaa.log").write_bytes(
        b'not json\n{"k":"final"}\n' + b'{"k":"final","t":%f,"rid":"r","ns":"n","script":"s","tenant":"acme",'
        b'"status":200,"outcome":"ok","cpu_ms":1.0,"duration_ms":2.0,"subrequests":0}\n' % T0
    )
    result = UsageRollup(registry.db, log_dir).run_once()
    assert (result.entries, result.malformed) == (1, 2)
    assert UsageQueries(registry.db).for_tenant("acme", *window()).total.requests == 1


def test_consumed_segments_are_kept_for_the_retention_then_deleted(registry: Registry, log_dir: Path) -> None:
    log = UsageLog(log_dir)
    log.append(Entry("final", record(1), measures()))
    log.close()
    rollup = UsageRollup(registry.db, log_dir, retention_s=3600)
    rollup.run_once()
    (done,) = log_dir.glob("*.done")
    old = time.time() - 7200
    os.utime(done, (old, old))
    rollup.run_once()
    assert not done.exists()


def test_usage_is_data_not_a_registry_change(registry: Registry, log_dir: Path) -> None:
    before = registry.change_counter()
    log = UsageLog(log_dir)
    log.append(Entry("final", record(1), measures()))
    log.close()
    UsageRollup(registry.db, log_dir).run_once()
    assert registry.change_counter() == before
