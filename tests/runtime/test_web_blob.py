"""Blob and File (web/blob.js) on the real engine."""

from __future__ import annotations

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["blob", "streams"])


def test_parts_of_every_kind(env: JsEnv) -> None:
    assert env.run("""
        const inner = new Blob(["in"]);
        const b = new Blob(["é", new Uint8Array([0, 255]), new Uint16Array([0x6968]).buffer,
            new DataView(new ArrayBuffer(1)), inner, 7],
                           { type: "Text/HTML;Charset=UTF-8" });
        return [b.size, b.type, [...await b.bytes()], Object.prototype.toString.call(b)];
    """) == [
        10,
        "text/html;charset=utf-8",
        [195, 169, 0, 255, 104, 105, 0, 105, 110, 55],
        "[object Blob]",
    ]


def test_read_methods_and_stream(env: JsEnv) -> None:
    assert env.run("""
        const b = new Blob(["\\ufeffhé😀"]);
        const chunks = [];
        for await (const c of b.stream()) chunks.push(...c);
        return [await b.text(), (await b.arrayBuffer()).byteLength, chunks.length, b.size];
    """) == ["hé😀", 10, 10, 10]


def test_slice(env: JsEnv) -> None:
    assert env.run("""
        const b = new Blob(["0123456789"], { type: "text/plain" });
        const s = (...a) => b.slice(...a);
        return [await s(2, 5).text(), await s(-3).text(), await s(5, 2).text(), await s(0, 100).text(),
                await s(-100, -8).text(), s().type, s(0, 1, "X/Y").type, s(1).size];
    """) == ["234", "789", "", "0123456789", "01", "", "x/y", 9]


def test_endings_and_bad_types(env: JsEnv) -> None:
    assert env.run("""
        return [await new Blob(["a\\r\\nb\\rc\\n"], { endings: "native" }).text(),
                await new Blob(["a\\r\\n"]).text(), new Blob([], { type: "bad\\u00e9" }).type];
    """) == ["a\nb\nc\n", "a\r\n", ""]
    with pytest.raises(JsError, match="cannot be converted to a sequence"):
        env.run("new Blob('string')")
    with pytest.raises(JsError, match="not a valid enum value"):
        env.run("new Blob([], { endings: 'other' })")


def test_file(env: JsEnv) -> None:
    assert env.run("""
        const f = new File(["data"], "name.txt", { type: "text/plain", lastModified: 1234 });
        const now = new File([], "x");
        return [f.name, f.type, f.size, f.lastModified, f instanceof Blob, await f.text(),
                Math.abs(now.lastModified - Date.now()) < 1000, Object.prototype.toString.call(f),
                    f.slice(1).name];
    """) == ["name.txt", "text/plain", 4, 1234, True, "data", True, "[object File]", None]
    with pytest.raises(JsError, match="2 arguments required, but only 1 present"):
        env.run("new File([])")


def test_lone_surrogates_in_parts_become_replacement_characters(env: JsEnv) -> None:
    assert env.run("return [...await new Blob(['\\ud800']).bytes()];") == [239, 191, 189]
