"""Datetimes from query strings: ISO 8601, and UTC when they name no zone."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["aware"]


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
