"""The account, and the Cloudflare endpoints tools call before the real work: who am I, which account.

wrangler calls `GET /memberships` when it is not told the account, `GET …/workers/scripts/{name}/settings`
before a dispatch-namespace deploy (any 404 will do), and `…/secrets` when it has a terminal.
z0 has no scripts outside dispatch namespaces, so those answer Cloudflare's "script not found".
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from z0.control._auth import AccountId, Caller, registry_of
from z0.control._envelope import Envelope, ok
from z0.control._schemas import AccountOut
from z0.errors import Forbidden, ScriptNotFound

__all__ = ["router"]

router = APIRouter(tags=["accounts"])


def _account(request: Request, caller_account: str) -> AccountOut:
    account = registry_of(request).namespaces.account()
    if account is None or account.id != caller_account:
        raise Forbidden("Unauthorized to access requested resource: this token belongs to another account.")
    return AccountOut(id=account.id, name=f"z0 account {account.id}", created_on=account.created_on)


@router.get("/accounts", response_model=Envelope[list[AccountOut]], summary="The accounts this token reaches")
def list_accounts(caller: Caller, request: Request) -> Any:
    return ok([_account(request, caller.account_id)])


@router.get("/accounts/{account_id}", response_model=Envelope[AccountOut], summary="Get the account")
def get_account(account_id: AccountId, request: Request) -> Any:
    return ok(_account(request, account_id))


@router.get("/memberships", summary="The token's account memberships (wrangler asks this)")
def memberships(caller: Caller, request: Request) -> Any:
    account = _account(request, caller.account_id)
    membership = {
        "id": account.id,
        "status": "accepted",
        "account": {"id": account.id, "name": account.name},
        "roles": ["Administrator" if caller.is_operator else f"Tenant {caller.tenant_id}"],
    }
    return ok([membership])


@router.get("/user/tokens/verify", summary="Verify the API token")
def verify_user_token(caller: Caller) -> Any:
    return ok({"id": caller.id, "status": "active"})


@router.get("/accounts/{account_id}/tokens/verify", summary="Verify the API token")
def verify_account_token(account_id: AccountId, caller: Caller) -> Any:
    return ok({"id": caller.id, "status": "active"})


@router.get("/accounts/{account_id}/workers/scripts/{script_name}/{aspect}", include_in_schema=False)
def account_script_aspect(account_id: AccountId, script_name: str, aspect: str) -> Any:
    raise ScriptNotFound("workers.api.error.script_not_found")
