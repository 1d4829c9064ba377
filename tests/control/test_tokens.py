from __future__ import annotations

from tests.conftest import Api
from z0.registry import hash_secret


def test_tokens_shown_once_stored_hashed(api: Api) -> None:
    operator = api.ok("POST", api.path("/z0/tokens"), json={"name": "ci"})
    assert operator["value"].startswith("z0t_") and operator["tenant_id"] is None
    api.registry.tenants.create("tenant_abc")
    tenant = api.ok("POST", api.path("/z0/tokens"), json={"tenant_id": "tenant_abc"})
    assert tenant["tenant_id"] == "tenant_abc" and tenant["name"] == "tenant tenant_abc"
    listed = api.ok("GET", api.path("/z0/tokens"))
    assert {t["id"] for t in listed} >= {operator["id"], tenant["id"]}
    assert all("value" not in t for t in listed)
    with api.registry.engine.connect() as connection:
        stored = set(connection.exec_driver_sql("SELECT token_hash FROM api_tokens").scalars())
    assert hash_secret(operator["value"]) in stored
    assert operator["value"] not in stored
    # the operator token made by `create` works like any other
    assert api.call("GET", api.path("/z0/tenants"), token=operator["value"]).status_code == 200


def test_token_errors(api: Api) -> None:
    assert api.call("POST", api.path("/z0/tokens"), json={"tenant_id": "ghost"}).status_code == 404
    assert api.call("POST", api.path("/z0/tokens"), json={"tenant_id": "Bad-Id"}).status_code == 400
    assert api.call("DELETE", api.path("/z0/tokens/nope")).status_code == 404


def test_verify_and_accounts(api: Api) -> None:
    assert api.ok("GET", "/client/v4/user/tokens/verify")["status"] == "active"
    accounts = api.ok("GET", "/client/v4/accounts")
    assert [a["id"] for a in accounts] == [api.account_id]
    memberships = api.ok("GET", "/client/v4/memberships")
    assert memberships[0]["account"]["id"] == api.account_id
    settings = api.call("GET", api.path("/workers/scripts/tenant_abc/settings"))
    assert settings.status_code == 404 and settings.json()["errors"][0]["code"] == 10007
