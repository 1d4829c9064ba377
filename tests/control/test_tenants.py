from __future__ import annotations

from tests.conftest import Api
from z0.registry import hash_secret


def test_tenant_crud_and_soft_delete(api: Api) -> None:
    created = api.ok("POST", api.path("/z0/tenants"), json={"id": "tenant_abc"})
    assert created["id"] == "tenant_abc"
    assert created["account_id"] == "acct_tenant_abc"
    assert created["status"] == "active"
    assert created["limits"] == {"cpu_ms": None, "memory_mb": None, "subrequests": None}
    api.ok(
        "POST",
        api.path("/z0/tenants"),
        json={"id": "tenant_xyz", "status": "suspended", "limits": {"cpu_ms": 10}},
    )
    assert [t["id"] for t in api.ok("GET", api.path("/z0/tenants"))] == ["tenant_abc", "tenant_xyz"]
    assert [t["id"] for t in api.ok("GET", api.path("/z0/tenants"), params={"status": "suspended"})] == [
        "tenant_xyz"
    ]

    suspended = api.ok("PATCH", api.path("/z0/tenants/tenant_abc"), json={"status": "suspended"})
    assert suspended["status"] == "suspended"
    limited = api.ok(
        "PATCH", api.path("/z0/tenants/tenant_abc"), json={"limits": {"cpu_ms": 20, "subrequests": 5}}
    )
    assert limited["limits"] == {"cpu_ms": 20, "memory_mb": None, "subrequests": 5}
    assert limited["status"] == "suspended"
    restored = api.ok(
        "PATCH", api.path("/z0/tenants/tenant_abc"), json={"status": "active", "limits": {"cpu_ms": None}}
    )
    assert (
        restored["status"] == "active"
        and restored["limits"]["cpu_ms"] is None
        and restored["limits"]["subrequests"] == 5
    )

    deleted = api.ok("DELETE", api.path("/z0/tenants/tenant_abc"))
    assert deleted["status"] == "deleted"
    assert api.ok("GET", api.path("/z0/tenants/tenant_abc"))["status"] == "deleted"
    assert [t["id"] for t in api.ok("GET", api.path("/z0/tenants"))] == ["tenant_xyz"]
    assert api.call("PATCH", api.path("/z0/tenants/tenant_abc"), json={"status": "active"}).status_code == 409
    assert api.call("POST", api.path("/z0/tenants"), json={"id": "tenant_abc"}).status_code == 409


def test_tenant_validation(api: Api) -> None:
    for body, fragment in [
        ({"id": "tenant-abc"}, "Tenant id"),
        ({"id": "Tenant"}, "Tenant id"),
        ({"id": "t", "status": "deleted"}, "status"),
        ({"id": "t", "limits": {"cpu_ms": 0}}, "cpu_ms"),
        ({"id": "t", "limits": {"memory_mb": 999999}}, "memory_mb"),
        ({"id": "t", "limits": {"bogus": 1}}, "bogus"),
        ({"id": "t", "extra": 1}, "extra"),
    ]:
        response = api.call("POST", api.path("/z0/tenants"), json=body)
        assert response.status_code == 400, body
        assert fragment in response.json()["errors"][0]["message"], response.text
    assert api.call("PATCH", api.path("/z0/tenants/ghost"), json={"status": "active"}).status_code == 404
    assert api.call("PATCH", api.path("/z0/tenants/ghost"), json={"status": "deleted"}).status_code == 400


def test_gateway_keys(api: Api) -> None:
    api.ok("POST", api.path("/z0/tenants"), json={"id": "tenant_abc"})
    created = api.ok("POST", api.path("/z0/tenants/tenant_abc/keys"))
    assert created["key"].startswith("z0k_")
    assert created["key"].startswith(created["prefix"])
    listed = api.ok("GET", api.path("/z0/tenants/tenant_abc/keys"))
    assert listed == [{k: created[k] for k in ("id", "tenant_id", "prefix", "created_on")}]
    assert "key" not in listed[0]
    assert api.registry.credentials.active_key_hashes() == {hash_secret(created["key"]): "tenant_abc"}
    assert api.ok("DELETE", api.path(f"/z0/tenants/tenant_abc/keys/{created['id']}")) is None
    assert api.ok("GET", api.path("/z0/tenants/tenant_abc/keys")) == []
    assert api.call("DELETE", api.path(f"/z0/tenants/tenant_abc/keys/{created['id']}")).status_code == 404
    assert api.call("POST", api.path("/z0/tenants/ghost/keys")).status_code == 404
    assert api.call("GET", api.path("/z0/tenants/ghost/keys")).status_code == 404


def test_custom_hostnames_api(api: Api) -> None:
    api.ok("POST", api.path("/z0/tenants"), json={"id": "tenant_abc"})
    assert api.ok("PUT", api.path("/z0/tenants/tenant_abc/hostnames/Shop.Example.com")) == "shop.example.com"
    assert api.ok("GET", api.path("/z0/tenants/tenant_abc/hostnames")) == ["shop.example.com"]
    api.ok("POST", api.path("/z0/tenants"), json={"id": "tenant_xyz"})
    taken = api.call("PUT", api.path("/z0/tenants/tenant_xyz/hostnames/shop.example.com"))
    assert taken.status_code == 409
    bad = api.call("PUT", api.path("/z0/tenants/tenant_abc/hostnames/not_a_host"))
    assert bad.status_code == 400
    assert api.ok("DELETE", api.path("/z0/tenants/tenant_abc/hostnames/shop.example.com")) is None
    assert api.ok("GET", api.path("/z0/tenants/tenant_abc/hostnames")) == []
    assert (
        api.call("DELETE", api.path("/z0/tenants/tenant_abc/hostnames/shop.example.com")).status_code == 404
    )
