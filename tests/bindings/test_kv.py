"""Workers KV: the storage rules, the worker binding through real executors, and the control API."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import HELLO, JS, Api
from z0.bindings import HostOpRouter
from z0.bindings import kv as kv_module
from z0.bindings.kv import KvData
from z0.errors import InvalidRequest, PayloadTooLarge
from z0.registry import Module, Registry
from z0.runtime.compile import compile_script
from z0.runtime.limits import Limits
from z0.runtime.supervisor import Runtime, RuntimeConfig, RuntimeRequest
from z0.settings import Settings


@pytest.fixture
def kv_registry(tmp_path: Path) -> Iterator[tuple[Registry, str]]:
    registry = Registry.open(f"sqlite:///{tmp_path / 'z0.sqlite3'}")
    account = registry.namespaces.create_account("acc").id
    registry.tenants.create("tenant_a")
    namespace = registry.kv.create(account, "store", tenant_id="tenant_a")
    yield registry, namespace.id
    registry.close()


def test_put_get_list_delete(kv_registry: tuple[Registry, str]) -> None:
    registry, ns = kv_registry
    data = KvData(registry)
    data.put(ns, "user:1", b"alice", metadata={"role": "admin"})
    data.put(ns, "user:2", b"\x00\xff bytes")
    data.put(ns, "other", b"x", expiration_ttl=3600)
    entry = data.get(ns, "user:1")
    assert entry is not None and (entry.value, entry.metadata) == (b"alice", {"role": "admin"})
    assert data.get(ns, "user:2").value == b"\x00\xff bytes"  # type: ignore[union-attr]
    assert data.get(ns, "missing") is None
    listed = data.list(ns, prefix="user:")
    assert listed == {
        "keys": [{"name": "user:1", "metadata": {"role": "admin"}}, {"name": "user:2"}],
        "list_complete": True,
    }
    everything = data.list(ns)
    assert [k["name"] for k in everything["keys"]] == ["other", "user:1", "user:2"]
    assert everything["keys"][0]["expiration"] > time.time() + 3500
    data.delete(ns, "user:1")
    assert data.get(ns, "user:1") is None


def test_entries_are_data_not_registry_changes(kv_registry: tuple[Registry, str]) -> None:
    """Every gateway reloads its view when the change counter moves: a tenant's KV writes must not."""
    registry, ns = kv_registry
    before = registry.change_counter()
    data = KvData(registry)
    data.put(ns, "k", b"v")
    data.delete(ns, "k")
    assert registry.change_counter() == before


def test_list_pages_with_a_cursor(kv_registry: tuple[Registry, str]) -> None:
    registry, ns = kv_registry
    data = KvData(registry)
    for i in range(25):
        data.put(ns, f"k{i:02d}", b"v")
    first = data.list(ns, limit=10)
    assert len(first["keys"]) == 10 and first["list_complete"] is False
    second = data.list(ns, limit=10, cursor=first["cursor"])
    third = data.list(ns, limit=10, cursor=second["cursor"])
    names = [k["name"] for page in (first, second, third) for k in page["keys"]]
    assert names == [f"k{i:02d}" for i in range(25)]
    assert third["list_complete"] is True and "cursor" not in third
    with pytest.raises(InvalidRequest, match="cursor"):
        data.list(ns, cursor="!!!")


def test_expired_keys_are_never_returned(kv_registry: tuple[Registry, str]) -> None:
    registry, ns = kv_registry
    data = KvData(registry)
    data.put(ns, "soon", b"v", expiration_ttl=60)
    assert data.get(ns, "soon") is not None
    with registry.engine.begin() as connection:  # let time pass: move its expiration into the past
        connection.exec_driver_sql("UPDATE kv_entries SET expiration = 1 WHERE key = 'soon'")
    assert data.get(ns, "soon") is None
    assert data.list(ns)["keys"] == []
    assert data.purge_expired() == 1


@pytest.mark.parametrize(
    ("key", "value", "options", "error"),
    [
        ("", b"v", {}, "non-empty"),
        ("k" * 513, b"v", {}, "512"),
        (".", b"v", {}, "'.'"),
        ("k", b"v", {"expiration_ttl": 30}, "at least 60 seconds"),
        ("k", b"v", {"expiration": 5}, "at least 60 seconds"),
        ("k", b"v", {"expiration_ttl": "soon"}, "whole numbers"),
        ("k", b"v", {"metadata": {"big": "x" * 2000}}, "1024 bytes"),
    ],
)
def test_limits(
    kv_registry: tuple[Registry, str], key: str, value: bytes, options: dict[str, object], error: str
) -> None:
    registry, ns = kv_registry
    with pytest.raises(InvalidRequest, match=error):
        KvData(registry).put(ns, key, value, **options)  # type: ignore[arg-type]


def test_value_size_limit(kv_registry: tuple[Registry, str]) -> None:
    registry, ns = kv_registry
    with pytest.raises(PayloadTooLarge, match="26214400"):
        KvData(registry).put(ns, "big", b"x" * (25 * 1024 * 1024 + 1))


# The binding, through real executors

WORKER = """
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const step = url.pathname.slice(1);
    if (step === "put") {
      await env.TENANT_KV.put("greeting", "héllo", { metadata: { lang: "fr" } });
      await env.TENANT_KV.put("config", JSON.stringify({ a: 1 }));
      await env.TENANT_KV.put("bytes", new Uint8Array([0, 1, 254, 255]));
      return new Response("ok");
    }
    if (step === "get") {
      const text = await env.TENANT_KV.get("greeting");
      const json = await env.TENANT_KV.get("config", "json");
      const buffer = await env.TENANT_KV.get("bytes", { type: "arrayBuffer" });
      const meta = await env.TENANT_KV.getWithMetadata("greeting");
      const missing = await env.TENANT_KV.get("nope");
      const list = await env.TENANT_KV.list({ prefix: "g" });
      return Response.json({ text, json, bytes: [...new Uint8Array(buffer)], meta, missing, list });
    }
    if (step === "delete") {
      await env.TENANT_KV.delete("greeting");
      return Response.json({ after: await env.TENANT_KV.get("greeting") });
    }
    if (step === "bad") {
      try { await env.TENANT_KV.put("", "x"); } catch (error) { return new Response(error.message); }
    }
    return new Response("?", { status: 404 });
  },
};
"""


@pytest_asyncio.fixture
async def kv_runtime(kv_registry: tuple[Registry, str], tmp_path: Path) -> AsyncIterator[Runtime]:
    registry, _ = kv_registry
    router = HostOpRouter()
    kv_module.register(router, settings=Settings(data_dir=tmp_path), registry=registry)
    async with Runtime(RuntimeConfig(executors=1), host_ops=router) as runtime:
        yield runtime


async def test_worker_binding(kv_registry: tuple[Registry, str], kv_runtime: Runtime) -> None:
    _, ns = kv_registry
    code = compile_script(
        f"ns/kvw/{uuid.uuid4().hex[:6]}",
        "ns/kvw",
        [Module("index.js", JS, WORKER.encode())],
        "index.js",
        bindings=[{"name": "TENANT_KV", "type": "kv_namespace", "namespace_id": ns}],
        tenant_id="tenant_a",
    )

    async def get(path: str) -> bytes:
        response = await kv_runtime.fetch(
            code, RuntimeRequest("GET", f"https://t.example/{path}", []), Limits(), request_id="r"
        )
        assert response.status == 200, response.body
        return response.body

    assert await get("put") == b"ok"
    got = json.loads(await get("get"))
    assert got["text"] == "héllo" and got["json"] == {"a": 1} and got["bytes"] == [0, 1, 254, 255]
    assert got["meta"] == {"value": "héllo", "metadata": {"lang": "fr"}, "cacheStatus": None}
    assert got["missing"] is None
    assert got["list"] == {
        "keys": [{"name": "greeting", "metadata": {"lang": "fr"}}],
        "list_complete": True,
        "cacheStatus": None,
    }
    assert json.loads(await get("delete")) == {"after": None}
    assert (await get("bad")).startswith(b"KV PUT failed: KV keys must be non-empty")


async def test_ops_naming_a_binding_the_script_lacks_are_refused(
    kv_registry: tuple[Registry, str], kv_runtime: Runtime
) -> None:
    # This script has no KV binding, so its isolate's host ops cannot name one: the router refuses
    # an op for a binding the calling script does not have, even if the JS forged one.
    router_refusal = await kv_module_op(
        kv_registry, {"op": "kv.get", "binding": "TENANT_KV", "key": "greeting"}
    )
    assert "is not a kv_namespace binding of this script" in router_refusal


async def kv_module_op(kv_registry: tuple[Registry, str], op: dict[str, object]) -> str:
    registry, _ = kv_registry
    router = HostOpRouter()
    kv_module.register(router, settings=Settings(), registry=registry)
    code = compile_script("ns/x/1", "ns/x", [Module("index.js", JS, HELLO.encode())], "index.js")
    try:
        await router.perform(code, "r", op)
    except Exception as exc:
        return str(exc)
    return "performed"


# The control API


def test_kv_api(api: Api) -> None:
    created = api.ok("POST", api.path("/storage/kv/namespaces"), json={"title": "sessions"})
    ns = created["id"]
    assert created["title"] == "sessions" and created["tenant_id"] is None
    assert [n["id"] for n in api.ok("GET", api.path("/storage/kv/namespaces"))] == [ns]
    put = api.call("PUT", api.path(f"/storage/kv/namespaces/{ns}/values/a%2Fb"), content=b"\x00value")
    assert put.status_code == 200
    read = api.call("GET", api.path(f"/storage/kv/namespaces/{ns}/values/a%2Fb"))
    assert (read.status_code, read.content) == (200, b"\x00value")
    multipart = api.call(
        "PUT",
        api.path(f"/storage/kv/namespaces/{ns}/values/with-meta"),
        params={"expiration_ttl": 120},
        files=[("value", (None, b"v")), ("metadata", (None, b'{"x": 1}'))],
    )
    assert multipart.status_code == 200, multipart.text
    assert api.ok("GET", api.path(f"/storage/kv/namespaces/{ns}/metadata/with-meta")) == {"x": 1}
    keys = api.call("GET", api.path(f"/storage/kv/namespaces/{ns}/keys")).json()
    assert [k["name"] for k in keys["result"]] == ["a/b", "with-meta"]
    assert keys["result"][1]["expiration"] > time.time()
    assert api.ok("DELETE", api.path(f"/storage/kv/namespaces/{ns}/values/a%2Fb")) is None
    assert api.call("GET", api.path(f"/storage/kv/namespaces/{ns}/values/a%2Fb")).status_code == 404
    bad = api.call(
        "PUT", api.path(f"/storage/kv/namespaces/{ns}/values/k"), params={"expiration_ttl": 5}, content=b"v"
    )
    assert bad.status_code == 400 and "60 seconds" in bad.json()["errors"][0]["message"]
    assert api.ok("DELETE", api.path(f"/storage/kv/namespaces/{ns}")) is None
    assert api.call("GET", api.path(f"/storage/kv/namespaces/{ns}")).status_code == 404


def test_tenant_tokens_see_only_their_namespaces(api: Api) -> None:
    theirs = api.ok("POST", api.path("/storage/kv/namespaces"), json={"title": "b-data", "tenant_id": None})[
        "id"
    ]
    token = api.tenant_token("tenant_abc")
    mine = api.ok("POST", api.path("/storage/kv/namespaces"), json={"title": "a-data"}, token=token)
    assert mine["tenant_id"] == "tenant_abc"
    assert [n["id"] for n in api.ok("GET", api.path("/storage/kv/namespaces"), token=token)] == [mine["id"]]
    for method, suffix in [
        ("GET", ""),
        ("DELETE", ""),
        ("GET", "/keys"),
        ("GET", "/values/k"),
        ("PUT", "/values/k"),
    ]:
        response = api.call(
            method, api.path(f"/storage/kv/namespaces/{theirs}{suffix}"), token=token, content=b"x"
        )
        assert response.status_code == 404, (method, suffix)
    other = api.call(
        "POST",
        api.path("/storage/kv/namespaces"),
        json={"title": "x", "tenant_id": "tenant_zzz"},
        token=token,
    )
    assert other.status_code == 404


def test_binding_another_tenants_namespace_is_refused_at_upload(api: Api) -> None:
    api.registry.tenants.create("tenant_b")
    theirs = api.ok("POST", api.path("/storage/kv/namespaces"), json={"title": "b", "tenant_id": "tenant_b"})[
        "id"
    ]
    binding = [{"name": "TENANT_KV", "type": "kv_namespace", "namespace_id": theirs}]
    refused = api.upload("tenant_abc", {"index.js": (JS, HELLO)}, bindings=binding)
    assert refused.status_code == 403
    assert "TENANT_KV" in refused.json()["errors"][0]["message"]
    assert api.upload("tenant_b", {"index.js": (JS, HELLO)}, bindings=binding).status_code == 200
    missing = [{"name": "TENANT_KV", "type": "kv_namespace", "namespace_id": "nope"}]
    assert api.upload("tenant_b", {"index.js": (JS, HELLO)}, bindings=missing).status_code == 404
