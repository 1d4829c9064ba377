"""The billing run: usage → cost Facts → charges → invoices, for one closed period (a calendar month).

For each tenant (soft-deleted ones too: their last period is billed), in one transaction:

1. For every month up to the period, the usage not yet charged (the month's rolled-up usage minus
   what its `cost`/`platform_compute` Facts already cover) becomes a cost Fact (DESIGN.md's shape)
   priced with the pricing Config in force at that month's end, and a charge Fact of
   cost * (1 + markup). Usage that arrived after its month was invoiced is charged this way too.
2. If the period has no invoice yet (per currency), one is made of every charge and credit not on an
   invoice whose own period is not later than this one; lines for earlier periods are adjustments.
   Charges for a period that already has an invoice wait for the next period's invoice.

Idempotent: the Facts' idempotency keys name the usage totals they bring the month up to, and each
Fact goes on at most one invoice, so a second run with nothing new adds nothing. Runs exclude each
other (SQLite's write lock; an advisory lock on PostgreSQL, across nodes).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from z0.billing.configs import ConfigStore, Pricing
from z0.billing.facts import Fact, FactDraft, Ledger
from z0.billing.invoices import Invoice, InvoiceLine, InvoiceStore, new_invoice_id
from z0.billing.money import exact, format_amount, round_money
from z0.billing.periods import Period
from z0.errors import Conflict
from z0.registry._db import Database, utcnow
from z0.registry._tables import facts, invoices, tenants, usage_months

__all__ = ["BillingResult", "BillingRun"]

logger = logging.getLogger("z0.billing")

_BILLING_LOCK = 0x7A31  # PostgreSQL advisory lock: one billing transaction at a time, across nodes


@dataclass(slots=True)
class BillingResult:
    period: str
    tenants: int = 0
    facts: list[Fact] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    adjustments: int = 0  # months charged late: usage of an invoiced period, or of an earlier one

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "tenants": self.tenants,
            "facts_created": len(self.facts),
            "adjustments": self.adjustments,
            "invoices": [
                {
                    "id": invoice.id,
                    "tenant_id": invoice.tenant_id,
                    "currency": invoice.currency,
                    "total": invoice.as_json()["total"],
                    "lines": len(invoice.lines),
                }
                for invoice in self.invoices
            ],
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class BillingRun:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.ledger = Ledger(db)
        self.configs = ConfigStore(db)

    def run(self, period: Period, *, now: datetime | None = None) -> BillingResult:
        now = now or utcnow()
        if not period.is_over(now):
            raise Conflict(
                f"Period {period} is not over: it ends at {_iso(period.end)}; it can be billed from then on."
            )
        result = BillingResult(period.name)
        with self.db.read() as connection:
            tenant_ids = list(connection.execute(select(tenants.c.id).order_by(tenants.c.id)).scalars())
        for tenant_id in tenant_ids:
            if self._bill(tenant_id, period, result):
                result.tenants += 1
        return result

    def _bill(self, tenant_id: str, period: Period, result: BillingResult) -> bool:
        with self.db.write(registry_change=False) as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _BILLING_LOCK})
            account = connection.execute(
                select(tenants.c.account_id).where(tenants.c.id == tenant_id)
            ).scalar_one()
            invoiced_periods = self._invoiced_periods(connection, tenant_id)
            created: list[Fact] = []
            for month, (requests, cpu_us) in self._unbilled(connection, tenant_id, period).items():
                late = month < period.name or month in invoiced_periods
                created += self._charge(connection, tenant_id, account, Period.parse(month), requests, cpu_us)
                result.adjustments += late
            made = self._invoice(connection, tenant_id, account, period)
        result.facts += created
        result.invoices += made
        return bool(created or made)

    def _unbilled(self, connection: Connection, tenant_id: str, period: Period) -> dict[str, tuple[int, int]]:
        """Per month up to the period: (requests, cpu µs) used but not covered by cost Facts yet."""
        used = {
            row.month: (int(row.requests), int(row.cpu_us))
            for row in connection.execute(
                select(usage_months.c.month, usage_months.c.requests, usage_months.c.cpu_us).where(
                    usage_months.c.tenant_id == tenant_id, usage_months.c.month <= period.name
                )
            )
        }
        billed: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
        rows = connection.execute(
            select(facts.c.data_json).where(
                facts.c.tenant_id == tenant_id, facts.c.type == "cost", facts.c.subtype == "platform_compute"
            )
        ).scalars()
        for data_json in rows:
            data = json.loads(data_json)
            covered = billed[data["period_start"][:7]]
            covered[0] += int(data["requests"])
            covered[1] += round(Decimal(str(data["cpu_time_ms"])) * 1000)
        unbilled = {}
        for month, (requests, cpu_us) in sorted(used.items()):
            more_requests, more_cpu = requests - billed[month][0], cpu_us - billed[month][1]
            if more_requests < 0 or more_cpu < 0:  # usage sums only grow: this would be a z0 bug
                logger.error("usage of %s in %s is below what was billed; not billed again", tenant_id, month)
                continue
            if more_requests or more_cpu:
                unbilled[month] = (more_requests, more_cpu)
        return unbilled

    def _charge(
        self, connection: Connection, tenant_id: str, account: str, month: Period, requests: int, cpu_us: int
    ) -> list[Fact]:
        pricing = self.configs.pricing(tenant_id, before=month.end, connection=connection)
        cost = pricing.cost(requests, cpu_us)
        # The key names the usage the month is charged up to: a re-run finds its Facts already there.
        total = connection.execute(
            select(usage_months.c.requests, usage_months.c.cpu_us).where(
                usage_months.c.tenant_id == tenant_id, usage_months.c.month == month.name
            )
        ).one()
        key = f"z0:billing:{tenant_id}:{month}:{total.requests}:{total.cpu_us}"
        common = {"period_start": _iso(month.start), "period_end": _iso(month.end)}
        cpu_time_ms = float(Decimal(cpu_us) / 1000)
        cost_fact, _ = self.ledger.append_in(
            connection,
            FactDraft(
                type="cost",
                subtype="platform_compute",
                tenant_id=tenant_id,
                amount=cost,
                currency=pricing.currency,
                idempotency_key=f"{key}:cost",
                from_entity=account,
                data={"compute_provider": "z0", "cpu_time_ms": cpu_time_ms, "requests": requests, **common},
            ),
            by_billing_run=True,
        )
        charge_fact, _ = self.ledger.append_in(
            connection,
            FactDraft(
                type="charge",
                subtype="platform_compute",
                tenant_id=tenant_id,
                amount=pricing.charge(cost),
                currency=pricing.currency,
                idempotency_key=f"{key}:charge",
                from_entity=account,
                data={
                    "cost_fact_id": cost_fact.id,
                    "markup": format_amount(pricing.markup),
                    "pricing_versions": _versions(pricing),
                    "cpu_time_ms": cpu_time_ms,
                    "requests": requests,
                    **common,
                },
            ),
            by_billing_run=True,
        )
        return [cost_fact, charge_fact]

    @staticmethod
    def _invoiced_periods(connection: Connection, tenant_id: str) -> set[str]:
        return set(
            connection.execute(select(invoices.c.period).where(invoices.c.tenant_id == tenant_id)).scalars()
        )

    def _invoice(self, connection: Connection, tenant_id: str, account: str, period: Period) -> list[Invoice]:
        by_currency: defaultdict[str, list[tuple[str, Fact]]] = defaultdict(list)
        for fact in Ledger.uninvoiced(connection, tenant_id):
            own_period = _period_of(fact)
            if own_period <= period.name:
                by_currency[fact.currency].append((own_period, fact))
        made = []
        for currency, pending in sorted(by_currency.items()):
            if InvoiceStore.exists(connection, tenant_id, period.name, currency):
                continue  # already invoiced: these wait for the next period's invoice
            lines = tuple(
                _line(position, own_period, fact, period)
                for position, (own_period, fact) in enumerate(
                    sorted(pending, key=lambda p: (p[0], p[1].id)), 1
                )
            )
            with exact():
                total = sum((line.amount for line in lines), Decimal(0))
            invoice = Invoice(
                id=new_invoice_id(),
                tenant_id=tenant_id,
                account_id=account,
                period=period.name,
                period_start=period.start,
                period_end=period.end,
                currency=currency,
                total=total,
                created_at=utcnow(),
                lines=lines,
            )
            InvoiceStore.create_in(connection, invoice)
            made.append(invoice)
        return made


def _versions(pricing: Pricing) -> dict[str, int | None]:
    return {"global": pricing.global_version, "tenant": pricing.tenant_version}


def _period_of(fact: Fact) -> str:
    """The period a charge or credit belongs to: its usage's, or when it was recorded."""
    start = fact.data.get("period_start") if fact.subtype == "platform_compute" else None
    return str(start)[:7] if start else Period.of(fact.created_at).name


def _line(position: int, own_period: str, fact: Fact, period: Period) -> InvoiceLine:
    amount = round_money(fact.amount, fact.currency)
    if fact.type == "credit":
        kind, amount = "credit", -amount
    else:
        kind = "charge" if own_period == period.name else "adjustment"
    return InvoiceLine(position, kind, _describe(fact, own_period, kind), fact.id, own_period, amount)


def _describe(fact: Fact, own_period: str, kind: str) -> str:
    if fact.subtype == "platform_compute":
        requests = int(fact.data.get("requests", 0))
        cpu_ms = fact.data.get("cpu_time_ms", 0)
        text_ = f"Compute {own_period}: {requests:,} requests, {cpu_ms:,} CPU ms"
        return text_ + (" (usage recorded after that period was billed)" if kind == "adjustment" else "")
    label = fact.subtype.replace("_", " ").capitalize()
    if fact.tool_id:
        label += f" ({fact.tool_id})"
    note = fact.data.get("description")
    if isinstance(note, str) and note:
        label += f": {note}"
    return label if kind != "adjustment" else f"{label} (from {own_period})"
