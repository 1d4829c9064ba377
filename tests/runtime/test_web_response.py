"""Response (web/response.js) on the real engine: status rules, statusText, the static constructors,
clone, and what the host receives from __z0.responseToHost."""

from __future__ import annotations

import pytest

from tests.runtime.jsenv import JsEnv, JsError


def internal_env(apis: list[str]) -> JsEnv:
    """A JsEnv that also puts z0's internal namespace on globalThis.__z0 (tests only)."""
    return JsEnv(apis, internals=True)


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return internal_env(["response", "streams"])


def test_defaults(env: JsEnv) -> None:
    assert env.run("""
        const r = new Response();
        return [r.status, r.statusText, r.ok, r.type, r.url, r.redirected, r.body, r.bodyUsed, [...r.headers],
                await r.text(), Object.prototype.toString.call(r)];
    """) == [200, "", True, "default", "", False, None, False, [], "", "[object Response]"]


def test_status_and_status_text(env: JsEnv) -> None:
    assert env.run("""
        return [[201, "Created"], [404, "Not Found"], [599, ""], ["302", "Found"]].map(([status,
            statusText]) => {
            const r = new Response(null, { status, statusText });
            return [r.status, r.statusText, r.ok];
        });
    """) == [[201, "Created", True], [404, "Not Found", False], [599, "", False], [302, "Found", False]]


@pytest.mark.parametrize("status", [0, 100, 101, 199, 600, 1000])
def test_status_outside_200_to_599_is_a_range_error(env: JsEnv, status: int) -> None:
    with pytest.raises(JsError) as caught:
        env.run(f"new Response('', {{ status: {status} }})")
    assert caught.value.name == "RangeError"
    assert caught.value.message == (
        "Responses may only be constructed with status codes in the range 200 to 599, inclusive."
    )


@pytest.mark.parametrize("text", ["\\n", "\\u0100", "a\\rb"])
def test_bad_status_text_is_a_type_error(env: JsEnv, text: str) -> None:
    with pytest.raises(JsError, match="Invalid statusText") as caught:
        env.run(f'new Response("", {{ statusText: "{text}" }})')
    assert caught.value.name == "TypeError"


@pytest.mark.parametrize("status", [204, 205, 304])
def test_null_body_statuses(env: JsEnv, status: int) -> None:
    assert env.run(f"""
        const a = new Response(null, {{ status: {status} }});
        const b = new Response("", {{ status: {status} }});
        return [a.body, b.body, b.headers.has("content-type")];
    """) == [None, None, False]
    for body in ("'x'", "new Uint8Array(1)", "new ReadableStream()"):
        with pytest.raises(JsError, match=r"Response with null body status \(101, 204, 205, or 304\) cannot"):
            env.run(f"new Response({body}, {{ status: {status} }})")


def test_json(env: JsEnv) -> None:
    assert env.run("""
        const a = Response.json({ a: [1, "é"] });
        const b = Response.json([1], { status: 418, headers: { "Content-Type": "application/vnd.x+json",
            "X": "1" } });
        return [a.status, a.headers.get("content-type"), await a.json(), b.status,
            b.headers.get("content-type"),
                b.headers.get("x"), await b.text()];
    """) == [200, "application/json", {"a": [1, "é"]}, 418, "application/vnd.x+json", "1", "[1]"]
    with pytest.raises(JsError, match="not JSON-serializable") as caught:
        env.run("Response.json(undefined)")
    assert caught.value.name == "TypeError"
    with pytest.raises(JsError, match="BigInt"):
        env.run("Response.json({ n: 1n })")


def test_redirect(env: JsEnv) -> None:
    assert env.run("""
        const r = Response.redirect("https://example.com/next", 307);
        const d = Response.redirect("https://example.com/");
        return [r.status, r.headers.get("location"), d.status, r.body];
    """) == [307, "https://example.com/next", 302, None]
    with pytest.raises(JsError) as caught:
        env.run("Response.redirect('https://x/', 200)")
    assert caught.value.name == "RangeError"
    assert (
        caught.value.message
        == "200 is not a redirect status code. It must be one of: 301, 302, 303, 307, or 308."
    )
    with pytest.raises(JsError, match="Redirect URL cannot contain"):
        env.run("Response.redirect('https://x/\\r\\nSet-Cookie: a=1')")


def test_error_response(env: JsEnv) -> None:
    assert env.run("""
        const r = Response.error();
        let host;
        try { await __z0.responseToHost(r); } catch (e) { host = e.name + ": " + e.message; }
        return [r.status, r.type, r.ok, r.statusText, host];
    """) == [
        0,
        "error",
        False,
        "",
        "TypeError: Return value from serve handler must not be an error response (like Response.error()).",
    ]


def test_init_from_another_response(env: JsEnv) -> None:
    assert env.run("""
        const a = new Response("x", { status: 201, statusText: "Made", headers: { k: "v" } });
        const b = new Response("y", a);
        return [b.status, b.statusText, b.headers.get("k"), await b.text()];
    """) == [201, "Made", "v", "y"]


def test_clone(env: JsEnv) -> None:
    assert env.run("""
        const a = new Response("twice", { status: 202, headers: { k: "v" } });
        const b = a.clone();
        b.headers.set("k", "w");
        const r = Response.redirect("https://x/");
        let immutable;
        try { r.clone().headers.set("a", "b"); } catch (e) { immutable = e.message; }
        return [b.status, a.headers.get("k"), b.headers.get("k"), await a.text(), await b.text(), immutable];
    """) == [202, "v", "w", "twice", "twice", "Can't modify immutable headers."]
    with pytest.raises(JsError, match=r"Cannot clone a Response whose body has already been used\."):
        env.run("const a = new Response('x'); await a.text(); a.clone();")


def test_response_to_host(env: JsEnv) -> None:
    assert env.run("""
        const h = new Headers({ "X-B": "2" });
        h.append("Set-Cookie", "a=1");
        h.append("Set-Cookie", "b=2");
        h.append("x-b", "3");
        return await __z0.responseToHost(new Response("héllo ☃ 😀", { status: 201, statusText: "Created",
            headers: h }));
    """) == {
        "status": 201,
        "statusText": "Created",
        "headers": [
            ["content-type", "text/plain;charset=UTF-8"],
            ["set-cookie", "a=1"],
            ["set-cookie", "b=2"],
            ["x-b", "2, 3"],
        ],
        "body": "héllo ☃ 😀".encode().decode("latin-1"),
        "bodyEncoding": "latin1",
    }


def test_response_to_host_reads_streams_and_refuses_used_bodies(env: JsEnv) -> None:
    assert env.run("""
        const body = new ReadableStream({ start(c) {
            c.enqueue(new Uint8Array([0, 1])); c.enqueue(new Uint8Array([255]).buffer); c.close(); } });
        const out = await __z0.responseToHost(new Response(body));
        return [...out.body].map((c) => c.charCodeAt(0));
    """) == [0, 1, 255]
    with pytest.raises(JsError, match="Body has already been used"):
        env.run("const r = new Response('x'); await r.text(); await __z0.responseToHost(r);")
    with pytest.raises(JsError, match=r"This ReadableStream did not return bytes\."):
        env.run("""
            const body = new ReadableStream({ start(c) { c.enqueue("a string"); c.close(); } });
            await __z0.responseToHost(new Response(body));
        """)


def test_response_from_host_for_fetch_results(env: JsEnv) -> None:
    assert env.run("""
        const r = __z0.responseFromHost({ status: 404, statusText: "Not Found", url: "https://o/",
            redirected: true,
                                          headers: [["Content-Type", "text/plain"]] }, "gone");
        let error;
        try { r.headers.set("a", "b"); } catch (e) { error = e.message; }
        return [r.status, r.statusText, r.ok, r.url, r.redirected, r.type, await r.text(), error];
    """) == [
        404,
        "Not Found",
        False,
        "https://o/",
        True,
        "default",
        "gone",
        "Can't modify immutable headers.",
    ]
