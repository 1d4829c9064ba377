"""The official `cloudflare` Python SDK drives z0 with only its base URL and token changed."""

from __future__ import annotations

import uuid

import pytest
from cloudflare import Cloudflare, NotFoundError

from tests.support import LiveServer

WORKER = b"export default { async fetch(request) { return new Response('from the SDK'); } };\n"


@pytest.fixture
def cf(live_server: LiveServer) -> Cloudflare:
    return Cloudflare(api_token=live_server.token, base_url=live_server.api_url, max_retries=0)


def test_namespaces_through_the_sdk(cf: Cloudflare, live_server: LiveServer) -> None:
    account = live_server.account_id
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    created = cf.workers_for_platforms.dispatch.namespaces.create(account_id=account, name=name)
    assert created.namespace_name == name and created.namespace_id
    listed = [
        ns.namespace_name for ns in cf.workers_for_platforms.dispatch.namespaces.list(account_id=account)
    ]
    assert name in listed and "z0-prod-tenants" in listed
    got = cf.workers_for_platforms.dispatch.namespaces.get(name, account_id=account)
    assert got.namespace_id == created.namespace_id and got.script_count == 0
    cf.workers_for_platforms.dispatch.namespaces.delete(name, account_id=account)
    with pytest.raises(NotFoundError):
        cf.workers_for_platforms.dispatch.namespaces.get(name, account_id=account)


def test_scripts_and_tags_through_the_sdk(cf: Cloudflare, live_server: LiveServer) -> None:
    account = live_server.account_id
    namespace = f"sdk-{uuid.uuid4().hex[:8]}"
    cf.workers_for_platforms.dispatch.namespaces.create(account_id=account, name=namespace)
    scripts = cf.workers_for_platforms.dispatch.namespaces.scripts

    uploaded = scripts.update(
        "tenant_sdk",
        account_id=account,
        dispatch_namespace=namespace,
        metadata={
            "main_module": "worker.js",
            "tags": ["tenant_id:tenant_sdk", "plan:pro"],
            "compatibility_date": "2025-01-01",
            "bindings": [{"name": "GREETING", "type": "plain_text", "text": "hi"}],
        },
        files=[("worker.js", WORKER, "application/javascript+module")],
    )
    assert uploaded.id == "tenant_sdk"
    assert uploaded.etag and uploaded.startup_time_ms >= 0
    assert sorted(uploaded.tags or []) == ["plan:pro", "tenant_id:tenant_sdk"]
    scripts.update(
        "tenant_other",
        account_id=account,
        dispatch_namespace=namespace,
        metadata={"main_module": "worker.js", "tags": ["plan:free"]},
        files=[("worker.js", WORKER, "application/javascript+module")],
    )

    got = scripts.get("tenant_sdk", account_id=account, dispatch_namespace=namespace)
    assert got.dispatch_namespace == namespace
    assert got.script is not None and got.script.etag == uploaded.etag

    content = scripts.content.get("tenant_sdk", account_id=account, dispatch_namespace=namespace)
    assert WORKER in content.read()

    # the SDK has no list call for a namespace's scripts: its raw client reaches the endpoint
    listed = cf.get(
        f"/accounts/{account}/workers/dispatch/namespaces/{namespace}/scripts",
        options={"params": {"tags": "plan:pro:yes"}},
        cast_to=object,
    )
    assert [item["script"]["id"] for item in listed["result"]] == ["tenant_sdk"]  # type: ignore[index]

    updated = scripts.tags.update(
        "tenant_sdk",
        account_id=account,
        dispatch_namespace=namespace,
        body=["tenant_id:tenant_sdk", "plan:enterprise"],
    )
    assert sorted(updated) == ["plan:enterprise", "tenant_id:tenant_sdk"]
    assert sorted(scripts.tags.list("tenant_sdk", account_id=account, dispatch_namespace=namespace)) == [
        "plan:enterprise",
        "tenant_id:tenant_sdk",
    ]
    scripts.tags.delete(
        "plan:enterprise", account_id=account, dispatch_namespace=namespace, script_name="tenant_sdk"
    )
    assert list(scripts.tags.list("tenant_sdk", account_id=account, dispatch_namespace=namespace)) == [
        "tenant_id:tenant_sdk"
    ]

    scripts.delete("tenant_sdk", account_id=account, dispatch_namespace=namespace)
    with pytest.raises(NotFoundError):
        scripts.get("tenant_sdk", account_id=account, dispatch_namespace=namespace)
    cf.workers_for_platforms.dispatch.namespaces.delete(namespace, account_id=account)
