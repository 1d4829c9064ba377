"""The `z0` command against a real `z0 serve` on 127.0.0.1."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import LiveServer
from z0.cli import app


@pytest.fixture
def z0(live_server: LiveServer):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"Z0_API_URL": live_server.api_url, "Z0_API_TOKEN": live_server.token, "COLUMNS": "200"}

    def run(*args: str, ok: bool = True, token: str | None = None) -> str:
        result = runner.invoke(app, list(args), env={**env, **({"Z0_API_TOKEN": token} if token else {})})
        output = result.output
        if ok:
            assert result.exit_code == 0, output + repr(result.exception)
        else:
            assert result.exit_code != 0, output
        return output

    return run


@pytest.fixture
def namespace(z0) -> str:  # type: ignore[no-untyped-def]
    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert f"Created namespace {name}" in z0("namespaces", "create", name)
    return name


def test_namespaces(z0, namespace: str) -> None:  # type: ignore[no-untyped-def]
    listed = z0("namespaces", "list")
    assert "z0-prod-tenants" in listed and namespace in listed
    assert "already exists" in z0("namespaces", "create", namespace, ok=False)
    assert f"Deleted namespace {namespace}" in z0("namespaces", "delete", namespace, "--yes")
    assert namespace not in z0("namespaces", "list")


def test_deploy_show_list_delete(z0, namespace: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "lib").mkdir()
    main = tmp_path / "index.js"
    main.write_text("import { hi } from './lib/hi.js';\nexport default { fetch: () => new Response(hi) };\n")
    (tmp_path / "lib" / "hi.js").write_text("export const hi = 'hi';\n")
    out = z0(
        "deploy",
        "tenant_cli",
        str(main),
        str(tmp_path / "lib" / "hi.js"),
        "-n",
        namespace,
        "--tag",
        "plan:pro",
    )
    assert "Deployed tenant_cli" in out
    version = re.search(r"version ([0-9a-f-]{36})", out)
    assert version is not None
    assert "lib/hi.js" in out

    z0("deploy", "tenant_other", str(main), str(tmp_path / "lib" / "hi.js"), "-n", namespace)
    listed = z0("scripts", "list", "-n", namespace, "--tags", "plan:pro:yes")
    assert "tenant_cli" in listed and "tenant_other" not in listed
    shown = z0("scripts", "show", "tenant_cli", "-n", namespace)
    assert version[1] in shown and "index.js" in shown and "plan:pro" in shown

    broken = tmp_path / "broken.js"
    broken.write_text("export default {\n  fetch() { return new Response('x' }\n};\n")
    error = z0("deploy", "tenant_cli", str(broken), "-n", namespace, ok=False)
    assert "SyntaxError" in error and "broken.js:2:" in error
    assert version[1] in z0("scripts", "show", "tenant_cli", "-n", namespace)  # still the old version

    assert "Deleted tenant_cli" in z0("scripts", "delete", "tenant_cli", "-n", namespace, "--yes")
    gone = z0("scripts", "show", "tenant_cli", "-n", namespace, ok=False)
    assert "not found" in gone
    assert "tenant_other" in z0("scripts", "delete", "-n", namespace, "--tags", "plan:pro:no", "--yes")


def test_tenants_keys_and_tokens(z0) -> None:  # type: ignore[no-untyped-def]
    tenant = f"t_{uuid.uuid4().hex[:8]}"
    assert tenant in z0("tenants", "create", tenant)
    assert f"{tenant} is suspended" in z0("tenants", "suspend", tenant)
    assert tenant in z0("tenants", "list", "--status", "suspended")
    assert f"{tenant} is active" in z0("tenants", "activate", tenant)
    assert "25" in z0("tenants", "limits", tenant, "--cpu-ms", "25")

    created = z0("keys", "create", tenant)
    key = re.search(r"(z0k_\S+)", created)
    assert key is not None
    key_id = re.search(r"id ([0-9a-f]{32})", created)
    assert key_id is not None
    assert key_id[1] in z0("keys", "list", tenant)
    assert key[1] not in z0("keys", "list", tenant)
    assert "Revoked" in z0("keys", "revoke", tenant, key_id[1])
    assert key_id[1] not in z0("keys", "list", tenant)

    made = z0("tokens", "create", "--tenant", tenant)
    token = re.search(r"(z0t_\S+)", made)
    assert token is not None
    token_id = re.search(r"API token ([0-9a-f]{32})", made)
    assert token_id is not None
    assert token_id[1] in z0("tokens", "list")
    # a tenant token cannot do operator work: one clear line, non-zero exit
    refused = z0("tenants", "list", ok=False, token=token[1])
    assert "operator" in refused
    assert "Revoked" in z0("tokens", "revoke", token_id[1])
    assert "not valid" in z0("namespaces", "list", ok=False, token=token[1])

    assert f"{tenant} is deleted" in z0("tenants", "delete", tenant, "--yes")


def test_errors_are_one_clear_line(z0, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    no_token = runner.invoke(
        app, ["namespaces", "list"], env={"Z0_API_TOKEN": "", "Z0_API_URL": live_server.api_url}
    )
    assert no_token.exit_code == 1 and "No API token" in no_token.output
    unreachable = runner.invoke(
        app,
        ["namespaces", "list"],
        env={"Z0_API_TOKEN": "x", "Z0_API_URL": "http://127.0.0.1:9", "Z0_ACCOUNT_ID": "a"},
    )
    assert unreachable.exit_code == 1 and "Cannot reach the control API" in unreachable.output
    missing = z0("deploy", "tenant_x", "/nonexistent/file.js", "-n", "z0-prod-tenants", ok=False)
    assert "no such file" in missing
    assert "not found" in z0("tenants", "suspend", "ghost_tenant", ok=False)
    assert "Traceback" not in missing
