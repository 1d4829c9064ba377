"""Script uploads, reads, listing by tag, content, versions and tags through the control API."""

from __future__ import annotations

import json
import re
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from tests.conftest import HELLO, JS, Api
from z0.control import create_control_app
from z0.settings import Settings


def test_upload_then_get_list_content(api: Api) -> None:
    response = api.upload(
        "tenant_abc",
        {
            "index.js": (
                JS,
                "import { greet } from './lib/greet.js';\nexport default { fetch: () => greet() };\n",
            ),
            "lib/greet.js": ("text/javascript", "export const greet = () => new Response('hi');\n"),
            "motd.txt": ("text/plain", "hello"),
            "index.js.map": ("application/source-map", "{}"),
        },
        tags=["tenant_id:tenant_abc", "plan:pro"],
        compatibility_date="2025-01-01",
        compatibility_flags=["nodejs_compat"],
        bindings=[{"name": "GREETING", "type": "plain_text", "text": "hi"}],
    )
    assert response.status_code == 200, response.text
    uploaded = response.json()["result"]
    assert uploaded["id"] == "tenant_abc"
    assert uploaded["tenant_id"] == "tenant_abc"
    assert uploaded["deployment_id"] == uploaded["version_id"]
    assert uploaded["startup_time_ms"] >= 0
    assert len(uploaded["etag"]) == 64
    assert sorted(uploaded["tags"]) == ["plan:pro", "tenant_id:tenant_abc"]
    assert uploaded["compatibility_date"] == "2025-01-01"
    assert uploaded["compatibility_flags"] == ["nodejs_compat"]
    assert [m["name"] for m in uploaded["modules"]] == [
        "index.js",
        "lib/greet.js",
        "motd.txt",
        "index.js.map",
    ]

    got = api.ok("GET", api.scripts_path(suffix="/tenant_abc"))
    assert got["dispatch_namespace"] == "z0-prod-tenants"
    assert got["script"]["version_id"] == uploaded["version_id"]
    assert got["script"]["etag"] == uploaded["etag"]

    content = api.call("GET", api.scripts_path(suffix="/tenant_abc/content"))
    assert content.status_code == 200
    assert content.headers["cf-entrypoint"] == "index.js"
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content.headers['content-type']}\r\n\r\n".encode() + content.content
    )
    parts = {
        part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_parts()
    }
    assert parts["lib/greet.js"] == ("text/javascript", b"export const greet = () => new Response('hi');\n")
    assert parts["motd.txt"] == ("text/plain", b"hello")


def test_new_upload_is_a_new_version_and_old_ones_are_listed(api: Api) -> None:
    first = api.upload("tenant_abc", {"index.js": (JS, HELLO)}).json()["result"]
    second = api.upload("tenant_abc", {"index.js": (JS, HELLO + "// v2\n")}).json()["result"]
    assert first["version_id"] != second["version_id"]
    versions = api.ok("GET", api.scripts_path(suffix="/tenant_abc/versions"))
    assert [(v["id"], v["current"]) for v in versions] == [
        (second["version_id"], True),
        (first["version_id"], False),
    ]
    assert (
        api.ok("GET", api.scripts_path(suffix="/tenant_abc"))["script"]["version_id"] == second["version_id"]
    )


@pytest.mark.parametrize(
    ("modules", "metadata", "status", "message"),
    [
        (
            {"index.js": (JS, "export default { fetch() { return new Response('x' }\n};")},
            {},
            400,
            r"SyntaxError.*index\.js:1:",
        ),
        ({"index.js": (JS, HELLO)}, {"main_module": "main.js"}, 400, "not among the uploaded modules"),
        ({"index.js": (JS, HELLO), "add.wasm": ("application/wasm", b"\0asm")}, {}, 400, "WebAssembly"),
        ({"index.js": (JS, HELLO)}, {"tags": [f"t{i}" for i in range(9)]}, 400, "at most 8"),
        ({"index.js": (JS, HELLO)}, {"tags": ["tenant_id:tenant_xyz"]}, 400, "by its name"),
        ({"index.js": (JS, HELLO)}, {"compatibility_date": "yesterday"}, 400, "compatibility_date"),
    ],
)
def test_bad_upload_is_refused_and_the_previous_version_keeps_serving(
    api: Api, modules: dict[str, tuple[str, str]], metadata: dict[str, object], status: int, message: str
) -> None:
    good = api.upload("tenant_abc", {"index.js": (JS, HELLO)}).json()["result"]
    response = api.upload("tenant_abc", modules, **metadata)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["errors"][0]["code"] > 0
    assert re.search(message, body["errors"][0]["message"]), body["errors"][0]["message"]
    current = api.ok("GET", api.scripts_path(suffix="/tenant_abc"))["script"]
    assert current["version_id"] == good["version_id"]
    assert len(api.ok("GET", api.scripts_path(suffix="/tenant_abc/versions"))) == 1


def test_malformed_requests_are_400(api: Api) -> None:
    put = api.scripts_path(suffix="/tenant_abc")
    no_multipart = api.call("PUT", put, content=HELLO, headers={"content-type": "application/javascript"})
    assert no_multipart.status_code == 400
    assert "multipart/form-data" in no_multipart.json()["errors"][0]["message"]
    no_metadata = api.call("PUT", put, files=[("files", ("index.js", HELLO.encode(), JS))])
    assert no_metadata.status_code == 400
    assert "no 'metadata' part" in no_metadata.json()["errors"][0]["message"]
    bad_json = api.call(
        "PUT",
        put,
        files=[
            ("metadata", (None, b"{oops", "application/json")),
            ("files", ("index.js", HELLO.encode(), JS)),
        ],
    )
    assert "not valid JSON" in bad_json.json()["errors"][0]["message"]
    broken = api.call(
        "PUT",
        put,
        content=b"--xyz\r\nnot a part",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400
    bad_name = api.upload("Not_Valid!", {"index.js": (JS, HELLO)})
    assert bad_name.status_code == 400 and "Script name" in bad_name.json()["errors"][0]["message"]


def test_unknown_namespace_or_script_is_404(api: Api) -> None:
    missing_ns = api.upload("tenant_abc", {"index.js": (JS, HELLO)}, namespace="nope")
    assert missing_ns.status_code == 404
    assert "nope" in missing_ns.json()["errors"][0]["message"]
    for method, suffix in [
        ("GET", "/ghost"),
        ("DELETE", "/ghost"),
        ("GET", "/ghost/content"),
        ("GET", "/ghost/tags"),
    ]:
        response = api.call(method, api.scripts_path(suffix=suffix))
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == 10007


def test_upload_over_the_size_limit_is_413(sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from z0.bootstrap import bootstrap
    from z0.registry import Registry

    settings = Settings(data_dir=tmp_path, api_token="tok", max_upload_bytes=4096)
    registry = Registry.open(sqlite_url)
    account = bootstrap(registry, settings).account_id
    with TestClient(create_control_app(registry, settings)) as client:
        api = Api(client, registry, account, "tok")
        assert api.upload("tenant_abc", {"index.js": (JS, HELLO)}).status_code == 200
        big = "// " + "x" * 5000 + "\n" + HELLO
        response = api.upload("tenant_abc", {"index.js": (JS, big)})
        assert response.status_code == 413
        assert "4096" in response.json()["errors"][0]["message"]
        huge = "// " + "x" * (2 * 1024 * 1024) + "\n" + HELLO  # over the body limit: refused while streaming
        assert api.upload("tenant_abc", {"index.js": (JS, huge)}).status_code == 413
        assert len(api.ok("GET", api.scripts_path(suffix="/tenant_abc/versions"))) == 1
    registry.close()


def test_list_filter_by_tags_and_delete_by_tag(api: Api) -> None:
    for name, tags in [
        ("tenant_a", ["plan:pro"]),
        ("tenant_b", ["plan:free"]),
        ("tenant_c", ["plan:pro", "beta"]),
    ]:
        assert api.upload(name, {"index.js": (JS, HELLO)}, tags=tags).status_code == 200
    names = lambda result: [s["script"]["id"] for s in result]  # noqa: E731
    assert names(api.ok("GET", api.scripts_path())) == ["tenant_a", "tenant_b", "tenant_c"]
    assert names(api.ok("GET", api.scripts_path(), params={"tags": "plan:pro:yes"})) == [
        "tenant_a",
        "tenant_c",
    ]
    assert names(api.ok("GET", api.scripts_path(), params={"tags": "plan:pro:yes,beta:no"})) == ["tenant_a"]
    bad = api.call("GET", api.scripts_path(), params={"tags": "plan:pro"})
    assert bad.status_code == 400 and "TAG:yes" in bad.json()["errors"][0]["message"]
    page = api.call("GET", api.scripts_path(), params={"per_page": 2, "page": 2}).json()
    assert names(page["result"]) == ["tenant_c"]
    assert page["result_info"] == {"page": 2, "per_page": 2, "count": 1, "total_count": 3}
    assert "result_info" not in api.call("GET", api.scripts_path()).json()

    nothing = api.call("DELETE", api.scripts_path())
    assert nothing.status_code == 400  # a delete without a filter deletes nothing
    assert api.ok("DELETE", api.scripts_path(), params={"tags": "plan:pro:yes"}) == ["tenant_a", "tenant_c"]
    assert names(api.ok("GET", api.scripts_path())) == ["tenant_b"]


def test_tags_endpoints(api: Api) -> None:
    api.upload("tenant_abc", {"index.js": (JS, HELLO)})
    tags = api.scripts_path(suffix="/tenant_abc/tags")
    assert api.ok("GET", tags) == []
    assert api.ok("PUT", tags, json=["plan:pro", "tenant_id:tenant_abc"]) == [
        "plan:pro",
        "tenant_id:tenant_abc",
    ]
    assert sorted(api.ok("PUT", f"{tags}/region:eu")) == ["plan:pro", "region:eu", "tenant_id:tenant_abc"]
    assert sorted(api.ok("DELETE", f"{tags}/plan:pro")) == ["region:eu", "tenant_id:tenant_abc"]
    assert sorted(api.ok("GET", tags)) == ["region:eu", "tenant_id:tenant_abc"]
    too_many = api.call("PUT", tags, json=[f"t{i}" for i in range(9)])
    assert too_many.status_code == 400
    assert api.call("PUT", tags, json=["tenant_id:tenant_xyz"]).status_code == 400
    for i in range(6):
        api.ok("PUT", f"{tags}/t{i}")
    assert api.call("PUT", f"{tags}/one-too-many").status_code == 400
    assert len(api.ok("GET", tags)) == 8
    # an upload without tags keeps them (wrangler sends none)
    api.upload("tenant_abc", {"index.js": (JS, HELLO)})
    assert len(api.ok("GET", tags)) == 8


def test_delete_script(api: Api) -> None:
    api.upload("tenant_abc", {"index.js": (JS, HELLO)})
    assert api.ok("DELETE", api.scripts_path(suffix="/tenant_abc")) is None
    assert api.call("GET", api.scripts_path(suffix="/tenant_abc")).status_code == 404
    again = api.call("DELETE", api.scripts_path(suffix="/tenant_abc"), params={"force": "true"})
    assert again.status_code == 404
    assert api.ok("GET", api.path("/workers/dispatch/namespaces/z0-prod-tenants"))["script_count"] == 0


def test_service_worker_upload(api: Api) -> None:
    source = "addEventListener('fetch', (event) => event.respondWith(new Response('sw')));\n"
    files = [
        ("metadata", (None, json.dumps({"body_part": "script"}), "application/json")),
        ("script", ("script", source.encode(), "application/javascript")),
    ]
    response = api.call("PUT", api.scripts_path(suffix="/tenant_sw"), files=files)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["has_modules"] is False


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "const ready = true;\nthrow new Error('not configured');\nexport default { fetch() {} };",
            "index.js:2",
        ),
        ("while (true) {}\nexport default { fetch() {} };", "startup CPU limit"),
        ("export default { scheduled() {} };", "no fetch handler"),
        ("import { x } from './missing.js';\nexport default { fetch() {} };", "missing.js"),
    ],
)
def test_a_script_that_cannot_start_is_refused_at_upload(api: Api, source: str, message: str) -> None:
    good = api.upload("tenant_abc", {"index.js": (JS, HELLO)}).json()["result"]
    response = api.upload("tenant_abc", {"index.js": (JS, source)})
    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"], response.text
    assert api.ok("GET", api.scripts_path(suffix="/tenant_abc"))["script"]["version_id"] == good["version_id"]


def test_upload_reports_handlers_and_startup_time(api: Api) -> None:
    source = "export default { fetch() { return new Response('x'); }, scheduled() {} };"
    uploaded = api.upload("tenant_abc", {"index.js": (JS, source)}).json()["result"]
    assert uploaded["handlers"] == ["fetch", "scheduled"]
    assert uploaded["startup_time_ms"] >= 0
    assert api.ok("GET", api.scripts_path(suffix="/tenant_abc"))["script"]["handlers"] == [
        "fetch",
        "scheduled",
    ]
