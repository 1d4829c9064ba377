from __future__ import annotations

from tests.conftest import HELLO, JS, Api


def test_default_namespaces_exist(api: Api) -> None:
    names = [ns["namespace_name"] for ns in api.ok("GET", api.path("/workers/dispatch/namespaces"))]
    assert names == ["z0-prod-tenants", "z0-staging-tenants", "z0-dev-tenants"]


def test_create_get_delete(api: Api) -> None:
    created = api.ok("POST", api.path("/workers/dispatch/namespaces"), json={"name": "customers-eu"})
    assert created["namespace_name"] == "customers-eu"
    assert created["script_count"] == 0 and created["trusted_workers"] is False
    got = api.ok("GET", api.path("/workers/dispatch/namespaces/customers-eu"))
    assert got["namespace_id"] == created["namespace_id"]
    api.upload("tenant_abc", {"index.js": (JS, HELLO)}, namespace="customers-eu")
    assert api.ok("GET", api.path("/workers/dispatch/namespaces/customers-eu"))["script_count"] == 1
    assert api.ok("DELETE", api.path("/workers/dispatch/namespaces/customers-eu")) is None
    assert api.call("GET", api.path("/workers/dispatch/namespaces/customers-eu")).status_code == 404
    # its scripts went with it: a namespace of the same name starts empty
    api.ok("POST", api.path("/workers/dispatch/namespaces"), json={"name": "customers-eu"})
    assert api.ok("GET", api.path("/workers/dispatch/namespaces/customers-eu/scripts")) == []


def test_duplicate_and_bad_names(api: Api) -> None:
    duplicate = api.call("POST", api.path("/workers/dispatch/namespaces"), json={"name": "z0-prod-tenants"})
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["errors"][0]["message"]
    bad = api.call("POST", api.path("/workers/dispatch/namespaces"), json={"name": "Bad Name"})
    assert bad.status_code == 400
    missing = api.call("POST", api.path("/workers/dispatch/namespaces"), json={})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["message"].startswith("Invalid request: name")
    assert api.call("DELETE", api.path("/workers/dispatch/namespaces/ghost")).status_code == 404
