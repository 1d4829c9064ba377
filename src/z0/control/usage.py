"""Usage: per script (`…/namespaces/{ns}/scripts/{name}/usage`) and per tenant (`…/z0/tenants/{id}/usage`).

`start` and `end` are ISO 8601 (without a zone: UTC); by default the current calendar month so far.
Usage is kept per minute: the range is widened to whole minutes and the answer says which it covers.
What this node's gateways recorded is rolled up before answering, so a request answered is counted.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from z0.control._auth import AccountId, Caller, registry_of
from z0.control._dates import aware
from z0.control._envelope import Envelope, ok
from z0.errors import Forbidden, InvalidRequest
from z0.metering import UsageQueries, UsageReport, UsageRollup

__all__ = ["UsageOut", "roll_up", "router"]

logger = logging.getLogger("z0.control")

router = APIRouter(tags=["usage"])


class UsageNumbers(BaseModel):
    requests: int
    cpu_time_ms: float
    duration_ms: float
    subrequests: int


class UsageOut(UsageNumbers):
    start: datetime = Field(description="The range covered, widened to whole minutes.")
    end: datetime
    by_outcome: dict[str, UsageNumbers] = Field(description="Per outcome: ok, exception, exceeded_cpu, ...")
    by_script: dict[str, UsageNumbers] | None = Field(
        None, description="Per '{namespace}/{script}' (tenant usage only)."
    )


Start = Annotated[datetime | None, Query(description="ISO 8601; default: the start of this month (UTC).")]
End = Annotated[datetime | None, Query(description="ISO 8601; default: now.")]


@router.get(
    "/accounts/{account_id}/workers/dispatch/namespaces/{namespace}/scripts/{script_name}/usage",
    response_model=Envelope[UsageOut],
    summary="A script's usage over a time range",
)
async def script_usage(
    namespace: str,
    script_name: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    start: Start = None,
    end: End = None,
) -> Any:
    registry = registry_of(request)
    await run_in_threadpool(
        registry.scripts.get, account_id, namespace, script_name, acting_tenant=caller.tenant_id
    )
    begin, until = _range(start, end)
    await roll_up(request)
    queries = UsageQueries(registry.db)
    report: UsageReport = await run_in_threadpool(queries.for_script, namespace, script_name, begin, until)
    return ok(report.as_json())


@router.get(
    "/accounts/{account_id}/z0/tenants/{tenant_id}/usage",
    response_model=Envelope[UsageOut],
    summary="A tenant's usage across its scripts, over a time range",
)
async def tenant_usage(
    tenant_id: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    start: Start = None,
    end: End = None,
    script: Annotated[str | None, Query(description="Only this script (by name).")] = None,
) -> Any:
    if caller.tenant_id is not None and caller.tenant_id != tenant_id:
        raise Forbidden(f"This token reaches only tenant {caller.tenant_id!r}.")
    registry = registry_of(request)
    await run_in_threadpool(registry.tenants.get, tenant_id)  # 404 for an unknown tenant
    begin, until = _range(start, end)
    await roll_up(request)
    queries = UsageQueries(registry.db)
    report: UsageReport = await run_in_threadpool(
        lambda: queries.for_tenant(tenant_id, begin, until, script=script)
    )
    return ok(report.as_json(scripts=True))


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    until = aware(end) if end is not None else now
    begin = (
        aware(start) if start is not None else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    if begin >= until:
        raise InvalidRequest(f"start ({begin.isoformat()}) must be before end ({until.isoformat()}).")
    return begin, until


async def roll_up(request: Request) -> None:
    rollup: UsageRollup = request.app.state.rollup
    try:
        await rollup.run()
    except Exception:  # answer from what is rolled up already; the background roll-up retries
        logger.exception("usage roll-up before a usage query failed")
