"""The `z0` command: `z0 serve` runs the platform; the other commands drive its control API.

z0 serve
z0 namespaces list|create|delete
z0 deploy NAME FILE… --namespace NS [--tag TAG]… [--main-module F]
z0 scripts list|show|delete
z0 tenants create|list|show|suspend|activate|limits|delete
z0 keys create|list|revoke TENANT
z0 tokens create [--tenant T]|list|revoke
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import z0
from z0.client import ApiError, Z0Client

__all__ = ["app", "main"]

app = typer.Typer(
    name="z0",
    help="z0: a self-hosted Workers for Platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
namespaces_app = typer.Typer(help="Dispatch namespaces.", no_args_is_help=True)
scripts_app = typer.Typer(help="Scripts (user workers) in a namespace.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants: status and limits.", no_args_is_help=True)
keys_app = typer.Typer(help="A tenant's gateway keys (z0k_…).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for the control API.", no_args_is_help=True)
secrets_app = typer.Typer(help="Scripts' secrets (values are never shown).", no_args_is_help=True)
app.add_typer(namespaces_app, name="namespaces")
app.add_typer(scripts_app, name="scripts")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(tokens_app, name="tokens")
app.add_typer(secrets_app, name="secrets")

# Piped output keeps whole rows (no terminal width to fit): 200 columns.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

NamespaceOption = Annotated[
    str, typer.Option("--namespace", "-n", envvar="Z0_NAMESPACE", help="The dispatch namespace.")
]


class _Connection:
    api_url: str = "http://127.0.0.1:8788"
    token: str | None = None
    account_id: str | None = None


_connection = _Connection()


@app.callback()
def _global_options(
    api_url: Annotated[
        str, typer.Option(envvar="Z0_API_URL", help="The control API's address.")
    ] = "http://127.0.0.1:8788",
    token: Annotated[
        str | None, typer.Option("--token", envvar="Z0_API_TOKEN", help="An API token.", show_default=False)
    ] = None,
    account_id: Annotated[
        str | None,
        typer.Option(envvar="Z0_ACCOUNT_ID", help="The account (default: the token's).", show_default=False),
    ] = None,
) -> None:
    _connection.api_url = api_url
    _connection.token = token
    _connection.account_id = account_id


@contextmanager
def _client() -> Iterator[Z0Client]:
    if not _connection.token:
        _fail("No API token: set Z0_API_TOKEN (or pass --token). `z0 serve` prints one on first start.")
    try:
        with Z0Client(_connection.api_url, _connection.token, _connection.account_id) as client:
            yield client
    except ApiError as exc:
        _fail(exc.message)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "-"
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


# serve


@app.command()
def serve(
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the data lives [env Z0_DATA_DIR; default ./z0-data].")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Listen address [default 127.0.0.1].")] = None,
    gateway_port: Annotated[int | None, typer.Option(help="The gateway's port [default 8787].")] = None,
    api_port: Annotated[int | None, typer.Option(help="The control API's port [default 8788].")] = None,
    account_id: Annotated[str | None, typer.Option(help="The account id to create on first start.")] = None,
    namespace: Annotated[
        str | None, typer.Option(help="The namespace the gateway serves [default z0-prod-tenants].")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Gateway processes [default: one per CPU].")] = None,
    executors: Annotated[
        int | None, typer.Option(help="JS executor processes [default: one per CPU].")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(envvar="Z0_CONFIG", help="A TOML settings file (flags and env win).")
    ] = None,
) -> None:
    """Run z0: the control API (and the gateway) until Ctrl-C or SIGTERM."""
    from pydantic import ValidationError

    from z0.bootstrap import BootstrapError
    from z0.server import ServeError, Z0Server
    from z0.settings import Settings

    try:
        settings = Settings.load(
            config,
            data_dir=data_dir,
            host=host,
            gateway_port=gateway_port,
            api_port=api_port,
            account_id=account_id,
            namespace=namespace,
            workers=workers,
            executors=executors,
        )
    except (ValidationError, ValueError) as exc:
        _fail(f"invalid settings: {exc}")
    try:
        Z0Server(settings).run()
    except (ServeError, BootstrapError) as exc:
        _fail(str(exc))


@app.command()
def version() -> None:
    """Print z0's version."""
    out.print(z0.__version__)


# namespaces


@namespaces_app.command("list")
def namespaces_list() -> None:
    """List dispatch namespaces."""
    with _client() as client:
        found = client.request("GET", client.account_path("/workers/dispatch/namespaces"))
    _table(
        "Dispatch namespaces",
        ["name", "id", "scripts", "created"],
        [(ns["namespace_name"], ns["namespace_id"], ns["script_count"], ns["created_on"]) for ns in found],
    )


@namespaces_app.command("create")
def namespaces_create(name: str) -> None:
    """Create a dispatch namespace."""
    with _client() as client:
        ns = client.request("POST", client.account_path("/workers/dispatch/namespaces"), json={"name": name})
    out.print(f"Created namespace [bold]{ns['namespace_name']}[/] ({ns['namespace_id']}).")


@namespaces_app.command("delete")
def namespaces_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a dispatch namespace and every script in it."""
    if not yes:
        typer.confirm(f"Delete namespace {name} and all its scripts?", abort=True)
    with _client() as client:
        client.request("DELETE", client.account_path(f"/workers/dispatch/namespaces/{name}"))
    out.print(f"Deleted namespace [bold]{name}[/].")


# deploy and scripts


@app.command()
def deploy(
    name: Annotated[str, typer.Argument(help="The script's name, e.g. tenant_abc or tenant_abc-webhook.")],
    files: Annotated[list[Path], typer.Argument(help="Module files; the first is the main module.")],
    namespace: NamespaceOption,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A tag (repeatable), e.g. plan:pro.")
    ] = None,
    main_module: Annotated[
        str | None, typer.Option(help="The main module's name (default: the first file).")
    ] = None,
    compatibility_date: Annotated[str | None, typer.Option(help="e.g. 2025-01-01")] = None,
) -> None:
    """Upload a script to a namespace: a new version, served by the next request."""
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        _fail(f"no such file: {', '.join(missing)}")
    with _client() as client, err.status(f"Uploading {name} to {namespace}…"):
        result = client.deploy(
            namespace, name, files, main_module=main_module, tags=tag, compatibility_date=compatibility_date
        )
    out.print(f"Deployed [bold]{result['id']}[/] to {namespace}: version {result['version_id']}")
    _table(
        "",
        ["module", "type", "bytes"],
        [(m["name"], m["content_type"], m["size"]) for m in result["modules"]],
    )


def _scripts_path(namespace: str, suffix: str = "") -> str:
    return f"/workers/dispatch/namespaces/{namespace}/scripts{suffix}"


@scripts_app.command("list")
def scripts_list(
    namespace: NamespaceOption,
    tags: Annotated[str | None, typer.Option(help="Filter: TAG:yes,TAG:no (e.g. plan:pro:yes).")] = None,
) -> None:
    """List the scripts in a namespace."""
    with _client() as client:
        found = client.request("GET", client.account_path(_scripts_path(namespace)), params=_tags_param(tags))
    _table(
        f"Scripts in {namespace}",
        ["name", "tenant", "tags", "version", "deployed"],
        [
            (
                s["script"]["id"],
                s["script"]["tenant_id"],
                s["script"]["tags"],
                s["script"]["version_id"],
                s["script"]["deployed_on"],
            )
            for s in found
        ],
    )


def _tags_param(tags: str | None) -> dict[str, str]:
    return {"tags": tags} if tags else {}


@scripts_app.command("show")
def scripts_show(name: str, namespace: NamespaceOption) -> None:
    """Show a script: owner, tags, current version, modules, and its versions."""
    with _client() as client:
        script = client.request("GET", client.account_path(_scripts_path(namespace, f"/{name}")))["script"]
        versions = client.request("GET", client.account_path(_scripts_path(namespace, f"/{name}/versions")))
    _table(
        f"{name} in {namespace}",
        ["field", "value"],
        [
            ("tenant", script["tenant_id"]),
            ("tags", script["tags"]),
            ("main module", script["main_module"]),
            ("version", script["version_id"]),
            ("etag", script["etag"]),
            ("deployed", script["deployed_on"]),
            ("compatibility date", script["compatibility_date"]),
            ("modules", [f"{m['name']} ({m['size']} B)" for m in script["modules"]]),
        ],
    )
    _table(
        "Versions",
        ["id", "uploaded", "bytes", "current"],
        [(v["id"], v["created_on"], v["size"], "yes" if v["current"] else "") for v in versions],
    )


@scripts_app.command("delete")
def scripts_delete(
    name: Annotated[str | None, typer.Argument(help="The script (or use --tags).")] = None,
    namespace: NamespaceOption = "",
    tags: Annotated[str | None, typer.Option(help="Delete every script this filter matches.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a script and its versions, or every script a tag filter matches."""
    if (name is None) == (tags is None):
        _fail("name a script or give --tags, not both")
    if not yes:
        typer.confirm(f"Delete {name or 'every script matching ' + str(tags)} in {namespace}?", abort=True)
    with _client() as client:
        if name is not None:
            client.request("DELETE", client.account_path(_scripts_path(namespace, f"/{name}")))
            out.print(f"Deleted [bold]{name}[/] from {namespace}.")
        else:
            deleted = client.request(
                "DELETE", client.account_path(_scripts_path(namespace)), params=_tags_param(tags)
            )
            out.print(f"Deleted {len(deleted)} script(s) from {namespace}: {', '.join(deleted) or '-'}")


# tenants


def _tenant_rows(tenants: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            t["id"],
            t["status"],
            t["account_id"],
            t["limits"]["cpu_ms"],
            t["limits"]["memory_mb"],
            t["limits"]["subrequests"],
            t["created_on"],
        )
        for t in tenants
    ]


_TENANT_COLUMNS = ["id", "status", "account", "cpu ms", "memory MB", "subrequests", "created"]


def _tenant_call(method: str, tenant_id: str, **kwargs: Any) -> dict[str, Any]:
    with _client() as client:
        result: dict[str, Any] = client.request(
            method, client.account_path(f"/z0/tenants/{tenant_id}"), **kwargs
        )
    return result


@tenants_app.command("create")
def tenants_create(
    tenant_id: str,
    account_id: Annotated[str | None, typer.Option(help="Billing account (default acct_{id}).")] = None,
) -> None:
    """Create a tenant (active)."""
    with _client() as client:
        tenant = client.request(
            "POST", client.account_path("/z0/tenants"), json={"id": tenant_id, "account_id": account_id}
        )
    _table("Tenant created", _TENANT_COLUMNS, _tenant_rows([tenant]))


@tenants_app.command("list")
def tenants_list(
    status: Annotated[str | None, typer.Option(help="active, suspended or deleted")] = None,
) -> None:
    """List tenants (not the deleted ones, unless --status deleted)."""
    with _client() as client:
        found = client.request(
            "GET", client.account_path("/z0/tenants"), params={"status": status} if status else {}
        )
    _table("Tenants", _TENANT_COLUMNS, _tenant_rows(found))


@tenants_app.command("show")
def tenants_show(tenant_id: str) -> None:
    """Show one tenant."""
    _table("Tenant", _TENANT_COLUMNS, _tenant_rows([_tenant_call("GET", tenant_id)]))


@tenants_app.command("suspend")
def tenants_suspend(tenant_id: str) -> None:
    """Suspend a tenant: the gateway answers 403 until it is activated."""
    tenant = _tenant_call("PATCH", tenant_id, json={"status": "suspended"})
    out.print(f"Tenant [bold]{tenant['id']}[/] is {tenant['status']}.")


@tenants_app.command("activate")
def tenants_activate(tenant_id: str) -> None:
    """Activate a suspended tenant."""
    tenant = _tenant_call("PATCH", tenant_id, json={"status": "active"})
    out.print(f"Tenant [bold]{tenant['id']}[/] is {tenant['status']}.")


@tenants_app.command("limits")
def tenants_limits(
    tenant_id: str,
    cpu_ms: Annotated[int | None, typer.Option(help="CPU per request, ms.")] = None,
    memory_mb: Annotated[int | None, typer.Option(help="Memory per isolate, MB.")] = None,
    subrequests: Annotated[int | None, typer.Option(help="Subrequests per request.")] = None,
) -> None:
    """Set a tenant's per-request limits (others stay as they are)."""
    given = {"cpu_ms": cpu_ms, "memory_mb": memory_mb, "subrequests": subrequests}
    limits = {key: value for key, value in given.items() if value is not None}
    if not limits:
        _fail("give at least one of --cpu-ms, --memory-mb, --subrequests")
    tenant = _tenant_call("PATCH", tenant_id, json={"limits": limits})
    _table("Tenant", _TENANT_COLUMNS, _tenant_rows([tenant]))


@tenants_app.command("delete")
def tenants_delete(
    tenant_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a tenant (soft: its records and Facts stay; its keys are revoked)."""
    if not yes:
        typer.confirm(f"Delete tenant {tenant_id}? It cannot be undone.", abort=True)
    tenant = _tenant_call("DELETE", tenant_id)
    out.print(f"Tenant [bold]{tenant['id']}[/] is {tenant['status']}.")


# keys and tokens


@keys_app.command("create")
def keys_create(tenant_id: str) -> None:
    """Create a gateway key for a tenant; it is shown once."""
    with _client() as client:
        key = client.request("POST", client.account_path(f"/z0/tenants/{tenant_id}/keys"))
    out.print(f"Gateway key for [bold]{tenant_id}[/] (id {key['id']}), shown once:")
    out.print(key["key"], soft_wrap=True, highlight=False)


@keys_app.command("list")
def keys_list(tenant_id: str) -> None:
    """List a tenant's gateway keys (their prefixes, never the keys)."""
    with _client() as client:
        found = client.request("GET", client.account_path(f"/z0/tenants/{tenant_id}/keys"))
    _table(
        f"Keys of {tenant_id}",
        ["id", "prefix", "created"],
        [(k["id"], k["prefix"] + "…", k["created_on"]) for k in found],
    )


@keys_app.command("revoke")
def keys_revoke(tenant_id: str, key_id: str) -> None:
    """Revoke a gateway key."""
    with _client() as client:
        client.request("DELETE", client.account_path(f"/z0/tenants/{tenant_id}/keys/{key_id}"))
    out.print(f"Revoked key {key_id} of [bold]{tenant_id}[/].")


@tokens_app.command("create")
def tokens_create(
    tenant: Annotated[str | None, typer.Option(help="Limit the token to this tenant.")] = None,
    name: Annotated[str, typer.Option(help="A name to recognise it by.")] = "",
) -> None:
    """Create an API token (operator, or limited to one tenant); it is shown once."""
    with _client() as client:
        token = client.request(
            "POST", client.account_path("/z0/tokens"), json={"tenant_id": tenant, "name": name}
        )
    scope = f"tenant {tenant}" if tenant else "operator"
    out.print(f"API token {token['id']} ({scope}), shown once:")
    out.print(token["value"], soft_wrap=True, highlight=False)


@tokens_app.command("list")
def tokens_list() -> None:
    """List API tokens."""
    with _client() as client:
        found = client.request("GET", client.account_path("/z0/tokens"))
    _table(
        "API tokens",
        ["id", "name", "tenant", "prefix", "created"],
        [
            (t["id"], t["name"], t["tenant_id"] or "(operator)", t["prefix"] + "…", t["created_on"])
            for t in found
        ],
    )


@tokens_app.command("revoke")
def tokens_revoke(token_id: str) -> None:
    """Revoke an API token."""
    with _client() as client:
        client.request("DELETE", client.account_path(f"/z0/tokens/{token_id}"))
    out.print(f"Revoked token {token_id}.")


# secrets


@secrets_app.command("put")
def secrets_put(
    script: str,
    name: str,
    namespace: NamespaceOption,
    value: Annotated[
        str | None,
        typer.Option(help="The value (default: read from standard input, so it stays out of history)."),
    ] = None,
) -> None:
    """Set a script's secret (a new version of the script)."""
    text = value if value is not None else sys.stdin.read().rstrip("\n")
    with _client() as client:
        client.request(
            "PUT",
            client.account_path(_scripts_path(namespace, f"/{script}/secrets")),
            json={"name": name, "text": text, "type": "secret_text"},
        )
    out.print(f"Secret [bold]{name}[/] of {script} is set.")


@secrets_app.command("list")
def secrets_list(script: str, namespace: NamespaceOption) -> None:
    """A script's secrets, by name."""
    with _client() as client:
        found = client.request("GET", client.account_path(_scripts_path(namespace, f"/{script}/secrets")))
    _table(f"Secrets of {script}", ["name", "type"], [(s["name"], s["type"]) for s in found])


@secrets_app.command("delete")
def secrets_delete(script: str, name: str, namespace: NamespaceOption) -> None:
    """Delete a script's secret (a new version of the script)."""
    with _client() as client:
        client.request("DELETE", client.account_path(_scripts_path(namespace, f"/{script}/secrets/{name}")))
    out.print(f"Secret [bold]{name}[/] of {script} is deleted.")


@secrets_app.command("rotate-master-key")
def secrets_rotate_master_key(
    data_dir: Annotated[Path | None, typer.Option(help="z0's data directory [env Z0_DATA_DIR].")] = None,
    config: Annotated[Path | None, typer.Option(envvar="Z0_CONFIG", help="A TOML settings file.")] = None,
) -> None:
    """Re-encrypt every secret under a new master key (run on the machine that holds the data)."""
    from z0.registry import Registry
    from z0.secrets import rotate_master_key
    from z0.settings import Settings

    settings = Settings.load(config, data_dir=data_dir)
    registry = Registry.open(settings.resolved_database_url)
    environment = settings.master_key.get_secret_value() if settings.master_key else None

    def reseal(old: Any, new: Any) -> int:
        return registry.secrets.reseal_all(
            lambda secret: new.seal(
                old.open(secret.nonce, secret.ciphertext, secret.key_id, secret.place), secret.place
            )
        )

    try:
        key, count = rotate_master_key(settings.data_dir, environment, reseal)
    finally:
        registry.close()
    out.print(
        f"Re-encrypted {count} secret(s) under master key {key.key_id} "
        f"(now in {settings.data_dir / 'master.key'})."
    )
    if environment:
        err.print(
            "Z0_MASTER_KEY is set: replace its value with the new key (printed once below) "
            "before restarting z0.",
            highlight=False,
        )
        out.print(key.encoded(), highlight=False)


def main(argv: Sequence[str] | None = None) -> None:
    app(args=list(argv) if argv is not None else None, prog_name="z0")
