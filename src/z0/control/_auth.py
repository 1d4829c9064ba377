"""Who is calling: the bearer API token, checked on every request, and what it may touch."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from z0.deploys import Deployer
from z0.errors import Forbidden, Unauthenticated
from z0.registry import ApiToken, Registry

__all__ = ["AccountId", "Caller", "Operator", "acting_tenant", "deployer_of", "registry_of"]


def registry_of(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def deployer_of(request: Request) -> Deployer:
    state = request.app.state
    return Deployer(state.registry, state.runtime, state.settings, state.secret_box)


async def _caller(request: Request) -> ApiToken:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("Authentication error: send an API token as 'Authorization: Bearer <token>'.")
    token = await run_in_threadpool(registry_of(request).credentials.authenticate, secret.strip())
    if token is None:
        raise Unauthenticated("Authentication error: the API token is not valid.")
    return token


Caller = Annotated[ApiToken, Depends(_caller)]


def _account(
    account_id: Annotated[str, Path(description="The account id printed by `z0 serve`.")], caller: Caller
) -> str:
    if account_id != caller.account_id:
        raise Forbidden("Unauthorized to access requested resource: this token belongs to another account.")
    return account_id


AccountId = Annotated[str, Depends(_account)]


def _operator(caller: Caller) -> ApiToken:
    if not caller.is_operator:
        raise Forbidden(
            "This needs an operator API token; tenant tokens reach only their tenant's resources."
        )
    return caller


Operator = Annotated[ApiToken, Depends(_operator)]


def acting_tenant(caller: ApiToken) -> str | None:
    """The tenant a tenant token is limited to; None for an operator token."""
    return caller.tenant_id
