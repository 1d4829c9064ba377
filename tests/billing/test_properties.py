"""Property tests (hypothesis): for any usage and any pricing, the invoice adds up.

For each generated case, a fresh tenant gets usage through the real usage log and roll-up, its own
pricing Config, and a billing run (some usage arriving only after its period was invoiced). Then:
every invoice total is the sum of its lines; every line is its charge rounded half-up; the charges
are exactly the pricing formula applied to the summed usage; so the invoices are within half a minor
unit per line of it; and re-running the billing adds nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.billing.usage import record_usage
from z0.billing import BillingRun, ConfigStore, InvoiceStore, Ledger, Period
from z0.billing.money import MINOR_UNITS, round_money
from z0.registry import Registry

_tenants = itertools.count()

prices = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)
markups = st.decimals(min_value=0, max_value=3, places=3, allow_nan=False, allow_infinity=False)
usage_records = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=40),  # requests
        st.decimals(
            min_value=0, max_value=300, places=3, allow_nan=False, allow_infinity=False
        ),  # CPU ms each
        st.integers(min_value=0, max_value=27 * 24 * 60),  # minute of the month
        st.booleans(),  # arrives after the period was invoiced
    ),
    min_size=1,
    max_size=8,
)


@pytest.fixture(scope="module")
def billing_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Path]]:
    root = tmp_path_factory.mktemp("billing-properties")
    registry = Registry.open(f"sqlite:///{root / 'z0.sqlite3'}")
    try:
        yield registry, root / "usage"
    finally:
        registry.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    per_million_requests=prices,
    per_million_cpu_ms=prices,
    markup=markups,
    currency=st.sampled_from(["USD", "JPY", "KWD"]),
    records=usage_records,
)
def test_invoices_add_up_for_any_usage_and_pricing(
    billing_db: tuple[Registry, Path],
    per_million_requests: Decimal,
    per_million_cpu_ms: Decimal,
    markup: Decimal,
    currency: str,
    records: list[tuple[int, Decimal, int, bool]],
) -> None:
    registry, log_dir = billing_db
    tenant_id = f"prop_{next(_tenants)}"
    registry.tenants.create(tenant_id)
    pricing = {
        "per_million_requests": str(per_million_requests),
        "per_million_cpu_ms": str(per_million_cpu_ms),
        "markup": str(markup),
        "currency": currency,
    }
    ConfigStore(registry.db).put("pricing", pricing, tenant_id=tenant_id)
    period = Period.of(datetime.now(UTC))
    run = BillingRun(registry.db)

    def send(late: bool) -> None:
        for requests, cpu_ms, minute, arrives_late in records:
            if arrives_late == late:
                at = period.start + timedelta(minutes=minute)
                record_usage(registry, log_dir, tenant_id, at, requests=requests, cpu_ms=float(cpu_ms))

    send(late=False)
    run.run(period, now=period.end)
    send(late=True)
    run.run(period, now=period.end)  # the late usage: charged now, invoiced with the next period
    run.run(period.next(), now=period.next().end)
    assert run.run(period.next(), now=period.next().end).facts == []  # nothing new: nothing added

    total_requests = sum(requests for requests, *_ in records)
    total_cpu_ms = sum(requests * cpu_ms for requests, cpu_ms, *_ in records)
    expected_cost = (total_requests * per_million_requests + total_cpu_ms * per_million_cpu_ms) / 1_000_000
    ledger = Ledger(registry.db)
    costs = ledger.find(tenant_id=tenant_id, type="cost", limit=1000)
    charges = ledger.find(tenant_id=tenant_id, type="charge", limit=1000)
    assert sum(fact.data["requests"] for fact in costs) == total_requests
    assert sum(fact.amount for fact in costs) == expected_cost
    assert sum(fact.amount for fact in charges) == expected_cost * (1 + markup)

    invoices = InvoiceStore(registry.db).find(tenant_id=tenant_id)
    lines = [line for invoice in invoices for line in invoice.lines]
    assert sorted(line.fact_id for line in lines) == sorted(fact.id for fact in charges)  # each exactly once
    by_id = {fact.id: fact for fact in charges}
    for invoice in invoices:
        assert invoice.currency == currency
        assert invoice.total == sum(line.amount for line in invoice.lines)
        for line in invoice.lines:
            assert line.amount == round_money(by_id[line.fact_id].amount, currency)
    half_unit = Decimal(1).scaleb(-MINOR_UNITS[currency]) / 2
    invoiced = sum(invoice.total for invoice in invoices)
    assert abs(invoiced - expected_cost * (1 + markup)) <= half_unit * len(lines)
