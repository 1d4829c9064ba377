"""FormData (web/formdata.js) on the real engine; serialization and parsing are in test_web_body.py."""

from __future__ import annotations

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["formdata"])


def test_append_get_get_all_has_delete(env: JsEnv) -> None:
    assert env.run("""
        const fd = new FormData();
        fd.append("a", "1");
        fd.append("a", 2);
        fd.append("b", "x");
        const out = [fd.get("a"), fd.getAll("a"), fd.has("b"), fd.get("none"), fd.getAll("none")];
        fd.delete("a");
        out.push([...fd], fd.has("a"));
        return out;
    """) == ["1", ["1", "2"], True, None, [], [["b", "x"]], False]


def test_set_replaces_the_first_and_drops_the_rest(env: JsEnv) -> None:
    assert env.run("""
        const fd = new FormData();
        for (const [k, v] of [["a", "1"], ["b", "2"], ["a", "3"], ["c", "4"], ["a", "5"]]) fd.append(k, v);
        fd.set("a", "new");
        fd.set("z", "end");
        return [...fd];
    """) == [["a", "new"], ["b", "2"], ["c", "4"], ["z", "end"]]


def test_blob_values_become_files(env: JsEnv) -> None:
    assert env.run("""
        const fd = new FormData();
        const file = new File(["f"], "orig.txt", { type: "text/plain", lastModified: 5 });
        fd.append("blob", new Blob(["b"], { type: "image/png" }));
        fd.append("named", new Blob(["b"]), "given.bin");
        fd.append("file", file);
        fd.append("renamed", file, "other.txt");
        const v = (k) => { const f = fd.get(k); return [f instanceof File, f.name, f.type, f.size]; };
        return [v("blob"), v("named"), v("file"), v("renamed"), fd.get("file") === file,
            fd.get("renamed").lastModified];
    """) == [
        [True, "blob", "image/png", 1],
        [True, "given.bin", "", 1],
        [True, "orig.txt", "text/plain", 1],
        [True, "other.txt", "text/plain", 1],
        True,
        5,
    ]


def test_iteration_and_for_each(env: JsEnv) -> None:
    assert env.run("""
        const fd = new FormData();
        fd.append("k1", "v1");
        fd.append("k2", "v2");
        const seen = [];
        fd.forEach((v, k, self) => seen.push([k, v, self === fd]));
        return [[...fd.keys()], [...fd.values()], [...fd.entries()], seen, Object.prototype.toString.call(fd),
                FormData.prototype[Symbol.iterator] === FormData.prototype.entries];
    """) == [
        ["k1", "k2"],
        ["v1", "v2"],
        [["k1", "v1"], ["k2", "v2"]],
        [["k1", "v1", True], ["k2", "v2", True]],
        "[object FormData]",
        True,
    ]


def test_names_and_values_are_usv_strings(env: JsEnv) -> None:
    assert env.run("const fd = new FormData(); fd.append('\\ud800', '\\udc00'); return [...fd];") == [
        ["\ufffd", "\ufffd"]
    ]


def test_errors(env: JsEnv) -> None:
    with pytest.raises(JsError, match="parameter 2 is not of type 'Blob'"):
        env.run("new FormData().append('a', 'string', 'filename')")
    with pytest.raises(JsError, match="not of type 'HTMLFormElement'"):
        env.run("new FormData({})")
