"""Billing periods: calendar months in UTC, named "2026-11"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Period"]

_NAME = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True, slots=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, name: str) -> Period:
        match = _NAME.match(name)
        if not match or int(match[1]) < 2000:
            raise ValueError(f"a billing period is a month like '2026-11', not {name!r}")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, moment: datetime) -> Period:
        moment = moment.astimezone(UTC)
        return cls(moment.year, moment.month)

    @property
    def name(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period (exclusive)."""
        return self.next().start

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def is_over(self, now: datetime) -> bool:
        return now >= self.end

    def __str__(self) -> str:
        return self.name
