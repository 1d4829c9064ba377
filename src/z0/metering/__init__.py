"""Metering: a usage record per invocation (the gateway's usage log), rolled up into per-minute and
per-month sums, and the queries behind the usage API and billing."""

from z0.metering.log import UsageLog, usage_directory
from z0.metering.queries import Usage, UsageQueries, UsageReport
from z0.metering.records import Entry, Measures, UsageRecord
from z0.metering.rollup import RollupResult, UsageRollup, month_of

__all__ = [
    "Entry",
    "Measures",
    "RollupResult",
    "Usage",
    "UsageLog",
    "UsageQueries",
    "UsageRecord",
    "UsageReport",
    "UsageRollup",
    "month_of",
    "usage_directory",
]
