"""Usage through a live z0 (two gateway processes writing usage logs, the main one rolling them up):
the usage API per script and per tenant, outcomes, waitUntil work, and who may read it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateway.operator import Operator
from tests.gateway.test_gateway import wait_for
from tests.support import LiveServer

WORKER = """
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/boom") throw new Error("boom");
    if (url.pathname === "/later") {
      ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, 300)));
      return new Response("answered before the work ended");
    }
    return new Response("ok");
  },
};
"""


@pytest.fixture(scope="module")
def operator(live_server: LiveServer) -> Iterator[Operator]:
    with Operator(live_server) as op:
        yield op


def usage(operator: Operator, path: str, token: str | None = None, **params: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return operator.api.get(path, params=params, headers=headers)


def script_usage(operator: Operator, script: str, **params: str) -> dict[str, Any]:
    response = usage(
        operator, f"/workers/dispatch/namespaces/z0-prod-tenants/scripts/{script}/usage", **params
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def deployed(operator: Operator) -> tuple[str, str]:
    tenant_id = operator.tenant("usage")
    operator.deploy(tenant_id, WORKER)
    key = operator.key(tenant_id)["key"]
    wait_for(lambda: operator.gateway.get("/", headers={"x-z0-api-key": key}).status_code == 200)
    return tenant_id, key


def test_every_answered_request_is_in_the_script_usage(operator: Operator) -> None:
    tenant_id, key = deployed(operator)  # wait_for sent at least one request already
    before = script_usage(operator, tenant_id)["requests"]
    headers = {"x-z0-api-key": key}
    for _ in range(7):
        assert operator.gateway.get("/", headers=headers).status_code == 200
    assert operator.gateway.get("/boom", headers=headers).status_code == 500
    assert operator.gateway.get("/", headers={"x-z0-api-key": key + "x"}).status_code == 401  # no invocation
    result = script_usage(operator, tenant_id)
    assert result["requests"] == before + 8
    assert result["by_outcome"]["exception"]["requests"] == 1
    assert result["by_outcome"]["ok"]["requests"] == before + 7
    assert result["cpu_time_ms"] > 0 and result["duration_ms"] >= result["cpu_time_ms"]
    assert result["subrequests"] == 0
    assert result["start"].endswith("Z") and result["end"].endswith("Z")
    # A range before any of it: nothing.
    empty = script_usage(operator, tenant_id, start="2020-01-01T00:00:00Z", end="2020-02-01T00:00:00Z")
    assert (empty["requests"], empty["by_outcome"]) == (0, {})


def test_wait_until_work_is_merged_into_its_request(operator: Operator) -> None:
    tenant_id, key = deployed(operator)
    before = script_usage(operator, tenant_id)["requests"]
    answered = operator.gateway.get("/later", headers={"x-z0-api-key": key})
    assert answered.status_code == 200
    deadline = time.monotonic() + 10
    while True:  # the end entry comes once the waitUntil work is over
        result = script_usage(operator, tenant_id)
        if result["duration_ms"] >= 300 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert result["requests"] == before + 1  # one request, not two entries
    assert result["duration_ms"] >= 300
    assert set(result["by_outcome"]) == {"ok"}


def test_tenant_usage_spans_its_scripts_and_only_it_may_read_it(operator: Operator) -> None:
    tenant_id, key = deployed(operator)
    operator.deploy(f"{tenant_id}-webhook", WORKER)
    wait_for(lambda: operator.gateway.get("/webhook/x", headers={"x-z0-api-key": key}).status_code == 200)
    response = usage(operator, f"/z0/tenants/{tenant_id}/usage")
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert set(result["by_script"]) == {
        f"z0-prod-tenants/{tenant_id}",
        f"z0-prod-tenants/{tenant_id}-webhook",
    }
    assert result["requests"] == sum(s["requests"] for s in result["by_script"].values())
    only_webhook = usage(operator, f"/z0/tenants/{tenant_id}/usage", script=f"{tenant_id}-webhook")
    assert (
        only_webhook.json()["result"]["requests"]
        == result["by_script"][f"z0-prod-tenants/{tenant_id}-webhook"]["requests"]
    )

    own = operator.ok("POST", "/z0/tokens", json={"name": "t", "tenant_id": tenant_id})["value"]
    assert usage(operator, f"/z0/tenants/{tenant_id}/usage", own).status_code == 200
    script_path = f"/workers/dispatch/namespaces/z0-prod-tenants/scripts/{tenant_id}/usage"
    assert usage(operator, script_path, own).status_code == 200
    other_tenant, _ = deployed(operator)
    assert usage(operator, f"/z0/tenants/{other_tenant}/usage", own).status_code == 403
    other_script = f"/workers/dispatch/namespaces/z0-prod-tenants/scripts/{other_tenant}/usage"
    assert usage(operator, other_script, own).status_code in (403, 404)


def test_bad_ranges_are_refused(operator: Operator) -> None:
    tenant_id, _ = deployed(operator)
    path = f"/z0/tenants/{tenant_id}/usage"
    backwards = usage(operator, path, start="2026-11-02T00:00:00Z", end="2026-11-01T00:00:00Z")
    assert backwards.status_code == 400 and "must be before" in backwards.text
    assert usage(operator, path, start="yesterday").status_code == 400
    assert usage(operator, "/z0/tenants/nobody_here/usage").status_code == 404
