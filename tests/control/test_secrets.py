"""The secrets and bindings API: values go in, never come out; each change is a new version."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import HELLO, JS, Api

SECRET = "sk_live_do-not-leak-7f3a"


def secrets_path(api: Api, script: str = "tenant_abc", suffix: str = "") -> str:
    return api.scripts_path(suffix=f"/{script}/secrets{suffix}")


def test_put_list_get_delete_and_never_returned(api: Api) -> None:
    first = api.upload("tenant_abc", {"index.js": (JS, HELLO)}).json()["result"]
    put = api.ok("PUT", secrets_path(api), json={"name": "API_KEY", "text": SECRET, "type": "secret_text"})
    assert put == {"name": "API_KEY", "type": "secret_text"}
    assert api.ok("GET", secrets_path(api)) == [{"name": "API_KEY", "type": "secret_text"}]
    assert api.ok("GET", secrets_path(api, suffix="/API_KEY")) == {"name": "API_KEY", "type": "secret_text"}
    # the change is a new version of the script
    versions = api.ok("GET", api.scripts_path(suffix="/tenant_abc/versions"))
    assert len(versions) == 2 and versions[1]["id"] == first["version_id"]
    # nothing anywhere gives the value back, and the database holds only ciphertext
    readable = [
        secrets_path(api),
        secrets_path(api, suffix="/API_KEY"),
        api.scripts_path(suffix="/tenant_abc"),
        api.scripts_path(suffix="/tenant_abc/bindings"),
        api.scripts_path(suffix="/tenant_abc/content"),
    ]
    for path in readable:
        assert SECRET not in api.call("GET", path).text
    database = Path(api.registry.engine.url.database or "")
    for file in database.parent.glob(database.name + "*"):  # the database, its WAL and shared memory
        assert SECRET.encode() not in file.read_bytes()
    assert api.ok("DELETE", secrets_path(api, suffix="/API_KEY")) is None
    assert api.ok("GET", secrets_path(api)) == []
    assert api.call("DELETE", secrets_path(api, suffix="/API_KEY")).status_code == 404
    assert api.call("GET", secrets_path(api, suffix="/API_KEY")).status_code == 404


def test_secret_text_bindings_at_upload_are_taken_out_of_the_metadata(api: Api) -> None:
    bindings = [
        {"name": "API_KEY", "type": "secret_text", "text": SECRET},
        {"name": "MODE", "type": "plain_text", "text": "live"},
    ]
    assert api.upload("tenant_abc", {"index.js": (JS, HELLO)}, bindings=bindings).status_code == 200
    script = api.ok("GET", api.scripts_path(suffix="/tenant_abc"))
    assert SECRET not in json.dumps(script)
    listed = api.ok("GET", api.scripts_path(suffix="/tenant_abc/bindings"))
    assert listed == [
        {"name": "API_KEY", "type": "secret_text"},
        {"name": "MODE", "type": "plain_text", "text": "live"},
    ]
    # a redeploy without it keeps the secret (secrets are deleted only through the secrets API)
    assert api.upload("tenant_abc", {"index.js": (JS, HELLO)}).status_code == 200
    assert api.ok("GET", secrets_path(api)) == [{"name": "API_KEY", "type": "secret_text"}]


def test_inherit_and_keep_bindings(api: Api) -> None:
    bindings = [
        {"name": "MODE", "type": "plain_text", "text": "live"},
        {"name": "REGION", "type": "json", "json": "eu"},
    ]
    api.upload("tenant_abc", {"index.js": (JS, HELLO)}, bindings=bindings)
    inherited = api.upload(
        "tenant_abc", {"index.js": (JS, HELLO)}, bindings=[{"name": "MODE", "type": "inherit"}]
    )
    assert inherited.status_code == 200
    assert [b["name"] for b in api.ok("GET", api.scripts_path(suffix="/tenant_abc/bindings"))] == ["MODE"]
    kept = api.upload("tenant_abc", {"index.js": (JS, HELLO)}, bindings=[], keep_bindings=["plain_text"])
    assert kept.status_code == 200
    assert [b["name"] for b in api.ok("GET", api.scripts_path(suffix="/tenant_abc/bindings"))] == ["MODE"]
    strict = api.call(
        "PUT",
        api.scripts_path(suffix="/tenant_abc"),
        params={"bindings_inherit": "strict"},
        files=[
            (
                "metadata",
                (
                    None,
                    json.dumps(
                        {"main_module": "index.js", "bindings": [{"name": "GONE", "type": "inherit"}]}
                    ),
                ),
            ),
            ("files", ("index.js", HELLO.encode(), JS)),
        ],
    )
    assert strict.status_code == 400 and "GONE" in strict.json()["errors"][0]["message"]


def test_unsupported_and_incomplete_bindings_are_refused(api: Api) -> None:
    r2 = api.upload(
        "tenant_abc",
        {"index.js": (JS, HELLO)},
        bindings=[{"name": "B", "type": "r2_bucket", "bucket_name": "x"}],
    )
    assert r2.status_code == 400 and "does not provide" in r2.json()["errors"][0]["message"]
    no_text = api.upload(
        "tenant_abc", {"index.js": (JS, HELLO)}, bindings=[{"name": "S", "type": "secret_text"}]
    )
    assert no_text.status_code == 400 and "needs text" in no_text.json()["errors"][0]["message"]
    no_id = api.upload("tenant_abc", {"index.js": (JS, HELLO)}, bindings=[{"name": "DB", "type": "d1"}])
    assert no_id.status_code == 400 and "needs id" in no_id.json()["errors"][0]["message"]


def test_a_tenant_token_reaches_only_its_own_secrets(api: Api) -> None:
    api.registry.tenants.create("tenant_xyz")
    api.upload("tenant_xyz", {"index.js": (JS, HELLO)})
    api.ok("PUT", secrets_path(api, "tenant_xyz"), json={"name": "THEIRS", "text": SECRET})
    token = api.tenant_token("tenant_abc")
    for method, suffix, kwargs in [
        ("GET", "", {}),
        ("GET", "/THEIRS", {}),
        ("DELETE", "/THEIRS", {}),
        ("PUT", "", {"json": {"name": "THEIRS", "text": "overwritten"}}),
    ]:
        response = api.call(method, secrets_path(api, "tenant_xyz", suffix), token=token, **kwargs)
        assert response.status_code == 403, (method, suffix)
    assert api.call("GET", api.scripts_path(suffix="/tenant_xyz/bindings"), token=token).status_code == 403
    assert api.ok("GET", secrets_path(api, "tenant_xyz")) == [{"name": "THEIRS", "type": "secret_text"}]
    # and its own
    api.upload("tenant_abc", {"index.js": (JS, HELLO)}, token=token)
    assert (
        api.call("PUT", secrets_path(api), json={"name": "MINE", "text": "x"}, token=token).status_code == 200
    )


def test_secret_names_are_checked(api: Api) -> None:
    api.upload("tenant_abc", {"index.js": (JS, HELLO)})
    bad = api.call("PUT", secrets_path(api), json={"name": "not a name", "text": "x"})
    assert bad.status_code == 400
    missing = api.call("PUT", secrets_path(api, "ghost"), json={"name": "A", "text": "x"})
    assert missing.status_code == 404
