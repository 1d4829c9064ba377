"""Headers (web/headers.js) on the real engine: case-insensitive names, combined values, Set-Cookie kept
apart, sorted iteration, validation and the immutable guard."""

from __future__ import annotations

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["headers"])


def test_names_are_case_insensitive_and_values_combine(env: JsEnv) -> None:
    assert env.run("""
        const h = new Headers({ "Content-Type": "text/html" });
        h.append("X-Multi", "a");
        h.append("x-multi", "b");
        return [h.get("CONTENT-TYPE"), h.get("X-MULTI"), h.has("x-Multi"), h.has("nope"), h.get("nope")];
    """) == ["text/html", "a, b", True, False, None]


def test_set_replaces_and_delete_removes_every_value(env: JsEnv) -> None:
    assert env.run("""
        const h = new Headers([["a", "1"], ["A", "2"]]);
        const before = h.get("a");
        h.set("a", "3");
        const after = h.get("a");
        h.delete("A");
        return [before, after, h.has("a")];
    """) == ["1, 2", "3", False]


def test_iteration_is_sorted_lower_cased_and_keeps_set_cookie_apart(env: JsEnv) -> None:
    assert env.run("""
        const h = new Headers();
        h.append("Zeta", "z");
        h.append("Set-Cookie", "a=1; Path=/");
        h.append("alpha", "1");
        h.append("set-cookie", "b=2, with comma");
        h.append("ALPHA", "2");
        const seen = [];
        h.forEach((v, k, self) => seen.push([k, v, self === h]));
        return {
            entries: [...h], keys: [...h.keys()], values: [...h.values()], seen,
            get: h.get("set-cookie"), all: h.getSetCookie(), legacy: h.getAll("Set-Cookie"),
        };
    """) == {
        "entries": [
            ["alpha", "1, 2"],
            ["set-cookie", "a=1; Path=/"],
            ["set-cookie", "b=2, with comma"],
            ["zeta", "z"],
        ],
        "keys": ["alpha", "set-cookie", "set-cookie", "zeta"],
        "values": ["1, 2", "a=1; Path=/", "b=2, with comma", "z"],
        "seen": [
            ["alpha", "1, 2", True],
            ["set-cookie", "a=1; Path=/", True],
            ["set-cookie", "b=2, with comma", True],
            ["zeta", "z", True],
        ],
        "get": "a=1; Path=/, b=2, with comma",
        "all": ["a=1; Path=/", "b=2, with comma"],
        "legacy": ["a=1; Path=/", "b=2, with comma"],
    }


def test_iteration_is_a_snapshot(env: JsEnv) -> None:
    assert env.run("""
        const h = new Headers({ a: "1", b: "2" });
        const out = [];
        for (const [k] of h) { out.push(k); h.delete("b"); h.set("c", "3"); }
        return out;
    """) == ["a", "b"]


def test_init_forms(env: JsEnv) -> None:
    assert env.run("""
        const fromRecord = new Headers({ A: "1", b: 2 });
        const fromPairs = new Headers([["a", "1"], ["a", "2"]]);
        const fromMap = new Headers(new Map([["k", "v"]]));
        const fromHeaders = new Headers(fromPairs);
        fromPairs.set("a", "changed");
        return [[...fromRecord], [...fromPairs], [...fromMap], [...fromHeaders], [...new Headers(undefined)]];
    """) == [
        [["a", "1"], ["b", "2"]],
        [["a", "changed"]],
        [["k", "v"]],
        [["a", "1, 2"]],
        [],
    ]


def test_values_are_trimmed_and_may_hold_unicode(env: JsEnv) -> None:
    assert env.run(r"""
        const h = new Headers({ a: " \t padded \r\n", b: "", u: "café ☃" });
        return [h.get("a"), h.get("b"), h.get("u")];
    """) == ["padded", "", "café ☃"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ('new Headers({ "bad name": "x" })', "Invalid header name."),
        ('new Headers({ "": "x" })', "Invalid header name."),
        ('new Headers({ "é": "x" })', "Invalid header name."),
        ('new Headers({ a: "x\\ny" })', "Invalid header value."),
        ('new Headers({ a: "x\\0y" })', "Invalid header value."),
        ('new Headers().get("a:b")', "Invalid header name."),
        ('new Headers([["a"]])', "each inner sequence must have exactly two elements"),
        ('new Headers([["a", "b", "c"]])', "each inner sequence must have exactly two elements"),
        ('new Headers("a: b")', "is not of type"),
        ('new Headers().getAll("x")', 'getAll() can only be used with the header name "Set-Cookie".'),
    ],
)
def test_invalid_input_is_a_type_error(env: JsEnv, code: str, message: str) -> None:
    with pytest.raises(JsError) as caught:
        env.run(code)
    assert caught.value.name == "TypeError"
    assert message in caught.value.message


def test_immutable_headers_refuse_changes(env: JsEnv) -> None:
    env = JsEnv(["response"])
    result = env.run("""
        const out = [];
        for (const r of [Response.redirect("https://example.com/", 301), Response.error()]) {
            for (const op of [(h) => h.set("a", "1"), (h) => h.append("a", "1"),
                (h) => h.delete("location")]) {
                try { op(r.headers); out.push("changed"); } catch (e) { out.push(e.name + ": " + e.message); }
            }
        }
        const copy = new Headers(Response.redirect("https://example.com/").headers);
        copy.set("a", "1");
        return [out, [...copy]];
    """)
    assert result[0] == ["TypeError: Can't modify immutable headers."] * 6
    assert result[1] == [["a", "1"], ["location", "https://example.com/"]]


def test_string_tag_and_iterator_identity(env: JsEnv) -> None:
    assert env.run("""
        return [Object.prototype.toString.call(new Headers()),
                Headers.prototype[Symbol.iterator] === Headers.prototype.entries,
                JSON.stringify(new Headers({ a: "1" }))];
    """) == ["[object Headers]", True, "{}"]
