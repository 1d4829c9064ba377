"""Outbound fetch: the SSRF guard, the HTTP semantics, and fetch() inside workers on real executors.

Every connection goes through RecordingNetwork (fetch_upstream.py): it records each attempt and
refuses any that is not to this test's own upstreams on 127.0.0.1, so a refused target is shown by
zero attempts, not by a connection that failed.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
import json
import re
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, cast

import pytest
import pytest_asyncio

from tests.bindings.fetch_upstream import (
    PAYLOAD,
    PUBLIC_V4,
    PUBLIC_V6,
    RecordingNetwork,
    RecordingResolver,
    Upstream,
    tls_pair,
)
from z0.bindings import HostOpRouter
from z0.bindings.fetch import (
    Fetcher,
    FetchRefused,
    FetchRequest,
    Guard,
    GuardedNetwork,
    _Decoding,
    address_refusal,
    register,
)
from z0.registry import Module, Registry
from z0.runtime.compile import compile_script
from z0.runtime.hostops import HostOpError
from z0.runtime.limits import Limits
from z0.runtime.outcomes import Outcome
from z0.runtime.supervisor import Runtime, RuntimeConfig, RuntimeRequest, RuntimeResponse
from z0.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMIT = 1024 * 1024
TIMEOUT_S = 0.5


@dataclass
class World:
    upstream: Upstream
    tls: Upstream
    sni: list[str]
    resolver: RecordingResolver
    network: RecordingNetwork
    runtime: Runtime  # its "fetch" op is a Fetcher on the same settings, resolver and network
    new_fetcher: Callable[[], Fetcher]
    fetcher: Fetcher | None = None  # each test's own, with an empty connection pool

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.upstream.port}"

    def reset(self) -> None:
        self.upstream.reset()
        self.tls.reset()
        self.sni.clear()
        self.resolver.lookups.clear()
        self.network.attempts.clear()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[Upstream, Upstream, ssl.SSLContext, list[str]]]:
    server_tls, client_tls, sni = tls_pair("secure.test")
    with Upstream() as plain, Upstream(server_tls) as tls:
        yield plain, tls, client_tls, sni


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(upstreams: tuple[Upstream, Upstream, ssl.SSLContext, list[str]]) -> AsyncIterator[World]:
    plain, tls, client_tls, sni = upstreams
    port = plain.port
    resolver = RecordingResolver(
        {
            "upstream.test": ["127.0.0.1"],
            "public.test": [PUBLIC_V4],
            "public6.test": [PUBLIC_V6],
            "secure.test": [PUBLIC_V4],
            "wrong-name.test": [PUBLIC_V4],
            "loopback.test": ["127.0.0.1"],
            "internal.test": ["10.0.0.5"],
            "metadata.test": ["169.254.169.254"],
            "mapped.test": ["::ffff:10.0.0.5"],
            "mixed.test": ["10.0.0.5", "127.0.0.1", PUBLIC_V4],
        }
    )
    network = RecordingNetwork({port, tls.port})
    settings = Settings(
        fetch_allow_hosts=[
            f"127.0.0.1:{port}",
            f"upstream.test:{port}",
            "metadata.test:80",
            "169.254.169.254:80",
        ],
        fetch_timeout_s=TIMEOUT_S,
        fetch_max_response_bytes=LIMIT,
    )
    router = HostOpRouter()
    fetcher = register(
        router,
        settings=settings,
        registry=cast(Registry, None),  # fetch keeps nothing in the registry
        resolver=resolver,
        network=network,
        ssl_context=client_tls,
    )

    def new_fetcher() -> Fetcher:
        return Fetcher.from_settings(settings, resolver=resolver, network=network, ssl_context=client_tls)

    async with Runtime(RuntimeConfig(executors=1), host_ops=router) as runtime:
        yield World(plain, tls, sni, resolver, network, runtime, new_fetcher)
    await fetcher.aclose()


@pytest_asyncio.fixture(loop_scope="module")
async def w(world: World) -> AsyncIterator[World]:
    world.reset()
    world.fetcher = world.new_fetcher()
    yield world
    await world.fetcher.aclose()
    world.fetcher = None


async def get(w: World, url: str, **fields: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"method": "GET", "url": url, "headers": [], "body": None, **fields}
    assert w.fetcher is not None
    return await w.fetcher.fetch(FetchRequest.from_op(op))


def body_of(result: dict[str, Any]) -> bytes:
    return base64.b64decode(result["body"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# The guard: refused targets never reach the resolver or the network.

LOOPBACK_SPELLINGS = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.0.0.1:1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://api.localhost/",
]
PRIVATE_TARGETS = [
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://100.100.100.200/",
    "http://[fd00::1]/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    "http://[2002:a00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
    "http://[ff02::1]/",
    "https://10.0.0.1/",
]
NOT_HTTP = [
    "file:///etc/passwd",
    "ftp://example.com/",
    "gopher://example.com/",
    "data:text/plain,hi",
    "/relative",
    "http:///nohost",
    "http://exa mple.com/",
    "http://%31%32%37.0.0.1/",
    "http://1.2.3.4.5/",
    "http://example.com:0/",
]


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS + PRIVATE_TARGETS + NOT_HTTP)
async def test_refused_targets_make_no_lookup_and_no_connection(w: World, url: str) -> None:
    with pytest.raises(FetchRefused, match="Fetch API cannot load"):
        await get(w, url)
    assert w.resolver.lookups == []
    assert w.network.attempts == []


@pytest.mark.parametrize("name", ["loopback.test", "internal.test", "mapped.test"])
async def test_names_resolving_to_private_addresses_are_refused_before_connecting(
    w: World, name: str
) -> None:
    with pytest.raises(FetchRefused, match=re.escape(f"{name} could not be resolved to a public address")):
        await get(w, f"http://{name}:{w.upstream.port}/echo")
    assert w.resolver.lookups == [name]
    assert w.network.attempts == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:a00:1",
        "10.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",
        "localhost",
        "loopback.test",
        "internal.test",
        "metadata.test",
    ],
)
async def test_the_network_refuses_on_its_own(w: World, host: str) -> None:
    """The connection-time check holds without the URL check: httpcore's host goes through it."""
    network = GuardedNetwork(Guard(resolver=w.resolver), w.network)
    with pytest.raises(FetchRefused):
        await network.connect_tcp(host, 80)
    assert w.network.attempts == []


async def test_unknown_names_fail_like_private_ones(w: World) -> None:
    with pytest.raises(FetchRefused, match=r"nowhere\.test could not be resolved to a public address"):
        await get(w, "http://nowhere.test/")
    assert w.network.attempts == []


async def test_only_the_public_addresses_of_a_name_are_dialled(w: World) -> None:
    result = await get(w, f"http://mixed.test:{w.upstream.port}/echo")
    assert result["status"] == 200
    assert w.network.attempts == [(PUBLIC_V4, w.upstream.port)]
    assert w.upstream.seen_headers()["host"] == f"mixed.test:{w.upstream.port}"


async def test_a_public_name_keeps_its_name_in_the_host_header(w: World) -> None:
    for name, address in (("public.test", PUBLIC_V4), ("public6.test", PUBLIC_V6)):
        w.reset()
        result = await get(w, f"http://{name}:{w.upstream.port}/echo")
        assert result["status"] == 200
        assert w.network.attempts == [(address, w.upstream.port)]
        assert w.upstream.seen_headers()["host"] == f"{name}:{w.upstream.port}"


async def test_each_connection_is_resolved_once_by_the_guard_so_rebinding_cannot_slip_past(w: World) -> None:
    w.resolver.names["rebind.test"] = [[PUBLIC_V4], ["127.0.0.1"], [PUBLIC_V4]]
    url = f"http://rebind.test:{w.upstream.port}/echo?close=1"
    assert (await get(w, url))["status"] == 200
    # The upstream closed that connection: the next needs a new one, and the name now answers 127.0.0.1.
    with pytest.raises(FetchRefused):
        await get(w, url)
    assert w.resolver.lookups == ["rebind.test", "rebind.test"]
    assert w.network.attempts == [(PUBLIC_V4, w.upstream.port)]


async def test_allowed_host_port_pairs_reach_local_upstreams(w: World) -> None:
    by_name = await get(w, f"http://upstream.test:{w.upstream.port}/echo")
    assert by_name["status"] == 200
    assert w.upstream.seen_headers()["host"] == f"upstream.test:{w.upstream.port}"
    by_spelling = await get(w, f"http://127.1:{w.upstream.port}/echo")
    assert by_spelling["url"] == f"{w.base}/echo"
    assert {address for address, _ in w.network.attempts} <= {"127.0.0.1"}
    with pytest.raises(FetchRefused):  # the same host on another port is not allowed
        await get(w, f"http://127.0.0.1:{w.upstream.port + 1}/")


async def test_the_allow_list_never_opens_metadata_addresses(w: World) -> None:
    for url in ("http://169.254.169.254/", "http://metadata.test/"):
        with pytest.raises(FetchRefused, match="metadata"):
            await get(w, url)
    assert w.network.attempts == []


async def test_address_classes() -> None:
    public = [
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::",
    ]
    for text in public:
        assert address_refusal(ipaddress.ip_address(text)) is None, text
    refused = {
        "127.0.0.1": "loopback",
        "10.1.2.3": "private",
        "172.31.255.255": "private",
        "192.168.0.1": "private",
        "169.254.1.1": "link-local",
        "169.254.169.254": "metadata",
        "100.64.0.1": "CGNAT",
        "0.0.0.0": "unspecified",
        "224.0.0.251": "multicast",
        "240.0.0.1": "reserved",
        "198.51.100.7": "documentation",
        "::1": "loopback",
        "::": "unspecified",
        "::ffff:169.254.169.254": "metadata",
        "::ffff:192.168.0.1": "private",
        "fd00:ec2::254": "metadata",
        "fc00::1": "unique local",
        "fe80::1": "link-local",
        "fec0::1": "site-local",
        "ff02::1": "multicast",
        "2001:db8::1": "documentation",
        "2001:2::1": "IETF",
        "100::1": "discard",
        "64:ff9b:1::1": "NAT64",
        "2002:7f00:1::": "loopback",
        "4000::1": "reserved",
    }
    for text, word in refused.items():
        assert word in (address_refusal(ipaddress.ip_address(text)) or ""), text
    assert address_refusal(ipaddress.ip_address("10.1.2.3"), allowed=True) is None
    assert (
        address_refusal(ipaddress.ip_address("169.254.169.254"), allowed=True) == "a cloud metadata address"
    )


async def test_allow_list_entries_must_be_host_port() -> None:
    for entry in ("localhost", "127.0.0.1:", "127.0.0.1:99999", "exa mple:80"):
        with pytest.raises(ValueError):
            Guard([entry])
    assert Guard(["[::1]:8080", "LocalHost:80", "127.1:81"]).allows("::1", 8080)


# HTTP semantics


async def test_get_headers_both_ways(w: World) -> None:
    result = await get(w, f"{w.base}/echo#frag", headers=[["x-custom", "v1"], ["accept", "text/plain"]])
    assert (result["status"], result["statusText"], result["redirected"]) == (200, "OK", False)
    assert result["url"] == f"{w.base}/echo"
    headers = result["headers"]
    assert ["x-upstream", "yes"] in headers
    assert [v for k, v in headers if k == "set-cookie"] == ["a=1; Path=/", "b=2; Path=/"]
    seen = w.upstream.seen_headers()
    assert seen["x-custom"] == "v1" and seen["accept"] == "text/plain"
    assert seen["host"] == f"127.0.0.1:{w.upstream.port}"
    assert seen["accept-encoding"] == "gzip, deflate"
    assert "user-agent" not in seen  # like Workers: no User-Agent unless the worker sets one
    assert json.loads(body_of(result))["method"] == "GET"


async def test_post_body_byte_exact_both_ways(w: World) -> None:
    sent = bytes(range(256)) * 40 + b"\r\n\x00"
    result = await get(w, f"{w.base}/body", method="POST", body=b64(sent))
    assert body_of(result) == sent
    assert base64.b64decode(w.upstream.requests[-1]["body"]) == sent
    assert w.upstream.seen_headers()["content-length"] == str(len(sent))
    assert body_of(await get(w, f"{w.base}/bytes")) == PAYLOAD


async def test_the_worker_cannot_set_framing_or_host_headers(w: World) -> None:
    smuggle = [
        ["host", "internal.example"],
        ["content-length", "999"],
        ["transfer-encoding", "chunked"],
        ["connection", "upgrade"],
        ["upgrade", "websocket"],
        ["user-agent", "mine/1.0"],
    ]
    await get(w, f"{w.base}/body", method="PUT", headers=smuggle, body=b64(b"abc"))
    seen = w.upstream.seen_headers()
    assert seen["host"] == f"127.0.0.1:{w.upstream.port}"
    assert seen["content-length"] == "3"
    assert "transfer-encoding" not in seen and "upgrade" not in seen
    assert seen["user-agent"] == "mine/1.0"
    assert base64.b64decode(w.upstream.requests[-1]["body"]) == b"abc"


async def test_statuses_and_head(w: World) -> None:
    assert (await get(w, f"{w.base}/status?code=404"))["status"] == 404
    no_content = await get(w, f"{w.base}/status?code=204")
    assert (no_content["status"], no_content["body"]) == (204, "")
    head = await get(w, f"{w.base}/bytes", method="HEAD")
    assert head["body"] == "" and ["content-length", str(len(PAYLOAD))] in head["headers"]


@pytest.mark.parametrize(
    ("status", "method", "after"),
    [
        (301, "POST", "GET"),
        (302, "POST", "GET"),
        (303, "PUT", "GET"),
        (307, "POST", "POST"),
        (308, "PUT", "PUT"),
        (302, "PUT", "PUT"),
        (303, "HEAD", "HEAD"),
    ],
)
async def test_redirects_follow_the_fetch_standard(w: World, status: int, method: str, after: str) -> None:
    headers = [["content-type", "text/plain"], ["x-keep", "1"]]
    result = await get(
        w, f"{w.base}/redirect?status={status}&to=/echo", method=method, headers=headers, body=b64(b"data")
    )
    assert result["status"] == 200 and result["redirected"] is True
    assert result["url"] == f"{w.base}/echo"
    final = w.upstream.requests[-1]
    assert final["method"] == after
    kept_body = after == method
    assert base64.b64decode(final["body"]) == (b"data" if kept_body else b"")
    seen = dict(final["headers"])
    assert seen["x-keep"] == "1"
    assert ("content-type" in seen) is kept_body


async def test_cross_origin_redirects_drop_credentials(w: World) -> None:
    other = f"http://upstream.test:{w.upstream.port}/echo"
    creds = [["authorization", "Bearer t"], ["cookie", "s=1"], ["x-other", "1"]]
    await get(w, f"{w.base}/redirect?to={other}", headers=creds)
    seen = w.upstream.seen_headers()
    assert "authorization" not in seen and "cookie" not in seen and seen["x-other"] == "1"
    await get(w, f"{w.base}/redirect?to=/echo", headers=creds)
    assert w.upstream.seen_headers()["authorization"] == "Bearer t"


async def test_redirect_manual_and_error(w: World) -> None:
    manual = await get(w, f"{w.base}/redirect?status=301&to=/echo", redirect="manual")
    assert manual["status"] == 301 and ["location", "/echo"] in manual["headers"]
    assert manual["redirected"] is False and len(w.upstream.requests) == 1
    with pytest.raises(HostOpError, match='redirect is "error"'):
        await get(w, f"{w.base}/redirect?to=/echo", redirect="error")
    assert len(w.upstream.requests) == 2


async def test_redirect_loops_stop_after_twenty(w: World) -> None:
    with pytest.raises(HostOpError, match="Too many redirects"):
        await get(w, f"{w.base}/loop")
    assert len(w.upstream.requests) == 21


@pytest.mark.parametrize(
    "to",
    [
        "http://10.0.0.1/",
        "http://127.0.0.1:1/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://internal.test/",
        "http://localhost/",
        "file:///etc/passwd",
        "http://2130706433/",
    ],
)
async def test_redirects_to_private_targets_are_refused(w: World, to: str) -> None:
    with pytest.raises(FetchRefused):
        await get(w, f"{w.base}/redirect?to={to}")
    assert w.network.attempts == [("127.0.0.1", w.upstream.port)]  # the upstream's own, only
    assert len(w.upstream.requests) == 1
    assert set(w.resolver.lookups) <= {"internal.test"}


async def test_compressed_bodies_are_decoded(w: World) -> None:
    for coding in ("gzip", "deflate", "rawdeflate"):
        result = await get(w, f"{w.base}/encoded?coding={coding}")
        assert body_of(result) == PAYLOAD, coding
        names = [name for name, _ in result["headers"]]
        assert "content-encoding" not in names and "content-length" not in names
    unknown = await get(w, f"{w.base}/encoded?coding=br")  # no brotli here: the body stays encoded
    assert ["content-encoding", "br"] in unknown["headers"] and body_of(unknown) == PAYLOAD
    with pytest.raises(HostOpError, match="could not be decompressed"):
        await get(w, f"{w.base}/encoded?coding=corrupt")


async def test_response_limit(w: World) -> None:
    assert len(body_of(await get(w, f"{w.base}/big?n={LIMIT}"))) == LIMIT
    for path in (f"/big?n={LIMIT + 1}", "/endless", f"/bomb?n={20 * LIMIT}"):
        started = time.monotonic()
        with pytest.raises(HostOpError, match=f"larger than {LIMIT} bytes"):
            await get(w, w.base + path)
        assert time.monotonic() - started < TIMEOUT_S, path
    small_bomb = gzip.compress(bytes(LIMIT))
    assert len(small_bomb) < LIMIT // 100


async def test_decoding_holds_at_most_a_small_piece_at_a_time() -> None:
    decoding = _Decoding.of("gzip")
    assert decoding is not None
    pieces = [len(piece) for piece in decoding.feed(gzip.compress(bytes(5 * LIMIT)))]
    assert sum(pieces) == 5 * LIMIT and max(pieces) <= 64 * 1024


async def test_timeout(w: World) -> None:
    started = time.monotonic()
    with pytest.raises(HostOpError, match="timed out"):
        await get(w, f"{w.base}/slow?s=5")
    assert TIMEOUT_S <= time.monotonic() - started < TIMEOUT_S + 1.5


async def test_tls_verifies_the_name_not_the_address(w: World) -> None:
    result = await get(w, f"https://secure.test:{w.tls.port}/echo")
    assert result["status"] == 200 and w.sni == ["secure.test"]
    assert w.network.attempts == [(PUBLIC_V4, w.tls.port)]
    with pytest.raises(HostOpError, match=r"TLS handshake with wrong-name\.test failed"):
        await get(w, f"https://wrong-name.test:{w.tls.port}/echo")


@pytest.mark.parametrize(
    "op",
    [
        {"method": "GET /x", "url": "http://a/"},
        {"method": "CONNECT", "url": "http://a/"},
        {"url": 1},
        {"url": "http://a/", "headers": {"a": "b"}},
        {"url": "http://a/", "headers": [["a b", "c"]]},
        {"url": "http://a/", "headers": [["a", "b\r\nc: d"]]},
        {"url": "http://a/", "body": "***"},
        {"url": "http://a/", "redirect": "sometimes"},
    ],
)
async def test_malformed_ops_are_refused(op: dict[str, Any]) -> None:
    with pytest.raises(HostOpError):
        FetchRequest.from_op(op)


# fetch() in workers, on real executors

JS = "application/javascript+module"


def worker(w: World, source: str, **env: str) -> Any:
    plain = [{"name": "BASE", "type": "plain_text", "text": w.base}]
    plain += [{"name": key, "type": "plain_text", "text": value} for key, value in env.items()]
    name = uuid.uuid4().hex[:8]
    modules = [Module("index.js", JS, source.encode())]
    return compile_script(f"ns/{name}/1", f"ns/{name}", modules, "index.js", bindings=plain)


async def run(w: World, source: str, limits: Limits | None = None, body: bytes = b"") -> RuntimeResponse:
    code = worker(w, source)
    request = RuntimeRequest("POST" if body else "GET", "https://tenant.example/", [], body)
    limits = limits or Limits()
    return await w.runtime.fetch(code, request, limits, request_id=str(uuid.uuid4()), expose_errors=True)


async def test_worker_fetches_and_relays(w: World) -> None:
    source = """
    export default { async fetch(request, env) {
      const sent = await request.arrayBuffer();
      const echo = await fetch(env.BASE + "/body", {
        method: "POST", body: sent, headers: { "x-from": "worker" } });
      const got = new Uint8Array(await echo.arrayBuffer());
      const info = await (await fetch(new Request(env.BASE + "/echo", { headers: [["x-req", "1"]] }))).json();
      const r = await fetch(env.BASE + "/echo");
      return new Response(got, { headers: {
        "x-status": `${echo.status} ${echo.statusText}`, "x-type": echo.headers.get("content-type"),
        "x-seen": info.headers.find(([k]) => k === "x-req")[1],
        "x-cookies": r.headers.getSetCookie().join("|"),
        "x-url": r.url, "x-redirected": String(r.redirected), "x-ok": String(r.ok) } });
    } };
    """
    sent = bytes(range(256)) * 10
    response = await run(w, source, body=sent)
    assert response.status == 200, response.body
    assert response.body == sent
    headers = dict(response.headers)
    assert headers["x-status"] == "200 OK" and headers["x-type"] == "application/octet-stream"
    assert headers["x-seen"] == "1" and headers["x-cookies"] == "a=1; Path=/|b=2; Path=/"
    assert (headers["x-url"], headers["x-redirected"], headers["x-ok"]) == (f"{w.base}/echo", "false", "true")
    assert w.upstream.requests[0]["headers"].count(["x-from", "worker"]) == 1
    assert (await response.completion).subrequests == 3


async def test_worker_redirect_modes(w: World) -> None:
    source = """
    export default { async fetch(request, env) {
      const to = env.BASE + "/redirect?status=307&to=/echo";
      const followed = await fetch(to);
      const manual = await fetch(to, { redirect: "manual" });
      let error;
      try { await fetch(to, { redirect: "error" }); } catch (e) { error = e; }
      return Response.json({ followed: [followed.status, followed.redirected, followed.url],
        manual: [manual.status, manual.headers.get("location")], error: [error.name, error.message] });
    } };
    """
    result = json.loads((await run(w, source)).body)
    assert result["followed"] == [200, True, f"{w.base}/echo"]
    assert result["manual"] == [307, "/echo"]
    assert result["error"][0] == "TypeError" and 'redirect is "error"' in result["error"][1]


async def test_worker_refused_targets_reject_with_type_error(w: World) -> None:
    source = """
    export default { async fetch(request, env) {
      const out = [];
      for (const url of JSON.parse(env.URLS)) {
        try { await fetch(url); out.push("fetched " + url); }
        catch (e) { out.push(e.name + ": " + e.message); }
      }
      return Response.json(out);
    } };
    """
    urls = [
        "http://0x7f000001/",
        "http://[::1]/",
        "http://169.254.169.254/latest/",
        "file:///etc/passwd",
        "http://loopback.test/",
        f"http://127.0.0.1:{w.upstream.port + 1}/",
    ]
    code = worker(w, source, URLS=json.dumps(urls))
    response = await w.runtime.fetch(code, RuntimeRequest("GET", "https://t.example/", []), request_id="r")
    results = json.loads(response.body)
    assert all(line.startswith("TypeError: ") for line in results), results
    assert "127.0.0.1 is a loopback address" in results[0]
    assert "loopback.test could not be resolved to a public address" in results[4]
    assert w.network.attempts == []
    assert (await response.completion).subrequests == len(urls)


async def test_subrequest_limit(w: World) -> None:
    source = """
    export default { async fetch(request, env) {
      const out = [];
      for (let i = 0; i < 3; i++) {
        try { out.push((await fetch(env.BASE + "/echo")).status); }
        catch (e) { out.push(e.name + ": " + e.message); }
      }
      return Response.json(out);
    } };
    """
    response = await run(w, source, Limits(subrequests=2))
    assert json.loads(response.body) == [200, 200, "TypeError: Too many subrequests (the limit is 2)."]
    assert (await response.completion).subrequests == 3
    assert len(w.upstream.requests) == 2

    uncaught = "export default { async fetch(r, env) { for (;;) await fetch(env.BASE + '/echo'); } };"
    response = await run(w, uncaught, Limits(subrequests=2))
    completion = await response.completion
    assert response.status >= 500 and completion.outcome is Outcome.EXCEEDED_SUBREQUESTS


async def test_worker_abort_stops_the_upstream_download(w: World) -> None:
    source = """
    export default { async fetch(request, env) {
      const early = await fetch(env.BASE + "/echo", { signal: AbortSignal.abort() }).catch((e) => e.name);
      const controller = new AbortController();
      const pending = fetch(env.BASE + "/drip", { signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      const late = await pending.then(() => "resolved", (e) => `${e.name} ${e instanceof DOMException}`);
      await new Promise((resolve) => setTimeout(resolve, 400));
      return Response.json([early, late]);
    } };
    """
    response = await run(w, source)
    answered = time.monotonic()
    assert json.loads(response.body) == ["AbortError", "AbortError true"]
    # The drip was cut when the worker aborted, not when its request ended 400 ms later.
    assert [path for path, _ in w.upstream.disconnects] == ["/drip"]
    assert answered - w.upstream.disconnects[0][1] > 0.25
    assert (await response.completion).subrequests == 1


async def test_worker_urls_are_parsed_as_workers_parse_them(w: World) -> None:
    if "__z0.URL = URL" not in (files("z0.runtime") / "js" / "web" / "url.js").read_text():
        pytest.skip("url.js does not hand fetch its URL parser yet (__z0.URL)")
    source = """
    export default { async fetch(request, env) {
      const base = new URL(env.BASE);
      const odd = `HTTP://0x7f.0.0.1:${base.port}\\\\echo?q=a b#frag`;
      const r = await fetch(odd);
      return Response.json([r.url, (await r.json()).path]);
    } };
    """
    result = json.loads((await run(w, source)).body)
    assert result == [f"{w.base}/echo?q=a%20b", "/echo?q=a%20b"]


async def test_fetch_outside_a_request_is_refused(w: World) -> None:
    source = "const early = fetch('http://example.com/').catch((e) => e.message);\n" + (
        "export default { async fetch() { return new Response(await early); } };"
    )
    response = await run(w, source)
    assert response.status == 200 and b"outside a request" in response.body, response.body
    assert w.network.attempts == []
