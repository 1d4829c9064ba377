"""Tenants' own tool: `wrangler deploy --dispatch-namespace` deploys an unchanged project to z0.

wrangler is installed by `make test` with npm (.cache/wrangler); where npm is absent the test skips
and says so. It runs hermetically: every address it could reach off this machine (telemetry, the
npm update check, error reports) is switched off or pointed at a closed local port.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import LiveServer

WRANGLER_VERSION = "4.80.0"
REPO = Path(__file__).resolve().parents[2]
WRANGLER = Path(os.environ.get("Z0_WRANGLER", REPO / ".cache/wrangler/node_modules/.bin/wrangler"))


def _skip_reason() -> str | None:
    if WRANGLER.is_file():
        return None
    if shutil.which("npm") is None or shutil.which("node") is None:
        return "npm/node are not installed on this machine, so wrangler cannot be installed"
    return f"wrangler {WRANGLER_VERSION} is not installed at {WRANGLER} (`make test` installs it with npm)"


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def _project(root: Path, name: str) -> Path:
    project = root / "project"
    (project / "src").mkdir(parents=True)
    (project / "wrangler.toml").write_text(
        f'name = "{name}"\nmain = "src/index.js"\ncompatibility_date = "2025-01-01"\n\n'
        '[vars]\nGREETING = "hello from z0"\nCONFIG = { region = "eu", tier = 2 }\n'
    )
    (project / "src" / "index.js").write_text(
        "import { greet } from './greet.js';\n"
        "export default {\n"
        "  async fetch(request, env) {\n    return new Response(greet(env.GREETING));\n  },\n};\n"
    )
    (project / "src" / "greet.js").write_text("export function greet(word) { return `${word}!`; }\n")
    return project


def _wrangler(project: Path, state: Path, server: LiveServer, *args: str, account: bool = True) -> str:
    for folder in ("home", "xdg", "tmp/update-check", "cache", "logs"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    # update-check's cache, dated far in the future: it never asks the npm registry
    (state / "tmp/update-check/wrangler-latest.json").write_text(
        json.dumps({"latest": WRANGLER_VERSION, "lastUpdate": 8640000000000000})
    )
    node = shutil.which("node")
    assert node is not None
    env = {
        "PATH": f"{Path(node).parent}:/usr/bin:/bin",
        "HOME": str(state / "home"),
        "XDG_CONFIG_HOME": str(state / "xdg"),
        "TMPDIR": str(state / "tmp"),
        "WRANGLER_CACHE_DIR": str(state / "cache"),
        "WRANGLER_LOG_PATH": str(state / "logs"),
        "CLOUDFLARE_API_BASE_URL": server.api_url,
        "CLOUDFLARE_API_TOKEN": server.token,
        "WRANGLER_SEND_METRICS": "false",
        "WRANGLER_SEND_ERROR_REPORTS": "false",
        "WRANGLER_HIDE_BANNER": "true",
        "npm_registry": "http://127.0.0.1:9/",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "CI": "true",
        "NO_COLOR": "1",
    }
    if account:
        env["CLOUDFLARE_ACCOUNT_ID"] = server.account_id
    result = subprocess.run(
        [str(WRANGLER), *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _script(server: LiveServer, name: str) -> dict:  # type: ignore[type-arg]
    response = httpx.get(
        f"{server.api_url}/accounts/{server.account_id}/workers/dispatch/namespaces/z0-prod-tenants/scripts/{name}",
        headers={"authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]["script"]  # type: ignore[no-any-return]


def test_wrangler_deploys_to_a_dispatch_namespace(live_server: LiveServer, tmp_path: Path) -> None:
    project = _project(tmp_path, "tenant_wrangler")
    output = _wrangler(
        project, tmp_path / "state", live_server, "deploy", "--dispatch-namespace", "z0-prod-tenants"
    )
    script = _script(live_server, "tenant_wrangler")
    assert script["tenant_id"] == "tenant_wrangler"
    assert script["main_module"] == "index.js"
    assert script["compatibility_date"] == "2025-01-01"
    version = re.search(r"Current Version ID: (\S+)", output)
    assert version is not None and version[1] == script["version_id"]

    content = httpx.get(
        f"{live_server.api_url}/accounts/{live_server.account_id}/workers/dispatch/namespaces/z0-prod-tenants"
        "/scripts/tenant_wrangler/content",
        headers={"authorization": f"Bearer {live_server.token}"},
    )
    assert b"hello" not in content.content  # vars are bindings, not code
    assert b"greet" in content.content  # wrangler bundled greet.js into index.js

    requests = [line for line in live_server.lines if "tenant_wrangler" in line]
    settings = next(
        i for i, line in enumerate(requests) if "/workers/scripts/tenant_wrangler/settings" in line
    )
    put = "/z0-prod-tenants/scripts/tenant_wrangler?excludeScript=true&bindings_inherit=strict"
    upload = next(i for i, line in enumerate(requests) if '"PUT /client/v4/accounts/' in line and put in line)
    assert settings < upload
    assert " 200" in requests[upload]

    # a second deploy, without the account id: wrangler finds it through /memberships
    (project / "src" / "greet.js").write_text("export function greet(word) { return `${word}?`; }\n")
    again = _wrangler(
        project,
        tmp_path / "state2",
        live_server,
        "deploy",
        "--dispatch-namespace",
        "z0-prod-tenants",
        account=False,
    )
    redeployed = _script(live_server, "tenant_wrangler")
    assert redeployed["version_id"] != script["version_id"]
    assert redeployed["version_id"] in again
    assert any('"GET /client/v4/memberships' in line for line in live_server.lines)


def test_wrangler_shows_z0_refusal_and_the_old_version_stays(live_server: LiveServer, tmp_path: Path) -> None:
    project = _project(tmp_path, "tenant_wrangler_wasm")
    _wrangler(project, tmp_path / "state", live_server, "deploy", "--dispatch-namespace", "z0-prod-tenants")
    before = _script(live_server, "tenant_wrangler_wasm")["version_id"]
    # A WebAssembly import: wrangler uploads it as its own module, which z0 refuses (QuickJS has no Wasm).
    (project / "src" / "add.wasm").write_bytes(b"\0asm\x01\0\0\0")
    (project / "src" / "index.js").write_text(
        "import add from './add.wasm';\nexport default { fetch() { return new Response(String(add)); } };\n"
    )
    with pytest.raises(AssertionError, match="WebAssembly modules are not supported"):
        _wrangler(
            project, tmp_path / "state", live_server, "deploy", "--dispatch-namespace", "z0-prod-tenants"
        )
    assert _script(live_server, "tenant_wrangler_wasm")["version_id"] == before
