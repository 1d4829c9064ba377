"""Money: the Facts ledger (`…/z0/facts`), Configs (`…/z0/configs`, `…/z0/tenants/{id}/configs`), billing
runs (`…/z0/billing/runs`) and invoices (`…/z0/invoices`).

Facts and Config versions are only ever added: there is no route that changes or removes one (and the
database refuses it anyway). Operators post Facts and change Configs; a tenant token reads its own
tenant's Facts, Configs and invoices. Amounts are decimal strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from z0.billing import (
    BillingRun,
    ConfigNotFound,
    ConfigStore,
    FactDraft,
    InvoiceStore,
    Ledger,
    Period,
    render_html,
)
from z0.billing.money import check_currency, parse_amount
from z0.control._auth import AccountId, Caller, Operator, registry_of
from z0.control._dates import aware
from z0.control._envelope import Envelope, ok
from z0.control.usage import roll_up
from z0.errors import Forbidden, InvalidRequest
from z0.registry import ApiToken

__all__ = ["router"]

router = APIRouter(prefix="/accounts/{account_id}/z0")


# Facts


class FactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="cost, charge or credit (see the kinds in the docs).")
    subtype: str = Field(description="e.g. tool_usage, subscription, promotion.")
    tenant_id: str
    amount: str = Field(description='A decimal string, like "12.50". Never a JSON number.')
    currency: str = Field("USD", description="ISO 4217.")
    from_entity: str | None = Field(None, max_length=128, description="Default: the tenant's account.")
    to_entity: str = Field("platform_z0", max_length=128)
    tool_id: str | None = Field(None, max_length=128)
    data: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(
        None, max_length=255, description="Or the Idempotency-Key header; one of them is required."
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _decimal_string(cls, value: object) -> str:
        parse_amount(value)  # a JSON number arrives as a float: refused with the reason
        assert isinstance(value, str)
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return check_currency(value)


class FactOut(BaseModel):
    id: str
    timestamp: datetime
    type: str
    subtype: str
    tenant_id: str
    from_entity: str
    to_entity: str
    amount: str
    currency: str
    tool_id: str | None = None
    data: dict[str, Any]
    idempotency_key: str


class FactPage(BaseModel):
    facts: list[FactOut]
    cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


@router.post("/facts", response_model=Envelope[FactOut], tags=["facts"], summary="Append a Fact")
def append_fact(
    body: FactIn,
    account_id: AccountId,
    caller: Operator,
    request: Request,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    key = body.idempotency_key or idempotency_key
    if not key:
        raise InvalidRequest(
            "A Fact needs an idempotency key: the idempotency_key field or an Idempotency-Key header."
        )
    if body.idempotency_key and idempotency_key and body.idempotency_key != idempotency_key:
        raise InvalidRequest("The idempotency_key field and the Idempotency-Key header differ.")
    draft = FactDraft(
        type=body.type,
        subtype=body.subtype,
        tenant_id=body.tenant_id,
        amount=Decimal(body.amount),
        currency=body.currency,
        idempotency_key=key,
        from_entity=body.from_entity,
        to_entity=body.to_entity,
        tool_id=body.tool_id,
        data=body.data,
    )
    fact, created = Ledger(registry_of(request).db).append(draft)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ok(fact.as_json())


@router.get("/facts", response_model=Envelope[FactPage], tags=["facts"], summary="List Facts, oldest first")
def list_facts(
    account_id: AccountId,
    caller: Caller,
    request: Request,
    tenant_id: str | None = None,
    type: str | None = None,
    subtype: str | None = None,
    since: Annotated[datetime | None, Query(description="ISO 8601: recorded at or after.")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601: recorded before.")] = None,
    cursor: Annotated[str | None, Query(description="The `cursor` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    tenant_id = _own_tenant(caller, tenant_id)
    found = Ledger(registry_of(request).db).find(
        tenant_id=tenant_id,
        type=type,
        subtype=subtype,
        since=aware(since) if since else None,
        until=aware(until) if until else None,
        after=cursor,
        limit=limit,
    )
    return ok(
        {"facts": [fact.as_json() for fact in found], "cursor": found[-1].id if len(found) == limit else None}
    )


@router.get("/facts/{fact_id}", response_model=Envelope[FactOut], tags=["facts"], summary="Get a Fact")
def get_fact(fact_id: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    return ok(Ledger(registry_of(request).db).get(fact_id, tenant_id=caller.tenant_id).as_json())


# Configs


class ConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(
        description="The whole Config (a new version). For `pricing`: per_million_requests, "
        "per_million_cpu_ms, markup (decimal strings; markup 0.2 = 20 %) and currency."
    )


class ConfigOut(BaseModel):
    name: str
    scope: Literal["global", "tenant"]
    tenant_id: str | None
    config_version: int
    data: dict[str, Any]
    created_at: datetime


class EffectiveConfigOut(BaseModel):
    name: str
    data: dict[str, Any] = Field(description="The global Config with the tenant's keys on top.")
    global_version: int | None
    tenant_version: int | None


@router.put(
    "/configs/{name}", response_model=Envelope[ConfigOut], tags=["configs"], summary="Set a global Config"
)
def put_config(name: str, body: ConfigIn, account_id: AccountId, caller: Operator, request: Request) -> Any:
    version = ConfigStore(registry_of(request).db).put(name, body.data, created_by=caller.id)
    return ok(version.as_json())


@router.get("/configs", response_model=Envelope[list[ConfigOut]], tags=["configs"], summary="Global Configs")
def list_configs(account_id: AccountId, caller: Caller, request: Request) -> Any:
    store = ConfigStore(registry_of(request).db)
    current = [store.current(name) for name in store.names()]
    return ok([version.as_json() for version in current if version is not None])


@router.get(
    "/configs/{name}", response_model=Envelope[ConfigOut], tags=["configs"], summary="A global Config"
)
def get_config(name: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    version = ConfigStore(registry_of(request).db).current(name)
    if version is None:
        raise ConfigNotFound(f"There is no global Config {name!r}.")
    return ok(version.as_json())


@router.get(
    "/configs/{name}/versions",
    response_model=Envelope[list[ConfigOut]],
    tags=["configs"],
    summary="Every version of a global Config",
)
def config_versions(name: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    return ok([version.as_json() for version in ConfigStore(registry_of(request).db).versions(name)])


@router.put(
    "/tenants/{tenant_id}/configs/{name}",
    response_model=Envelope[ConfigOut],
    tags=["configs"],
    summary="Set a tenant's Config (overrides the global one, key by key)",
)
def put_tenant_config(
    tenant_id: str, name: str, body: ConfigIn, account_id: AccountId, caller: Operator, request: Request
) -> Any:
    version = ConfigStore(registry_of(request).db).put(
        name, body.data, tenant_id=tenant_id, created_by=caller.id
    )
    return ok(version.as_json())


@router.get(
    "/tenants/{tenant_id}/configs/{name}",
    response_model=Envelope[EffectiveConfigOut],
    tags=["configs"],
    summary="The Config that applies to a tenant",
)
def get_tenant_config(
    tenant_id: str, name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    _own_tenant(caller, tenant_id)
    registry = registry_of(request)
    registry.tenants.get(tenant_id)
    effective = ConfigStore(registry.db).effective(name, tenant_id)
    if effective is None:
        raise ConfigNotFound(f"There is no Config {name!r} for tenant {tenant_id!r}.")
    return ok(effective.as_json())


@router.get(
    "/tenants/{tenant_id}/configs/{name}/versions",
    response_model=Envelope[list[ConfigOut]],
    tags=["configs"],
    summary="Every version of a tenant's own Config",
)
def tenant_config_versions(
    tenant_id: str, name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    _own_tenant(caller, tenant_id)
    versions = ConfigStore(registry_of(request).db).versions(name, tenant_id=tenant_id)
    return ok([version.as_json() for version in versions])


# Billing runs and invoices


class BillingRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(description="A month that is over, like 2026-11 (UTC).")


class InvoiceSummary(BaseModel):
    id: str
    tenant_id: str
    currency: str
    total: str
    lines: int


class BillingRunOut(BaseModel):
    period: str
    tenants: int = Field(description="Tenants that got new Facts or an invoice.")
    facts_created: int
    adjustments: int = Field(description="Months charged late: usage of an invoiced or earlier period.")
    invoices: list[InvoiceSummary]


class InvoiceLineOut(BaseModel):
    position: int
    kind: Literal["charge", "adjustment", "credit"]
    description: str
    fact_id: str
    period: str
    amount: str


class InvoiceOut(BaseModel):
    id: str
    tenant_id: str
    account_id: str
    period: str
    period_start: datetime
    period_end: datetime
    currency: str
    total: str = Field(description="The sum of the lines.")
    created_at: datetime
    lines: list[InvoiceLineOut]


@router.post(
    "/billing/runs",
    response_model=Envelope[BillingRunOut],
    tags=["billing"],
    summary="Bill a closed period: cost Facts, charges, invoices (running it again adds nothing new)",
)
async def billing_run(body: BillingRunIn, account_id: AccountId, caller: Operator, request: Request) -> Any:
    try:
        period = Period.parse(body.period)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    await roll_up(request)
    run = BillingRun(registry_of(request).db)
    result = await run_in_threadpool(run.run, period)
    return ok(result.as_json())


@router.get(
    "/invoices", response_model=Envelope[list[InvoiceOut]], tags=["invoices"], summary="List invoices"
)
def list_invoices(
    account_id: AccountId,
    caller: Caller,
    request: Request,
    tenant: str | None = None,
    period: str | None = None,
) -> Any:
    tenant = _own_tenant(caller, tenant)
    invoices = InvoiceStore(registry_of(request).db).find(tenant_id=tenant, period=period)
    return ok([invoice.as_json() for invoice in invoices])


@router.get(
    "/invoices/{invoice_id}", response_model=Envelope[InvoiceOut], tags=["invoices"], summary="An invoice"
)
def get_invoice(invoice_id: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    return ok(InvoiceStore(registry_of(request).db).get(invoice_id, tenant_id=caller.tenant_id).as_json())


@router.get(
    "/invoices/{invoice_id}/html",
    response_class=HTMLResponse,
    tags=["invoices"],
    summary="An invoice as a printable page",
)
def invoice_html(invoice_id: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    invoice = InvoiceStore(registry_of(request).db).get(invoice_id, tenant_id=caller.tenant_id)
    return HTMLResponse(render_html(invoice))


def _own_tenant(caller: ApiToken, tenant_id: str | None) -> str | None:
    """The tenant a listing is limited to: a tenant token's own, whatever was asked."""
    if caller.tenant_id is None:
        return tenant_id
    if tenant_id is not None and tenant_id != caller.tenant_id:
        raise Forbidden(f"This token reaches only tenant {caller.tenant_id!r}.")
    return caller.tenant_id
