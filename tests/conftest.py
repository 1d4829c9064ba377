"""Shared fixtures: registries on real SQLite files and the local PostgreSQL, the control API in process,
and `z0 serve` as a real process on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.support import LiveServer, start_server
from z0.bootstrap import bootstrap
from z0.control import create_control_app
from z0.registry import Registry
from z0.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "Z0_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# No test reaches past this machine: in-process connections are held to loopback and Unix sockets.
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family == socket.AF_UNIX:
        return
    host = address[0]
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise AssertionError(f"A test tried to connect to {address!r}, off this machine.")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


# Registries


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'z0.sqlite3'}"


def _postgres_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    url = make_url(POSTGRES_ADMIN_URL)
    try:
        psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, connect_timeout=3
        ).close()
    except psycopg.OperationalError as exc:
        return f"PostgreSQL is not reachable at {url.host}:{url.port} ({exc.__class__.__name__})"
    return None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server, dropped afterwards."""
    reason = _postgres_reason()
    if reason:
        pytest.skip(f"needs the local PostgreSQL: {reason}")
    import psycopg

    admin = make_url(POSTGRES_ADMIN_URL)
    name = f"z0_test_{uuid.uuid4().hex[:12]}"
    params = {"host": admin.host, "port": admin.port, "user": admin.username, "dbname": admin.database}
    with psycopg.connect(**params, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**params, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs on a real SQLite file and on the local PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def registry(database_url: str) -> Iterator[Registry]:
    registry = Registry.open(database_url)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def account_id(registry: Registry) -> str:
    return registry.namespaces.create_account("acc0123456789").id


# The control API in process


class Api:
    """A TestClient on the control API with the operator token and the account's paths."""

    def __init__(self, client: TestClient, registry: Registry, account_id: str, token: str) -> None:
        self.client = client
        self.registry = registry
        self.account_id = account_id
        self.token = token

    def path(self, suffix: str) -> str:
        return f"/client/v4/accounts/{self.account_id}{suffix}"

    def scripts_path(self, namespace: str = "z0-prod-tenants", suffix: str = "") -> str:
        return self.path(f"/workers/dispatch/namespaces/{namespace}/scripts{suffix}")

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"authorization": f"Bearer {token or self.token}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True and body["errors"] == []
        return body["result"]

    def upload(
        self,
        name: str,
        modules: dict[str, tuple[str, bytes | str]],
        *,
        namespace: str = "z0-prod-tenants",
        token: str | None = None,
        **metadata: Any,
    ) -> Any:
        """PUT a script: modules maps file name → (content type, content); metadata defaults main_module."""
        import json

        metadata.setdefault("main_module", next(iter(modules)))
        files: list[tuple[str, Any]] = [("metadata", (None, json.dumps(metadata), "application/json"))]
        for filename, (content_type, content) in modules.items():
            data = content.encode() if isinstance(content, str) else content
            files.append(("files", (filename, data, content_type)))
        return self.call("PUT", self.scripts_path(namespace, f"/{name}"), token=token, files=files)

    def tenant_token(self, tenant_id: str) -> str:
        if tenant_id not in {t.id for t in self.registry.tenants.list()}:
            self.registry.tenants.create(tenant_id)
        created = self.ok("POST", self.path("/z0/tokens"), json={"tenant_id": tenant_id})
        return str(created["value"])


HELLO = "export default { async fetch(request, env, ctx) { return new Response('hello'); } };\n"
JS = "application/javascript+module"


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, api_token=secrets.token_urlsafe(24))


@pytest.fixture
def api(sqlite_url: str, api_settings: Settings) -> Iterator[Api]:
    """The control API on a real SQLite file (the registry's own tests cover PostgreSQL)."""
    registry = Registry.open(sqlite_url)
    boot = bootstrap(registry, api_settings)
    assert api_settings.api_token is not None
    try:
        with TestClient(create_control_app(registry, api_settings), raise_server_exceptions=False) as client:
            yield Api(client, registry, boot.account_id, api_settings.api_token.get_secret_value())
    finally:
        registry.close()


# z0 serve as a real process


LIVE_CONFIG = """
[z0]
base_domain = "tenants.test"
executors = 2
max_request_bytes = 1048576

[z0.namespaces_by_host]
"*.staging.tenants.test" = "z0-staging-tenants"
"dev.localhost" = "z0-dev-tenants"

[z0.routes]
"/webhook/" = "{tenant_id}-webhook"
"/integrations/{name}/" = "{tenant_id}-integration-{name}"
"/legacy/" = "{tenant_id}-legacy"
"""


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One `z0 serve` for the session, on free ports of 127.0.0.1, with its own data directory:
    public traffic on {tenant-id}.tenants.test, staging on *.staging.tenants.test, dev on dev.localhost."""
    root = tmp_path_factory.mktemp("live-z0")
    (root / "z0.toml").write_text(LIVE_CONFIG)
    server = start_server(root / "data", "--config", str(root / "z0.toml"))
    try:
        yield server
    finally:
        server.stop()
