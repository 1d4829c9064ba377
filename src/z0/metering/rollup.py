"""The roll-up: reads the usage log segments and adds them into per-minute and per-month sums.

Safe to crash and re-run: the position reached in a segment is stored in the same transaction as the
sums it produced, and moved only from the position the batch started at (a compare-and-set), so a batch
is counted exactly once even with two roll-ups racing (a second process, or a second node on one
PostgreSQL). Only whole lines are read; a complete segment (its writer let go of it) that ends in a torn
line, which only a crash in the middle of a write can leave, has that line skipped and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from z0.metering.log import SEGMENT_GLOB, is_complete, usage_directory
from z0.metering.records import Entry, Measures, UsageRecord, decode_entry
from z0.registry._db import Database, utcnow
from z0.registry._tables import usage_minutes, usage_months, usage_segments
from z0.settings import Settings

__all__ = ["RollupResult", "UsageRollup", "month_of"]

logger = logging.getLogger("z0.metering")

BATCH_BYTES = 4 * 1024 * 1024
SUMS = ("requests", "cpu_us", "duration_us", "subrequests")
MinuteKey = tuple[int, str, str, str, str]  # minute, tenant, namespace, script, outcome
MonthKey = tuple[str, str]  # tenant, month


@dataclass(slots=True)
class RollupResult:
    entries: int = 0
    malformed: int = 0
    segments_finished: int = 0


class _Raced(Exception):
    """Another roll-up moved this segment on first: this batch is theirs."""


def month_of(unix_time: float) -> str:
    moment = time.gmtime(unix_time)
    return f"{moment.tm_year:04d}-{moment.tm_mon:02d}"


class _Sums:
    def __init__(self) -> None:
        self.minutes: defaultdict[MinuteKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self.months: defaultdict[MonthKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])

    def add(self, entry: Entry) -> None:
        self._add(entry.record, entry.measures, 1)
        if entry.replaces is not None:  # an end entry takes the place of its response entry
            self._add(entry.record, entry.replaces, -1)

    def _add(self, record: UsageRecord, measures: Measures, sign: int) -> None:
        values = (
            sign,
            sign * round(measures.cpu_ms * 1000),
            sign * round(measures.duration_ms * 1000),
            sign * measures.subrequests,
        )
        minute = int(record.time // 60) * 60
        key = (minute, record.tenant_id, record.namespace, record.script, measures.outcome)
        for sums in (self.minutes[key], self.months[(record.tenant_id, month_of(record.time))]):
            for index, value in enumerate(values):
                sums[index] += value


class UsageRollup:
    def __init__(self, db: Database, directory: Path, *, retention_s: float = 30 * 86400) -> None:
        self.db = db
        self.directory = directory
        self.retention_s = retention_s
        self._lock: asyncio.Lock | None = None

    @classmethod
    def for_settings(cls, settings: Settings, db: Database) -> UsageRollup:
        return cls(
            db, usage_directory(settings.data_dir), retention_s=settings.usage_log_retention_days * 86400
        )

    async def run(self) -> RollupResult:
        """`run_once` in a thread, one at a time in this process (racing ones would only waste work)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await asyncio.to_thread(self.run_once)

    async def run_until(self, stopped: asyncio.Event, interval_s: float) -> None:
        """A roll-up every `interval_s` until `stopped` is set; a pass under way is finished first."""
        while not stopped.is_set():
            try:
                await self.run()
            except Exception:  # the database is away, say: the next pass retries, nothing is lost
                logger.exception("usage roll-up failed; retrying in %.0f s", interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), interval_s)

    def run_once(self) -> RollupResult:
        """Adds every whole line not yet counted; blocking (run it in a thread)."""
        result = RollupResult()
        if not self.directory.is_dir():
            return result
        for path in sorted(self.directory.glob(SEGMENT_GLOB)):
            self._segment(path, result)
        self._forget_old(time.time())
        return result

    def _segment(self, path: Path, result: RollupResult) -> None:
        # Whether it is complete is asked before reading: a complete segment read to its end is whole.
        complete = is_complete(path)
        position = self._position(path.name)
        while True:
            try:
                with path.open("rb") as file:
                    file.seek(position)
                    data = file.read(BATCH_BYTES)
            except FileNotFoundError:  # another roll-up finished it
                return
            cut = data.rfind(b"\n") + 1
            if cut:
                sums = _Sums()
                for line in data[:cut].splitlines():
                    if self._parse(line, path, sums):
                        result.entries += 1
                    else:
                        result.malformed += 1
                try:
                    self._commit(path.name, position, position + cut, sums)
                except _Raced:
                    return
                position += cut
            if len(data) < BATCH_BYTES:
                break
        if not complete:
            return
        try:
            torn = path.stat().st_size - position
        except FileNotFoundError:  # another roll-up finished it
            return
        if torn:
            logger.warning("usage log %s ends in a torn line (%d bytes): skipped", path.name, torn)
            result.malformed += 1
        try:
            path.rename(path.with_name(path.name + ".done"))
        except FileNotFoundError:  # another roll-up finished it
            return
        result.segments_finished += 1

    @staticmethod
    def _parse(line: bytes, path: Path, sums: _Sums) -> bool:
        if not line.strip():
            return True
        try:
            sums.add(decode_entry(orjson.loads(line)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            logger.warning("usage log %s: a malformed entry skipped (%s)", path.name, exc)
            return False
        return True

    def _position(self, name: str) -> int:
        with self.db.read() as connection:
            found = connection.execute(
                select(usage_segments.c.position).where(usage_segments.c.name == name)
            ).scalar()
        return int(found or 0)

    def _commit(self, name: str, start: int, end: int, sums: _Sums) -> None:
        try:
            self._commit_batch(name, start, end, sums)
        except IntegrityError as exc:  # two first batches of one segment: the other was first
            raise _Raced from exc

    def _commit_batch(self, name: str, start: int, end: int, sums: _Sums) -> None:
        with self.db.write(registry_change=False) as connection:
            stored = connection.execute(
                select(usage_segments.c.position).where(usage_segments.c.name == name)
            ).scalar()
            if stored is None and start == 0:
                connection.execute(
                    insert(usage_segments).values(name=name, position=end, modified_on=utcnow())
                )
            else:
                moved = connection.execute(
                    update(usage_segments)
                    .where(usage_segments.c.name == name, usage_segments.c.position == start)
                    .values(position=end, modified_on=utcnow())
                )
                if moved.rowcount != 1:
                    raise _Raced
            _add_sums(
                connection,
                usage_minutes,
                ("minute", "tenant_id", "namespace", "script_name", "outcome"),
                sums.minutes.items(),
            )
            _add_sums(connection, usage_months, ("tenant_id", "month"), sums.months.items())

    def _forget_old(self, now: float) -> None:
        for path in self.directory.glob(SEGMENT_GLOB + ".done"):
            try:
                if now - path.stat().st_mtime > self.retention_s:
                    path.unlink()
            except FileNotFoundError:
                continue


def _add_sums(
    connection: Connection,
    table: Table,
    key_columns: tuple[str, ...],
    items: Iterable[tuple[tuple[Any, ...], list[int]]],
) -> None:
    rows = [
        {**dict(zip(key_columns, key, strict=True)), **dict(zip(SUMS, values, strict=True))}
        for key, values in items
    ]
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key_columns),
        set_={name: table.c[name] + statement.excluded[name] for name in SUMS},
    )
    connection.execute(statement, rows)
