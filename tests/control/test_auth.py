"""Every control API route needs a valid bearer token; tenant tokens reach only their tenant."""

from __future__ import annotations

import pytest

from tests.conftest import HELLO, JS, Api

ROUTES = [
    ("GET", "/workers/dispatch/namespaces"),
    ("POST", "/workers/dispatch/namespaces"),
    ("GET", "/workers/dispatch/namespaces/z0-prod-tenants"),
    ("DELETE", "/workers/dispatch/namespaces/z0-prod-tenants"),
    ("GET", "/workers/dispatch/namespaces/z0-prod-tenants/scripts"),
    ("PUT", "/workers/dispatch/namespaces/z0-prod-tenants/scripts/tenant_abc"),
    ("GET", "/workers/dispatch/namespaces/z0-prod-tenants/scripts/tenant_abc/content"),
    ("PUT", "/workers/dispatch/namespaces/z0-prod-tenants/scripts/tenant_abc/tags"),
    ("GET", "/z0/tenants"),
    ("POST", "/z0/tenants/tenant_abc/keys"),
    ("GET", "/z0/tokens"),
]


@pytest.mark.parametrize(("method", "suffix"), ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer wrong-token", "Basic abc", "z0t_bare"])
def test_missing_or_wrong_token_is_401_with_the_envelope(
    api: Api, method: str, suffix: str, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization is not None else {}
    response = api.client.request(method, api.path(suffix), headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    assert body["errors"][0]["code"] == 10000
    assert "Authentication error" in body["errors"][0]["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoked_token_is_401(api: Api) -> None:
    created = api.ok("POST", api.path("/z0/tokens"), json={"name": "temp"})
    assert (
        api.call("GET", api.path("/workers/dispatch/namespaces"), token=created["value"]).status_code == 200
    )
    api.ok("DELETE", api.path(f"/z0/tokens/{created['id']}"))
    assert (
        api.call("GET", api.path("/workers/dispatch/namespaces"), token=created["value"]).status_code == 401
    )


def test_another_account_is_403(api: Api) -> None:
    response = api.call("GET", "/client/v4/accounts/someoneelse/workers/dispatch/namespaces")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == 9109


def test_tenant_token_is_limited_to_its_own_scripts(api: Api) -> None:
    api.registry.tenants.create("tenant_xyz")
    assert api.upload("tenant_xyz", {"index.js": (JS, HELLO)}).status_code == 200
    token = api.tenant_token("tenant_abc")

    # its own scripts: deploy, read, tag, list, delete
    mine = api.upload("tenant_abc", {"index.js": (JS, HELLO)}, token=token)
    assert mine.status_code == 200, mine.text
    assert mine.json()["result"]["tenant_id"] == "tenant_abc"
    assert api.call("GET", api.scripts_path(suffix="/tenant_abc"), token=token).status_code == 200
    listed = api.call("GET", api.scripts_path(), token=token).json()["result"]
    assert [s["script"]["id"] for s in listed] == ["tenant_abc"]

    # another tenant's script: 403 for every verb, and nothing changes
    for method, suffix, kwargs in [
        ("GET", "/tenant_xyz", {}),
        ("DELETE", "/tenant_xyz", {}),
        ("GET", "/tenant_xyz/content", {}),
        ("GET", "/tenant_xyz/versions", {}),
        ("GET", "/tenant_xyz/tags", {}),
        ("PUT", "/tenant_xyz/tags", {"json": ["x"]}),
        ("PUT", "/tenant_xyz/tags/x", {}),
        ("DELETE", "/tenant_xyz/tags/x", {}),
        ("GET", "/tenant_nobody", {}),
    ]:
        response = api.call(method, api.scripts_path(suffix=suffix), token=token, **kwargs)
        assert response.status_code == 403, (method, suffix, response.text)
        assert response.json()["success"] is False
    overwrite = api.upload("tenant_xyz", {"index.js": (JS, "export default {};")}, token=token)
    assert overwrite.status_code == 403
    smuggle = api.upload("my-worker", {"index.js": (JS, HELLO)}, token=token, tags=["tenant_id:tenant_xyz"])
    assert smuggle.status_code == 403
    theirs = api.ok("GET", api.scripts_path(suffix="/tenant_xyz"))
    assert theirs["script"]["modules"][0]["size"] == len(HELLO)

    # delete-by-tag with a tenant token deletes only its own
    api.ok("PUT", api.scripts_path(suffix="/tenant_xyz/tags"), json=["plan:pro"])
    api.ok("PUT", api.scripts_path(suffix="/tenant_abc/tags"), json=["plan:pro"], token=token)
    response = api.call("DELETE", api.scripts_path(), params={"tags": "plan:pro:yes"}, token=token)
    assert response.json()["result"] == ["tenant_abc"]
    assert api.ok("GET", api.scripts_path(suffix="/tenant_xyz"))["script"]["tags"] == ["plan:pro"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "/workers/dispatch/namespaces"),
        ("POST", "/workers/dispatch/namespaces"),
        ("DELETE", "/workers/dispatch/namespaces/z0-prod-tenants"),
        ("GET", "/z0/tenants"),
        ("PATCH", "/z0/tenants/tenant_abc"),
        ("POST", "/z0/tenants/tenant_abc/keys"),
        ("GET", "/z0/tokens"),
        ("POST", "/z0/tokens"),
    ],
)
def test_tenant_token_cannot_do_operator_work(api: Api, method: str, suffix: str) -> None:
    token = api.tenant_token("tenant_abc")
    response = api.call(method, api.path(suffix), token=token, json={"name": "x", "status": "active"})
    assert response.status_code == 403
    assert "operator" in response.json()["errors"][0]["message"]
    assert api.registry.namespaces.get(api.account_id, "z0-prod-tenants") is not None


def test_tenant_token_cannot_take_over_a_platform_script(api: Api) -> None:
    assert api.upload("platform-router", {"index.js": (JS, HELLO)}).status_code == 200
    assert api.ok("GET", api.scripts_path(suffix="/platform-router"))["script"]["tenant_id"] is None
    api.ok(
        "PUT",
        api.scripts_path(suffix="/platform-router/secrets"),
        json={"name": "PLATFORM_SECRET", "text": "x"},
    )
    token = api.tenant_token("tenant_abc")
    taken = api.upload("platform-router", {"index.js": (JS, HELLO)}, token=token)
    assert taken.status_code == 403
    assert api.ok("GET", api.scripts_path(suffix="/platform-router"))["script"]["tenant_id"] is None
