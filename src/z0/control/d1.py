"""D1 databases: `/accounts/{account_id}/d1/database`, in Cloudflare's shapes.

z0 adds an owning `tenant_id` to a database: a tenant token creates databases for its own tenant and
sees, queries and deletes only those (another tenant's answers 404, as if it did not exist).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from z0.bindings.d1 import D1Error, D1Store, Statement, split_statements
from z0.control._auth import AccountId, Caller, registry_of
from z0.control._envelope import Envelope, ResultInfo, list_response, ok
from z0.errors import NotFound
from z0.registry import ApiToken
from z0.registry._resources import D1Database, KvNamespace

__all__ = ["router"]

router = APIRouter(prefix="/accounts/{account_id}/d1/database", tags=["d1"])


class D1DatabaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    tenant_id: str | None = Field(None, description="The tenant that owns it (z0's own field).")
    primary_location_hint: str | None = Field(None, description="Accepted from Cloudflare clients; ignored.")
    jurisdiction: str | None = Field(None, description="Accepted from Cloudflare clients; ignored.")


class D1DatabaseOut(BaseModel):
    uuid: str
    name: str
    created_at: datetime
    version: str = "production"
    tenant_id: str | None
    num_tables: int | None = None
    file_size: int | None = None

    @classmethod
    def of(
        cls, database: D1Database | KvNamespace, num_tables: int | None = None, file_size: int | None = None
    ) -> D1DatabaseOut:
        assert isinstance(database, D1Database)
        return cls(
            uuid=database.id,
            name=database.name,
            created_at=database.created_on,
            tenant_id=database.tenant_id,
            num_tables=num_tables,
            file_size=file_size,
        )


class D1QueryItem(BaseModel):
    sql: str = Field(description="One statement, or several separated by semicolons.")
    params: list[Any] = Field(default_factory=list, description="Values for `?` and `?NNN` (one statement).")


class D1QueryIn(BaseModel):
    sql: str | None = Field(None, description="One statement, or several separated by semicolons.")
    params: list[Any] = Field(default_factory=list, description="Values for `?` and `?NNN` (one statement).")
    batch: list[D1QueryItem] | None = Field(None, description="Instead of `sql`: queries run as one batch.")


class D1QueryResult(BaseModel):
    results: list[dict[str, Any]]
    success: bool = True
    meta: dict[str, Any]


class D1RawRows(BaseModel):
    columns: list[str]
    rows: list[list[Any]]


class D1RawResult(BaseModel):
    results: D1RawRows
    success: bool = True
    meta: dict[str, Any]


def _store(request: Request) -> D1Store:
    """This app's store (one per process: it keeps the open connections)."""
    state = request.app.state
    store: D1Store | None = getattr(state, "d1_store", None)
    if store is None:
        store = state.d1_store = D1Store.from_settings(state.settings)
    return store


async def _database(request: Request, account_id: str, database_id: str, caller: ApiToken) -> D1Database:
    registry = registry_of(request)
    found = await run_in_threadpool(registry.d1.get, account_id, database_id, acting_tenant=caller.tenant_id)
    assert isinstance(found, D1Database)
    return found


@router.post("", response_model=Envelope[D1DatabaseOut], summary="Create a D1 database")
async def create_database(body: D1DatabaseIn, account_id: AccountId, caller: Caller, request: Request) -> Any:
    tenant_id = body.tenant_id
    if caller.tenant_id is not None:
        if tenant_id not in (None, caller.tenant_id):
            raise NotFound(f"Tenant {tenant_id!r} was not found.")
        tenant_id = caller.tenant_id
    registry = registry_of(request)
    database = await run_in_threadpool(registry.d1.create, account_id, body.name, tenant_id=tenant_id)
    try:
        size = await run_in_threadpool(_store(request).create, database.id)
    except BaseException:
        await run_in_threadpool(registry.d1.delete, account_id, database.id)
        raise
    return ok(D1DatabaseOut.of(database, num_tables=0, file_size=size))


@router.get("", response_model=Envelope[list[D1DatabaseOut]], summary="List D1 databases")
async def list_databases(
    account_id: AccountId,
    caller: Caller,
    request: Request,
    name: Annotated[str | None, Query(description="Only databases whose name contains this.")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=10, le=10_000)] = 1000,
) -> Any:
    found = await run_in_threadpool(registry_of(request).d1.list, account_id, tenant_id=caller.tenant_id)
    found = [db for db in found if isinstance(db, D1Database) and (name is None or name in db.name)]
    window = found[(page - 1) * per_page : page * per_page]
    info = ResultInfo(page=page, per_page=per_page, count=len(window), total_count=len(found))
    return list_response([D1DatabaseOut.of(database) for database in window], info)


@router.get("/{database_id}", response_model=Envelope[D1DatabaseOut], summary="Get a D1 database")
async def get_database(database_id: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    database = await _database(request, account_id, database_id, caller)
    try:
        details = await _store(request).details(database_id)
    except D1Error:
        return ok(D1DatabaseOut.of(database))  # its file is gone: the record still shows
    return ok(D1DatabaseOut.of(database, details["num_tables"], details["file_size"]))


@router.delete("/{database_id}", response_model=Envelope[None], summary="Delete a D1 database and its data")
async def delete_database(database_id: str, account_id: AccountId, caller: Caller, request: Request) -> Any:
    registry = registry_of(request)
    await run_in_threadpool(registry.d1.delete, account_id, database_id, acting_tenant=caller.tenant_id)
    await _store(request).delete(database_id)
    return ok(None)


@router.post(
    "/{database_id}/query",
    response_model=Envelope[list[D1QueryResult]],
    summary="Run SQL: one result per statement, rows as objects (all statements in one transaction)",
)
async def query_database(
    database_id: str, body: D1QueryIn, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    results = await _run(request, account_id, database_id, caller, body)
    return JSONResponse(
        ok(
            [
                {"results": _objects(r["columns"], r["rows"]), "success": True, "meta": r["meta"]}
                for r in results
            ]
        )
    )


@router.post(
    "/{database_id}/raw",
    response_model=Envelope[list[D1RawResult]],
    summary="Run SQL: one result per statement, rows as arrays with the column names",
)
async def raw_query(
    database_id: str, body: D1QueryIn, account_id: AccountId, caller: Caller, request: Request
) -> Any:
    results = await _run(request, account_id, database_id, caller, body)
    return JSONResponse(
        ok(
            [
                {"results": {"columns": r["columns"], "rows": r["rows"]}, "success": True, "meta": r["meta"]}
                for r in results
            ]
        )
    )


async def _run(
    request: Request, account_id: str, database_id: str, caller: ApiToken, body: D1QueryIn
) -> list[dict[str, Any]]:
    await _database(request, account_id, database_id, caller)
    return await _store(request).batch(database_id, _statements(body))


def _statements(body: D1QueryIn) -> list[Statement]:
    if body.batch is not None:
        queries = body.batch
    elif body.sql is not None:
        queries = [D1QueryItem(sql=body.sql, params=body.params)]
    else:
        raise D1Error("Send `sql` (with `params`), or `batch`: a list of {sql, params}.")
    statements: list[Statement] = []
    for query in queries:
        parts = [text for _, text in split_statements(query.sql)]
        if not parts:
            raise D1Error("No SQL statements detected.")
        if query.params and len(parts) > 1:
            raise D1Error(
                "Parameters go with a single statement; send several in `batch`, each with its params."
            )
        statements.extend(Statement(text, query.params) for text in parts)
    return statements


def _objects(columns: list[str], rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]
