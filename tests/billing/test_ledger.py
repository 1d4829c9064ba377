"""The Facts ledger and Configs on real databases: append-only down to the database, idempotent appends,
validation, versioned Configs with per-tenant overrides, and money arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from z0.billing import BillingRun, ConfigStore, FactDraft, Ledger, Period
from z0.billing.money import format_amount, format_money, parse_amount, round_money
from z0.errors import Conflict, InvalidRequest
from z0.registry import Registry
from z0.registry._tables import configs, facts, invoice_lines, invoices


@pytest.fixture
def ledger(registry: Registry) -> Ledger:
    registry.tenants.create("acme")
    registry.tenants.create("globex", account_id="acct_globex_inc")
    return Ledger(registry.db)


def draft(**changes: object) -> FactDraft:
    values: dict[str, object] = {
        "type": "charge",
        "subtype": "tool_usage",
        "tenant_id": "acme",
        "amount": Decimal("0.125"),
        "currency": "USD",
        "idempotency_key": "call-1",
        "tool_id": "search",
        "data": {"calls": 1},
    }
    values.update(changes)
    return FactDraft(**values)  # type: ignore[arg-type]


def test_appending_fills_in_the_entities_and_is_idempotent(ledger: Ledger) -> None:
    fact, created = ledger.append(draft())
    assert created and fact.id.startswith("fact_")
    assert (fact.from_entity, fact.to_entity) == ("acct_acme", "platform_z0")
    assert fact.as_json()["amount"] == "0.125" and fact.as_json()["tool_id"] == "search"
    again, created_again = ledger.append(draft())
    assert (again.id, created_again) == (fact.id, False)
    with pytest.raises(Conflict, match="different Fact"):
        ledger.append(draft(amount=Decimal("0.126")))
    other, _ = ledger.append(draft(tenant_id="globex", idempotency_key="call-2"))
    assert other.from_entity == "acct_globex_inc"
    assert [f.id for f in ledger.find(tenant_id="acme")] == [fact.id]
    assert [f.id for f in ledger.find()] == sorted([fact.id, other.id])  # time-ordered ids


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "gift"}, "Unknown Fact kind"),
        ({"subtype": "platform_compute", "tool_id": None}, "billing run only"),
        ({"tool_id": None}, "need a tool_id"),
        ({"type": "charge", "subtype": "subscription"}, "have no tool_id"),
        ({"amount": Decimal("-1")}, "zero or more"),
        ({"currency": "XYZ"}, "ISO 4217"),
        ({"tenant_id": "nobody"}, "does not exist"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_invalid_facts_are_refused_with_the_reason(
    ledger: Ledger, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        ledger.append(draft(**changes))
    assert ledger.find() == []


def test_the_database_refuses_to_rewrite_history(registry: Registry, ledger: Ledger) -> None:
    fact, _ = ledger.append(draft())
    ConfigStore(registry.db).put("features", {"beta": True})
    month = Period.of(datetime.now(UTC))
    assert BillingRun(registry.db).run(month, now=month.end).invoices  # an invoice and its line
    attempts = [
        update(facts).where(facts.c.id == fact.id).values(amount="0"),
        delete(facts).where(facts.c.id == fact.id),
        update(configs).values(data_json="{}"),
        delete(configs),
        update(invoices).values(total="0"),
        delete(invoice_lines),
    ]
    for statement in attempts:
        with pytest.raises(DBAPIError, match="append-only"), registry.db.write() as connection:
            connection.execute(statement)
    if registry.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), registry.db.write() as connection:
            connection.execute(text("TRUNCATE facts CASCADE"))
    assert ledger.get(fact.id).amount == Decimal("0.125")


def test_configs_are_versioned_and_tenants_override_key_by_key(registry: Registry, ledger: Ledger) -> None:
    store = ConfigStore(registry.db)
    first = store.put("pricing", {"per_million_requests": "0.30", "markup": "0.2"})
    second = store.put("pricing", {"per_million_requests": "0.25", "markup": "0.2"})
    assert (first.version, second.version) == (1, 2)
    own = store.put("pricing", {"markup": "0.1"}, tenant_id="acme")
    assert own.version == 1
    effective = store.effective("pricing", "acme")
    assert effective is not None
    assert effective.data == {"per_million_requests": "0.25", "markup": "0.1"}
    assert (effective.global_version, effective.tenant_version) == (2, 1)
    globex = store.effective("pricing", "globex")
    assert globex is not None and globex.data["markup"] == "0.2" and globex.tenant_version is None
    assert [v.version for v in store.versions("pricing")] == [1, 2]
    assert store.current("pricing", before=second.created_at) == first
    assert store.effective("nothing", "acme") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"markup": 0.2}, "decimal string"),
        ({"markup": "-0.1"}, "zero or more"),
        ({"currency": "usd"}, "ISO 4217"),
        ({"discount": "1"}, "unknown pricing keys"),
    ],
)
def test_a_pricing_config_is_checked(
    registry: Registry, ledger: Ledger, data: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        ConfigStore(registry.db).put("pricing", data)
    with pytest.raises(InvalidRequest, match=message):
        ConfigStore(registry.db).put("pricing", data, tenant_id="acme")


def test_money_rounds_half_up_to_the_minor_unit() -> None:
    assert round_money(Decimal("0.005"), "USD") == Decimal("0.01")
    assert round_money(Decimal("0.00499999"), "USD") == Decimal("0.00")
    assert round_money(Decimal("-0.005"), "USD") == Decimal("-0.01")  # away from zero
    assert format_money(Decimal("1234.5"), "JPY") == "1235"
    assert format_money(Decimal("1.2345"), "KWD") == "1.235"
    assert format_money(Decimal("-0.001"), "USD") == "0.00"
    assert format_amount(Decimal("3E-7")) == "0.0000003"
    for bad in (1.5, "1e3", "NaN", "1.", ".5", "01", ""):
        with pytest.raises(ValueError, match="decimal string"):
            parse_amount(bad)
