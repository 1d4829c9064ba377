"""The billing run on real databases (SQLite and PostgreSQL): usage → cost Fact → charge → invoice, exactly
as DESIGN.md shapes them; re-runs add nothing; late usage becomes an adjustment on the next invoice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.billing.usage import record_usage
from z0.billing import BillingRun, ConfigStore, FactDraft, InvoiceStore, Ledger, Period
from z0.errors import Conflict
from z0.registry import Registry

# The month the suite runs in, and the next: the pricing a test puts is put now, and a month is priced
# with the Config in force at its end, so the months billed here must end after the test starts.
MONTH = Period.of(datetime.now(UTC))
NEXT = MONTH.next()
IN_MONTH = MONTH.start + timedelta(days=13, hours=12)
IN_NEXT = NEXT.start + timedelta(days=2, hours=9, minutes=30)
AFTER_MONTH = MONTH.end + timedelta(minutes=5)
AFTER_NEXT = NEXT.end + timedelta(minutes=5)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "usage"


@pytest.fixture
def tenants(registry: Registry) -> list[str]:
    for tenant_id in ("acme", "globex"):
        registry.tenants.create(tenant_id)
    return ["acme", "globex"]


def price(registry: Registry, **data: str) -> None:
    ConfigStore(registry.db).put("pricing", {"currency": "USD", **data})


def test_a_period_becomes_cost_charge_and_invoice(
    registry: Registry, log_dir: Path, tenants: list[str]
) -> None:
    price(registry, per_million_requests="0.30", per_million_cpu_ms="0.02", markup="0.2")
    record_usage(registry, log_dir, "acme", IN_MONTH, requests=3000, cpu_ms=2.5)
    record_usage(registry, log_dir, "globex", IN_MONTH, requests=10, cpu_ms=1.0)

    result = BillingRun(registry.db).run(MONTH, now=AFTER_MONTH)
    assert result.tenants == 2 and len(result.invoices) == 2 and result.adjustments == 0

    ledger = Ledger(registry.db)
    (cost,) = ledger.find(tenant_id="acme", type="cost")
    assert (cost.type, cost.subtype, cost.from_entity, cost.to_entity, cost.tool_id) == (
        "cost",
        "platform_compute",
        "acct_acme",
        "platform_z0",
        None,
    )
    assert cost.data == {
        "compute_provider": "z0",
        "cpu_time_ms": 7500.0,
        "requests": 3000,
        "period_start": MONTH.start.isoformat().replace("+00:00", "Z"),
        "period_end": MONTH.end.isoformat().replace("+00:00", "Z"),
    }
    # 3000 requests at $0.30 per million + 7500 CPU ms at $0.02 per million, exactly.
    assert cost.amount == Decimal("0.0009") + Decimal("0.00015")
    (charge,) = ledger.find(tenant_id="acme", type="charge")
    assert (charge.subtype, charge.from_entity, charge.to_entity) == (
        "platform_compute",
        "acct_acme",
        "platform_z0",
    )
    assert charge.amount == cost.amount * Decimal("1.2")
    assert charge.data["cost_fact_id"] == cost.id and charge.data["markup"] == "0.2"

    (invoice,) = InvoiceStore(registry.db).find(tenant_id="acme", period=MONTH.name)
    assert [(line.kind, line.fact_id, line.amount) for line in invoice.lines] == [
        ("charge", charge.id, Decimal("0.00"))  # $0.00126 rounds half-up to $0.00
    ]
    assert invoice.total == Decimal("0.00") and invoice.currency == "USD"
    assert invoice.as_json()["total"] == "0.00"


def test_running_it_twice_adds_nothing(registry: Registry, log_dir: Path, tenants: list[str]) -> None:
    record_usage(registry, log_dir, "acme", IN_MONTH, requests=50, cpu_ms=3)
    run = BillingRun(registry.db)
    first = run.run(MONTH, now=AFTER_MONTH)
    assert len(first.facts) == 2 and len(first.invoices) == 1
    second = run.run(MONTH, now=AFTER_MONTH)
    assert (second.facts, second.invoices, second.tenants) == ([], [], 0)
    assert len(Ledger(registry.db).find()) == 2
    assert len(InvoiceStore(registry.db).find()) == 1


def test_a_period_is_billed_only_once_it_is_over(registry: Registry, tenants: list[str]) -> None:
    with pytest.raises(Conflict, match="not over"):
        BillingRun(registry.db).run(MONTH, now=MONTH.end - timedelta(minutes=1))


def test_late_usage_is_an_adjustment_on_the_next_invoice(
    registry: Registry, log_dir: Path, tenants: list[str]
) -> None:
    price(registry, per_million_requests="1000", per_million_cpu_ms="0", markup="0")  # $0.001 a request
    record_usage(registry, log_dir, "acme", IN_MONTH, requests=10)
    run = BillingRun(registry.db)
    run.run(MONTH, now=AFTER_MONTH)
    # Usage of the month that reached the database after the month was invoiced (a slow node, say).
    record_usage(registry, log_dir, "acme", IN_MONTH, requests=5)
    again = run.run(MONTH, now=AFTER_MONTH)
    assert again.adjustments == 1 and again.invoices == []  # charged now, invoiced next time
    record_usage(registry, log_dir, "acme", IN_NEXT, requests=20)
    next_month = run.run(NEXT, now=AFTER_NEXT)
    (invoice,) = next_month.invoices
    assert [(line.kind, line.period, line.amount) for line in invoice.lines] == [
        ("adjustment", MONTH.name, Decimal("0.01")),  # 5 late requests: $0.005 → $0.01 half-up
        ("charge", NEXT.name, Decimal("0.02")),
    ]
    assert invoice.total == Decimal("0.03")
    first = InvoiceStore(registry.db).find(tenant_id="acme", period=MONTH.name)[0]
    assert first.total == Decimal("0.01")  # $0.010
    # Everything used is charged exactly once across the two invoices.
    costs = Ledger(registry.db).find(tenant_id="acme", type="cost")
    assert sum(fact.data["requests"] for fact in costs) == 35


def test_each_month_is_priced_with_the_config_in_force_at_its_end(
    registry: Registry, log_dir: Path, tenants: list[str]
) -> None:
    price(registry, per_million_requests="1000", per_million_cpu_ms="0")
    configs = ConfigStore(registry.db)
    configs.put("pricing", {"markup": "0.5"}, tenant_id="acme")  # acme's override, key by key
    record_usage(registry, log_dir, "acme", IN_MONTH, requests=100)
    record_usage(registry, log_dir, "globex", IN_MONTH, requests=100)
    BillingRun(registry.db).run(MONTH, now=AFTER_MONTH)
    charges = {fact.tenant_id: fact for fact in Ledger(registry.db).find(type="charge")}
    assert charges["acme"].amount == Decimal("0.15") and charges["globex"].amount == Decimal("0.1")
    assert charges["acme"].data["pricing_versions"] == {"global": 1, "tenant": 1}
    assert charges["globex"].data["pricing_versions"] == {"global": 1, "tenant": None}


def test_a_soft_deleted_tenant_is_billed_for_its_last_period(
    registry: Registry, log_dir: Path, tenants: list[str]
) -> None:
    record_usage(registry, log_dir, "globex", IN_MONTH, requests=7)
    registry.tenants.delete("globex")
    result = BillingRun(registry.db).run(MONTH, now=AFTER_MONTH)
    assert [invoice.tenant_id for invoice in result.invoices] == ["globex"]


def test_posted_charges_and_credits_join_the_invoice_of_their_period(
    registry: Registry, log_dir: Path, tenants: list[str]
) -> None:
    ledger = Ledger(registry.db)
    for draft in (
        FactDraft("charge", "tool_usage", "acme", Decimal("1.005"), "USD", "k1", tool_id="search"),
        FactDraft(
            "credit", "promotion", "acme", Decimal("0.50"), "USD", "k2", data={"description": "Welcome"}
        ),
        FactDraft("charge", "subscription", "acme", Decimal("9"), "EUR", "k3"),
        FactDraft("cost", "tool_usage", "acme", Decimal("0.70"), "USD", "k4", tool_id="search"),
    ):
        ledger.append(draft)
    now = datetime.now(UTC)
    this_month = Period.of(now)
    # Facts are recorded now: they belong to this month, billed once it is over.
    result = BillingRun(registry.db).run(this_month, now=this_month.end)
    by_currency = {invoice.currency: invoice for invoice in result.invoices}
    usd = by_currency["USD"]
    assert [(line.kind, line.amount) for line in usd.lines] == [
        ("charge", Decimal("1.01")),  # half-up
        ("credit", Decimal("-0.50")),
    ]
    assert usd.total == Decimal("0.51")
    assert (
        usd.lines[0].description == "Tool usage (search)" and usd.lines[1].description == "Promotion: Welcome"
    )
    assert by_currency["EUR"].total == Decimal("9.00")
    # The cost is the platform's own: never on an invoice.
    assert all(line.fact_id != ledger.find(type="cost")[0].id for line in usd.lines)
