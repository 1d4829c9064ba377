"""Tenants, gateway keys and API tokens in the registry, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from z0.errors import (
    Conflict,
    InvalidName,
    InvalidRequest,
    KeyNotFound,
    NotFound,
    TenantNotFound,
    TokenNotFound,
)
from z0.registry import GATEWAY_KEY_PREFIX, Registry, TenantLimits, TenantStatus, hash_secret


def test_tenant_lifecycle(registry: Registry) -> None:
    tenant = registry.tenants.create("tenant_abc")
    assert (tenant.account_id, tenant.status, tenant.limits) == (
        "acct_tenant_abc",
        TenantStatus.ACTIVE,
        TenantLimits(),
    )
    assert (
        registry.tenants.update("tenant_abc", status=TenantStatus.SUSPENDED).status is TenantStatus.SUSPENDED
    )
    limited = registry.tenants.update("tenant_abc", limits={"cpu_ms": 20})
    assert limited.limits == TenantLimits(cpu_ms=20)
    assert limited.status is TenantStatus.SUSPENDED
    both = registry.tenants.update(
        "tenant_abc", status=TenantStatus.ACTIVE, limits={"memory_mb": 64, "cpu_ms": None}
    )
    assert both.limits == TenantLimits(memory_mb=64)
    deleted = registry.tenants.delete("tenant_abc")
    assert deleted.status is TenantStatus.DELETED
    assert registry.tenants.get("tenant_abc").status is TenantStatus.DELETED  # soft delete
    assert registry.tenants.list() == []
    assert [t.id for t in registry.tenants.list(status=TenantStatus.DELETED)] == ["tenant_abc"]
    with pytest.raises(Conflict, match="deleted"):
        registry.tenants.update("tenant_abc", status=TenantStatus.ACTIVE)
    with pytest.raises(Conflict, match="already exists"):
        registry.tenants.create("tenant_abc")


def test_tenant_errors(registry: Registry) -> None:
    with pytest.raises(InvalidName):
        registry.tenants.create("tenant-abc")
    with pytest.raises(TenantNotFound):
        registry.tenants.get("nobody")
    with pytest.raises(TenantNotFound):
        registry.tenants.update("nobody", status=TenantStatus.SUSPENDED)
    with pytest.raises(InvalidRequest):
        registry.tenants.create("tenant_x", status=TenantStatus.DELETED)
    registry.tenants.create("tenant_x", account_id="acct_shared")
    assert registry.tenants.get("tenant_x").account_id == "acct_shared"


def test_gateway_keys_are_shown_once_and_stored_hashed(registry: Registry) -> None:
    registry.tenants.create("tenant_abc")
    key, secret = registry.credentials.create_key("tenant_abc")
    assert secret.startswith(GATEWAY_KEY_PREFIX) and len(secret) > 40
    assert secret.startswith(key.prefix) and len(key.prefix) < len(secret) // 3
    with registry.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT key_hash FROM tenant_keys").scalars().all()
    assert stored == [hash_secret(secret)]
    assert registry.credentials.active_key_hashes() == {hash_secret(secret): "tenant_abc"}
    assert [k.id for k in registry.credentials.list_keys("tenant_abc")] == [key.id]
    registry.credentials.revoke_key("tenant_abc", key.id)
    assert registry.credentials.list_keys("tenant_abc") == []
    assert registry.credentials.active_key_hashes() == {}
    with pytest.raises(KeyNotFound):
        registry.credentials.revoke_key("tenant_abc", key.id)


def test_deleting_a_tenant_revokes_its_keys_and_tokens(registry: Registry, account_id: str) -> None:
    registry.tenants.create("tenant_abc")
    registry.credentials.create_key("tenant_abc")
    _, token = registry.credentials.create_token(account_id, name="t", tenant_id="tenant_abc")
    assert registry.credentials.authenticate(token) is not None
    registry.tenants.delete("tenant_abc")
    assert registry.credentials.active_key_hashes() == {}
    assert registry.credentials.authenticate(token) is None
    with pytest.raises(Conflict):
        registry.credentials.create_key("tenant_abc")


def test_api_tokens(registry: Registry, account_id: str) -> None:
    operator, secret = registry.credentials.create_token(account_id, name="ops")
    assert operator.is_operator and secret.startswith("z0t_")
    found = registry.credentials.authenticate(secret)
    assert found is not None and found.id == operator.id
    assert registry.credentials.authenticate(secret + "x") is None
    assert registry.credentials.authenticate("") is None
    registry.credentials.revoke_token(account_id, operator.id)
    assert registry.credentials.authenticate(secret) is None
    with pytest.raises(TokenNotFound):
        registry.credentials.revoke_token(account_id, operator.id)
    with pytest.raises(TenantNotFound):
        registry.credentials.create_token(account_id, name="t", tenant_id="nobody")


def test_env_token_is_replaced_not_added(registry: Registry, account_id: str) -> None:
    registry.credentials.set_env_token(account_id, "first-secret")
    registry.credentials.set_env_token(account_id, "second-secret")
    assert registry.credentials.authenticate("first-secret") is None
    token = registry.credentials.authenticate("second-secret")
    assert token is not None and token.is_operator
    assert len(registry.credentials.list_tokens(account_id)) == 1


def test_custom_hostnames(registry: Registry) -> None:
    registry.tenants.create("tenant_abc")
    registry.tenants.create("tenant_xyz")
    assert registry.tenants.add_hostname("tenant_abc", "Shop.Example.COM.") == "shop.example.com"
    assert registry.tenants.add_hostname("tenant_abc", "shop.example.com") == "shop.example.com"  # idempotent
    with pytest.raises(Conflict, match="another tenant"):
        registry.tenants.add_hostname("tenant_xyz", "shop.example.com")
    with pytest.raises(InvalidName):
        registry.tenants.add_hostname("tenant_abc", "not a host")
    with pytest.raises(InvalidName):
        registry.tenants.add_hostname("tenant_abc", "localhost")
    registry.tenants.add_hostname("tenant_xyz", "xyz.example.net")
    assert registry.tenants.hostnames() == {"shop.example.com": "tenant_abc", "xyz.example.net": "tenant_xyz"}
    assert registry.tenants.hostnames("tenant_abc") == {"shop.example.com": "tenant_abc"}
    registry.tenants.remove_hostname("tenant_abc", "shop.example.com")
    with pytest.raises(NotFound):
        registry.tenants.remove_hostname("tenant_abc", "shop.example.com")
    registry.tenants.delete("tenant_xyz")  # a deleted tenant's hostnames go with it
    assert registry.tenants.hostnames() == {}


def test_states_include_deleted_tenants(registry: Registry) -> None:
    registry.tenants.create("tenant_abc")
    registry.tenants.create("tenant_gone")
    registry.tenants.delete("tenant_gone")
    states = registry.tenants.states()
    assert states["tenant_abc"].status is TenantStatus.ACTIVE
    assert states["tenant_gone"].status is TenantStatus.DELETED


def test_states_follow_every_change_and_keep_unchanged_tenants(registry: Registry) -> None:
    for tenant_id in ("tenant_a", "tenant_b", "tenant_c"):
        registry.tenants.create(tenant_id)
    first = registry.tenants.states()
    registry.tenants.update("tenant_a", status=TenantStatus.SUSPENDED)
    registry.tenants.update("tenant_b", limits={"cpu_ms": 20})
    registry.tenants.create("tenant_d")
    second = registry.tenants.states()
    assert second["tenant_a"].status is TenantStatus.SUSPENDED
    assert second["tenant_b"].limits == TenantLimits(cpu_ms=20)
    assert second["tenant_d"].status is TenantStatus.ACTIVE
    assert second["tenant_c"] is first["tenant_c"]  # unchanged: not built again
    assert second["tenant_c"] == registry.tenants.get("tenant_c")
    registry.tenants.delete("tenant_c")
    assert registry.tenants.states()["tenant_c"].status is TenantStatus.DELETED
    assert {t.id: t for t in registry.tenants.list()} == {
        tenant_id: tenant
        for tenant_id, tenant in registry.tenants.states().items()
        if tenant.status is not TenantStatus.DELETED
    }
