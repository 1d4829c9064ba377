"""Scripts in a dispatch namespace: upload, list (and delete) by tag, read, content, versions, tags."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from z0.control._auth import AccountId, Caller, deployer_of, registry_of
from z0.control._envelope import Envelope, PagedEnvelope, ResultInfo, list_response, ok
from z0.control._multipart import multipart_body, read_upload
from z0.control._schemas import NamespaceScriptOut, ScriptUploadOut, VersionOut
from z0.errors import Z0Error
from z0.names import parse_tag_filter, script_owner
from z0.observe.metrics import Metrics
from z0.settings import Settings
from z0.uploads import prepare_upload

__all__ = ["router"]

router = APIRouter(
    prefix="/accounts/{account_id}/workers/dispatch/namespaces/{namespace}/scripts", tags=["scripts"]
)

TagFilter = Annotated[
    str | None,
    Query(description="Cloudflare's filter: TAG:yes,TAG:no, each split at its last colon (plan:pro:yes)."),
]

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["metadata"],
                    "properties": {
                        "metadata": {
                            "type": "string",
                            "description": "JSON: main_module (or body_part), bindings, tags, "
                            "compatibility_date, compatibility_flags.",
                        },
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One part per module; the module's name is the part's filename. "
                            "Types: application/javascript+module, text/javascript, application/javascript, "
                            "text/plain, application/octet-stream, application/source-map.",
                        },
                    },
                }
            }
        },
    }
}


@router.put(
    "/{script_name}",
    response_model=Envelope[ScriptUploadOut],
    summary="Upload a script (a new version)",
    openapi_extra=_UPLOAD_BODY,
)
async def upload_script(
    namespace: str,
    script_name: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    bindings_inherit: Annotated[
        str | None, Query(description="'strict': refuse an inherit binding the previous version lacks.")
    ] = None,
) -> Any:
    settings: Settings = request.app.state.settings
    metrics: Metrics = request.app.state.metrics
    try:
        metadata, parts = await read_upload(request, settings.max_upload_bytes)
        upload = await run_in_threadpool(
            prepare_upload, script_name, metadata, parts, max_bytes=settings.max_upload_bytes
        )
        script = await deployer_of(request).deploy(
            account_id,
            namespace,
            upload,
            acting_tenant=caller.tenant_id,
            strict_inherit=bindings_inherit == "strict",
        )
    except Exception:
        tenant = caller.tenant_id or await run_in_threadpool(_known_owner, request, script_name)
        metrics.deployment(tenant or "", succeeded=False)
        raise
    metrics.deployment(script.tenant_id or "", succeeded=True)
    return ok(ScriptUploadOut.of_upload(script))


def _known_owner(request: Request, script_name: str) -> str | None:
    """The tenant a refused upload's name names, if that tenant exists: a metric label comes from the
    registry, never from what a request made up."""
    try:
        owner = script_owner(script_name, [])
        if owner is not None:
            registry_of(request).tenants.get(owner)
    except Z0Error:
        return None
    return owner


@router.get(
    "",
    response_model=PagedEnvelope[list[NamespaceScriptOut]],
    summary="List scripts, optionally by tag",
)
def list_scripts(
    namespace: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    tags: TagFilter = None,
    page: Annotated[int | None, Query(ge=1)] = None,
    per_page: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Any:
    found = registry_of(request).scripts.find(
        account_id,
        namespace,
        tag_filter=parse_tag_filter(tags) if tags else (),
        tenant_id=caller.tenant_id,
    )
    if page is None and per_page is None:
        return list_response([NamespaceScriptOut.of(script) for script in found])
    page, per_page = page or 1, per_page or 100
    window = found[(page - 1) * per_page : page * per_page]
    return list_response(
        [NamespaceScriptOut.of(script) for script in window],
        ResultInfo(page=page, per_page=per_page, count=len(window), total_count=len(found)),
    )


@router.delete("", response_model=Envelope[list[str]], summary="Delete every script a tag filter matches")
def delete_scripts_by_tag(
    namespace: str, account_id: AccountId, caller: Caller, request: Request, tags: TagFilter = None
) -> Any:
    deleted = registry_of(request).scripts.delete_by_tags(
        account_id, namespace, parse_tag_filter(tags or ""), tenant_id=caller.tenant_id
    )
    return ok(deleted)


@router.get("/{script_name}", response_model=Envelope[NamespaceScriptOut], summary="Get a script")
def get_script(
    namespace: str, script_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    script = registry_of(request).scripts.get(
        account_id, namespace, script_name, acting_tenant=caller.tenant_id
    )
    return ok(NamespaceScriptOut.of(script))


@router.delete("/{script_name}", response_model=Envelope[None], summary="Delete a script and its versions")
def delete_script(
    namespace: str,
    script_name: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    force: bool = False,  # accepted as Cloudflare does; z0 has nothing that refers to a script
) -> Any:
    registry_of(request).scripts.delete(account_id, namespace, script_name, acting_tenant=caller.tenant_id)
    return ok(None)


@router.get(
    "/{script_name}/content",
    summary="The current version's modules, as multipart/form-data",
    response_class=Response,
    responses={200: {"content": {"multipart/form-data": {}}}},
)
def get_content(
    namespace: str, script_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    registry = registry_of(request)
    script = registry.scripts.get(account_id, namespace, script_name, acting_tenant=caller.tenant_id)
    modules = registry.scripts.modules(script.version.id)
    boundary = "z0-" + secrets.token_hex(12)
    body = multipart_body([(m.name, m.content_type, m.content) for m in modules], boundary)
    return Response(
        body,
        media_type=f"multipart/form-data; boundary={boundary}",
        headers={"cf-entrypoint": script.version.main_module, "etag": f'"{script.version.etag}"'},
    )


@router.get(
    "/{script_name}/versions",
    response_model=Envelope[list[VersionOut]],
    summary="Every version, newest first",
)
def list_versions(
    namespace: str, script_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    registry = registry_of(request)
    script = registry.scripts.get(account_id, namespace, script_name, acting_tenant=caller.tenant_id)
    versions = registry.scripts.versions(account_id, namespace, script_name, acting_tenant=caller.tenant_id)
    return ok([VersionOut.of(version, current=version.id == script.version.id) for version in versions])


@router.get("/{script_name}/tags", response_model=Envelope[list[str]], summary="A script's tags")
def get_tags(
    namespace: str, script_name: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    script = registry_of(request).scripts.get(
        account_id, namespace, script_name, acting_tenant=caller.tenant_id
    )
    return ok(list(script.tags))


@router.put("/{script_name}/tags", response_model=Envelope[list[str]], summary="Replace a script's tags")
def put_tags(
    namespace: str,
    script_name: str,
    account_id: AccountId,
    caller: Caller,
    request: Request,
    tags: Annotated[list[str] | None, Body(description="At most 8 tags.")] = None,
) -> Any:
    result = registry_of(request).scripts.set_tags(
        account_id, namespace, script_name, tags or [], acting_tenant=caller.tenant_id
    )
    return ok(result)


@router.put("/{script_name}/tags/{tag:path}", response_model=Envelope[list[str]], summary="Add one tag")
def put_tag(
    namespace: str, script_name: str, tag: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    result = registry_of(request).scripts.add_tag(
        account_id, namespace, script_name, tag, acting_tenant=caller.tenant_id
    )
    return ok(result)


@router.delete("/{script_name}/tags/{tag:path}", response_model=Envelope[list[str]], summary="Remove one tag")
def delete_tag(
    namespace: str, script_name: str, tag: str, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    result = registry_of(request).scripts.remove_tag(
        account_id, namespace, script_name, tag, acting_tenant=caller.tenant_id
    )
    return ok(result)
