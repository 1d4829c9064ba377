"""Workers KV: `/accounts/{account_id}/storage/kv/namespaces`, in Cloudflare's shapes.

z0 adds an owning `tenant_id` to a namespace: a tenant token creates namespaces for its own tenant
and sees and touches only those (another tenant's answers 404, as if it did not exist).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from z0.bindings.kv import MAX_LIST, MAX_VALUE_BYTES, KvData
from z0.control._auth import AccountId, Caller, registry_of
from z0.control._envelope import Envelope, ResultInfo, list_response, ok
from z0.control._multipart import read_body
from z0.errors import InvalidRequest, NotFound
from z0.registry import KvNamespace
from z0.registry._resources import D1Database

__all__ = ["router"]

router = APIRouter(prefix="/accounts/{account_id}/storage/kv/namespaces", tags=["kv"])


class KvNamespaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=255)
    tenant_id: str | None = Field(None, description="The tenant that owns it (z0's own field).")


class KvNamespaceOut(BaseModel):
    id: str
    title: str
    tenant_id: str | None
    supports_url_encoding: bool = True

    @classmethod
    def of(cls, namespace: KvNamespace | D1Database) -> KvNamespaceOut:
        assert isinstance(namespace, KvNamespace)
        return cls(id=namespace.id, title=namespace.title, tenant_id=namespace.tenant_id)


class KvKeyOut(BaseModel):
    name: str
    expiration: int | None = None
    metadata: Any = None


def _namespace(request: Request, account_id: str, namespace_id: str, caller: Caller) -> KvNamespace:
    found = registry_of(request).kv.get(account_id, namespace_id, acting_tenant=caller.tenant_id)
    assert isinstance(found, KvNamespace)
    return found


def _data(request: Request) -> KvData:
    return KvData(registry_of(request))


@router.post("", response_model=Envelope[KvNamespaceOut], summary="Create a KV namespace")
def create_namespace(body: KvNamespaceIn, account_id: AccountId, caller: Caller, request: Request) -> Any:
    tenant_id = body.tenant_id
    if caller.tenant_id is not None:
        if tenant_id not in (None, caller.tenant_id):
            raise NotFound(f"Tenant {tenant_id!r} was not found.")
        tenant_id = caller.tenant_id
    namespace = registry_of(request).kv.create(account_id, body.title, tenant_id=tenant_id)
    return ok(KvNamespaceOut.of(namespace))


@router.get("", response_model=Envelope[list[KvNamespaceOut]], summary="List KV namespaces")
def list_namespaces(
    account_id: AccountId,
    caller: Caller,
    request: Request,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=5, le=1000)] = 20,
) -> Any:
    found = registry_of(request).kv.list(account_id, tenant_id=caller.tenant_id)
    window = found[(page - 1) * per_page : page * per_page]
    info = ResultInfo(page=page, per_page=per_page, count=len(window), total_count=len(found))
    return list_response([KvNamespaceOut.of(namespace) for namespace in window], info)


@router.get("/{namespace_id}", response_model=Envelope[KvNamespaceOut], summary="Get a KV namespace")
def get_namespace(namespace_id: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    return ok(KvNamespaceOut.of(_namespace(request, account_id, namespace_id, caller)))


@router.delete("/{namespace_id}", response_model=Envelope[None], summary="Delete a KV namespace and its keys")
def delete_namespace(namespace_id: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    registry_of(request).kv.delete(account_id, namespace_id, acting_tenant=caller.tenant_id)
    return ok(None)


@router.get("/{namespace_id}/keys", summary="List a namespace's keys")
def list_keys(
    namespace_id: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    prefix: str = "",
    limit: Annotated[int, Query(ge=10, le=MAX_LIST)] = MAX_LIST,
    cursor: str | None = None,
) -> Any:
    _namespace(request, account_id, namespace_id, caller)
    listed = _data(request).list(namespace_id, prefix=prefix, limit=limit, cursor=cursor)
    keys = [KvKeyOut(**key).model_dump(exclude_none=True) for key in listed["keys"]]
    envelope = ok(keys)
    envelope["result_info"] = {"count": len(keys), "cursor": listed.get("cursor", "")}
    return envelope


@router.get("/{namespace_id}/values/{key_name:path}", summary="Read a value (the raw bytes)")
def read_value(
    namespace_id: str, key_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    _namespace(request, account_id, namespace_id, caller)
    entry = _data(request).get(namespace_id, key_name)
    if entry is None:
        raise NotFound("key not found")
    headers = {"expiration": str(entry.expiration)} if entry.expiration is not None else None
    return Response(entry.value, media_type="application/octet-stream", headers=headers)


@router.get("/{namespace_id}/metadata/{key_name:path}", summary="Read a key's metadata")
def read_metadata(
    namespace_id: str, key_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    _namespace(request, account_id, namespace_id, caller)
    entry = _data(request).get(namespace_id, key_name)
    if entry is None:
        raise NotFound("key not found")
    return ok(entry.metadata)


@router.put(
    "/{namespace_id}/values/{key_name:path}",
    response_model=Envelope[None],
    summary="Write a value (raw body, or multipart with `value` and `metadata`)",
)
async def write_value(
    namespace_id: str,
    key_name: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    expiration: int | None = None,
    expiration_ttl: int | None = None,
) -> Any:
    await run_in_threadpool(_namespace, request, account_id, namespace_id, caller)
    metadata: Any = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_part_size=MAX_VALUE_BYTES + 1024)
        raw = form.get("value")
        value = await raw.read() if isinstance(raw, UploadFile) else str(raw or "").encode()
        if form.get("metadata") is not None:
            try:
                metadata = json.loads(str(form.get("metadata")))
            except ValueError:
                raise InvalidRequest("The 'metadata' part is not valid JSON.") from None
        await form.close()
    else:
        value = await read_body(request, MAX_VALUE_BYTES)
    await run_in_threadpool(
        lambda: _data(request).put(
            namespace_id,
            key_name,
            value,
            expiration=expiration,
            expiration_ttl=expiration_ttl,
            metadata=metadata,
        )
    )
    return ok(None)


@router.delete(
    "/{namespace_id}/values/{key_name:path}", response_model=Envelope[None], summary="Delete a key"
)
def delete_value(
    namespace_id: str, key_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    _namespace(request, account_id, namespace_id, caller)
    _data(request).delete(namespace_id, key_name)
    return ok(None)
