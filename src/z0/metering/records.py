"""A usage record: one per invocation, as the gateway writes it to its usage log.

A request can have two entries (DESIGN.md, "Usage"):

    final     the whole invocation, when its waitUntil work had ended by the response (the common case)
    response  written before the response is finished, while waitUntil work goes on
    end       when that work ends: the invocation's final values, and the response entry's values
              it replaces (`replaces`), so that the roll-up merges the two by adding and subtracting

Times are recorded in milliseconds with microsecond precision; the roll-up sums integer microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Entry", "EntryKind", "Measures", "UsageRecord", "decode_entry", "encode_entry"]

EntryKind = Literal["final", "response", "end"]


@dataclass(frozen=True, slots=True)
class Measures:
    """What an invocation used (so far, for a response entry)."""

    status: int
    outcome: str
    cpu_ms: float
    duration_ms: float
    subrequests: int


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Which invocation: the same in both of a request's entries."""

    time: float  # unix seconds when the gateway received the request
    request_id: str
    namespace: str
    script: str
    tenant_id: str


@dataclass(frozen=True, slots=True)
class Entry:
    kind: EntryKind
    record: UsageRecord
    measures: Measures
    replaces: Measures | None = None  # an end entry: the response entry's measures


def encode_entry(entry: Entry) -> dict[str, Any]:
    record = entry.record
    line: dict[str, Any] = {
        "k": entry.kind,
        "t": round(record.time, 6),
        "rid": record.request_id,
        "ns": record.namespace,
        "script": record.script,
        "tenant": record.tenant_id,
        **_measures_json(entry.measures),
    }
    if entry.replaces is not None:
        line["replaces"] = _measures_json(entry.replaces)
    return line


def _measures_json(measures: Measures) -> dict[str, Any]:
    return {
        "status": measures.status,
        "outcome": measures.outcome,
        "cpu_ms": measures.cpu_ms,
        "duration_ms": measures.duration_ms,
        "subrequests": measures.subrequests,
    }


def decode_entry(line: dict[str, Any]) -> Entry:
    """An entry from its log line; raises (KeyError, TypeError, ValueError) on a malformed one."""
    kind = line["k"]
    if kind not in ("final", "response", "end"):
        raise ValueError(f"unknown usage entry kind {kind!r}")
    replaces = _measures(line["replaces"]) if kind == "end" else None
    record = UsageRecord(
        time=float(line["t"]),
        request_id=str(line["rid"]),
        namespace=str(line["ns"]),
        script=str(line["script"]),
        tenant_id=str(line["tenant"]),
    )
    return Entry(kind, record, _measures(line), replaces)


def _measures(values: dict[str, Any]) -> Measures:
    return Measures(
        status=int(values["status"]),
        outcome=str(values["outcome"]),
        cpu_ms=float(values["cpu_ms"]),
        duration_ms=float(values["duration_ms"]),
        subrequests=int(values["subrequests"]),
    )
