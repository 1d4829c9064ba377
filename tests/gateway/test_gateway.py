"""The gateway over real HTTP on 127.0.0.1: every answer of the dispatcher, and what the worker sees."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.operator import Operator
from tests.support import LiveServer

# Answers with what it saw: tenant, path, headers (the x-z0 ones, and any the test asks about), body.
MIRROR = """
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const seen = {};
    for (const [name, value] of request.headers) seen[name] = value;
    const body = await request.arrayBuffer();
    return Response.json({
      script: env.SCRIPT, method: request.method, path: url.pathname, search: url.search, host: url.host,
      headers: seen, length: body.byteLength,
      body: body.byteLength < 1000 ? new TextDecoder().decode(body) : null,
    });
  },
};
"""


def mirror(name: str) -> list[dict[str, str]]:
    return [{"name": "SCRIPT", "type": "plain_text", "text": name}]


@pytest.fixture(scope="module")
def operator(live_server: LiveServer) -> Iterator[Operator]:
    with Operator(live_server) as op:
        yield op


@pytest.fixture(scope="module")
def tenant(operator: Operator) -> dict[str, str]:
    """A tenant with all three kinds of script deployed, and a gateway key."""
    tenant_id = operator.tenant()
    for name in (tenant_id, f"{tenant_id}-webhook", f"{tenant_id}-integration-slack"):
        operator.deploy(name, MIRROR, bindings=mirror(name))
    key = operator.key(tenant_id)["key"]
    wait_for(lambda: operator.gateway.get("/", headers={"authorization": f"Bearer {key}"}).status_code == 200)
    return {"id": tenant_id, "key": key}


def wait_for(check: object, timeout: float = 3.0) -> float:
    """Polls `check()` until true; returns how long it took. Each gateway worker refreshes its view
    every 200 ms: once one has seen a change, the others have within the next 400 ms."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            took = time.monotonic() - started
            time.sleep(0.4)
            return took
        time.sleep(0.05)
    raise AssertionError("the change was not seen in time")


def test_key_in_authorization_or_x_z0_api_key(operator: Operator, tenant: dict[str, str]) -> None:
    wait_for(
        lambda: (
            operator.gateway.get("/", headers={"authorization": f"Bearer {tenant['key']}"}).status_code == 200
        )
    )
    by_bearer = operator.gateway.get("/hello?x=1", headers={"authorization": f"Bearer {tenant['key']}"})
    assert by_bearer.status_code == 200
    seen = by_bearer.json()
    assert seen["script"] == tenant["id"] and seen["path"] == "/hello" and seen["search"] == "?x=1"
    assert "authorization" not in seen["headers"]  # the key it consumed is stripped
    by_header = operator.gateway.get(
        "/", headers={"x-z0-api-key": tenant["key"], "authorization": "Basic abc"}
    )
    assert by_header.status_code == 200
    assert "x-z0-api-key" not in by_header.json()["headers"]
    assert by_header.json()["headers"]["authorization"] == "Basic abc"  # any other Authorization goes through


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer z0k_wrong"},
        {"x-z0-api-key": "z0k_wrong"},
        {"authorization": "Bearer other"},
    ],
)
def test_no_or_bad_credentials_are_401(operator: Operator, headers: dict[str, str]) -> None:
    response = operator.gateway.get("/", headers=headers)
    assert response.status_code == 401
    assert response.text == "Unauthorized"
    assert uuid.UUID(response.headers["x-z0-request-id"])


def test_wrong_key_is_refused_even_with_a_good_hostname(operator: Operator, tenant: dict[str, str]) -> None:
    host = tenant["id"].replace("_", "-") + ".tenants.test"
    assert operator.gateway.get("/", headers={"host": host}).status_code == 200
    refused = operator.gateway.get("/", headers={"host": host, "x-z0-api-key": "z0k_wrong"})
    assert refused.status_code == 401


def test_hostname_strategy_and_unknown_tenants(operator: Operator, tenant: dict[str, str]) -> None:
    host = tenant["id"].replace("_", "-") + ".tenants.test"
    public = operator.gateway.get("/page", headers={"host": host})
    assert public.status_code == 200 and public.json()["script"] == tenant["id"]
    assert public.json()["host"] == host
    for unknown in ("nobody-here.tenants.test", "a.b.tenants.test"):
        response = operator.gateway.get("/", headers={"host": unknown})
        assert (response.status_code, response.text) == (401, "Unauthorized")


def test_custom_hostnames(operator: Operator, tenant: dict[str, str]) -> None:
    hostname = f"shop-{uuid.uuid4().hex[:6]}.example.test"
    operator.ok("PUT", f"/z0/tenants/{tenant['id']}/hostnames/{hostname}")
    wait_for(lambda: operator.gateway.get("/", headers={"host": hostname}).status_code == 200)
    assert operator.gateway.get("/", headers={"host": hostname}).json()["script"] == tenant["id"]
    operator.ok("DELETE", f"/z0/tenants/{tenant['id']}/hostnames/{hostname}")
    wait_for(lambda: operator.gateway.get("/", headers={"host": hostname}).status_code == 401)


def test_routing_by_the_naming_convention(operator: Operator, tenant: dict[str, str]) -> None:
    auth = {"authorization": f"Bearer {tenant['key']}"}
    cases = {
        "/": tenant["id"],
        "/anything/else": tenant["id"],
        "/webhook/stripe": f"{tenant['id']}-webhook",
        "/integrations/slack/events": f"{tenant['id']}-integration-slack",
    }
    for path, script in cases.items():
        response = operator.gateway.post(path, headers=auth, content=b"payload")
        assert response.status_code == 200, (path, response.text)
        assert response.json()["script"] == script
        assert response.json()["path"] == path  # prefixes are kept
        assert response.json()["body"] == "payload"
    missing = operator.gateway.get("/integrations/github/x", headers=auth)
    assert (missing.status_code, missing.text) == (404, "Tenant not deployed")


def test_not_deployed_and_not_owned_are_404(operator: Operator) -> None:
    tenant_id = operator.tenant()
    key = operator.key(tenant_id)["key"]
    auth = {"authorization": f"Bearer {key}"}
    wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 404)
    assert operator.gateway.get("/", headers=auth).text == "Tenant not deployed"
    # The live server routes /legacy/ to "{tenant_id}-legacy": a name outside the tenant scheme, so its
    # owner comes from its tag. Owned by another tenant, it is never run for this one.
    other = operator.tenant()
    operator.deploy(f"{tenant_id}-legacy", MIRROR, tags=[f"tenant_id:{other}"], bindings=mirror("theirs"))
    time.sleep(0.5)
    refused = operator.gateway.get("/legacy/x", headers=auth)
    assert (refused.status_code, refused.text) == (404, "Tenant not deployed")
    mine = f"{tenant_id}-legacy"
    operator.ok("DELETE", f"/workers/dispatch/namespaces/z0-prod-tenants/scripts/{mine}")
    operator.deploy(mine, MIRROR, tags=[f"tenant_id:{tenant_id}"], bindings=mirror("mine"))
    wait_for(lambda: operator.gateway.get("/legacy/x", headers=auth).status_code == 200)
    assert operator.gateway.get("/legacy/x", headers=auth).json()["script"] == "mine"


def test_tenant_limits_reach_the_runtime(operator: Operator) -> None:
    tenant_id = operator.tenant()
    key = operator.key(tenant_id)["key"]
    auth = {"authorization": f"Bearer {key}"}
    # about 20 ms of CPU: within the default 50 ms, over a 5 ms tenant limit
    busy = (
        "export default { fetch() { let x = 0; const end = Date.now() + 20;"
        " while (Date.now() < end) x++; return new Response(String(x > 0)); } };"
    )
    operator.deploy(tenant_id, busy)
    wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 200)
    operator.ok("PATCH", f"/z0/tenants/{tenant_id}", json={"limits": {"cpu_ms": 5}})
    wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 503)
    assert operator.gateway.get("/", headers=auth).json()["error"] == "exceeded_cpu"
    operator.ok("PATCH", f"/z0/tenants/{tenant_id}", json={"limits": {"cpu_ms": None}})
    wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 200)


def test_the_request_the_worker_sees(operator: Operator, tenant: dict[str, str]) -> None:
    spoofed = {
        "authorization": f"Bearer {tenant['key']}",
        "x-z0-tenant-id": "someone_else",
        "x-z0-request-id": "forged",
        "x-z0-anything": "forged",
        "x-custom": "kept",
    }
    response = operator.gateway.put("/data?q=1", headers=spoofed, content="héllo".encode())
    assert response.status_code == 200
    seen = response.json()
    headers = seen["headers"]
    assert headers["x-z0-tenant-id"] == tenant["id"]
    assert headers["x-z0-request-id"] == response.headers["x-z0-request-id"] != "forged"
    assert uuid.UUID(headers["x-z0-request-id"]).version == 4
    assert "x-z0-anything" not in headers
    assert headers["x-custom"] == "kept"
    assert len(headers["x-z0-trace-id"]) == 32 and len(headers["x-z0-span-id"]) == 16
    assert headers["traceparent"] == f"00-{headers['x-z0-trace-id']}-{headers['x-z0-span-id']}-01"
    assert (seen["method"], seen["body"]) == ("PUT", "héllo")


def test_an_incoming_traceparent_is_continued(operator: Operator, tenant: dict[str, str]) -> None:
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = operator.gateway.get(
        "/", headers={"authorization": f"Bearer {tenant['key']}", "traceparent": f"00-{trace_id}-{parent}-01"}
    )
    headers = response.json()["headers"]
    assert headers["x-z0-trace-id"] == trace_id
    assert headers["x-z0-span-id"] != parent
    assert headers["traceparent"] == f"00-{trace_id}-{headers['x-z0-span-id']}-01"
    garbage = operator.gateway.get(
        "/", headers={"authorization": f"Bearer {tenant['key']}", "traceparent": "junk"}
    )
    assert len(garbage.json()["headers"]["x-z0-trace-id"]) == 32


def test_body_over_the_limit_is_413(operator: Operator, tenant: dict[str, str]) -> None:
    auth = {"authorization": f"Bearer {tenant['key']}"}
    limit = 1024 * 1024  # max_request_bytes of the live server
    within = operator.gateway.post("/", headers=auth, content=b"x" * limit)
    assert within.status_code == 200 and within.json()["length"] == limit
    declared = operator.gateway.post("/", headers=auth, content=b"x" * (limit + 1))
    assert (declared.status_code, declared.text) == (413, "Payload Too Large")

    def chunks() -> Iterator[bytes]:  # no content-length: the gateway counts as the body streams in
        for _ in range(20):
            yield b"y" * 100_000

    streamed = operator.gateway.post("/", headers=auth, content=chunks())
    assert (streamed.status_code, streamed.text) == (413, "Payload Too Large")


def test_suspension_and_revocation_take_effect_within_a_second(operator: Operator) -> None:
    tenant_id = operator.tenant()
    operator.deploy(tenant_id, MIRROR, bindings=mirror(tenant_id))
    key = operator.key(tenant_id)
    auth = {"authorization": f"Bearer {key['key']}"}
    wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 200)

    operator.ok("PATCH", f"/z0/tenants/{tenant_id}", json={"status": "suspended"})
    assert wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 403) < 1.0
    assert operator.gateway.get("/", headers=auth).text == "Tenant suspended"
    operator.ok("PATCH", f"/z0/tenants/{tenant_id}", json={"status": "active"})
    assert wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 200) < 1.0

    operator.ok("DELETE", f"/z0/tenants/{tenant_id}/keys/{key['id']}")
    assert wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 401) < 1.0


def test_a_deploy_is_served_within_a_second(operator: Operator, tenant: dict[str, str]) -> None:
    auth = {"authorization": f"Bearer {tenant['key']}"}
    name = f"{tenant['id']}-integration-deploy"
    operator.deploy(name, "export default { fetch: () => new Response('v1') };")
    wait_for(lambda: operator.gateway.get("/integrations/deploy/", headers=auth).text == "v1")
    operator.deploy(name, "export default { fetch: () => new Response('v2') };")
    assert wait_for(lambda: operator.gateway.get("/integrations/deploy/", headers=auth).text == "v2") < 1.0


def test_worker_failures_are_5xx_with_the_request_id(operator: Operator, tenant: dict[str, str]) -> None:
    auth = {"authorization": f"Bearer {tenant['key']}"}
    operator.deploy(
        f"{tenant['id']}-integration-boom", "export default { fetch() { throw new Error('boom'); } };"
    )
    operator.deploy(f"{tenant['id']}-integration-spin", "export default { fetch() { while (true) {} } };")
    wait_for(lambda: operator.gateway.get("/integrations/boom/", headers=auth).status_code == 500)
    boom = operator.gateway.get("/integrations/boom/", headers=auth)
    assert boom.json() == {"error": "exception", "request_id": boom.headers["x-z0-request-id"]}
    spin = operator.gateway.get("/integrations/spin/", headers=auth)
    assert spin.status_code == 503 and spin.json()["error"] == "exceeded_cpu"
    assert operator.gateway.get("/", headers=auth).status_code == 200


def test_dev_namespace_path_prefix_and_stack_traces(operator: Operator) -> None:
    tenant_id = operator.tenant()
    operator.deploy(tenant_id, MIRROR, namespace="z0-dev-tenants", bindings=mirror(tenant_id))
    operator.deploy(
        f"{tenant_id}-webhook",
        "export default {\n  fetch() {\n    throw new TypeError('dev boom');\n  },\n};\n",
        namespace="z0-dev-tenants",
    )
    dev = {"host": "dev.localhost"}
    wait_for(lambda: operator.gateway.get(f"/t/{tenant_id}/x", headers=dev).status_code == 200)
    seen = operator.gateway.get(f"/t/{tenant_id}/notes/1?a=b", headers=dev).json()
    assert (seen["path"], seen["search"]) == ("/notes/1", "?a=b")  # the /t/{tenant_id} prefix is stripped
    failed = operator.gateway.get(f"/t/{tenant_id}/webhook/x", headers=dev)
    assert failed.status_code == 500
    assert "index.js:3" in failed.json()["stack"]  # the dev namespace shows the stack
    # the prefix strategy is for the dev namespace only
    assert operator.gateway.get(f"/t/{tenant_id}/x").status_code == 401
    assert operator.gateway.get("/t/nobody_here/x", headers=dev).status_code == 401


def test_gateway_health_is_z0s_own(operator: Operator) -> None:
    health = operator.gateway.get("/_z0/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert operator.gateway.get("/_z0/nothing").status_code == 404


def test_many_tenants_at_once_each_get_their_own_answer(operator: Operator, live_server: LiveServer) -> None:
    tenants = []
    for _ in range(50):
        tenant_id = operator.tenant("many")
        operator.deploy(tenant_id, MIRROR, bindings=mirror(tenant_id))
        tenants.append((tenant_id, operator.key(tenant_id)["key"]))
    wait_for(
        lambda: (
            operator.gateway.get("/", headers={"authorization": f"Bearer {tenants[-1][1]}"}).status_code
            == 200
        )
    )

    async def hammer() -> list[tuple[str, int, str]]:
        async with httpx.AsyncClient(base_url=live_server.gateway_url, timeout=60) as client:

            async def one(tenant_id: str, key: str, i: int) -> tuple[str, int, str]:
                response = await client.get(f"/{i}", headers={"authorization": f"Bearer {key}"})
                return tenant_id, response.status_code, response.json().get("script", "")

            return await asyncio.gather(*(one(t, k, i) for i in range(4) for t, k in tenants))

    results = asyncio.run(hammer())
    assert len(results) == 200
    assert all(status == 200 and script == tenant_id for tenant_id, status, script in results), [
        r for r in results if r[1] != 200 or r[0] != r[2]
    ][:5]


def test_staging_hostnames_serve_the_staging_namespace(operator: Operator) -> None:
    tenant_id = operator.tenant()
    operator.deploy(tenant_id, MIRROR, namespace="z0-staging-tenants", bindings=mirror(tenant_id))
    key = operator.key(tenant_id)["key"]
    headers = {"host": "api.staging.tenants.test", "authorization": f"Bearer {key}"}
    wait_for(lambda: operator.gateway.get("/", headers=headers).status_code == 200)
    assert operator.gateway.get("/", headers=headers).json()["script"] == tenant_id
    prod = operator.gateway.get("/", headers={"authorization": f"Bearer {key}"})
    assert (prod.status_code, prod.text) == (404, "Tenant not deployed")
    assert json.loads(operator.gateway.get("/", headers=headers).text)["script"] == tenant_id


def test_a_worker_gets_its_secrets_and_kv_through_the_gateway(operator: Operator) -> None:
    tenant_id = operator.tenant()
    key = operator.key(tenant_id)["key"]
    namespace = operator.ok(
        "POST", "/storage/kv/namespaces", json={"title": f"kv-{tenant_id}", "tenant_id": tenant_id}
    )
    worker = """
export default {
  async fetch(request, env) {
    const count = Number((await env.COUNTS.get("n")) || "0") + 1;
    await env.COUNTS.put("n", String(count));
    return Response.json({ secret: env.API_KEY, mode: env.MODE, count });
  },
};"""
    bindings = [
        {"name": "API_KEY", "type": "secret_text", "text": "first-secret"},
        {"name": "MODE", "type": "plain_text", "text": "live"},
        {"name": "COUNTS", "type": "kv_namespace", "namespace_id": namespace["id"]},
    ]
    operator.deploy(tenant_id, worker, bindings=bindings)
    auth = {"authorization": f"Bearer {key}"}
    wait_for(lambda: operator.gateway.get("/", headers=auth).status_code == 200)
    first = operator.gateway.get("/", headers=auth).json()
    assert first["secret"] == "first-secret" and first["mode"] == "live"
    second = operator.gateway.get("/", headers=auth).json()
    assert second["count"] == first["count"] + 1  # KV is shared by every isolate and process
    path = f"/workers/dispatch/namespaces/z0-prod-tenants/scripts/{tenant_id}/secrets"
    operator.ok("PUT", path, json={"name": "API_KEY", "text": "rotated-secret"})
    assert (
        wait_for(lambda: operator.gateway.get("/", headers=auth).json()["secret"] == "rotated-secret") < 1.0
    )
