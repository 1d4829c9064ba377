"""`z0 usage`, `z0 billing run`, `z0 invoices`, `z0 facts` and `z0 configs` against a real `z0 serve`.

Usage is written the way a gateway process writes it: entries appended to a usage log in the server's
data directory, which the server rolls up before it answers."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import LiveServer
from z0.cli import app, parse_moment
from z0.metering import Entry, Measures, UsageLog, UsageRecord, usage_directory


@pytest.fixture
def z0(live_server: LiveServer):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"Z0_API_URL": live_server.api_url, "Z0_API_TOKEN": live_server.token, "COLUMNS": "200"}

    def run(*args: str, ok: bool = True, token: str | None = None, stdin: str | None = None) -> str:
        result = runner.invoke(
            app, list(args), env={**env, **({"Z0_API_TOKEN": token} if token else {})}, input=stdin
        )
        if ok:
            assert result.exit_code == 0, result.output + repr(result.exception)
        else:
            assert result.exit_code == 1, result.output
            assert "Traceback" not in result.output
        return result.output

    return run


@pytest.fixture
def tenant(z0) -> str:  # type: ignore[no-untyped-def]
    name = f"m_{uuid.uuid4().hex[:8]}"
    z0("tenants", "create", name)
    return name


def write_usage(
    server: LiveServer, tenant: str, script: str, at: datetime, requests: int, cpu_ms: float
) -> None:
    log = UsageLog(usage_directory(server.data_dir))
    for _ in range(requests):
        record = UsageRecord(at.timestamp(), uuid.uuid4().hex, "z0-prod-tenants", script, tenant)
        log.append(Entry("final", record, Measures(200, "ok", cpu_ms, cpu_ms * 2, 1)))
    log.append(
        Entry(
            "final",
            UsageRecord(at.timestamp(), uuid.uuid4().hex, "z0-prod-tenants", script, tenant),
            Measures(500, "exception", cpu_ms, cpu_ms * 2, 0),
        )
    )
    log.close()


def test_parse_moment_takes_dates_times_and_times_ago() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_moment("2026-11-01", now=now) == "2026-11-01T00:00:00Z"
    assert parse_moment("2026-11-01T12:30:00+01:00", now=now) == "2026-11-01T11:30:00Z"
    assert parse_moment("7d", now=now) == (now - timedelta(days=7)).isoformat().replace("+00:00", "Z")
    assert parse_moment("30m", now=now) == "2026-11-25T11:30:00Z"
    assert parse_moment("now", now=now) == "2026-11-25T12:00:00Z"
    for bad in ("yesterday", "7x", "2026-13-01", ""):
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_moment(bad, now=now)


def test_usage_by_script_and_outcome(z0, live_server: LiveServer, tenant: str) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    write_usage(live_server, tenant, f"{tenant}-web", now, requests=3, cpu_ms=2.5)
    write_usage(live_server, tenant, f"{tenant}-hook", now, requests=1, cpu_ms=1.0)

    shown = z0("usage", tenant, "--since", "1h")
    assert re.search(r"requests\s+│\s+6\b", shown), shown
    assert f"{tenant}-web" in shown and f"{tenant}-hook" in shown
    assert "exception" in shown and "ok" in shown
    assert re.search(r"CPU ms\s+│\s+12\.000\b", shown), shown  # 4 at 2.5 + 2 at 1.0

    data = json.loads(z0("usage", tenant, "--since", "1h", "--script", f"{tenant}-web", "--json"))
    assert data["requests"] == 4 and data["subrequests"] == 3
    assert data["cpu_time_ms"] == pytest.approx(10.0)
    assert data["by_outcome"]["ok"]["requests"] == 3 and data["by_outcome"]["exception"]["requests"] == 1

    assert "No requests in this range." in z0(
        "usage", tenant, "--since", "2020-01-01", "--until", "2020-02-01"
    )
    refused = z0("usage", tenant, "--since", "last tuesday", ok=False)
    assert "--since" in refused and "ISO 8601" in refused
    assert "not found" in z0("usage", f"ghost_{uuid.uuid4().hex[:6]}", ok=False)


def test_configs_set_get_history(z0, tenant: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = f"plan_{uuid.uuid4().hex[:6]}"
    assert "is now version 1" in z0("configs", "set", name, '{"seats": 5, "tier": "pro"}')
    source = tmp_path / "config.json"
    source.write_text('{"seats": 10, "tier": "pro"}')
    assert "is now version 2" in z0("configs", "set", name, f"@{source}")
    assert f"for tenant {tenant} is now version" in z0(
        "configs", "set", name, "@-", "--tenant", tenant, stdin='{"seats": 50}'
    )

    effective = json.loads(z0("configs", "get", name, "--tenant", tenant, "--json"))
    assert effective["data"] == {"seats": 50, "tier": "pro"}
    assert effective["global_version"] == 2 and effective["tenant_version"] >= 1
    assert '"seats": 10' in z0("configs", "get", name)

    history = z0("configs", "history", name)
    assert re.search(rf"{name}\s+│\s+1\b", history) and re.search(rf"{name}\s+│\s+2\b", history)
    assert name in z0("configs", "list")

    assert "not valid JSON" in z0("configs", "set", name, "{seats: 5}", ok=False)
    assert "JSON object" in z0("configs", "set", name, "[1, 2]", ok=False)
    assert "There is no global Config" in z0("configs", "history", f"none_{uuid.uuid4().hex[:6]}", ok=False)
    # what was refused changed nothing
    assert json.loads(z0("configs", "get", name, "--json"))["config_version"] == 2


def test_facts_add_list_and_replay(z0, tenant: str) -> None:  # type: ignore[no-untyped-def]
    added = z0(
        "facts", "add", "--tenant", tenant, "--type", "charge", "--subtype", "tool_usage",
        "--amount", "12.50", "--tool-id", "search", "--data", '{"description": "200 searches"}',
        "--idempotency-key", f"{tenant}-1",
    )  # fmt: skip
    fact_id = re.search(r"Recorded Fact (fact_[0-9a-f]+)", added)
    assert fact_id is not None, added
    again = z0(
        "facts", "add", "--tenant", tenant, "--type", "charge", "--subtype", "tool_usage",
        "--amount", "12.50", "--tool-id", "search", "--data", '{"description": "200 searches"}',
        "--idempotency-key", f"{tenant}-1",
    )  # fmt: skip
    assert "Already recorded" in again and fact_id[1] in again
    conflict = z0(
        "facts", "add", "--tenant", tenant, "--type", "charge", "--subtype", "tool_usage",
        "--amount", "99", "--tool-id", "search", "--idempotency-key", f"{tenant}-1", ok=False,
    )  # fmt: skip
    assert "different Fact" in conflict
    z0("facts", "add", "--tenant", tenant, "--type", "credit", "--subtype", "promotion", "--amount", "5")
    assert "decimal" in z0(
        "facts", "add", "--tenant", tenant, "--type", "credit", "--subtype", "promotion", "--amount", "1e3",
        ok=False,
    )  # fmt: skip

    listed = json.loads(z0("facts", "list", "--tenant", tenant, "--json"))
    assert [(f["type"], f["amount"]) for f in listed] == [("charge", "12.5"), ("credit", "5")]
    assert listed[0]["data"] == {"description": "200 searches"}
    table = z0("facts", "list", "--tenant", tenant, "--type", "credit")
    assert "promotion" in table and "tool_usage" not in table
    first = z0("facts", "list", "--tenant", tenant, "--limit", "1")
    assert fact_id[1] in first and "More Facts follow" in first
    cursor = re.search(r"--cursor (fact_[0-9a-f]+)", first)
    assert cursor is not None
    rest = json.loads(z0("facts", "list", "--tenant", tenant, "--cursor", cursor[1], "--json"))
    assert [f["type"] for f in rest] == ["credit"]


def test_billing_run_and_invoices(z0, live_server: LiveServer, tenant: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    october = datetime(2026, 10, 14, 9, 30, tzinfo=UTC)
    write_usage(live_server, tenant, tenant, october, requests=1_999, cpu_ms=4.0)  # + 1 exception: 2,000

    refused = z0("billing", "run", "--period", "2999-01", ok=False)
    assert "not over" in refused

    ran = z0("billing", "run", "--period", "2026-10")
    assert "Billed 2026-10" in ran and tenant in ran

    invoices = z0("invoices", "list", "--tenant", tenant)
    invoice_id = re.search(r"(inv_[0-9a-z_]+)", invoices)
    assert invoice_id is not None, invoices
    assert "2026-10" in invoices

    shown = json.loads(z0("invoices", "show", invoice_id[1], "--json"))
    assert shown["tenant_id"] == tenant and shown["period"] == "2026-10" and shown["currency"] == "USD"
    # 2,000 requests and 8,000 CPU ms at the defaults (0.30/M requests, 0.02/M CPU ms, no markup):
    # 0.0006 + 0.00016, exact in the Facts, rounded half-up to cents on the invoice
    assert [line["amount"] for line in shown["lines"]] == ["0.00"] and shown["total"] == "0.00"

    table = z0("invoices", "show", invoice_id[1])
    assert f"Invoice {invoice_id[1]}" in table and "Total: 0.00 USD" in table

    page = tmp_path / "invoice.html"
    assert f"Wrote invoice {invoice_id[1]}" in z0("invoices", "show", invoice_id[1], "--html", str(page))
    html = page.read_text()
    assert html.lower().startswith("<!doctype html>") and tenant in html
    assert z0("invoices", "show", invoice_id[1], "--html", "-").strip() == html.strip()

    # billed already: nothing new, the same invoice
    assert "Nothing new to bill for 2026-10" in z0("billing", "run", "--period", "2026-10")
    assert len(re.findall(r"inv_[0-9a-z_]+", z0("invoices", "list", "--tenant", tenant))) == 1

    facts = json.loads(z0("facts", "list", "--tenant", tenant, "--json"))
    cost = next(f for f in facts if f["type"] == "cost")
    assert cost["subtype"] == "platform_compute" and cost["to_entity"] == "platform_z0"
    assert cost["data"]["requests"] == 2_000 and cost["data"]["cpu_time_ms"] == 8000
    assert cost["amount"] == "0.00076"
    charge = next(f for f in facts if f["type"] == "charge")
    assert charge["amount"] == "0.00076" and charge["data"]["cost_fact_id"] == cost["id"]

    assert "There is no invoice" in z0("invoices", "show", "inv_nope", ok=False)
    assert "No invoices match." in z0("invoices", "list", "--tenant", tenant, "--period", "2026-09")
