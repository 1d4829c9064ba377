"""The money API: Facts (append-only, idempotent, validated), Configs, billing runs and invoices, and what
a tenant token may see of them."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.billing.usage import record_usage
from tests.conftest import Api
from z0.billing import BillingRun, Period
from z0.metering import usage_directory

OCTOBER = datetime(2026, 10, 20, 8, 0, tzinfo=UTC)


def fact(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "charge",
        "subtype": "tool_usage",
        "tenant_id": "acme",
        "amount": "1.25",
        "currency": "USD",
        "tool_id": "search",
        "idempotency_key": "call-1",
    }
    body.update(changes)
    return body


def test_facts_are_appended_once_per_key_and_never_changed(api: Api) -> None:
    api.registry.tenants.create("acme")
    facts = api.path("/z0/facts")
    created = api.call("POST", facts, json=fact())
    assert created.status_code == 200, created.text
    body = created.json()["result"]
    assert (
        body["amount"] == "1.25" and body["from_entity"] == "acct_acme" and body["to_entity"] == "platform_z0"
    )
    replay = api.call("POST", facts, json=fact())
    assert replay.json()["result"]["id"] == body["id"] and replay.headers["idempotent-replayed"] == "true"
    reused = api.call("POST", facts, json=fact(amount="2"))
    assert reused.status_code == 409 and "different Fact" in reused.text
    by_header = api.call(
        "POST", facts, json=fact(idempotency_key=None), headers={"idempotency-key": "call-2"}
    )
    assert by_header.status_code == 200 and by_header.json()["result"]["idempotency_key"] == "call-2"
    for method in ("PUT", "PATCH", "DELETE"):
        assert api.call(method, f"{facts}/{body['id']}", json=fact()).status_code == 405
    assert api.ok("GET", f"{facts}/{body['id']}") == body


def test_bad_facts_are_refused_with_the_reason(api: Api) -> None:
    api.registry.tenants.create("acme")
    facts = api.path("/z0/facts")
    cases = [
        (fact(amount=1.25), "decimal string"),
        (fact(amount="1e3"), "decimal string"),
        (fact(currency="usd"), "ISO 4217"),
        (fact(type="gift"), "Unknown Fact kind"),
        (fact(subtype="platform_compute", tool_id=None), "billing run only"),
        (fact(tenant_id="nobody"), "does not exist"),
        (fact(idempotency_key=None), "idempotency key"),
        ({**fact(), "extra": 1}, "extra"),
    ]
    for body, reason in cases:
        response = api.call("POST", facts, json=body)
        assert response.status_code == 400, (body, response.text)
        assert reason in response.text, (reason, response.text)
    assert api.ok("GET", facts)["facts"] == []


def test_facts_list_pages_and_filters_and_tenant_tokens_see_their_own(api: Api) -> None:
    for tenant in ("acme", "globex"):
        api.registry.tenants.create(tenant)
    facts = api.path("/z0/facts")
    for n in range(5):
        api.ok("POST", facts, json=fact(idempotency_key=f"a{n}"))
    api.ok("POST", facts, json=fact(tenant_id="globex", idempotency_key="g"))
    api.ok("POST", facts, json=fact(type="credit", subtype="refund", tool_id=None, idempotency_key="r"))
    first = api.ok("GET", facts, params={"tenant_id": "acme", "type": "charge", "limit": 3})
    assert len(first["facts"]) == 3 and first["cursor"] == first["facts"][-1]["id"]
    rest = api.ok(
        "GET", facts, params={"tenant_id": "acme", "type": "charge", "limit": 3, "cursor": first["cursor"]}
    )
    assert len(rest["facts"]) == 2 and rest["cursor"] is None
    assert len(api.ok("GET", facts, params={"subtype": "refund"})["facts"]) == 1
    assert api.ok("GET", facts, params={"since": "2999-01-01T00:00:00Z"})["facts"] == []

    token = api.tenant_token("globex")
    own = api.ok("GET", facts, token=token)["facts"]
    assert [item["tenant_id"] for item in own] == ["globex"]
    assert api.call("GET", facts, token=token, params={"tenant_id": "acme"}).status_code == 403
    assert api.call("GET", f"{facts}/{first['facts'][0]['id']}", token=token).status_code == 404
    assert (
        api.call("POST", facts, token=token, json=fact(tenant_id="globex", idempotency_key="x")).status_code
        == 403
    )


def test_configs_versions_and_tenant_overrides(api: Api) -> None:
    api.registry.tenants.create("acme")
    api.registry.tenants.create("globex")
    pricing = {
        "per_million_requests": "0.30",
        "per_million_cpu_ms": "0.02",
        "markup": "0.2",
        "currency": "USD",
    }
    first = api.ok("PUT", api.path("/z0/configs/pricing"), json={"data": pricing})
    second = api.ok("PUT", api.path("/z0/configs/pricing"), json={"data": {**pricing, "markup": "0.25"}})
    assert (first["config_version"], second["config_version"]) == (1, 2)
    assert api.ok("GET", api.path("/z0/configs/pricing"))["data"]["markup"] == "0.25"
    assert [v["config_version"] for v in api.ok("GET", api.path("/z0/configs/pricing/versions"))] == [1, 2]
    api.ok("PUT", api.path("/z0/tenants/acme/configs/pricing"), json={"data": {"markup": "0.1"}})
    effective = api.ok("GET", api.path("/z0/tenants/acme/configs/pricing"))
    assert effective["data"] == {**pricing, "markup": "0.1"}
    assert (effective["global_version"], effective["tenant_version"]) == (2, 1)
    bad = api.call("PUT", api.path("/z0/configs/pricing"), json={"data": {"markup": 0.2}})
    assert bad.status_code == 400 and "decimal string" in bad.text
    assert api.call("GET", api.path("/z0/configs/missing")).status_code == 404

    token = api.tenant_token("acme")
    assert api.ok("GET", api.path("/z0/tenants/acme/configs/pricing"), token=token)["data"]["markup"] == "0.1"
    assert api.call("GET", api.path("/z0/tenants/globex/configs/pricing"), token=token).status_code == 403
    refused = api.call("PUT", api.path("/z0/tenants/acme/configs/pricing"), token=token, json={"data": {}})
    assert refused.status_code == 403


def test_billing_run_and_invoices_through_the_api(api: Api) -> None:
    api.registry.tenants.create("acme")
    api.registry.tenants.create("globex")
    api.ok(
        "PUT",
        api.path("/z0/configs/pricing"),
        json={"data": {"per_million_requests": "2000", "per_million_cpu_ms": "0", "markup": "0.5"}},
    )
    usage_dir = usage_directory(api.client.app.state.settings.data_dir)  # type: ignore[attr-defined]
    record_usage(api.registry, usage_dir, "acme", OCTOBER, requests=7)
    runs = api.path("/z0/billing/runs")
    this_month = Period.of(datetime.now(UTC))
    not_over = api.call("POST", runs, json={"period": this_month.name})
    assert not_over.status_code == 409 and "not over" in not_over.text
    assert api.call("POST", runs, json={"period": "2026-13"}).status_code == 400

    result = api.ok("POST", runs, json={"period": "2026-10"})
    assert result["facts_created"] == 2 and [i["tenant_id"] for i in result["invoices"]] == ["acme"]
    assert api.ok("POST", runs, json={"period": "2026-10"})["facts_created"] == 0
    # October is priced with what was in force when it ended: the pricing above came later, so the
    # built-in list prices apply (no retroactive price changes).
    (charge,) = api.ok("GET", api.path("/z0/facts"), params={"type": "charge"})["facts"]
    assert charge["data"]["pricing_versions"] == {"global": None, "tenant": None}
    assert charge["amount"] == "0.00000224"  # 7 * $0.30 / 1M + 7 CPU ms * $0.02 / 1M

    # This month, under the pricing set above (billed in process: the API bills closed periods only).
    record_usage(api.registry, usage_dir, "acme", datetime.now(UTC), requests=7)
    BillingRun(api.registry.db).run(this_month, now=this_month.end)
    (invoice,) = api.ok("GET", api.path("/z0/invoices"), params={"tenant": "acme", "period": this_month.name})
    # 7 requests at $0.002 = $0.014, plus 50 %: $0.021 → $0.02.
    assert invoice["total"] == "0.02" and [line["amount"] for line in invoice["lines"]] == ["0.02"]
    assert invoice["lines"][0]["description"] == f"Compute {this_month.name}: 7 requests, 7.0 CPU ms"
    assert api.ok("GET", api.path(f"/z0/invoices/{invoice['id']}")) == invoice
    assert len(api.ok("GET", api.path("/z0/invoices"))) == 2

    page = api.call("GET", api.path(f"/z0/invoices/{invoice['id']}/html"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert invoice["id"] in page.text and "0.02" in page.text and "acct_acme" in page.text

    token = api.tenant_token("globex")
    assert api.ok("GET", api.path("/z0/invoices"), token=token) == []
    assert api.call("GET", api.path(f"/z0/invoices/{invoice['id']}"), token=token).status_code == 404
    assert api.call("GET", api.path(f"/z0/invoices/{invoice['id']}/html"), token=token).status_code == 404
    assert api.call("POST", runs, token=token, json={"period": "2026-10"}).status_code == 403


def test_invoice_pages_escape_what_tenants_and_operators_wrote(api: Api) -> None:
    api.registry.tenants.create("acme")
    api.ok(
        "POST",
        api.path("/z0/facts"),
        json=fact(subtype="other", tool_id=None, data={"description": "<script>alert(1)</script>"}),
    )
    month = Period.of(datetime.now(UTC))
    BillingRun(api.registry.db).run(month, now=month.end)
    (invoice,) = api.ok("GET", api.path("/z0/invoices"))
    page = api.call("GET", api.path(f"/z0/invoices/{invoice['id']}/html")).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
