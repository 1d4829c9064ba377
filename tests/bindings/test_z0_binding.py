"""The read-only `z0` binding: a worker reads its own tenant's Configs and Facts, through real executors
and a real SQLite registry; the router refuses every other way in."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import HELLO, JS, Api
from tests.gateway.operator import Operator
from tests.support import LiveServer
from z0.billing import ConfigStore, Fact, Ledger
from z0.billing.facts import FactDraft
from z0.bindings import HostOpRouter, z0_binding
from z0.bindings.platform import build_host_ops
from z0.registry import Module, Registry
from z0.runtime.compile import compile_script
from z0.runtime.supervisor import Runtime, RuntimeConfig, RuntimeRequest, ScriptCode
from z0.settings import Settings

# The async tests share one runtime and registry (set up once, read only after).
shared_loop = pytest.mark.asyncio(loop_scope="module")

A, B = "tenant_a", "tenant_b"


@dataclass
class Env:
    runtime: Runtime
    router: HostOpRouter
    registry: Registry
    facts: dict[str, list[Fact]]  # by tenant, oldest first

    async def run(self, body: str, *, tenant_id: str | None = A, binding: str | None = "Z0") -> Any:
        """Runs `body` as a fetch handler (with `env`) of a script owned by `tenant_id`, and returns what
        it returns, as JSON; an error comes back as {error: name, message}."""
        source = (
            "export default { async fetch(request, env) {"
            " try { const out = await (async () => {" + body + "})();"
            " return Response.json(out === undefined ? null : out); }"
            " catch (e) { return Response.json({ error: e.name, message: e.message }); }"
            " } };"
        )
        code = worker(source, tenant_id=tenant_id, binding=binding)
        request = RuntimeRequest("GET", "https://tenant.example/", [])
        response = await self.runtime.fetch(code, request, request_id=str(uuid.uuid4()))
        assert response.status == 200, response.body
        return json.loads(response.body)

    def ids(self, tenant_id: str, **where: str) -> list[str]:
        return [
            f.id
            for f in self.facts[tenant_id]
            if all(getattr(f, key) == value for key, value in where.items())
        ]


def worker(source: str, *, tenant_id: str | None = A, binding: str | None = "Z0") -> ScriptCode:
    version = uuid.uuid4().hex[:8]
    return compile_script(
        f"ns/z0/{version}",
        "ns/z0",
        [Module("index.js", JS, source.encode())],
        "index.js",
        bindings=[{"type": "z0", "name": binding}] if binding else [],
        tenant_id=tenant_id,
    )


def draft(tenant_id: str, kind: tuple[str, str], amount: str) -> FactDraft:
    return FactDraft(
        type=kind[0],
        subtype=kind[1],
        tenant_id=tenant_id,
        amount=Decimal(amount),
        currency="USD",
        idempotency_key=uuid.uuid4().hex,
        data={"note": f"{tenant_id} {amount}"},
    )


def seed(registry: Registry) -> dict[str, list[Fact]]:
    """Tenants A and B, global and per-tenant Configs, and Facts of both; A's and B's Facts by tenant."""
    registry.namespaces.create_account("acc0123456789")
    for tenant_id in (A, B):
        registry.tenants.create(tenant_id)
    configs = ConfigStore(registry.db)
    configs.put("limits", {"plan": "free", "seats": 3})
    configs.put("limits", {"plan": "free", "seats": 5})  # global version 2
    configs.put("limits", {"plan": "pro"}, tenant_id=A)
    configs.put("b-only", {"secret": "for B"}, tenant_id=B)
    ledger = Ledger(registry.db)
    facts: dict[str, list[Fact]] = {A: [], B: []}
    kinds = [("charge", "subscription"), ("credit", "promotion"), ("charge", "other")]
    for i in range(7):  # interleaved, a little apart so ids and timestamps follow the same order
        for tenant_id in (A, B):
            fact, _ = ledger.append(draft(tenant_id, kinds[i % 3], f"{i + 1}.50"))
            facts[tenant_id].append(fact)
            time.sleep(0.003)
    return facts


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    root = tmp_path_factory.mktemp("z0-binding")
    registry = Registry.open(f"sqlite:///{root / 'z0.sqlite3'}")
    facts = seed(registry)
    router = HostOpRouter()
    z0_binding.register(router, settings=Settings(data_dir=root), registry=registry)
    try:
        async with Runtime(RuntimeConfig(executors=1), host_ops=router) as runtime:
            yield Env(runtime, router, registry, facts)
    finally:
        registry.close()


# env.Z0.config


@shared_loop
async def test_config_get_is_the_tenants_effective_config(env: Env) -> None:
    out = await env.run("""
      return {
        limits: await env.Z0.config.get("limits"),
        missing: await env.Z0.config.get("nothing-here"),
        others: await env.Z0.config.get("b-only"),
      };
    """)
    assert out["limits"] == {
        "name": "limits",
        "data": {"plan": "pro", "seats": 5},
        "global_version": 2,
        "tenant_version": 1,
    }
    assert out["missing"] is None
    assert out["others"] is None  # B's own Config is not A's
    b = await env.run(
        "return [await env.Z0.config.get('limits'), await env.Z0.config.get('b-only')];", tenant_id=B
    )
    assert b[0] == {
        "name": "limits",
        "data": {"plan": "free", "seats": 5},
        "global_version": 2,
        "tenant_version": None,
    }
    assert b[1] == {
        "name": "b-only",
        "data": {"secret": "for B"},
        "global_version": None,
        "tenant_version": 1,
    }


@shared_loop
async def test_config_get_sees_a_new_version_at_once(env: Env) -> None:
    ConfigStore(env.registry.db).put("flags", {"beta": True}, tenant_id=A)
    assert (await env.run("return await env.Z0.config.get('flags');"))["data"] == {"beta": True}
    ConfigStore(env.registry.db).put("flags", {"beta": False}, tenant_id=A)
    again = await env.run("return await env.Z0.config.get('flags');")
    assert again["data"] == {"beta": False} and again["tenant_version"] == 2


@pytest.mark.parametrize(
    ("argument", "error", "message"),
    [
        ("", "TypeError", "env.Z0.config.get() takes a Config name (a string)."),
        ("5", "TypeError", "takes a Config name"),
        ("{name: 'limits'}", "TypeError", "takes a Config name"),
        ("'Limits'", "RangeError", '"Limits" is not a Config name'),
        ("'a'.repeat(65)", "RangeError", "is not a Config name"),
    ],
)
@shared_loop
async def test_config_get_refuses_what_is_not_a_name(
    env: Env, argument: str, error: str, message: str
) -> None:
    out = await env.run(f"return await env.Z0.config.get({argument});")
    assert out["error"] == error and message in out["message"]


# env.Z0.facts


@shared_loop
async def test_facts_list_returns_only_the_calling_tenants_facts(env: Env) -> None:
    out = await env.run("return await env.Z0.facts.list();")
    assert [f["id"] for f in out["facts"]] == env.ids(A) and out["cursor"] is None
    assert {f["tenant_id"] for f in out["facts"]} == {A}
    first = out["facts"][0]
    assert first == env.facts[A][0].as_json()
    assert first["amount"] == "1.5" and first["type"] == "charge" and first["subtype"] == "subscription"
    theirs = await env.run("return await env.Z0.facts.list({ limit: 1000 });", tenant_id=B)
    assert [f["id"] for f in theirs["facts"]] == env.ids(B)


@shared_loop
async def test_facts_list_filters(env: Env) -> None:
    out = await env.run("""
      const list = (options) => env.Z0.facts.list(options).then((page) => page.facts.map((f) => f.id));
      return {
        credits: await list({ type: "credit" }),
        subscriptions: await list({ type: "charge", subtype: "subscription" }),
        other: await list({ subtype: "other" }),
        none: await list({ type: "cost" }),
        nulls: await list({ type: null, subtype: undefined, since: null, limit: null, cursor: null }),
      };
    """)
    assert out["credits"] == env.ids(A, type="credit") and len(out["credits"]) == 2
    assert out["subscriptions"] == env.ids(A, type="charge", subtype="subscription")
    assert out["other"] == env.ids(A, subtype="other")
    assert out["none"] == []
    assert out["nulls"] == env.ids(A)


@shared_loop
async def test_facts_list_since_a_string_or_a_date(env: Env) -> None:
    facts = env.facts[A]
    at = facts[4].created_at
    since = at.isoformat()  # microseconds, +00:00
    as_z = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    naive = at.strftime("%Y-%m-%dT%H:%M:%S.%f")  # no offset: UTC
    millis = int(at.timestamp() * 1000)
    out = await env.run(f"""
      const list = (since) => env.Z0.facts.list({{ since }}).then((page) => page.facts.map((f) => f.id));
      return {{
        iso: await list({json.dumps(since)}),
        z: await list({json.dumps(as_z)}),
        naive: await list({json.dumps(naive)}),
        date: await list(new Date({millis})),
        day: await list("2000-01-01"),
        future: await list(new Date(Date.now() + 3600e3)),
      }};
    """)
    from_fifth = [f.id for f in facts[4:]]
    assert out["iso"] == out["z"] == out["naive"] == from_fifth
    # A Date has milliseconds: it may also take in a Fact from the same millisecond, never an earlier one.
    assert out["date"][-3:] == from_fifth[-3:] and set(from_fifth) <= set(out["date"])
    assert set(out["date"]) <= {f.id for f in facts[3:]}
    assert out["day"] == env.ids(A) and out["future"] == []


@shared_loop
async def test_facts_list_pages_with_limit_and_cursor(env: Env) -> None:
    out = await env.run("""
      const pages = [];
      let cursor = undefined;
      do {
        const page = await env.Z0.facts.list({ limit: 3, cursor });
        pages.push(page);
        cursor = page.cursor;
      } while (cursor !== null && pages.length < 10);
      const exact = await env.Z0.facts.list({ limit: 7 });
      const credits = await env.Z0.facts.list({ type: "credit", limit: 1 });
      const nextCredit = await env.Z0.facts.list({ type: "credit", limit: 1, cursor: credits.cursor });
      return { pages, exact, credits, nextCredit };
    """)
    pages = out["pages"]
    assert [len(p["facts"]) for p in pages] == [3, 3, 1]
    assert [f["id"] for p in pages for f in p["facts"]] == env.ids(A)
    assert [p["cursor"] for p in pages] == [pages[0]["facts"][-1]["id"], pages[1]["facts"][-1]["id"], None]
    # A page that holds exactly what is left has no cursor: no empty page to fetch after it.
    assert len(out["exact"]["facts"]) == 7 and out["exact"]["cursor"] is None
    credits = env.ids(A, type="credit")
    assert [f["id"] for f in out["credits"]["facts"]] == credits[:1] and out["credits"]["cursor"] == credits[
        0
    ]
    assert [f["id"] for f in out["nextCredit"]["facts"]] == credits[1:] and out["nextCredit"][
        "cursor"
    ] is None


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ("{ tenant_id: 'tenant_b' }", "TypeError", "reads only the calling tenant's Facts"),
        ("{ tenant_id: undefined }", "TypeError", 'not "tenant_id"'),
        ("{ tenantId: 'tenant_b' }", "TypeError", "reads only the calling tenant's Facts"),
        ("{ type: 'charge', tenant: 'tenant_b' }", "TypeError", 'not "tenant"'),
        ("{ prefix: 'x' }", "TypeError", "its options are type, subtype, since, limit and cursor"),
        ("'tenant_b'", "TypeError", "takes an options object"),
        ("{ type: 5 }", "TypeError", "type is a string"),
        ("{ subtype: ['other'] }", "TypeError", "subtype is a string"),
        ("{ limit: '10' }", "TypeError", "limit is a whole number"),
        ("{ limit: 1.5 }", "TypeError", "limit is a whole number"),
        ("{ limit: 0 }", "RangeError", "limit is between 1 and 1000"),
        ("{ limit: 1001 }", "RangeError", "limit is between 1 and 1000"),
        ("{ since: 1700000000 }", "TypeError", "since is an ISO 8601 string or a Date"),
        ("{ since: 'yesterday' }", "RangeError", 'since "yesterday" is not an ISO 8601 date'),
        ("{ since: '2025-02-30' }", "RangeError", "is not an ISO 8601 date"),
        ("{ since: '2025-01-01T24:00:00Z' }", "RangeError", "is not an ISO 8601 date"),
        ("{ since: '2025-01-01T10:00:00+25:00' }", "RangeError", "is not an ISO 8601 date"),
        ("{ since: new Date(NaN) }", "RangeError", "since is an Invalid Date"),
        ("{ cursor: 5 }", "TypeError", "cursor is a string"),
        ("{ cursor: 'tenant_b' }", "RangeError", "is not one this binding gave out"),
    ],
)
@shared_loop
async def test_facts_list_refuses_bad_options(env: Env, options: str, error: str, message: str) -> None:
    out = await env.run(f"return await env.Z0.facts.list({options});")
    assert out == {"error": error, "message": out["message"]} and message in out["message"], out
    assert out["message"].startswith("env.Z0.facts.list()")


@shared_loop
async def test_a_binding_of_any_name(env: Env) -> None:
    out = await env.run(
        "return [(await env.PLATFORM.facts.list()).facts.length,"
        " await env.PLATFORM.facts.list({ nope: 1 }).catch((e) => e.message)];",
        binding="PLATFORM",
    )
    assert out[0] == len(env.facts[A]) and out[1].startswith("env.PLATFORM.facts.list() reads only")
    assert await env.run("return typeof env.Z0;", binding=None) == "undefined"


# Isolation: the tenant is the script's owner, whatever the worker sends


@shared_loop
async def test_a_tenant_never_sees_another_tenants_facts(env: Env) -> None:
    theirs = env.ids(B)
    out = await env.run(f"""
      const seen = [];
      const take = async (options) => {{
        try {{ for (const f of (await env.Z0.facts.list(options)).facts) seen.push(f); }} catch (e) {{}}
      }};
      await take({{ limit: 1000 }});
      await take({{ tenant_id: "{B}" }});
      await take({{ type: "charge", tenant_id: "{B}" }});
      await take({{ type: "{B}" }});
      await take({{ subtype: "{B}" }});
      await take({{ cursor: {json.dumps(theirs[0])} }});  // a real id of B's: A's Facts after it
      await take(Object.assign(Object.create({{ tenant_id: "{B}" }}), {{ limit: 5 }}));
      return seen;
    """)
    assert out and {f["tenant_id"] for f in out} == {A}
    assert not {f["id"] for f in out} & set(theirs)
    assert not any(B in json.dumps(f) for f in out)


@shared_loop
async def test_raw_ops_cannot_name_a_tenant(env: Env) -> None:
    code = worker(HELLO)
    for extra in ({"tenant_id": B}, {"tenant": B}, {"account_id": "acc0123456789"}):
        with pytest.raises(Exception, match="reads only the calling tenant's data") as refused:
            await env.router.perform(code, "r", {"id": 1, "op": "z0.facts.list", "binding": "Z0", **extra})
        assert next(iter(extra)) in str(refused.value)
        with pytest.raises(Exception, match="reads only the calling tenant's data"):
            await env.router.perform(
                code, "r", {"id": 1, "op": "z0.config.get", "binding": "Z0", "name": "b-only", **extra}
            )
    mine = await env.router.perform(
        code, "r", {"id": 1, "op": "z0.facts.list", "binding": "Z0", "limit": 1000}
    )
    assert [f["id"] for f in mine["facts"]] == env.ids(A)


@shared_loop
async def test_a_script_without_an_owner_reads_nothing(env: Env) -> None:
    out = await env.run(
        "return [await env.Z0.config.get('limits').catch((e) => e.message),"
        " await env.Z0.facts.list().catch((e) => e.message)];",
        tenant_id=None,
    )
    assert out == [
        "Z0 config.get failed: this script belongs to no tenant, so it has no Configs or Facts.",
        "Z0 facts.list failed: this script belongs to no tenant, so it has no Configs or Facts.",
    ]


# Read only


@shared_loop
async def test_the_binding_is_frozen_and_has_no_way_to_write(env: Env) -> None:
    out = await env.run("""
      const z = env.Z0;
      const attempts = {};
      const attempt = (name, fn) => {
        try { fn(); attempts[name] = "done"; } catch (e) { attempts[name] = e.name; }
      };
      attempt("add facts.append", () => { z.facts.append = () => 1; });
      attempt("replace facts.list", () => { z.facts.list = () => 1; });
      attempt("add config.put", () => { z.config.put = () => 1; });
      attempt("replace config", () => { z.config = {}; });
      attempt("delete facts", () => { delete z.facts; });
      attempt("define", () => Object.defineProperty(z, "put", { value: 1 }));
      attempt("prototype", () => Object.setPrototypeOf(z.facts, { append() {} }));
      const names = (o) => Object.getOwnPropertyNames(o).sort();
      const writers = ["put", "append", "add", "set", "delete", "create", "update", "write"];
      return {
        frozen: [Object.isFrozen(z), Object.isFrozen(z.config), Object.isFrozen(z.facts)],
        names: [names(z), names(z.config), names(z.facts)],
        writers: writers.filter((w) => w in z || w in z.config || w in z.facts),
        attempts,
        stillReads: (await z.facts.list({ limit: 1 })).facts.length,
      };
    """)
    assert out["frozen"] == [True, True, True]
    assert out["names"] == [["config", "facts"], ["get"], ["list"]]
    assert out["writers"] == []
    assert set(out["attempts"].values()) == {"TypeError"}, out["attempts"]
    assert out["stillReads"] == 1


@shared_loop
async def test_ops_that_write_do_not_exist(env: Env, tmp_path: Path) -> None:
    # Tenant code cannot reach the op queue (`__z0` is the prelude's own); were an op forged anyway,
    # the host has no op that writes Configs or Facts, in this router or in the one z0 serve builds.
    code = worker(HELLO)
    before = len(Ledger(env.registry.db).find(limit=1000))
    served = build_host_ops(Settings(data_dir=tmp_path), env.registry)
    for router in (env.router, served):
        for op in (
            "z0.facts.append",
            "z0.facts.add",
            "z0.facts.put",
            "z0.config.put",
            "z0.config.set",
            "z0.put",
        ):
            with pytest.raises(Exception, match=f"z0 does not provide '{op}' to this script"):
                await router.perform(
                    code, "r", {"id": 1, "op": op, "binding": "Z0", "type": "credit", "amount": "100"}
                )
    assert len(Ledger(env.registry.db).find(limit=1000)) == before
    assert (
        await served.perform(code, "r", {"id": 1, "op": "z0.config.get", "binding": "Z0", "name": "limits"})
    )["data"] == {"plan": "pro", "seats": 5}


@shared_loop
async def test_a_script_without_a_z0_binding_is_refused(env: Env) -> None:
    plain = worker(HELLO, binding=None)
    kv_named_z0 = compile_script(
        "ns/z0/kv",
        "ns/z0",
        [Module("index.js", JS, HELLO.encode())],
        "index.js",
        bindings=[{"type": "kv_namespace", "name": "Z0", "namespace_id": "x"}],
        tenant_id=A,
    )
    for code in (plain, kv_named_z0):
        for op in ({"op": "z0.config.get", "name": "limits"}, {"op": "z0.facts.list"}):
            for binding in ({"binding": "Z0"}, {}):
                with pytest.raises(Exception, match="is not a z0 binding of this script"):
                    await env.router.perform(code, "r", {"id": 1, **op, **binding})


# The control API and the gateway

READER = """
export default {
  async fetch(request, env) {
    return Response.json({
      config: await env.Z0.config.get("greeting"),
      facts: await env.Z0.facts.list(),
      refused: await env.Z0.facts.list({ tenant_id: "someone_else" }).catch((e) => e.name + ": " + e.message),
    });
  },
};
"""


def test_upload_accepts_and_lists_a_z0_binding(api: Api) -> None:
    uploaded = api.upload(
        "tenant_abc", {"index.js": (JS, READER)}, bindings=[{"type": "z0", "name": "PLATFORM"}]
    )
    assert uploaded.status_code == 200, uploaded.text
    listed = api.ok("GET", api.scripts_path(suffix="/tenant_abc/bindings"))
    assert listed == [{"name": "PLATFORM", "type": "z0"}]
    mixed = [{"type": "z0", "name": "Z0"}, {"type": "plain_text", "name": "GREETING", "text": "hi"}]
    assert api.upload("tenant_abc", {"index.js": (JS, HELLO)}, bindings=mixed).status_code == 200
    assert api.ok("GET", api.scripts_path(suffix="/tenant_abc/bindings")) == [
        {"name": "GREETING", "type": "plain_text", "text": "hi"},
        {"name": "Z0", "type": "z0"},
    ]
    twice = api.upload(
        "tenant_abc",
        {"index.js": (JS, HELLO)},
        bindings=[{"type": "z0", "name": "Z0"}, {"type": "z0", "name": "Z0"}],
    )
    assert twice.status_code == 400


def test_through_the_gateway_a_worker_reads_its_owners_data(live_server: LiveServer) -> None:
    operator = Operator(live_server)
    try:
        mine, other = operator.tenant(), operator.tenant()
        operator.deploy(mine, READER, bindings=[{"type": "z0", "name": "Z0"}])
        registry = Registry.open(f"sqlite:///{(live_server.data_dir / 'z0.sqlite3').resolve()}")
        try:
            ConfigStore(registry.db).put("greeting", {"text": "hello"}, tenant_id=mine)
            ConfigStore(registry.db).put("greeting", {"text": "not yours"}, tenant_id=other)
            ledger = Ledger(registry.db)
            own, _ = ledger.append(draft(mine, ("credit", "promotion"), "10"))
            ledger.append(draft(other, ("charge", "subscription"), "99"))
        finally:
            registry.close()
        key = operator.key(mine)["key"]
        deadline = time.monotonic() + 5
        while True:
            response = operator.gateway.get("/", headers={"authorization": f"Bearer {key}"})
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert response.status_code == 200, response.text
        seen = response.json()
        assert seen["config"] == {
            "name": "greeting",
            "data": {"text": "hello"},
            "global_version": None,
            "tenant_version": 1,
        }
        assert seen["facts"] == {"facts": [json.loads(json.dumps(own.as_json()))], "cursor": None}
        assert seen["refused"].startswith(
            "TypeError: env.Z0.facts.list() reads only the calling tenant's Facts"
        )
    finally:
        operator.api.close()
        operator.gateway.close()
