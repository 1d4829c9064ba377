"""The Body mixin (web/body.js) on the real engine: every body source, the read methods, bodyUsed, the
lazy `body` stream, and byte-exact round trips through the host contract (dispatch -> Request ->
Response -> the host's latin-1 body)."""

from __future__ import annotations

import binascii
import json
import time
from typing import Any

import pytest

from tests.runtime.jsenv import JsEnv, JsError

ALL_BYTES = bytes(range(256))
TEXTS = [
    "plain ascii",
    "",
    "\x00 nul and \x7f del",
    "é ü ß — “quotes” ☃ €",
    "astral: 😀 𝄞 🏳️‍🌈 𠜎",
    "combining: e\u0301 a\u0308 \u0915\u094d\u0937",
    "rtl: שלום عليكم \u202e",
    "\ufeffbom-first",
    "max: \U0010ffff \ufffd \uffff",
]


class Worker:
    """An isolate running a service-worker script, driven through host.js's entry points."""

    def __init__(self, apis: list[str], handler: str, *, internals: bool = False) -> None:
        self.env = JsEnv(apis, internals=internals)
        self.env.entry("end")
        self.env.ctx.eval(
            f"addEventListener('fetch', (event) => event.respondWith(({handler})(event.request)));"
        )
        self.env.entry("boot", self.env.ctx.eval("(link) => link.serviceWorker()"))
        assert json.loads(self.env.entry("bootState"))["state"] == "ok"

    def dispatch(
        self, method: str, headers: list[list[str]], body: bytes, *, base64: bool = False
    ) -> tuple[dict[str, Any], bytes]:
        meta = {"id": "r1", "method": method, "url": "https://t.example/echo", "headers": headers}
        if base64:
            meta["bodyEncoding"] = "base64"
        sent = binascii.b2a_base64(body, newline=False).decode() if base64 else body.decode("latin-1")
        self.env.entry("dispatch", json.dumps(meta), sent)
        response = None
        for _ in range(1000):
            while self.env.ctx.execute_pending_job():
                pass
            state = json.loads(self.env.entry("take"))
            assert state["error"] is None, state["error"]
            response = state["response"] or response
            if state["done"]:
                break
        assert response is not None
        out = response.pop("body") or ""
        if response.pop("bodyEncoding") == "base64":
            return response, binascii.a2b_base64(out)
        return response, out.encode("latin-1")


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["response", "request", "streams", "blob", "formdata", "encoding"])


def test_binary_bodies_round_trip_byte_exact_through_the_host() -> None:
    worker = Worker(
        [],
        "async (r) => new Response(await r.arrayBuffer(),"
        " { headers: { 'x-n': String(r.headers.get('x-n')) } })",
    )
    for body in (ALL_BYTES, ALL_BYTES * 300, b"\x00", b"\xff\xfe\x00\x00", bytes(reversed(ALL_BYTES))):
        response, out = worker.dispatch("POST", [["x-n", "1"]], body)
        assert out == body
        assert response["status"] == 200
        assert response["headers"] == [["x-n", "1"]]


def test_bytes_read_as_typed_arrays_keep_every_value() -> None:
    worker = Worker(
        [],
        """async (r) => {
            const [a, b] = [await r.clone().bytes(), new Uint8Array(await r.arrayBuffer())];
            const ok = a.length === 256 && a.every((v, i) => v === i && b[i] === v);
            return new Response(a.subarray(250), { headers: { ok: String(ok) } });
        }""",
    )
    response, out = worker.dispatch("PUT", [], ALL_BYTES)
    assert response["headers"] == [["ok", "true"]]
    assert out == ALL_BYTES[250:]


@pytest.mark.parametrize("text", TEXTS)
def test_text_round_trips_any_unicode_through_the_host(text: str) -> None:
    worker = Worker([], "async (r) => new Response(await r.text())")
    response, out = worker.dispatch("POST", [], text.encode())
    expected = text.encode()
    if text.startswith("\ufeff"):
        expected = expected[3:]
    assert out == expected
    assert response["headers"] == [["content-type", "text/plain;charset=UTF-8"]]


def test_json_and_text_from_host_bytes() -> None:
    worker = Worker([], "async (r) => Response.json({ got: await r.json() })")
    response, out = worker.dispatch("POST", [["content-type", "application/json"]], '{"k": "😀 é"}'.encode())
    assert json.loads(out) == {"got": {"k": "😀 é"}}
    assert response["headers"] == [["content-type", "application/json"]]


def test_lone_surrogates_encode_to_replacement_characters() -> None:
    worker = Worker([], "async () => new Response('a\\ud800b\\udc00c\\ud83d')")
    _, out = worker.dispatch("GET", [], b"")
    assert out == "a\ufffdb\ufffdc\ufffd".encode()


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"\xff", "\ufffd"),
        (b"a\xc3", "a\ufffd"),
        (b"\xc0\x80", "\ufffd\ufffd"),
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),
        (b"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"),
        (b"\xe2\x82", "\ufffd"),
        (b"\xe2\x82\xac\xf0\x9f\x98", "€\ufffd"),
        (b"\xf0\x9f\x98\x80\x80", "😀\ufffd"),
        (b"ok\xe0\x80\xafok", "ok\ufffd\ufffd\ufffdok"),
    ],
)
def test_invalid_utf8_decodes_per_the_whatwg_decoder(raw: bytes, text: str) -> None:
    worker = Worker([], "async (r) => Response.json(await r.text())")
    _, out = worker.dispatch("POST", [], raw)
    assert json.loads(out) == text
    assert raw.decode("utf-8", errors="replace") == text


def test_every_body_source(env: JsEnv) -> None:
    assert env.run("""
        const u8 = new Uint8Array([104, 105, 33, 0]);
        const sources = {
            string: "hi!",
            number: 42,
            arrayBuffer: u8.buffer,
            uint8: u8.subarray(0, 3),
            dataView: new DataView(u8.buffer, 1, 2),
            int16: new Int16Array([0x6968]),
            blob: new Blob(["hi", "!"], { type: "Text/Plain" }),
            emptyBlob: new Blob([]),
            stream: new ReadableStream({ start(c) {
                c.enqueue(new TextEncoder().encode("h")); c.enqueue(new Uint8Array([105])); c.close(); } }),
            asyncIterable: (async function* () {
                yield new Uint8Array([104]); yield new Uint8Array([105]); })(),
        };
        const out = {};
        for (const [name, body] of Object.entries(sources)) {
            const r = new Response(body);
            out[name] = [r.headers.get("content-type"), [...await r.bytes()]];
        }
        return out;
    """) == {
        "string": ["text/plain;charset=UTF-8", [104, 105, 33]],
        "number": ["text/plain;charset=UTF-8", [52, 50]],
        "arrayBuffer": [None, [104, 105, 33, 0]],
        "uint8": [None, [104, 105, 33]],
        "dataView": [None, [105, 33]],
        "int16": [None, [104, 105]],
        "blob": ["text/plain", [104, 105, 33]],
        "emptyBlob": [None, []],
        "stream": [None, [104, 105]],
        "asyncIterable": [None, [104, 105]],
    }


def test_buffer_sources_are_copied_at_construction(env: JsEnv) -> None:
    assert env.run("""
        const u8 = new Uint8Array([1, 2, 3]);
        const r = new Response(u8);
        u8[0] = 9;
        return [...await r.bytes()];
    """) == [1, 2, 3]


def test_explicit_content_type_wins(env: JsEnv) -> None:
    assert env.run("""
        const r = new Response("{}", { headers: { "Content-Type": "application/json" } });
        return [...r.headers];
    """) == [["content-type", "application/json"]]


def test_url_search_params_body_when_url_is_loaded() -> None:
    env = JsEnv(["response", "url", "formdata"])
    assert env.run("""
        const r = new Response(new URLSearchParams({ a: "1 2", b: "é&" }));
        const type = r.headers.get("content-type");
        const fd = await r.clone().formData();
        return [type, await r.text(), [...fd]];
    """) == [
        "application/x-www-form-urlencoded;charset=UTF-8",
        "a=1+2&b=%C3%A9%26",
        [["a", "1 2"], ["b", "é&"]],
    ]


def test_read_methods(env: JsEnv) -> None:
    assert env.run("""
        const make = () => new Response('{"a":"é"}', { headers: { "content-type": "application/json" } });
        const blob = await make().blob();
        return [await make().text(), await make().json(), (await make().arrayBuffer()).byteLength,
                Object.prototype.toString.call(await make().bytes()), blob.type, blob.size,
                    await blob.text()];
    """) == ['{"a":"é"}', {"a": "é"}, 10, "[object Uint8Array]", "application/json", 10, '{"a":"é"}']


def test_second_read_is_a_type_error(env: JsEnv) -> None:
    for first, second in [
        ("text", "text"),
        ("json", "arrayBuffer"),
        ("bytes", "blob"),
        ("arrayBuffer", "formData"),
    ]:
        with pytest.raises(JsError) as caught:
            env.run(f"""
                const r = new Response('{{}}',
                    {{ headers: {{ "content-type": "application/x-www-form-urlencoded" }} }});
                await r.{first}();
                if (!r.bodyUsed) throw new Error("bodyUsed is false");
                await r.{second}();
            """)
        assert caught.value.name == "TypeError"
        assert caught.value.message == (
            "Body has already been used. It can only be used once. "
            "Use tee() first if you need to read it twice."
        )


def test_a_null_body_reads_empty_any_number_of_times(env: JsEnv) -> None:
    assert env.run("""
        const r = new Response(null);
        return [await r.text(), await r.text(), (await r.arrayBuffer()).byteLength, r.bodyUsed, r.body];
    """) == ["", "", 0, False, None]


def test_body_is_a_lazy_byte_stream(env: JsEnv) -> None:
    assert env.run("""
        const r = new Response("héllo");
        const body = r.body;
        const same = body === r.body;
        const reader = body.getReader();
        const chunks = [];
        for (;;) { const { value, done } = await reader.read(); if (done) break; chunks.push([...value]); }
        let error;
        try { await r.text(); } catch (e) { error = e.message; }
        return [same, body instanceof ReadableStream, chunks, r.bodyUsed, error !== undefined];
    """) == [True, True, [[104, 195, 169, 108, 108, 111]], True, True]


def test_body_after_a_read_is_a_disturbed_stream(env: JsEnv) -> None:
    assert env.run("""
        const r = new Response("x");
        await r.text();
        const s = r.body;
        return [s instanceof ReadableStream, r.bodyUsed, (await s.getReader().read()).done];
    """) == [True, True, True]


def test_passing_a_body_stream_on_does_not_copy(env: JsEnv) -> None:
    assert env.run("""
        const a = new Request("https://x/", { method: "POST", body: "payload" });
        const b = new Response(a.body);
        const c = new Response(b.body, { status: 201 });
        return [a.bodyUsed, await c.text(), c.status];
    """) == [False, "payload", 201]


def test_a_locked_or_read_stream_cannot_be_a_body(env: JsEnv) -> None:
    with pytest.raises(JsError, match="This ReadableStream is disturbed"):
        env.run("const s = new ReadableStream(); s.getReader(); new Response(s);")


def test_form_data_bodies_round_trip(env: JsEnv) -> None:
    assert env.run(r"""
        const fd = new FormData();
        fd.append("text", "é 😀\r\nline");
        fd.append("quote\"name", "v");
        fd.append("file", new File([new Uint8Array([0, 255, 10, 13])], "a \"b\".bin",
            { type: "application/x-bin" }));
        fd.append("blob", new Blob(["plain"]));
        const req = new Request("https://x/", { method: "POST", body: fd });
        const type = req.headers.get("content-type");
        const back = await req.formData();
        const out = [];
        for (const [k, v] of back) {
            out.push(typeof v === "string" ? [k, v] : [k, v.name, v.type, [...await v.bytes()]]);
        }
        return [/^multipart\/form-data; boundary=[0-9a-f]+$/.test(type), out];
    """) == [
        True,
        [
            ["text", "é 😀\r\nline"],
            ['quote"name', "v"],
            ["file", 'a "b".bin', "application/x-bin", [0, 255, 10, 13]],
            ["blob", "blob", "application/octet-stream", [112, 108, 97, 105, 110]],
        ],
    ]


def test_form_data_parsing_errors(env: JsEnv) -> None:
    cases = [
        ("new Response(new Uint8Array([97]))", "Parsing a Body as FormData requires a Content-Type header."),
        (
            "new Response('a', { headers: { 'content-type': 'text/plain' } })",
            "Unrecognized Content-Type header value.",
        ),
        ("new Response('a', { headers: { 'content-type': 'multipart/form-data' } })", "No boundary string"),
        (
            "new Response('junk', { headers: { 'content-type': 'multipart/form-data; boundary=zz' } })",
            "Failed to parse body as FormData.",
        ),
    ]
    for make, message in cases:
        with pytest.raises(JsError, match=message.replace(".", r"\.")) as caught:
            env.run(f"await {make}.formData();")
        assert caught.value.name == "TypeError"


def test_urlencoded_parsing_without_url_js(env: JsEnv) -> None:
    assert env.run("""
        const r = new Response("a=1+2&b=%C3%A9%26&empty=&flag&%ZZ=bad%", {
            headers: { "content-type": "application/x-www-form-urlencoded; charset=UTF-8" } });
        return [...await r.formData()];
    """) == [["a", "1 2"], ["b", "é&"], ["empty", ""], ["flag", ""], ["%ZZ", "bad%"]]


def test_blob_and_form_data_methods_come_with_their_files() -> None:
    bare = JsEnv([])
    assert bare.run(
        "const r = new Response('x'); return [typeof r.blob, typeof r.formData, typeof r.text];"
    ) == [
        "undefined",
        "undefined",
        "function",
    ]
    loaded = JsEnv(["formdata"])
    assert loaded.run("const r = new Request('https://x/'); return [typeof r.blob, typeof r.formData];") == [
        "function",
        "function",
    ]


def test_the_host_path_survives_tampered_built_ins() -> None:
    worker = Worker(
        [],
        """async (r) => {
            Promise.prototype.then = function () { throw new Error("tampered then"); };
            Promise.resolve = Promise.reject = () => { throw new Error("tampered resolve"); };
            Array.prototype.push = Array.prototype.sort = () => { throw new Error("tampered array"); };
            Array.prototype[Symbol.iterator] = function* () { throw new Error("tampered iterator"); };
            String.prototype.toLowerCase = () => "tampered";
            globalThis.unescape = globalThis.encodeURIComponent = () => "tampered";
            return new Response("héllo " + r.method, { headers: { "Set-Cookie": "a=1", "X-B": "2" } });
        }""",
    )
    response, out = worker.dispatch("POST", [["X-A", "1"]], b"body")
    assert out == "héllo POST".encode()
    assert response["headers"] == [
        ["content-type", "text/plain;charset=UTF-8"],
        ["set-cookie", "a=1"],
        ["x-b", "2"],
    ]


def test_text_of_a_string_body_is_well_formed(env: JsEnv) -> None:
    assert env.run(
        "return [await new Response('a\\ud800b').text(), await new Blob(['\\udc00']).text()];"
    ) == [
        "a\ufffdb",
        "\ufffd",
    ]


def test_binary_bodies_cross_as_base64_when_the_host_sends_base64() -> None:
    worker = Worker(
        [],
        """async (r) => {
            const bytes = await r.clone().bytes(), text = await r.clone().text();
            const headers = { n: String(bytes.length), t: String(text.length) };
            return new Response(await r.arrayBuffer(), { headers });
        }""",
    )
    for body in (ALL_BYTES, ALL_BYTES * 64, b"\x00"):
        response, out = worker.dispatch("POST", [], body, base64=True)
        assert out == body
        assert response["headers"] == [
            ["n", str(len(body))],
            ["t", str(len(body.decode("utf-8", "replace").encode("utf-16-le")) // 2)],
        ]


def test_text_bodies_stay_latin1_when_the_host_speaks_base64() -> None:
    worker = Worker(["streams"], "async (r) => new Response(new Response(r.body).body)")
    response, out = worker.dispatch("PUT", [], "é 😀".encode(), base64=True)
    assert out == "é 😀".encode()
    worker = Worker([], "async (r) => new Response(await r.text() + '!')")
    response, out = worker.dispatch("PUT", [], "é 😀".encode(), base64=True)
    assert out == "é 😀!".encode()
    assert response["headers"] == [["content-type", "text/plain;charset=UTF-8"]]


def test_reading_a_large_binary_body_is_fast_with_base64() -> None:
    worker = Worker([], "async (r) => new Response(String((await r.arrayBuffer()).byteLength))")
    body = ALL_BYTES * 4096
    started = time.perf_counter()
    _, out = worker.dispatch("POST", [], body, base64=True)
    elapsed = time.perf_counter() - started
    assert out == str(len(body)).encode()
    assert elapsed < 0.05, f"1 MiB arrayBuffer() took {elapsed * 1000:.1f} ms"


def test_a_fetched_base64_body_passes_through_as_base64() -> None:
    worker = Worker(
        [],
        """async (r) => __z0.responseFromHost(
            { status: 200, headers: [["content-type", "application/octet-stream"]], bodyEncoding: "base64" },
            await r.text(),
        )""",
        internals=True,
    )
    payload = binascii.b2a_base64(ALL_BYTES, newline=False)
    response, out = worker.dispatch("POST", [], payload, base64=True)
    assert out == ALL_BYTES
    assert response["headers"] == [["content-type", "application/octet-stream"]]
