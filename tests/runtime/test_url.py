"""URL and URLSearchParams (web/url.js) beyond the WPT data: searchParams kept in sync with the URL,
the URLSearchParams constructor forms, form encoding, iteration, errors, and the lazy idna path."""

from __future__ import annotations

import json

import pytest

from tests.runtime.jsenv import JsEnv, JsError


@pytest.fixture(scope="module")
def env() -> JsEnv:
    return JsEnv(["url"], lazy=["idna"])


def test_search_params_follow_the_url(env: JsEnv) -> None:
    assert env.run("""
        const url = new URL("https://example.com/p?a=1&b=2#top");
        const params = url.searchParams;
        const seen = [params.get("a")];
        url.search = "?x=9&y=%20z+w";
        seen.push(params === url.searchParams, params.get("x"), params.get("y"), params.get("a"));
        url.href = "https://other.example/?only=1";
        seen.push(params.get("only"), params.size);
        url.search = "";
        seen.push(params.size, url.href);
        return seen;
    """) == ["1", True, "9", " z w", None, "1", 1, 0, "https://other.example/"]


def test_url_follows_its_search_params(env: JsEnv) -> None:
    assert env.run("""
        const url = new URL("https://example.com/p?a=1#top");
        const params = url.searchParams;
        params.append("b", "x y");
        const hrefs = [url.href];
        params.set("a", "é&=");
        hrefs.push(url.search);
        params.delete("a");
        params.delete("b");
        hrefs.push(url.href, url.search);
        params.append("c", "");
        hrefs.push(url.href);
        return hrefs;
    """) == [
        "https://example.com/p?a=1&b=x+y#top",
        "?a=%C3%A9%26%3D&b=x+y",
        "https://example.com/p#top",
        "",
        "https://example.com/p?c=#top",
    ]


def test_constructor_forms(env: JsEnv) -> None:
    assert env.run("""
        const fromRecord = new URLSearchParams({ a: "1", b: "two words", "é": "ü" });
        const fromPairs = new URLSearchParams([["a", "1"], ["a", 2], ["b", null]]);
        const fromString = new URLSearchParams("?a=1&&b=%41+b&c&=d&e=");
        const fromParams = new URLSearchParams(fromPairs);
        fromPairs.append("late", "x");
        const fromIterable = new URLSearchParams(new Map([["k", "v"]]));
        return [
          fromRecord.toString(), fromPairs.getAll("a"), fromPairs.get("b"),
          [...fromString], fromParams.toString(), fromIterable.toString(),
          new URLSearchParams().toString(), new URLSearchParams(undefined).size,
          new URLSearchParams(null).toString(),
        ];
    """) == [
        "a=1&b=two+words&%C3%A9=%C3%BC",
        ["1", "2"],
        "null",
        [["a", "1"], ["b", "A b"], ["c", ""], ["", "d"], ["e", ""]],
        "a=1&a=2&b=null",
        "k=v",
        "",
        0,
        "null=",
    ]


def test_constructor_rejects_bad_pairs(env: JsEnv) -> None:
    for init in ('[["a", "1", "2"]]', '[["a"]]', '["ab"]', "[1]"):
        with pytest.raises(JsError) as error:
            env.run(f"new URLSearchParams({init})")
        assert error.value.name == "TypeError"


def test_record_with_duplicate_keys_after_usv_conversion_keeps_first_position_and_last_value(
    env: JsEnv,
) -> None:
    assert env.run(r"""
        return [...new URLSearchParams({ "\uD835x": "1", xx: "2", "\uD83Dx": "3" })];
    """) == [["\ufffdx", "3"], ["xx", "2"]]


def test_plus_and_percent_twenty(env: JsEnv) -> None:
    assert env.run("""
        const params = new URLSearchParams("a=b+c%20d%2B&plus=%2B+");
        const url = new URL("https://example.com/?q=a+b%20c");
        const out = [params.get("a"), params.get("plus"), url.searchParams.get("q"), url.search];
        params.set("a", "x y+z");
        out.push(params.toString());
        url.searchParams.set("q", "a b");
        out.push(url.search);
        url.search = "q=a b";
        out.push(url.search, url.searchParams.get("q"));
        return out;
    """) == ["b c d+", "+ ", "a b c", "?q=a+b%20c", "a=x+y%2Bz&plus=%2B+", "?q=a+b", "?q=a%20b", "a b"]


def test_form_encoding_of_every_ascii_character(env: JsEnv) -> None:
    # application/x-www-form-urlencoded leaves only *-._ and alphanumerics as they are.
    encoded = env.run("""
        let s = "";
        for (let c = 0; c < 128; c++) s += String.fromCharCode(c);
        return new URLSearchParams({ k: s + "\\u00e9\\ud83d\\ude00\\ud800" }).toString();
    """)
    expected = "".join(
        "+" if c == 32 else chr(c) if chr(c).isalnum() or chr(c) in "*-._" else f"%{c:02X}"
        for c in range(128)
    )
    assert encoded == "k=" + expected + "%C3%A9%F0%9F%98%80%EF%BF%BD"


def test_percent_decoding_replaces_invalid_utf8(env: JsEnv) -> None:
    assert env.run("""
        const p = new URLSearchParams("a=%zz&b=%FF&c=%C3%28&d=%E2%82&e=%F0%9F%98%80%&f=100%&g=%e2%82%ac%41%");
        return [...p.values()];
    """) == ["%zz", "\ufffd", "\ufffd(", "\ufffd", "\U0001f600%", "100%", "€A%"]


def test_sort_is_stable_and_by_code_units(env: JsEnv) -> None:
    assert (
        env.run(r"""
        const p = new URLSearchParams("z=1&a=2&z=0&a=1&%F0%9F%8C%88=rainbow&%EF%AC%83=ffi&B=upper");
        p.sort();
        return [...p.keys()].join(",") + " " + p.getAll("a").join("") + p.getAll("z").join("");
    """)
        == "B,a,a,z,z,\U0001f308,\ufb03 2110"
    )


def test_iteration_and_live_lists(env: JsEnv) -> None:
    assert env.run("""
        const p = new URLSearchParams("a=1&b=2");
        const seen = [];
        for (const [k, v] of p) {
          seen.push(k + v);
          if (k === "a") p.append("c", "3");
        }
        const each = [];
        p.forEach(function (value, key, object) {
          each.push([key, value, object === p, this.tag]);
        }, { tag: "t" });
        return [seen, [...p.keys()], [...p.values()], [...p.entries()], each, p.size,
          Object.prototype.toString.call(p), Object.prototype.toString.call(new URL("a:b")),
          URLSearchParams.prototype[Symbol.iterator] === URLSearchParams.prototype.entries];
    """) == [
        ["a1", "b2", "c3"],
        ["a", "b", "c"],
        ["1", "2", "3"],
        [["a", "1"], ["b", "2"], ["c", "3"]],
        [["a", "1", True, "t"], ["b", "2", True, "t"], ["c", "3", True, "t"]],
        3,
        "[object URLSearchParams]",
        "[object URL]",
        True,
    ]


def test_has_and_delete_with_a_value(env: JsEnv) -> None:
    assert env.run("""
        const p = new URLSearchParams("a=1&a=2&b=1");
        const out = [p.has("a"), p.has("a", "2"), p.has("a", "3"), p.has("b", undefined)];
        p.delete("a", "1");
        out.push(p.toString());
        p.delete("a", undefined);
        out.push(p.toString());
        p.set("b", "x");
        p.append("b", "y");
        p.set("b", "z");
        out.push(p.toString());
        return out;
    """) == [True, True, False, True, "a=2&b=1", "b=1", "b=z"]


def test_can_parse_and_parse(env: JsEnv) -> None:
    assert env.run("""
        const parsed = URL.parse("/x?y", "https://example.com/a/b");
        return [
          URL.canParse("https://example.com"), URL.canParse("nope"), URL.canParse("/x", "https://example.com"),
          URL.canParse("/x", "nope"), URL.canParse("/x"), parsed instanceof URL, parsed.href,
          URL.parse("nope"),
          URL.parse("x", "bad base"),
        ];
    """) == [True, False, True, False, False, True, "https://example.com/x?y", None, None]


def test_errors_are_type_errors_with_the_input(env: JsEnv) -> None:
    cases = {
        'new URL("nope")': "Invalid URL: nope",
        'new URL("/x", "bad base")': "Invalid base URL: bad base",
        'new URL("https://exa mple.com")': "Invalid URL: https://exa mple.com",
        'new URL("https://example.com").href = "::"': "Invalid URL: ::",
        "new URL()": "URL: 1 argument required, but only 0 present.",
        'URL("https://example.com")': "Class constructor URL cannot be invoked without 'new'",
        'new URLSearchParams().append("a")': (
            "URLSearchParams.append: 2 arguments required, but only 1 present."
        ),
        "URLSearchParams.prototype.get.call({}, 'a')": "Illegal invocation",
        'Object.getOwnPropertyDescriptor(URL.prototype, "href").get.call({})': "Illegal invocation",
    }
    for code, message in cases.items():
        with pytest.raises(JsError) as error:
            env.run(code)
        assert (error.value.name, error.value.message) == ("TypeError", message), code


def test_serialization_and_normalization(env: JsEnv) -> None:
    assert env.run("""
        const url = new URL("HTTPS://User:Pa ss@EXAMPLE.com:443/a/./b/../c/%2e%2E/d?q=1 2#f g");
        return [url.href, url.origin, url.host, url.port, url.username, url.password, url.pathname,
          String(url), JSON.stringify({ url }), new URL("http://[::FFFF:1.2.3.4]:8080/").host,
          new URL("http://0x7f.1/").hostname, new URL("../x", "file:///C:/a/b").href];
    """) == [
        "https://User:Pa%20ss@example.com/a/d?q=1%202#f%20g",
        "https://example.com",
        "example.com",
        "",
        "User",
        "Pa%20ss",
        "/a/d",
        "https://User:Pa%20ss@example.com/a/d?q=1%202#f%20g",
        '{"url":"https://User:Pa%20ss@example.com/a/d?q=1%202#f%20g"}',
        "[::ffff:102:304]:8080",
        "127.0.0.1",
        "file:///C:/x",
    ]


def test_api_shape(env: JsEnv) -> None:
    assert env.run("""
        class MyURL extends URL { get twice() { return this.href + this.href; } }
        const mine = new MyURL("a:b");
        const desc = Object.getOwnPropertyDescriptor(URL.prototype, "href");
        return [mine.twice, mine instanceof URL, URL.length, URLSearchParams.length,
          typeof desc.get, typeof desc.set, desc.enumerable, Object.keys(globalThis).includes("URL")];
    """) == ["a:ba:b", True, 1, 0, "function", "function", True, False]


SIMPLE_URLS = [
    "https://example.com",
    "HTTP://EXAMPLE.COM:80/A/B?C=D#E",
    "http://example.com:0080/",
    "https://example.com:443",
    "http://example.com:65535/",
    "http://example.com:65536/",
    "http://example.com:99999/",
    "http://example.com:/",
    "http://0x7f.1/",
    "http://1.2.3.4.5/",
    "http://1.2.3/",
    "http://999.2.3.4/",
    "http://example.com./x",
    "http://a..b/",
    "http://example.com/.well-known/x",
    "http://example.com/a/./b",
    "http://example.com/a/../b",
    "http://example.com/a/b/..",
    "http://example.com/%2e/",
    "http://example.com/a?b'c",
    "http://example.com/a?b`c#d`e",
    "http://example.com/?#",
    "http://example.com/a#b#c",
    "https://xn--nxasmq6b.com/",
    "http://example.com/~user/(x)*!$&'+,;=:@",
    "http://example.com/a|b^c",
    "http://10.0.0.1:8080/api",
    "https://example.com/a/b/" + "c" * 100,
    "http://-.~_/",
    "http://example.com/?q=a+b&c=%20",
    "https://user@example.com/",
    "wss://example.com/chat",
]


def test_the_simple_url_path_agrees_with_the_parser(env: JsEnv) -> None:
    # A leading space (which the parser trims) keeps an input off the regex path for common URLs.
    fields = """
        const fields = (input) => {
          try {
            const u = new URL(input);
            return [u.href, u.origin, u.host, u.hostname, u.port, u.pathname, u.search, u.hash,
              [...u.searchParams]];
          } catch (e) { return e.name; }
        };
    """
    inputs = json.dumps(json.dumps(SIMPLE_URLS))
    results = env.run(
        f"{fields} return JSON.parse({inputs}).map((input) => [fields(input), fields(' ' + input)]);"
    )
    for url, (fast, general) in zip(SIMPLE_URLS, results, strict=True):
        assert fast == general, url


def test_ascii_hosts_do_not_need_idna() -> None:
    env = JsEnv(["url"])
    assert env.run("""
        const url = new URL("https://Example.COM:8443/x");
        return [url.host, new URL("http://xn--nxasmq6b.example/").host, new URL("sc://münchen/").host];
    """) == ["example.com:8443", "xn--nxasmq6b.example", "m%C3%BCnchen"]
    assert json.loads(env.entry("take"))["missing"] == []


def test_a_non_ascii_host_asks_for_idna() -> None:
    env = JsEnv(["url"])
    with pytest.raises(JsError) as error:
        env.run('new URL("https://münchen.de/")')
    assert error.value.name == "TypeError" and "idna" in error.value.message
    assert json.loads(env.entry("take"))["missing"] == ["idna"]
    env.load_lazy("idna")
    assert env.run('return new URL("https://münchen.de/").href') == "https://xn--mnchen-3ya.de/"


def test_idna_processing(env: JsEnv) -> None:
    assert env.run("""
        const host = (h) => {
          try { return new URL("https://" + h + "/").host; } catch (e) { return e.name; }
        };
        return ["B\\u00fccher.example", "fa\\u00df.de",
          "\\uff25\\uff38\\uff21\\uff2d\\uff30\\uff2c\\uff25\\u3002com", "xn--bcher-kva.x",
          "ab\\u00ADc.example", "\\u03c3\\u03c2.gr",
          "\\u0627\\u0644\\u0639\\u0631\\u0628\\u064a\\u0629.example", "a\\u0627.example", "xn--a.\\u00e9",
          "\\u0915\\u094d\\u200d\\u0937.in", "a\\u200db.example", "\\ud83d\\udca9.la", "\\u0301a.example",
          "\\u0903a.example"].map(host);
    """) == [
        "xn--bcher-kva.example",
        "xn--fa-hia.de",
        "example.com",
        "xn--bcher-kva.x",
        "abc.example",
        "xn--3xab.gr",
        "xn--mgbcd4a2b0d2b.example",
        "TypeError",
        "TypeError",
        "xn--11b2ezcw70k.in",
        "TypeError",
        "xn--ls8h.la",
        "TypeError",
        "TypeError",
    ]


def test_memory_budget() -> None:
    """The isolate cost of url.js (in nearly every isolate) and of idna.js (lazy); a guard against growth."""
    empty = JsEnv().memory()
    url = JsEnv(["url"]).memory() - empty
    both = JsEnv(["url"], lazy=["idna"]).memory() - empty
    print(f"\nisolate memory: url.js {url} bytes, url.js + idna.js {both} bytes")
    assert url < 90_000
    assert both - url < 45_000


def test_replaced_globals_do_not_break_url() -> None:
    env = JsEnv(["url"], lazy=["idna"])
    assert env.run("""
        const { TypeError: OriginalTypeError } = globalThis;
        Object.assign(globalThis, { TypeError: function () {}, Map: null, WeakMap: null, parseInt: () => 0,
          encodeURIComponent: null, decodeURIComponent: null });
        Object.assign = null;
        const url = new URL("https://EXAMPLE.com/a b?q=%41%zz#é");
        url.href = "http://0x7f.1/x?y=1";
        let error;
        try { new URL("nope"); } catch (e) { error = e; }
        return [url.href, new URL("https://ü.example/").host, [...new URLSearchParams({ a: "%41" })],
          new URL("https://a/?q=%41%zz").searchParams.get("q"), error instanceof OriginalTypeError];
    """) == ["http://127.0.0.1/x?y=1", "xn--tda.example", [["a", "%41"]], "A%zz", True]
