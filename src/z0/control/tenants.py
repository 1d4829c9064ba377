"""Tenants and their gateway keys: `/accounts/{account_id}/z0/tenants` (z0's own resource)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from z0.control._auth import AccountId, Operator, registry_of
from z0.control._envelope import Envelope, ok
from z0.control._schemas import KeyCreated, KeyOut, TenantIn, TenantOut, TenantPatch
from z0.registry import TenantLimits, TenantStatus

__all__ = ["router"]

router = APIRouter(prefix="/accounts/{account_id}/z0/tenants", tags=["tenants"])


@router.post("", response_model=Envelope[TenantOut], summary="Create a tenant")
def create_tenant(body: TenantIn, account_id: AccountId, caller: Operator, request: Request) -> Any:
    limits = TenantLimits(**body.limits.model_dump()) if body.limits else None
    tenant = registry_of(request).tenants.create(
        body.id, account_id=body.account_id, status=TenantStatus(body.status), limits=limits
    )
    return ok(TenantOut.of(tenant))


@router.get("", response_model=Envelope[list[TenantOut]], summary="List tenants (deleted ones on request)")
def list_tenants(
    account_id: AccountId,
    caller: Operator,
    request: Request,
    status: Annotated[Literal["active", "suspended", "deleted"] | None, Query()] = None,
) -> Any:
    tenants = registry_of(request).tenants.list(status=TenantStatus(status) if status else None)
    return ok([TenantOut.of(tenant) for tenant in tenants])


@router.get("/{tenant_id}", response_model=Envelope[TenantOut], summary="Get a tenant")
def get_tenant(tenant_id: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    return ok(TenantOut.of(registry_of(request).tenants.get(tenant_id)))


@router.patch("/{tenant_id}", response_model=Envelope[TenantOut], summary="Suspend, activate, or set limits")
def patch_tenant(
    tenant_id: str, body: TenantPatch, account_id: AccountId, caller: Operator, request: Request
) -> Any:
    tenant = registry_of(request).tenants.update(
        tenant_id,
        status=TenantStatus(body.status) if body.status else None,
        limits=body.limits.model_dump(exclude_unset=True) if body.limits else None,
    )
    return ok(TenantOut.of(tenant))


@router.delete("/{tenant_id}", response_model=Envelope[TenantOut], summary="Delete a tenant (soft)")
def delete_tenant(tenant_id: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    return ok(TenantOut.of(registry_of(request).tenants.delete(tenant_id)))


@router.post("/{tenant_id}/keys", response_model=Envelope[KeyCreated], summary="Create a gateway key")
def create_key(tenant_id: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    key, secret = registry_of(request).credentials.create_key(tenant_id)
    return ok(KeyCreated(**KeyOut.of(key).model_dump(), key=secret))


@router.get(
    "/{tenant_id}/keys", response_model=Envelope[list[KeyOut]], summary="List a tenant's gateway keys"
)
def list_keys(tenant_id: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    return ok([KeyOut.of(key) for key in registry_of(request).credentials.list_keys(tenant_id)])


@router.delete("/{tenant_id}/keys/{key_id}", response_model=Envelope[None], summary="Revoke a gateway key")
def revoke_key(tenant_id: str, key_id: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    registry_of(request).credentials.revoke_key(tenant_id, key_id)
    return ok(None)


@router.get(
    "/{tenant_id}/hostnames", response_model=Envelope[list[str]], summary="A tenant's custom hostnames"
)
def list_hostnames(tenant_id: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    return ok(sorted(registry_of(request).tenants.hostnames(tenant_id)))


@router.put(
    "/{tenant_id}/hostnames/{hostname}",
    response_model=Envelope[str],
    summary="Route a custom hostname's public traffic to this tenant",
)
def add_hostname(
    tenant_id: str, hostname: str, account_id: AccountId, caller: Operator, request: Request
) -> Any:
    return ok(registry_of(request).tenants.add_hostname(tenant_id, hostname))


@router.delete(
    "/{tenant_id}/hostnames/{hostname}", response_model=Envelope[None], summary="Remove a custom hostname"
)
def remove_hostname(
    tenant_id: str, hostname: str, account_id: AccountId, caller: Operator, request: Request
) -> Any:
    registry_of(request).tenants.remove_hostname(tenant_id, hostname)
    return ok(None)
