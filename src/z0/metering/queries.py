"""Reading usage back: per script or per tenant over a time range, and per tenant and month for billing.

Usage is kept per minute, so a range is widened to whole minutes: from the start of the minute `start`
falls in to the end of the minute `end` falls in (an `end` on a minute boundary is kept as it is). The
report says which range it covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from z0.registry._db import Database
from z0.registry._tables import usage_minutes, usage_months

__all__ = ["Usage", "UsageQueries", "UsageReport"]


@dataclass(slots=True)
class Usage:
    requests: int = 0
    cpu_us: int = 0
    duration_us: int = 0
    subrequests: int = 0

    def add(self, other: Usage) -> None:
        self.requests += other.requests
        self.cpu_us += other.cpu_us
        self.duration_us += other.duration_us
        self.subrequests += other.subrequests

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cpu_time_ms": self.cpu_us / 1000,
            "duration_ms": self.duration_us / 1000,
            "subrequests": self.subrequests,
        }


@dataclass(slots=True)
class UsageReport:
    start: datetime
    end: datetime
    total: Usage = field(default_factory=Usage)
    by_outcome: dict[str, Usage] = field(default_factory=dict)
    by_script: dict[str, Usage] = field(default_factory=dict)  # "{namespace}/{script}"

    def as_json(self, *, scripts: bool = False) -> dict[str, Any]:
        body = {
            **self.total.as_json(),
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "by_outcome": {name: usage.as_json() for name, usage in sorted(self.by_outcome.items())},
        }
        if scripts:
            body["by_script"] = {name: usage.as_json() for name, usage in sorted(self.by_script.items())}
        return body


class UsageQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def for_script(self, namespace: str, script: str, start: datetime, end: datetime) -> UsageReport:
        return self._report(
            start,
            end,
            [usage_minutes.c.namespace == namespace, usage_minutes.c.script_name == script],
        )

    def for_tenant(
        self, tenant_id: str, start: datetime, end: datetime, *, script: str | None = None
    ) -> UsageReport:
        where = [usage_minutes.c.tenant_id == tenant_id]
        if script is not None:
            where.append(usage_minutes.c.script_name == script)
        return self._report(start, end, where)

    def month(self, tenant_id: str, month: str) -> Usage:
        with self.db.read() as connection:
            row = connection.execute(
                select(
                    *(usage_months.c[name] for name in ("requests", "cpu_us", "duration_us", "subrequests"))
                ).where(usage_months.c.tenant_id == tenant_id, usage_months.c.month == month)
            ).first()
        return Usage(*(int(value) for value in row)) if row else Usage()

    def months(self, up_to: str) -> dict[tuple[str, str], Usage]:
        """Every (tenant, month) with usage, up to and including `up_to`."""
        with self.db.read() as connection:
            rows = connection.execute(select(usage_months).where(usage_months.c.month <= up_to)).mappings()
            return {
                (row["tenant_id"], row["month"]): Usage(
                    int(row["requests"]), int(row["cpu_us"]), int(row["duration_us"]), int(row["subrequests"])
                )
                for row in rows
            }

    def _report(self, start: datetime, end: datetime, where: list[ColumnElement[bool]]) -> UsageReport:
        first = math.floor(start.timestamp() / 60) * 60
        last = math.ceil(end.timestamp() / 60) * 60
        report = UsageReport(datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC))
        columns = [
            func.sum(usage_minutes.c[name]) for name in ("requests", "cpu_us", "duration_us", "subrequests")
        ]
        query = (
            select(usage_minutes.c.namespace, usage_minutes.c.script_name, usage_minutes.c.outcome, *columns)
            .where(*where, usage_minutes.c.minute >= first, usage_minutes.c.minute < last)
            .group_by(usage_minutes.c.namespace, usage_minutes.c.script_name, usage_minutes.c.outcome)
        )
        with self.db.read() as connection:
            rows = connection.execute(query).all()
        for namespace, script, outcome, *sums in rows:
            usage = Usage(*(int(value or 0) for value in sums))
            if usage == Usage():  # a response entry and its end entry that moved it elsewhere
                continue
            report.total.add(usage)
            report.by_outcome.setdefault(outcome, Usage()).add(usage)
            report.by_script.setdefault(f"{namespace}/{script}", Usage()).add(usage)
        return report
