"""API tokens for the control API: `/accounts/{account_id}/z0/tokens`.

An operator token may do everything; a tenant token only what concerns its tenant.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from z0.control._auth import AccountId, Operator, registry_of
from z0.control._envelope import Envelope, ok
from z0.control._schemas import TokenCreated, TokenIn, TokenOut
from z0.names import validate_tenant_id

__all__ = ["router"]

router = APIRouter(prefix="/accounts/{account_id}/z0/tokens", tags=["tokens"])


@router.post("", response_model=Envelope[TokenCreated], summary="Create an API token")
def create_token(body: TokenIn, account_id: AccountId, caller: Operator, request: Request) -> Any:
    if body.tenant_id is not None:
        validate_tenant_id(body.tenant_id)
    name = body.name or (f"tenant {body.tenant_id}" if body.tenant_id else "operator")
    token, secret = registry_of(request).credentials.create_token(
        account_id, name=name, tenant_id=body.tenant_id
    )
    return ok(TokenCreated(**TokenOut.of(token).model_dump(), value=secret))


@router.get("", response_model=Envelope[list[TokenOut]], summary="List API tokens")
def list_tokens(account_id: AccountId, caller: Operator, request: Request) -> Any:
    return ok([TokenOut.of(token) for token in registry_of(request).credentials.list_tokens(account_id)])


@router.delete("/{token_id}", response_model=Envelope[None], summary="Revoke an API token")
def revoke_token(token_id: str, account_id: AccountId, caller: Operator, request: Request) -> Any:
    registry_of(request).credentials.revoke_token(account_id, token_id)
    return ok(None)
