"""`z0 serve` as an operator runs it: first start, restart, Z0_API_TOKEN, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import LiveServer, start_server


def test_first_start_creates_account_namespaces_and_prints_a_token_once(tmp_path: Path) -> None:
    first = start_server(tmp_path / "data", "--account-id", "acct0123")
    try:
        assert first.account_id == "acct0123"
        assert "(created)" in first.output
        assert first.token.startswith("z0t_")
        response = httpx.get(
            f"{first.api_url}/accounts/acct0123/workers/dispatch/namespaces",
            headers={"authorization": f"Bearer {first.token}"},
        )
        assert response.status_code == 200
        assert [ns["namespace_name"] for ns in response.json()["result"]] == [
            "z0-prod-tenants",
            "z0-staging-tenants",
            "z0-dev-tenants",
        ]
    finally:
        assert first.stop() == 0
    assert (tmp_path / "data" / "z0.sqlite3").is_file()
    stored = (tmp_path / "data" / "z0.sqlite3").read_bytes()
    assert first.token.encode() not in stored

    again = start_server(tmp_path / "data")
    try:
        assert again.account_id == "acct0123"
        assert "(created)" not in again.output
        assert again.token == ""  # no new token on a later start
        assert "operator API token" not in again.output
        response = httpx.get(f"{again.api_url}/accounts", headers={"authorization": f"Bearer {first.token}"})
        assert response.status_code == 200
    finally:
        assert again.stop(signal.SIGINT) == 0


def test_z0_api_token_sets_the_operator_token(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={"Z0_API_TOKEN": "my-own-operator-token"})
    try:
        assert "operator API token" not in server.output
        good = httpx.get(
            f"{server.api_url}/accounts", headers={"authorization": "Bearer my-own-operator-token"}
        )
        assert good.status_code == 200
        bad = httpx.get(f"{server.api_url}/accounts", headers={"authorization": "Bearer something-else"})
        assert bad.status_code == 401
    finally:
        server.stop()


def test_mismatched_account_id_refuses_to_start(tmp_path: Path) -> None:
    start_server(tmp_path, "--account-id", "first").stop()
    refused = start_server(tmp_path, "--account-id", "second", expect_failure=True)
    assert refused.process.returncode == 1
    assert "belongs to account first" in "\n".join(refused.stderr_lines)


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = start_server(tmp_path, "--api-port", str(port), expect_failure=True)
    assert refused.process.returncode == 1
    assert f"could not listen on 127.0.0.1:{port}" in "\n".join(refused.stderr_lines)


def test_rotating_the_master_key_keeps_every_secret(tmp_path: Path) -> None:
    env = {"Z0_API_TOKEN": "rotation-token"}
    auth = {"authorization": "Bearer rotation-token"}
    worker = b"export default { fetch(request, env) { return new Response(env.API_KEY); } };"
    files = [
        ("metadata", (None, b'{"main_module": "index.js"}', "application/json")),
        ("files", ("index.js", worker, "application/javascript+module")),
    ]

    def scripts(server: LiveServer) -> str:
        account = f"{server.api_url}/accounts/{server.account_id}"
        return f"{account}/workers/dispatch/namespaces/z0-prod-tenants/scripts"

    server = start_server(tmp_path, env=env)
    try:
        tenants = f"{server.api_url}/accounts/{server.account_id}/z0/tenants"
        httpx.post(tenants, headers=auth, json={"id": "tenant_rot"}).raise_for_status()
        key = httpx.post(f"{tenants}/tenant_rot/keys", headers=auth).json()["result"]["key"]
        assert httpx.put(f"{scripts(server)}/tenant_rot", headers=auth, files=files).status_code == 200
        secret = {"name": "API_KEY", "text": "kept-secret"}
        assert (
            httpx.put(f"{scripts(server)}/tenant_rot/secrets", headers=auth, json=secret).status_code == 200
        )
    finally:
        server.stop()
    before = (tmp_path / "master.key").read_text()
    rotated = subprocess.run(
        [sys.executable, "-m", "z0", "secrets", "rotate-master-key", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={name: value for name, value in os.environ.items() if not name.startswith("Z0_")},
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "Re-encrypted 1 secret(s)" in rotated.stdout
    assert (tmp_path / "master.key").read_text() != before
    assert "kept-secret" not in rotated.stdout + rotated.stderr

    again = start_server(tmp_path, env=env)
    try:
        for _ in range(50):
            answer = httpx.get(again.gateway_url, headers={"authorization": f"Bearer {key}"})
            if answer.status_code == 200:
                break
            time.sleep(0.1)
        assert answer.text == "kept-secret"  # opened under the new key
        assert httpx.put(f"{scripts(again)}/tenant_rot", headers=auth, files=files).status_code == 200
    finally:
        again.stop()
