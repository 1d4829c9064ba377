"""The `z0` command: `z0 serve` runs the platform; the other commands drive its control API.

z0 serve
z0 namespaces list|create|delete
z0 deploy NAME FILE… --namespace NS [--tag TAG]… [--main-module F]
z0 scripts list|show|delete
z0 tenants create|list|show|suspend|activate|limits|delete
z0 keys create|list|revoke TENANT
z0 tokens create [--tenant T]|list|revoke
z0 secrets put|list|delete SCRIPT … | rotate-master-key
z0 tail SCRIPT [-n NS] [--status ok|error|canceled] [--history N] [--format pretty|json]
z0 usage TENANT [--since WHEN] [--until WHEN] [--script NAME] [--json]
z0 billing run --period YYYY-MM
z0 invoices list [--tenant T] [--period P] | show ID [--html FILE|-] [--json]
z0 facts list [--tenant T] [--type …] [--subtype …] [--since WHEN] [--until WHEN] [--limit N] [--json]
z0 facts add --tenant T --type … --subtype … --amount 12.50 [--currency USD] [--tool-id …] [--data JSON]
             [--idempotency-key K]
z0 configs list | get NAME [--tenant T] [--json] | set NAME JSON|@FILE [--tenant T]
           | history NAME [--tenant T]

WHEN is an ISO 8601 date or time (2026-11-01, 2026-11-01T12:00:00Z; no zone: UTC) or a time ago (30m,
24h, 7d, 2w).
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

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
billing_app = typer.Typer(
    help="Billing runs: usage of a closed month → Facts → invoices.", no_args_is_help=True
)
invoices_app = typer.Typer(help="Invoices made by billing runs.", no_args_is_help=True)
facts_app = typer.Typer(
    help="The Facts ledger: costs, charges and credits (append-only).", no_args_is_help=True
)
configs_app = typer.Typer(help="Configs: versioned settings, global or per tenant.", no_args_is_help=True)
app.add_typer(namespaces_app, name="namespaces")
app.add_typer(scripts_app, name="scripts")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(tokens_app, name="tokens")
app.add_typer(secrets_app, name="secrets")
app.add_typer(billing_app, name="billing")
app.add_typer(invoices_app, name="invoices")
app.add_typer(facts_app, name="facts")
app.add_typer(configs_app, name="configs")

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


def _fail(message: str) -> NoReturn:
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    raise typer.Exit(1)


def _table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Collection[str] = ()
) -> None:
    """Cells are shown as text (what tenants wrote is never read as rich markup); `right`: numbers."""
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold", justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*(Text(_cell(value)) for value in row))
    out.print(table)


def _fields(title: str, rows: Sequence[tuple[str, Any]]) -> None:
    """A record shown as name/value lines."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, Text(_cell(value)))
    out.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "-"
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:  # only looked like a time (an idempotency key, say)
            return value
    return str(value)


def _print_json(data: Any) -> None:
    """Machine-readable output: the API's result as it came, nothing else on standard output."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's result as JSON.")]


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


# tail


_LEVEL_STYLES = {"error": "red", "warn": "yellow", "debug": "dim", "info": "cyan", "log": ""}


@app.command()
def tail(
    script: str,
    namespace: NamespaceOption,
    status: Annotated[
        str | None, typer.Option(help="Only invocations that ended: ok, error or canceled.")
    ] = None,
    history: Annotated[int, typer.Option(min=0, help="Recent invocations to show first.")] = 0,
    output: Annotated[
        str, typer.Option("--format", help="pretty, or json: one invocation per line.")
    ] = "pretty",
) -> None:
    """Live logs of a script: each invocation's console lines, uncaught exception, outcome and times.

    Runs until interrupted (Ctrl-C).
    """
    if status is not None and status not in ("ok", "error", "canceled"):
        _fail(f"--status is ok, error or canceled, not {status!r}")
    if output not in ("pretty", "json"):
        _fail(f"--format is pretty or json, not {output!r}")
    params: dict[str, Any] = {"history": history}
    if status is not None:
        params["status"] = status
    with _client() as client:
        path = client.account_path(f"/workers/dispatch/namespaces/{namespace}/scripts/{script}/tail")
        try:
            for kind, data in client.events(path, params=params):
                if kind == "ready":
                    err.print(Text(f"Tailing {namespace}/{script}… (Ctrl-C to stop)"), style="dim")
                elif kind == "dropped":
                    err.print(Text(f"[{data['count']} invocation(s) dropped: this tail fell behind]"))
                elif kind == "invocation":
                    if output == "json":
                        typer.echo(json.dumps(data, ensure_ascii=False))
                    else:
                        _print_invocation(data)
        except KeyboardInterrupt:
            return


def _print_invocation(event: dict[str, Any]) -> None:
    when = datetime.fromtimestamp(event["time"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    good = event["outcome"] == "ok" and event["status"] < 500
    out.print(
        Text.assemble(
            (when, "dim"),
            " ",
            (f"{event['method']} {event['url']}", "bold"),
            " ",
            (f"{event['status']} {event['outcome']}", "green" if good else "bold red"),
            (f"  {event['duration_ms']:.1f} ms, CPU {event['cpu_ms']:.1f} ms  {event['request_id']}", "dim"),
        ),
        soft_wrap=True,
    )
    for line in event["logs"]:
        out.print(
            Text.assemble(
                "  ", (f"({line['level']})", _LEVEL_STYLES.get(line["level"], "")), " ", line["message"]
            ),
            soft_wrap=True,
        )
    if event.get("logs_dropped"):
        out.print(Text(f"  [{event['logs_dropped']} more log lines not kept]", style="dim"))
    exception = event.get("exception")
    if exception:
        out.print(
            Text.assemble("  ", (f"{exception['name']}: {exception['message']}", "bold red")), soft_wrap=True
        )
        if exception.get("stack"):
            out.print(Text("    " + exception["stack"].replace("\n", "\n    "), style="red"), soft_wrap=True)


# times given on the command line

_AGO = re.compile(r"^(\d+)\s*([smhdw])$")
_AGO_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(value: str, *, now: datetime | None = None) -> str:
    """WHEN as the API takes it (ISO 8601, UTC): an ISO date or time (no zone: UTC), `now`, or a time
    ago like 30m, 24h, 7d, 2w. ValueError says what was wrong."""
    text = value.strip()
    now = now or datetime.now(UTC)
    ago = _AGO.match(text.lower())
    try:
        if text.lower() == "now":
            moment = now
        elif ago:
            moment = now - timedelta(**{_AGO_UNITS[ago[2]]: int(ago[1])})
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{value!r} is neither an ISO 8601 date or time (2026-11-01, 2026-11-01T12:00:00Z) "
            "nor a time ago (30m, 24h, 7d, 2w)"
        ) from None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _moments(**given: tuple[str, str | None]) -> dict[str, str]:
    """Query parameters from WHEN options: param=(option, value), for the options that were given."""
    params = {}
    for param, (option, value) in given.items():
        if value is None:
            continue
        try:
            params[param] = parse_moment(value)
        except ValueError as exc:
            _fail(f"{option}: {exc}")
    return params


SinceOption = Annotated[
    str | None, typer.Option(help="From: 2026-11-01, 2026-11-01T12:00:00Z, or ago: 30m, 24h, 7d.")
]
UntilOption = Annotated[str | None, typer.Option(help="Until (same forms as --since).")]


def _json_object(value: str, what: str) -> dict[str, Any]:
    """A JSON object given as a literal, as @FILE, or as @- (standard input)."""
    if value.startswith("@"):
        source = value[1:]
        try:
            value = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"{what}: cannot read {source}: {exc.strerror}")
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        _fail(f"{what} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(data, dict):
        _fail(f"{what} must be a JSON object ({{...}}), not {type(data).__name__}")
    return data


# usage


def _count(value: int) -> str:
    return f"{value:,}"


def _ms(value: float) -> str:
    return f"{value:,.3f}"


_USAGE_COLUMNS = ["requests", "CPU ms", "duration ms", "subrequests"]


def _usage_rows(groups: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    ordered = sorted(groups.items(), key=lambda item: (-item[1]["requests"], item[0]))
    return [
        (
            name,
            _count(numbers["requests"]),
            _ms(numbers["cpu_time_ms"]),
            _ms(numbers["duration_ms"]),
            _count(numbers["subrequests"]),
        )
        for name, numbers in ordered
    ]


@app.command()
def usage(
    tenant_id: Annotated[str, typer.Argument(metavar="TENANT")],
    since: SinceOption = None,
    until: UntilOption = None,
    script: Annotated[str | None, typer.Option(help="Only this script (by name).")] = None,
    as_json: JsonOption = False,
) -> None:
    """A tenant's usage: requests, CPU and wall time, subrequests; by script and by outcome.

    By default from the start of this month (UTC) until now. Usage is kept per minute: the range is
    widened to whole minutes, and the one covered is shown.
    """
    params = _moments(start=("--since", since), end=("--until", until))
    if script:
        params["script"] = script
    with _client() as client:
        result = client.request("GET", client.account_path(f"/z0/tenants/{tenant_id}/usage"), params=params)
    if as_json:
        _print_json(result)
        return
    title = f"Usage of {tenant_id}" + (f" (script {script})" if script else "")
    _fields(
        title,
        [
            ("range", f"{_cell(result['start'])} → {_cell(result['end'])} UTC"),
            ("requests", _count(result["requests"])),
            ("CPU ms", _ms(result["cpu_time_ms"])),
            ("duration ms", _ms(result["duration_ms"])),
            ("subrequests", _count(result["subrequests"])),
        ],
    )
    if not result["requests"]:
        out.print("No requests in this range.")
        return
    _table(
        "By script",
        ["script", *_USAGE_COLUMNS],
        _usage_rows(result.get("by_script") or {}),
        right=_USAGE_COLUMNS,
    )
    _table(
        "By outcome", ["outcome", *_USAGE_COLUMNS], _usage_rows(result["by_outcome"]), right=_USAGE_COLUMNS
    )


# billing and invoices


@billing_app.command("run")
def billing_run(
    period: Annotated[str, typer.Option(help="A month that is over, like 2026-11 (UTC).")],
) -> None:
    """Bill a closed month: usage → cost and charge Facts → an invoice per tenant (and currency).

    Running it again adds only what is new (usage recorded late is charged as an adjustment).
    """
    with _client() as client, err.status(f"Billing {escape(period)}…"):
        result = client.request("POST", client.account_path("/z0/billing/runs"), json={"period": period})
    invoices = result["invoices"]
    if not result["facts_created"] and not invoices:
        out.print(
            Text(f"Nothing new to bill for {result['period']}: its usage and Facts are billed already.")
        )
        return
    out.print(
        Text(
            f"Billed {result['period']}: {result['tenants']} tenant(s), "
            f"{result['facts_created']} new Fact(s), {len(invoices)} invoice(s), "
            f"{result['adjustments']} adjustment(s) (usage charged after its month)."
        )
    )
    if invoices:
        _table(
            "Invoices created",
            ["id", "tenant", "currency", "total", "lines"],
            [(i["id"], i["tenant_id"], i["currency"], i["total"], i["lines"]) for i in invoices],
            right={"total", "lines"},
        )
    else:
        out.print("No new invoice: the new charges go on the next period's invoice.")


@invoices_app.command("list")
def invoices_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    period: Annotated[str | None, typer.Option(help="Only this month's, like 2026-11.")] = None,
) -> None:
    """List invoices."""
    params = {key: value for key, value in {"tenant": tenant, "period": period}.items() if value}
    with _client() as client:
        found = client.request("GET", client.account_path("/z0/invoices"), params=params)
    if not found:
        out.print("No invoices" + (" match." if params else " yet."))
        return
    _table(
        "Invoices",
        ["id", "tenant", "period", "currency", "total", "lines", "created"],
        [
            (
                i["id"],
                i["tenant_id"],
                i["period"],
                i["currency"],
                i["total"],
                len(i["lines"]),
                i["created_at"],
            )
            for i in found
        ],
        right={"total", "lines"},
    )


@invoices_app.command("show")
def invoices_show(
    invoice_id: Annotated[str, typer.Argument(metavar="ID")],
    html: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="Write the printable HTML page to FILE ('-': standard output)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show an invoice: who, which month, its lines and total."""
    path = f"/z0/invoices/{invoice_id}"
    with _client() as client:
        if html is not None:
            page = client.text("GET", client.account_path(f"{path}/html"))
        else:
            invoice = client.request("GET", client.account_path(path))
    if html is not None:
        if html == "-":
            typer.echo(page, nl=not page.endswith("\n"))
            return
        try:
            Path(html).write_text(page, encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {html}: {exc.strerror}")
        out.print(Text(f"Wrote invoice {invoice_id} to {html}."))
        return
    if as_json:
        _print_json(invoice)
        return
    _fields(
        f"Invoice {invoice['id']}",
        [
            ("tenant", invoice["tenant_id"]),
            ("account", invoice["account_id"]),
            (
                "period",
                f"{invoice['period']} "
                f"({_cell(invoice['period_start'])} → {_cell(invoice['period_end'])} UTC)",
            ),
            ("currency", invoice["currency"]),
            ("created", invoice["created_at"]),
        ],
    )
    _table(
        "Lines",
        ["#", "kind", "period", "description", "amount", "fact"],
        [
            (
                line["position"],
                line["kind"],
                line["period"],
                line["description"],
                line["amount"],
                line["fact_id"],
            )
            for line in invoice["lines"]
        ],
        right={"#", "amount"},
    )
    out.print(Text.assemble("Total: ", (f"{invoice['total']} {invoice['currency']}", "bold")))


# facts


def _aligned_amounts(amounts: Sequence[str]) -> list[str]:
    """Exact decimal strings padded on the right so their points line up in a right-aligned column."""
    decimals = [len(a.partition(".")[2]) for a in amounts]
    widest = max(decimals, default=0)
    return [
        amount + " " * (widest - places + (1 if "." not in amount and widest else 0))
        for amount, places in zip(amounts, decimals, strict=True)
    ]


@facts_app.command("list")
def facts_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="cost, charge or credit.")] = None,
    subtype: Annotated[str | None, typer.Option(help="e.g. tool_usage, platform_compute.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Go on after this Fact (a previous listing's).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List Facts, oldest first."""
    params: dict[str, Any] = {"tenant_id": tenant, "type": type_, "subtype": subtype, "cursor": cursor}
    params = {key: value for key, value in params.items() if value} | _moments(
        since=("--since", since), until=("--until", until)
    )
    found: list[dict[str, Any]] = []
    more: str | None = None
    with _client() as client:
        while True:  # pages of up to 1000 (the API's most)
            page = client.request(
                "GET",
                client.account_path("/z0/facts"),
                params={**params, "limit": min(limit - len(found), 1000)},
            )
            found += page["facts"]
            more = page["cursor"]
            if more is None or len(found) >= limit:
                break
            params["cursor"] = more
    if as_json:
        _print_json(found)
        return
    if not found:
        out.print("No Facts match.")
        return
    amounts = _aligned_amounts([f["amount"] for f in found])
    _table(
        "Facts",
        ["id", "recorded", "tenant", "type", "subtype", "amount", "currency", "tool", "idempotency key"],
        [
            (
                f["id"],
                f["timestamp"],
                f["tenant_id"],
                f["type"],
                f["subtype"],
                amount,
                f["currency"],
                f.get("tool_id"),
                f["idempotency_key"],
            )
            for f, amount in zip(found, amounts, strict=True)
        ],
        right={"amount"},
    )
    if more is not None:
        out.print(Text(f"More Facts follow: list them with --cursor {more}"))


@facts_app.command("add")
def facts_add(
    tenant: Annotated[str, typer.Option(help="The tenant it is about.")],
    type_: Annotated[str, typer.Option("--type", help="cost, charge or credit.")],
    subtype: Annotated[str, typer.Option(help="e.g. tool_usage, subscription, promotion.")],
    amount: Annotated[str, typer.Option(help="A decimal, like 12.50 (kept exact: no exponents).")],
    currency: Annotated[str, typer.Option(help="ISO 4217.")] = "USD",
    tool_id: Annotated[str | None, typer.Option(help="The tool it is for (tool_usage).")] = None,
    data: Annotated[
        str | None, typer.Option(help='A JSON object (or @FILE), e.g. {"description": "…"}.')
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Recording it again with the same key adds nothing [default: a new uuid4]."),
    ] = None,
) -> None:
    """Record a Fact (a cost, charge or credit). Facts are never changed or removed afterwards."""
    key = idempotency_key or str(uuid.uuid4())
    body: dict[str, Any] = {
        "type": type_,
        "subtype": subtype,
        "tenant_id": tenant,
        "amount": amount,
        "currency": currency,
        "idempotency_key": key,
    }
    if tool_id is not None:
        body["tool_id"] = tool_id
    if data is not None:
        body["data"] = _json_object(data, "--data")
    with _client() as client:
        fact, headers = client.exchange("POST", client.account_path("/z0/facts"), json=body)
    what = (
        f"{fact['type']}/{fact['subtype']} {fact['amount']} {fact['currency']} for tenant {fact['tenant_id']}"
    )
    if headers.get("idempotent-replayed") == "true":
        out.print(
            Text(f"Already recorded with this idempotency key (nothing added): Fact {fact['id']}, {what}.")
        )
    else:
        out.print(Text(f"Recorded Fact {fact['id']}: {what}."))
    out.print(
        Text(f"Idempotency key: {key} (to retry safely, run again with --idempotency-key {key})"),
        soft_wrap=True,
    )


# configs


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "))


def _config_rows(versions: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (v["name"], v["config_version"], v["scope"], v["tenant_id"], v["created_at"], _compact(v["data"]))
        for v in versions
    ]


_CONFIG_COLUMNS = ["name", "version", "scope", "tenant", "set", "data"]


@configs_app.command("list")
def configs_list() -> None:
    """The global Configs, each at its current version."""
    with _client() as client:
        found = client.request("GET", client.account_path("/z0/configs"))
    if not found:
        out.print("No Configs yet.")
        return
    _table("Global Configs", _CONFIG_COLUMNS, _config_rows(found), right={"version"})


@configs_app.command("set")
def configs_set(
    name: str,
    data: Annotated[str, typer.Argument(metavar="JSON", help="A JSON object, or @FILE, or @- (stdin).")],
    tenant: Annotated[
        str | None, typer.Option(help="Set the tenant's own Config (its keys override the global one).")
    ] = None,
) -> None:
    """Set a Config: a new version of the whole object (the old versions stay)."""
    body = {"data": _json_object(data, "the Config")}
    path = f"/z0/tenants/{tenant}/configs/{name}" if tenant else f"/z0/configs/{name}"
    with _client() as client:
        version = client.request("PUT", client.account_path(path), json=body)
    scope = f"for tenant {tenant}" if tenant else "(global)"
    out.print(Text(f"Config {version['name']} {scope} is now version {version['config_version']}."))


@configs_app.command("get")
def configs_get(
    name: str,
    tenant: Annotated[
        str | None, typer.Option(help="The Config in effect for this tenant: global keys + its own.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a Config: the global one, or what is in effect for a tenant."""
    path = f"/z0/tenants/{tenant}/configs/{name}" if tenant else f"/z0/configs/{name}"
    with _client() as client:
        config = client.request("GET", client.account_path(path))
    if as_json:
        _print_json(config)
        return
    if tenant:
        versions = (
            f"global version {config['global_version'] or 'none'}, "
            f"tenant version {config['tenant_version'] or 'none'}"
        )
        out.print(Text(f"Config {config['name']} in effect for tenant {tenant} ({versions}):"))
    else:
        out.print(
            Text(
                f"Config {config['name']} (global), version {config['config_version']}, "
                f"set {_cell(config['created_at'])}:"
            )
        )
    out.print_json(data=config["data"])


@configs_app.command("history")
def configs_history(
    name: str,
    tenant: Annotated[str | None, typer.Option(help="The tenant's own versions.")] = None,
) -> None:
    """Every version of a Config, oldest first."""
    path = f"/z0/tenants/{tenant}/configs/{name}/versions" if tenant else f"/z0/configs/{name}/versions"
    with _client() as client:
        found = client.request("GET", client.account_path(path))
    if not found:
        if tenant:
            out.print(Text(f"Tenant {tenant} has no Config {name} of its own: the global one applies."))
            return
        _fail(f"There is no global Config {name!r}.")
    title = f"Versions of {name}" + (f" for tenant {tenant} (its own keys)" if tenant else "")
    _table(title, _CONFIG_COLUMNS, _config_rows(found), right={"version"})


def main(argv: Sequence[str] | None = None) -> None:
    app(args=list(argv) if argv is not None else None, prog_name="z0")
