"""structuredClone (web/structured-clone.js) on the real engine."""

from __future__ import annotations

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["structured-clone", "blob", "streams"])


def test_values_and_containers(env: JsEnv) -> None:
    assert env.run("""
        const src = { n: 1, s: "é", b: true, nul: null, u: undefined, big: 10n, arr: [1, , 3],
            nested: { deep: [{}] },
                      date: new Date(5), re: /a+/gi, map: new Map([[{ k: 1 }, "v"]]), set: new Set([1, "x"]),
                      boxed: [Object(1), Object("s"), Object(false)] };
        src.arr.extra = "prop";
        const c = structuredClone(src);
        return [c !== src, c.n, c.s, c.b, c.nul, "u" in c, typeof c.big, c.big === 10n, 1 in c.arr,
            c.arr.length,
                c.arr.extra, c.nested.deep[0] !== src.nested.deep[0], c.date instanceof Date,
                    c.date.getTime(),
                c.re.source, c.re.flags, c.re !== src.re, [...c.map.keys()][0].k, [...c.set],
                    c.boxed.map((x) => typeof x),
                c.boxed.map((x) => x.valueOf())];
    """) == [
        True,
        1,
        "é",
        True,
        None,
        True,
        "bigint",
        True,
        False,
        3,
        "prop",
        True,
        True,
        5,
        "a+",
        "gi",
        True,
        1,
        [1, "x"],
        ["object", "object", "object"],
        [1, "s", False],
    ]


def test_cycles_and_shared_references(env: JsEnv) -> None:
    assert env.run("""
        const shared = { v: 1 };
        const a = { shared, again: shared, list: [shared] };
        a.self = a;
        const m = new Map();
        m.set("me", m);
        const c = structuredClone(a), cm = structuredClone(m);
        return [c.self === c, c.shared === c.again, c.list[0] === c.shared, c.shared !== shared,
            cm.get("me") === cm];
    """) == [True, True, True, True, True]


def test_buffers_and_views(env: JsEnv) -> None:
    assert env.run("""
        const buf = new ArrayBuffer(8);
        const u8 = new Uint8Array(buf, 2, 4);
        u8.set([1, 2, 3, 4]);
        const dv = new DataView(buf, 1, 3);
        const [cu8, cdv, cbuf] = structuredClone([u8, dv, buf]);
        u8[0] = 99;
        return [cu8 instanceof Uint8Array, [...cu8], cu8.byteOffset, cu8.buffer === cbuf, cdv.byteOffset,
            cdv.byteLength,
                cdv.buffer === cbuf, cbuf.byteLength,
                    [...new Float64Array(structuredClone(new Float64Array([1.5])))]];
    """) == [True, [1, 2, 3, 4], 2, True, 1, 3, True, 8, [1.5]]


def test_transfer_detaches_the_original(env: JsEnv) -> None:
    assert env.run("""
        const buf = new Uint8Array([1, 2, 3]).buffer;
        const c = structuredClone({ buf }, { transfer: [buf] });
        return [buf.byteLength, [...new Uint8Array(c.buf)]];
    """) == [0, [1, 2, 3]]
    with pytest.raises(JsError) as caught:
        env.run("const b = new ArrayBuffer(1); structuredClone(b, { transfer: [b, b] });")
    assert caught.value.name == "DataCloneError"


def test_errors_keep_their_class_and_message(env: JsEnv) -> None:
    assert env.run("""
        const c = structuredClone([new TypeError("t"), new RangeError("r"), new Error("e", { cause: "why" }),
                                   new DOMException("d", "AbortError")]);
        return c.map((e) => [e.constructor.name, e.name, e.message, e.cause]);
    """) == [
        ["TypeError", "TypeError", "t", None],
        ["RangeError", "RangeError", "r", None],
        ["Error", "Error", "e", "why"],
        ["DOMException", "AbortError", "d", None],
    ]


def test_class_instances_become_plain_objects_and_blobs_clone(env: JsEnv) -> None:
    assert env.run("""
        class Point { constructor() { this.x = 1; } get y() { return 2; } }
        const p = structuredClone(new Point());
        const f = structuredClone(new File(["hi"], "a.txt", { type: "text/plain", lastModified: 3 }));
        return [Object.getPrototypeOf(p) === Object.prototype, p.x, p.y, f instanceof File, f.name,
            f.type, f.lastModified,
                await f.text()];
    """) == [True, 1, None, True, "a.txt", "text/plain", 3, "hi"]


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("() => 1", "function"),
        ("function named() {}", "function named"),
        ("Symbol('s')", "Symbol(s)"),
        ("{ f() {} }", "function f"),
        ("new WeakMap()", "[object WeakMap]"),
        ("Promise.resolve()", "[object Promise]"),
        ("new Headers()", "[object Headers]"),
        ("new Response('x')", "[object Response]"),
        ("new ReadableStream()", "[object ReadableStream]"),
    ],
)
def test_uncloneable_values_throw_data_clone_error(env: JsEnv, value: str, what: str) -> None:
    with pytest.raises(JsError) as caught:
        env.run(f"structuredClone({value})")
    assert caught.value.name == "DataCloneError"
    assert caught.value.message.startswith(what)
    assert caught.value.message.endswith("could not be cloned.")
    with pytest.raises(JsError, match="1 argument required"):
        env.run("structuredClone()")
