"""Builds the control API: every route under `/client/v4`, every error as a v4 envelope."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import z0
from z0.bindings.platform import build_host_ops
from z0.control import (
    accounts,
    billing,
    d1,
    kv,
    namespaces,
    observe,
    scripts,
    secrets,
    tenants,
    tokens,
    usage,
)
from z0.control._envelope import error_response
from z0.errors import Unauthenticated, Z0Error
from z0.metering import UsageRollup
from z0.observe.health import Health
from z0.observe.metrics import Metrics, MetricsFiles
from z0.observe.tail import TailHub
from z0.registry import Registry
from z0.runtime.supervisor import Runtime, RuntimeConfig
from z0.secrets import SecretBox
from z0.settings import Settings

__all__ = ["API_PREFIX", "create_control_app"]

API_PREFIX = "/client/v4"
logger = logging.getLogger("z0.control")
access_logger = logging.getLogger("z0.control.access")


def create_control_app(
    registry: Registry,
    settings: Settings,
    runtime: Runtime | None = None,
    *,
    rollup: UsageRollup | None = None,
    metrics: Metrics | None = None,
    metrics_files: MetricsFiles | None = None,
    tail: TailHub | None = None,
) -> FastAPI:
    """The control API. Uploads are checked by evaluating them once in `runtime`'s executors; without
        one, the app starts a runtime of its own (one executor) for its lifetime. Usage queries roll up
        the usage log under the data directory first (`rollup`, else one of its own). `/metrics` merges the
    snapshots in `metrics_files` with this process's `metrics`; `tail` is the hub `z0 tail` reads."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is not None:
            yield
            return
        config = RuntimeConfig(executors=1, startup_cpu_ms=settings.startup_cpu_ms)
        async with Runtime(config, host_ops=app.state.host_ops) as own:
            app.state.runtime = own
            app.state.health.runtime = own
            yield
        if (store := getattr(app.state, "d1_store", None)) is not None:
            await store.close()

    app = FastAPI(
        lifespan=lifespan,
        title="z0 control API",
        version=z0.__version__,
        description="Cloudflare API v4 paths and envelope for dispatch namespaces and scripts, and z0's "
        "own tenants, gateway keys and API tokens. Authenticate with 'Authorization: Bearer <token>'.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.registry = registry
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.secret_box = SecretBox.for_data_dir(settings.data_dir, _master_key(settings))
    app.state.host_ops = build_host_ops(settings, registry)
    app.state.rollup = rollup or UsageRollup.for_settings(settings, registry.db)
    app.state.metrics = metrics or Metrics()
    app.state.metrics_files = metrics_files or MetricsFiles.for_data_dir(settings.data_dir)
    app.state.tail = tail or TailHub(settings.tail_ring_size)
    app.state.health = Health(
        registry,
        runtime,
        app.state.metrics_files,
        stale_after_s=max(5.0, settings.metrics_flush_interval_s * 3 + 2),
    )
    for module in (accounts, namespaces, scripts, secrets, tenants, tokens, kv, d1, usage, billing, observe):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(observe.probes)
    app.add_exception_handler(Z0Error, _z0_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(AccessLogMiddleware)
    return app


class AccessLogMiddleware:
    """One line per control API request: client, method, path, status, time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            client = scope.get("client") or ("-", 0)
            query = scope.get("query_string", b"")
            path = scope["path"] + ("?" + query.decode("latin-1") if query else "")
            access_logger.info(
                '%s:%s - "%s %s" %d %.1fms',
                client[0], client[1], scope["method"], path, status, (time.perf_counter() - started) * 1000,
            )  # fmt: skip


def _master_key(settings: Settings) -> str | None:
    return settings.master_key.get_secret_value() if settings.master_key else None


async def _z0_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Z0Error)
    headers = {"www-authenticate": 'Bearer realm="z0"'} if isinstance(exc, Unauthenticated) else None
    return error_response(exc.status, exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return error_response(400, 10001, "Invalid request: " + "; ".join(problems))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(
            404, 7003, f"Could not route to {request.url.path}, perhaps your object identifier is invalid?"
        )
    if exc.status_code == 405:
        return error_response(405, 10405, f"Method {request.method} not allowed for {request.url.path}.")
    return error_response(exc.status_code, 10000 + exc.status_code, str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(
        500, 10002, "Internal error: z0 could not complete the request; see the server log."
    )
