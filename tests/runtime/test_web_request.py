"""Request (web/request.js) on the real engine: construction, method normalization, init from another
Request, clone, signal, and the Request the host hands to the tenant."""

from __future__ import annotations

import pytest

from tests.runtime.jsenv import JsEnv, JsError


def internal_env(apis: list[str]) -> JsEnv:
    """A JsEnv that also puts z0's internal namespace on globalThis.__z0 (tests only)."""
    return JsEnv(apis, internals=True)


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["request", "abort", "streams", "encoding"])


def test_defaults(env: JsEnv) -> None:
    assert env.run("""
        const r = new Request("https://example.com/a?b=c");
        return [r.url, r.method, [...r.headers], r.body, r.bodyUsed, r.redirect, r.integrity, r.keepalive,
                r.cf === undefined, r.signal.aborted, Object.prototype.toString.call(r)];
    """) == [
        "https://example.com/a?b=c",
        "GET",
        [],
        None,
        False,
        "follow",
        "",
        False,
        True,
        False,
        "[object Request]",
    ]


def test_methods_are_normalized_as_workerd_does(env: JsEnv) -> None:
    assert env.run("""
        return ["get", "post", "Put", "delete", "options", "head", "PATCH", "PROPFIND"]
            .map((m) => new Request("https://x/", { method: m }).method);
    """) == ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "PROPFIND"]


@pytest.mark.parametrize("method", ["patch", "bad method", "", "CONNECT", "TRACE"])
def test_bad_methods_are_type_errors(env: JsEnv, method: str) -> None:
    with pytest.raises(JsError) as caught:
        env.run(f"new Request('https://x/', {{ method: {method!r} }})")
    assert caught.value.name == "TypeError"
    assert caught.value.message == f"Invalid HTTP method string: {method}"


def test_get_and_head_cannot_have_a_body(env: JsEnv) -> None:
    for method in ("GET", "HEAD"):
        with pytest.raises(JsError, match=r"Request with a GET or HEAD method cannot have a body\."):
            env.run(f"new Request('https://x/', {{ method: '{method}', body: 'x' }})")
    assert env.run("return new Request('https://x/', { method: 'GET', body: null }).body") is None


def test_body_and_default_content_type(env: JsEnv) -> None:
    assert env.run("""
        const r = new Request("https://x/", { method: "POST", body: JSON.stringify({ a: 1 }),
                                               headers: { "X-Id": "7" } });
        return [r.headers.get("content-type"), r.headers.get("x-id"), await r.json(), r.bodyUsed];
    """) == ["text/plain;charset=UTF-8", "7", {"a": 1}, True]


def test_init_from_another_request_takes_its_body(env: JsEnv) -> None:
    assert env.run("""
        const a = new Request("https://x/a", { method: "PUT", body: "payload", headers: { k: "v" },
            redirect: "manual" });
        const b = new Request(a, { headers: { k: "w" } });
        const c = new Request("https://x/c", b);
        return [b.url, b.method, b.redirect, b.headers.get("k"), a.headers.get("k"), a.bodyUsed,
                c.url, c.method, c.headers.get("k"), await c.text()];
    """) == ["https://x/a", "PUT", "manual", "w", "v", True, "https://x/c", "PUT", "w", "payload"]


def test_a_used_request_cannot_be_reconstructed_or_cloned(env: JsEnv) -> None:
    with pytest.raises(JsError, match=r"Cannot reconstruct a Request with a used body\."):
        env.run("""
            const a = new Request("https://x/", { method: "POST", body: "x" });
            await a.text();
            new Request(a);
        """)
    with pytest.raises(JsError, match=r"Cannot clone a Request whose body has already been used\."):
        env.run("""
            const a = new Request("https://x/", { method: "POST", body: "x" });
            await a.text();
            a.clone();
        """)


def test_clone_copies_everything_and_both_bodies_read(env: JsEnv) -> None:
    assert env.run("""
        const a = new Request("https://x/", { method: "POST", body: "both", headers: { h: "1" } });
        const b = a.clone();
        b.headers.set("h", "2");
        return [b.method, b.url, a.headers.get("h"), b.headers.get("h"), await a.text(), await b.text()];
    """) == ["POST", "https://x/", "1", "2", "both", "both"]


def test_clone_of_a_stream_body_tees_it(env: JsEnv) -> None:
    assert env.run("""
        const body = new ReadableStream({
            start(c) { c.enqueue(new TextEncoder().encode("str")); c.close(); } });
        const a = new Request("https://x/", { method: "POST", body, duplex: "half" });
        const b = a.clone();
        return [await a.text(), await b.text()];
    """) == ["str", "str"]


def test_redirect_integrity_and_signal_options(env: JsEnv) -> None:
    assert env.run("""
        const c = new AbortController();
        const r = new Request("https://x/", { redirect: "MANUAL", signal: c.signal, cf: { cacheTtl: 5 } });
        c.abort("stop");
        return [r.redirect, r.signal === c.signal, r.signal.aborted, r.signal.reason, r.cf.cacheTtl,
                new Request(r).signal === c.signal, new Request(r, { signal: null }).signal === c.signal];
    """) == ["manual", True, True, "stop", 5, True, False]
    with pytest.raises(JsError, match='Invalid redirect value, must be one of "follow" or "manual"'):
        env.run("new Request('https://x/', { redirect: 'error' })")
    with pytest.raises(JsError, match="integrity checking is not implemented"):
        env.run("new Request('https://x/', { integrity: 'sha256-x' })")
    with pytest.raises(JsError, match="member signal is not of type AbortSignal"):
        env.run("new Request('https://x/', { signal: {} })")


def test_request_works_without_optional_files() -> None:
    bare = JsEnv([])
    assert bare.run("""
        const r = new Request("https://x/", { method: "POST", body: new Uint8Array([104, 105]) });
        return [r.signal, r.headers.get("content-type"), await r.text()];
    """) == [None, None, "hi"]
    with pytest.raises(JsError, match="z0 loads ReadableStream only into scripts that mention it"):
        bare.run("new Request('https://x/', { method: 'POST', body: 'x' }).body")


def test_request_from_host_is_immutable_and_keeps_the_body_as_bytes() -> None:
    env = internal_env(["request"])
    assert env.run("""
        const r = __z0.requestFromHost({ method: "POST", url: "https://t.example/p?q=1",
            headers: [["Content-Type", "application/json"], ["X-A", "1"], ["x-a", "2"],
                      ["Set-Cookie", "a=1"], ["set-cookie", "b=2"]] }, '{"k":"\\u00c3\\u00a9"}');
        let error = null;
        try { r.headers.set("x", "y"); } catch (e) { error = e.message; }
        const copy = new Request(r);
        copy.headers.set("x", "y");
        return [r.method, r.url, [...r.headers], error, copy.headers.get("x"), await copy.json()];
    """) == [
        "POST",
        "https://t.example/p?q=1",
        [
            ["content-type", "application/json"],
            ["set-cookie", "a=1"],
            ["set-cookie", "b=2"],
            ["x-a", "1, 2"],
        ],
        "Can't modify immutable headers.",
        "y",
        {"k": "é"},
    ]


def test_request_from_host_drops_bodies_of_get_and_head() -> None:
    env = internal_env(["request"])
    assert env.run("""
        const get = __z0.requestFromHost({ method: "GET", url: "https://t/", headers: [] }, "ignored");
        const post = __z0.requestFromHost({ method: "POST", url: "https://t/", headers: [] }, "");
        return [get.body === null, await get.text(), await post.text(), post.bodyUsed];
    """) == [True, "", "", False]


def test_changing_the_method_to_get_keeps_the_no_body_rule(env: JsEnv) -> None:
    with pytest.raises(JsError, match=r"Request with a GET or HEAD method cannot have a body\."):
        env.run("new Request(new Request('https://x/', { method: 'POST', body: 'x' }), { method: 'GET' })")
    assert env.run("""
        const post = new Request("https://x/", { method: "POST", body: "x" });
        const get = new Request(post, { method: "GET", body: null });
        const original = new Request("https://x/", { method: "POST", body: "y" });
        const keep = new Request(original, { headers: { a: "1" } });
        return [get.method, get.body, keep.method, await keep.text()];
    """) == ["GET", None, "POST", "y"]
