"""A script's secrets and bindings: `…/namespaces/{ns}/scripts/{name}/secrets` and `…/bindings`.

Secret values go in and never come out: answers carry names and types only. Setting or deleting a
secret makes a new version of the script (as in Cloudflare), so running isolates pick it up.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from z0.control._auth import AccountId, Caller, deployer_of, registry_of
from z0.control._envelope import Envelope, ok
from z0.errors import NotFound

__all__ = ["router"]

router = APIRouter(
    prefix="/accounts/{account_id}/workers/dispatch/namespaces/{namespace}/scripts", tags=["secrets"]
)


class SecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    text: str = Field(max_length=5 * 1024, description="The value; never returned.")
    type: Literal["secret_text"] = "secret_text"

    def __repr__(self) -> str:
        return f"SecretIn(name={self.name!r}, text=<hidden>)"


class SecretOut(BaseModel):
    name: str
    type: Literal["secret_text"] = "secret_text"


@router.put(
    "/{script_name}/secrets", response_model=Envelope[SecretOut], summary="Set a secret (a new version)"
)
async def put_secret(
    namespace: str, script_name: str, body: SecretIn, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    deployer = deployer_of(request)
    await run_in_threadpool(
        lambda: deployer.set_secret(
            account_id, namespace, script_name, body.name, body.text, acting_tenant=caller.tenant_id
        )
    )
    return ok(SecretOut(name=body.name))


@router.get(
    "/{script_name}/secrets", response_model=Envelope[list[SecretOut]], summary="A script's secrets, by name"
)
def list_secrets(
    namespace: str, script_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    registry = registry_of(request)
    registry.scripts.get(account_id, namespace, script_name, acting_tenant=caller.tenant_id)
    namespace_id = registry.secrets.namespace_id(account_id, namespace)
    return ok([SecretOut(name=info.name) for info in registry.secrets.names(namespace_id, script_name)])


@router.get(
    "/{script_name}/secrets/{secret_name}",
    response_model=Envelope[SecretOut],
    summary="One secret (name only)",
)
def get_secret(
    namespace: str,
    script_name: str,
    secret_name: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
) -> Any:
    registry = registry_of(request)
    registry.scripts.get(account_id, namespace, script_name, acting_tenant=caller.tenant_id)
    namespace_id = registry.secrets.namespace_id(account_id, namespace)
    if secret_name not in {info.name for info in registry.secrets.names(namespace_id, script_name)}:
        raise NotFound(f"Script {script_name!r} has no secret {secret_name!r}.")
    return ok(SecretOut(name=secret_name))


@router.delete(
    "/{script_name}/secrets/{secret_name}",
    response_model=Envelope[None],
    summary="Delete a secret (a new version)",
)
def delete_secret(
    namespace: str,
    script_name: str,
    secret_name: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
) -> Any:
    deployer_of(request).delete_secret(
        account_id, namespace, script_name, secret_name, acting_tenant=caller.tenant_id
    )
    return ok(None)


@router.get(
    "/{script_name}/bindings", response_model=Envelope[list[dict[str, Any]]], summary="A script's bindings"
)
def list_bindings(
    namespace: str, script_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    """The current version's bindings; secrets by name and type only."""
    registry = registry_of(request)
    script = registry.scripts.get(account_id, namespace, script_name, acting_tenant=caller.tenant_id)
    bindings = [
        dict(b) for b in script.version.metadata.get("bindings") or [] if b.get("type") != "secret_text"
    ]
    namespace_id = registry.secrets.namespace_id(account_id, namespace)
    bindings += [
        {"name": info.name, "type": "secret_text"}
        for info in registry.secrets.names(namespace_id, script_name)
    ]
    return ok(sorted(bindings, key=lambda b: str(b["name"])))
