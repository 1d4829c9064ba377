"""Usage for billing tests, made the way z0 makes it: usage log entries rolled up into the database."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

from z0.metering import Entry, Measures, UsageLog, UsageRecord, UsageRollup
from z0.registry import Registry

_ids = itertools.count()


def record_usage(
    registry: Registry,
    log_dir: Path,
    tenant_id: str,
    at: datetime,
    *,
    requests: int = 1,
    cpu_ms: float = 1.0,
    script: str | None = None,
) -> None:
    """`requests` invocations of `cpu_ms` each, at `at`, through a usage log and the roll-up."""
    log = UsageLog(log_dir)
    for _ in range(requests):
        record = UsageRecord(
            at.timestamp(), f"req-{next(_ids)}", "z0-prod-tenants", script or tenant_id, tenant_id
        )
        log.append(Entry("final", record, Measures(200, "ok", cpu_ms, cpu_ms + 1, 0)))
    log.close()
    UsageRollup(registry.db, log_dir).run_once()
