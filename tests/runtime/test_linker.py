"""The linker and js/modules.js on the real engine: ES module semantics after linking, errors at link
time, and positions (stack frames) that name the tenant's modules and lines.

Test modules report what they see through `globalThis.__out` (tests may use globals; z0 must not)."""

from __future__ import annotations

import json
import textwrap
import time
from typing import Any

import pytest
import quickjs

from z0.errors import InvalidModule
from z0.registry import Module
from z0.runtime.jsapi import build_prelude, files_named
from z0.runtime.linker import LinkedScript, link

MAIN_EXPORT = "export default { fetch() {} };\n"


def js(name: str, source: str, *, main: bool = False) -> Module:
    """A JavaScript module; `main` appends a default export with a fetch handler."""
    text = textwrap.dedent(source).lstrip("\n") + (MAIN_EXPORT if main else "")
    return Module(name, "application/javascript+module", text.encode())


class Isolate:
    """host.js + modules.js; the linked script is evaluated after as many newlines as the prelude
    has lines (as the executor does), so that frames on those lines are z0's own."""

    def __init__(self) -> None:
        prelude = build_prelude(files_named([]))
        # Until host.js passes the line table on: start(defs, main, lines) -> instantiate(..., lines).
        if "start(defs, main) {" in prelude:
            prelude = prelude.replace("start(defs, main) {", "start(defs, main, lines) {").replace(
                "instantiate(defs, main)", "instantiate(defs, main, lines)"
            )
        self.line_offset = prelude.count("\n") + 1
        self.ctx = quickjs.Context()
        self.entry = self.ctx.eval(prelude)
        self.entry("setup", json.dumps({"env": {}, "lineOffset": self.line_offset}))

    def boot(self, linked: LinkedScript) -> dict[str, Any]:
        self.entry("boot", self.ctx.eval("\n" * self.line_offset + linked.source))
        while self.ctx.execute_pending_job():
            pass
        state: dict[str, Any] = json.loads(self.entry("bootState"))
        return state

    def value(self, expression: str) -> Any:
        raw = self.ctx.eval(f"JSON.stringify({expression})")
        return None if raw is None else json.loads(raw)


def run(*modules: Module, main: str = "index.js") -> tuple[dict[str, Any], Any]:
    isolate = Isolate()
    state = isolate.boot(link(modules, main))
    return state, isolate.value("globalThis.__out")


def out_of(*modules: Module) -> Any:
    state, out = run(*modules)
    assert state["state"] == "ok", state
    return out


# --- imports and exports


def test_boots_with_the_default_export_as_handlers() -> None:
    state, _ = run(js("index.js", "export default { fetch() {}, scheduled() {} };"))
    assert state == {"state": "ok", "handlers": ["fetch", "scheduled"], "error": None, "logs": []}


def test_every_import_form() -> None:
    index = """
        import d, { a, b as c, 'x-y' as xy } from './lib/a.js';
        import * as ns from './lib/a.js';
        import d2, * as ns2 from './lib/a.js';
        import './lib/side.js';
        import util from 'lib/util.js';
        const side = globalThis.__side;
        globalThis.__out = { d, a, c, xy, keys: Object.keys(ns), same: ns === ns2, d2, side, util };
    """
    out = out_of(
        js("index.js", index, main=True),
        js(
            "lib/a.js",
            "export default 'D';\nexport const a = 1, b = 2;\nconst q = 3;\nexport { q as 'x-y' };\n",
        ),
        js("lib/side.js", "globalThis.__side = 'ran';\n"),
        js("lib/util.js", "export default 'bare name';\n"),
    )
    assert out == {
        "d": "D",
        "a": 1,
        "c": 2,
        "xy": 3,
        "keys": ["a", "b", "default", "x-y"],
        "same": True,
        "d2": "D",
        "side": "ran",
        "util": "bare name",
    }


def test_every_export_form() -> None:
    index = """
        import * as e from './e.js';
        import fn from './fn.js'; import cls from './cls.js'; import arrow from './arrow.js';
        import named from './named.js'; import Named from './namedclass.js';
        import asyncArrow from './async.js';
        globalThis.__out = {
          keys: Object.keys(e),
          values: [e.c, e.l, e.v, e.f(), new e.C().k, e.p, e.r, e.s, e.alias, e.str, e.gen().next().value],
          fn: [fn.name, fn()], cls: [cls.name, new cls().k], arrow: [arrow.name, arrow()],
          names: [named.name, Named.name, asyncArrow.name, typeof e.af], def: e.default,
        };
    """
    e = """
        export const c = 1;
        export let l = 2;
        export var v = 3;
        export function f() { return 4; }
        export class C { k = 5; }
        export const { p, q: [r], s = 8 } = { p: 6, q: [7] };
        const hidden = 9;
        export { hidden as alias, hidden as 'str' };
        export async function af() {}
        export function* gen() { yield 10; }
        export default 1 + 1;
    """
    out = out_of(
        js("index.js", index, main=True),
        js("e.js", e),
        js("fn.js", "export default function () { return 'fn'; }\n"),
        js("cls.js", "export default class { k = 'cls'; }\n"),
        js("arrow.js", "export default () => 'arrow';\n"),
        js("named.js", "export default function named() {}\n"),
        js("namedclass.js", "export default class Named {}\n"),
        js("async.js", "export default async () => {};\n"),
    )
    assert out["keys"] == ["C", "af", "alias", "c", "default", "f", "gen", "l", "p", "r", "s", "str", "v"]
    assert out["values"] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10]
    assert out["fn"] == ["default", "fn"]
    assert out["cls"] == ["default", "cls"]
    assert out["arrow"] == ["default", "arrow"]
    assert out["names"] == ["named", "Named", "default", "function"]
    assert out["def"] == 2


def test_reexports() -> None:
    index = """
        import { b, ns, default as d, own, z } from './re.js';
        import * as re from './re.js';
        globalThis.__out = { b, nsKeys: Object.keys(ns), d, own, z, keys: Object.keys(re) };
    """
    re_js = """
        export { a as b } from './a.js';
        export * as ns from './a.js';
        export { a as default } from './a.js';
        import { a } from './a.js';
        export { a as own };
        export * from './star.js';
    """
    out = out_of(
        js("index.js", index, main=True),
        js("re.js", re_js),
        js("a.js", "export const a = 'A';\nexport default 'not re-exported by a star';\n"),
        js("star.js", "export const z = 'Z';\nexport default 'star default';\n"),
    )
    assert out == {
        "b": "A",
        "nsKeys": ["a", "default"],
        "d": "A",
        "own": "A",
        "z": "Z",
        "keys": ["b", "default", "ns", "own", "z"],
    }


def test_star_exports_leave_out_ambiguous_names() -> None:
    modules = [
        js("one.js", "export const x = 1, only1 = 1;\nexport { shared } from './shared.js';\n"),
        js("two.js", "export const x = 2;\nexport * from './shared.js';\n"),
        js("shared.js", "export const shared = 's';\n"),
        js("both.js", "export * from './one.js';\nexport * from './two.js';\n"),
    ]
    index = "import * as b from './both.js';\nglobalThis.__out = Object.keys(b);\n"
    assert out_of(js("index.js", index, main=True), *modules) == ["only1", "shared"]
    with pytest.raises(InvalidModule, match=r"index\.js:1: .*ambiguous export named 'x'"):
        link([js("index.js", "import { x } from './both.js';\n", main=True), *modules], "index.js")


def test_namespace_objects() -> None:
    index = """
        import * as ns from './a.js';
        let refused = false;
        try { ns.extra = 1; } catch (e) { refused = e instanceof TypeError; }
        globalThis.__out = {
          proto: Object.getPrototypeOf(ns), tag: ns[Symbol.toStringTag], extensible: Object.isExtensible(ns),
          refused, keys: Reflect.ownKeys(ns).map(String),
        };
    """
    out = out_of(js("index.js", index, main=True), js("a.js", "export const b = 1, a = 2, Z = 3;\n"))
    assert out == {
        "proto": None,
        "tag": "Module",
        "extensible": False,
        "refused": True,
        "keys": ["Z", "a", "b", "Symbol(Symbol.toStringTag)"],
    }


def test_live_bindings() -> None:
    index = """
        import { n, inc } from './counter.js';
        import * as c from './counter.js';
        const before = n;
        inc(); inc();
        globalThis.__out = [before, n, c.n];
    """
    counter = "export let n = 0;\nexport function inc() { n++; }\n"
    assert out_of(js("index.js", index, main=True), js("counter.js", counter)) == [0, 2, 2]


def test_shadowed_names_are_left_alone() -> None:
    index = """
        import { a } from './a.js';
        function param(a) { return a; }
        function local() { { let a = 'block'; } if (true) { var a = 'var'; } return a; }
        function hoisted() { const r = typeof a; var a = 1; return r; }
        function decl() { function a() { return 'fn'; } return a(); }
        function klass() { class a { static k = 'class'; } return a.k; }
        function caught() { try { throw 'caught'; } catch (a) { return a; } }
        function destructured({ a }, [b = a]) { return [a, b]; }
        const arrow = (a) => a, single = a => a;
        function loops() {
          const r = [];
          for (let a = 0; a < 1; a++) r.push(a);
          for (const a of ['of']) r.push(a);
          return r;
        }
        const named = function a() { return typeof a; };
        function sw(x) { switch (x) { case 1: let a = 'case'; return a; } }
        function defaults(x = a) { let a = 'inner'; return x; }
        class K { static { var a = 'static'; K.s = a; } m() { return a; } }
        const outer = () => a;
        globalThis.__out = [
          param('p'), local(), hoisted(), decl(), klass(), caught(), destructured({ a: 'd' }, []),
          arrow('ar'), single('si'), loops(), named(), sw(1), defaults(), K.s, new K().m(), outer(), a,
        ];
    """
    out = out_of(js("index.js", index, main=True), js("a.js", "export const a = 'import';\n"))
    assert out == [
        "p",
        "var",
        "undefined",
        "fn",
        "class",
        "caught",
        ["d", "d"],
        "ar",
        "si",
        [0, "of"],
        "function",
        "case",
        "import",
        "static",
        "import",
        "import",
        "import",
    ]


def test_shorthand_typeof_calls_and_this() -> None:
    index = """
        import { a, f } from './a.js';
        import * as ns from './a.js';
        const o = { a, ns };
        const tagged = f`x`;
        globalThis.__out = {
          o: o.a, typeofA: typeof a, typeofNs: typeof ns, call: f(), optional: f?.(), tagged, method: ns.f(),
        };
    """
    a = "export const a = 1;\nexport function f() { return this === undefined; }\n"
    assert out_of(js("index.js", index, main=True), js("a.js", a)) == {
        "o": 1,
        "typeofA": "number",
        "typeofNs": "object",
        "call": True,
        "optional": True,
        "tagged": True,
        "method": False,
    }


@pytest.mark.parametrize(
    "statement",
    ["a = 2;", "a++;", "a += 1;", "[a] = [1];", "({ a } = { a: 1 });", "for (a of [1]);", "({ b: a } = {});"],
)
def test_assigning_to_an_import_is_refused(statement: str) -> None:
    index = f"import {{ a }} from './a.js';\n\n{statement}\n" + MAIN_EXPORT
    with pytest.raises(
        InvalidModule, match=r"index\.js:3: TypeError: assignment to the imported binding 'a'"
    ):
        link([js("index.js", index), js("a.js", "export let a;")], "index.js")


def test_redeclaring_an_import_is_refused() -> None:
    with pytest.raises(
        InvalidModule, match=r"index\.js:1: SyntaxError: identifier 'a' has already been declared"
    ):
        link(
            [js("index.js", "import { a } from './a.js';\nlet a;\n"), js("a.js", "export let a;")], "index.js"
        )


def test_missing_and_duplicate_exports_are_refused() -> None:
    with pytest.raises(
        InvalidModule, match=r"index\.js:2: SyntaxError: the module './a\.js' \(a\.js\) has no export"
    ):
        link([js("index.js", "// 1\nimport { b } from './a.js';\n"), js("a.js", "export let a;")], "index.js")
    with pytest.raises(InvalidModule, match=r"a\.js:1: SyntaxError: export 'nope' is not defined"):
        link([js("index.js", "import './a.js';\n"), js("a.js", "export { nope };")], "index.js")
    with pytest.raises(InvalidModule, match=r"duplicate export of 'a'"):
        link([js("index.js", "export const a = 1;\nexport { a };\n")], "index.js")


def test_a_top_level_return_is_refused() -> None:
    with pytest.raises(InvalidModule, match=r"index\.js:2: SyntaxError: return outside of a function"):
        link([js("index.js", "const a = 1;\nreturn;\n", main=True)], "index.js")


# --- graphs: order, cycles, top-level await, dynamic import


def test_evaluation_order_is_depth_first_post_order() -> None:
    log = "(globalThis.__out ||= []).push"
    assert out_of(
        js("index.js", f"import './a.js';\nimport './b.js';\n{log}('index');\n", main=True),
        js("a.js", f"import './c.js';\n{log}('a');\n"),
        js("b.js", f"import './c.js';\nimport './a.js';\n{log}('b');\n"),
        js("c.js", f"{log}('c');\n"),
    ) == ["c", "a", "b", "index"]


def test_cycles_reach_hoisted_functions_and_see_live_values() -> None:
    # index -> a -> b -> a: b runs first and may call a's hoisted functions, not read its consts.
    a = """
        import { fromB } from './b.js';
        export function hoisted() { return 'hoisted in a'; }
        export default function () { return 'default of a'; }
        export const value = 'a value';
        export const seen = fromB;
    """
    b = """
        import fallback, { hoisted, value } from './a.js';
        let early;
        try { value; } catch (e) { early = e.name; }
        export const fromB = [hoisted(), fallback(), early];
        export const late = () => value;
    """
    index = (
        "import { seen } from './a.js';\nimport { late } from './b.js';\nglobalThis.__out = [seen, late()];\n"
    )
    assert out_of(js("index.js", index, main=True), js("a.js", a), js("b.js", b)) == [
        ["hoisted in a", "default of a", "ReferenceError"],
        "a value",
    ]


def test_top_level_await() -> None:
    slow = """
        (globalThis.__order ||= []).push('slow start');
        export const v = await Promise.resolve('awaited');
        for await (const x of [Promise.resolve(1)]) __order.push('for await ' + x);
    """
    index = """
        import { v } from './slow.js';
        import { w } from './sync.js';
        globalThis.__out = [v, w, __order];
    """
    assert out_of(
        js("index.js", index, main=True),
        js("slow.js", slow),
        js("sync.js", "(globalThis.__order ||= []).push('sync');\nexport const w = 'w';\n"),
    ) == ["awaited", "w", ["slow start", "sync", "for await 1"]]


def test_dynamic_import() -> None:
    index = """
        const lit = await import('./lib/x.js');
        const name = 'x';
        const computed = await import(`./lib/${name}.js`);
        const text = await import('./t.txt');
        let error;
        try { await import('./lib/' + 'nope.js'); } catch (e) { error = e.message; }
        const nested = await lit.nested();
        globalThis.__out = { x: lit.x, same: lit === computed, text: text.default, error, nested };
    """
    x = "export const x = 'x';\nexport const nested = async () => (await import('../t.txt')).default;\n"
    assert out_of(
        js("index.js", index, main=True), js("lib/x.js", x), Module("t.txt", "text/plain", b"text!")
    ) == {
        "x": "x",
        "same": True,
        "text": "text!",
        "error": "Cannot find module './lib/nope.js' imported from index.js",
        "nested": "text!",
    }


def test_dynamic_import_of_a_missing_literal_is_refused_at_link_time() -> None:
    with pytest.raises(InvalidModule, match=r"index\.js:2: cannot import './gone\.js'"):
        link([js("index.js", "// 1\nconst m = import('./gone.js');\n")], "index.js")


def test_import_meta_url() -> None:
    index = "import { url } from './lib/util.js';\nglobalThis.__out = [import.meta.url, url];\n"
    util = "export const url = import.meta.url;\n"
    assert out_of(js("index.js", index, main=True), js("lib/util.js", util)) == [
        "file:///index.js",
        "file:///lib/util.js",
    ]


# --- text and data modules


def test_text_and_data_modules() -> None:
    data = bytes(range(256)) * 2 + b'"\\\n\r\0'
    text = 'héllo "wörld"\n\u2028\\ `${x}` 😀'
    index = """
        import text from './a.txt';
        import data from './b.bin';
        import * as ns from './b.bin';
        const bytes = Array.from(new Uint8Array(data));
        globalThis.__out = { text, isBuffer: data instanceof ArrayBuffer, bytes, same: ns.default === data };
    """
    out = out_of(
        js("index.js", index, main=True),
        Module("a.txt", "text/plain", text.encode()),
        Module("b.bin", "application/octet-stream", data),
        Module("index.js.map", "application/source-map", b"{}"),
    )
    assert out["text"] == text
    assert out["isBuffer"] is True
    assert bytes(out["bytes"]) == data
    assert out["same"] is True


# --- resolution errors


@pytest.mark.parametrize(
    ("specifier", "reason"),
    [
        ("./missing.js", "no uploaded module is named 'lib/missing.js'"),
        ("../../x.js", "no uploaded module is named 'x.js'"),
        ("node:buffer", "Node.js built-in modules are not available"),
        ("cloudflare:workers", "Cloudflare's built-in modules are not available"),
        ("./w.js.map", "'lib/w.js.map' is a source map"),
        ("lodash", "no uploaded module is named 'lodash'"),
    ],
)
def test_unresolvable_imports_name_module_line_and_uploads(specifier: str, reason: str) -> None:
    modules = [
        js("index.js", "import './lib/w.js';\n", main=True),
        js("lib/w.js", f"// line 1\n\nimport {{ x }} from '{specifier}';\n"),
        Module("lib/w.js.map", "application/source-map", b"{}"),
    ]
    with pytest.raises(InvalidModule) as caught:
        link(modules, "index.js")
    message = caught.value.message
    assert message.startswith(f"lib/w.js:3: cannot import '{specifier}': {reason}")
    assert "Uploaded: index.js (esm), lib/w.js (esm), lib/w.js.map (source-map)" in message


def test_main_module_must_be_javascript() -> None:
    with pytest.raises(InvalidModule, match=r"main module 'main\.js'"):
        link([js("index.js", MAIN_EXPORT)], "main.js")


# --- positions and stacks

B_JS = """
    // b

    export function fail(x) {
      return x.missing.property;
    }
    export const thrower = () => { throw new Error('boom'); };
"""

# Stands in for host.js's link object: runs lib/b.js's factory only, and keeps its export getters.
RAW_LINK = """({ start(defs) {
  const factory = defs["lib/b.js"].factory((getters) => { globalThis.__getters = getters; }, null, null);
  factory.next(); factory.next();
} })"""


def test_errors_name_module_and_line_in_js_and_python() -> None:
    index = """
        import { fail } from './lib/b.js';
        let stack = null; try { fail({}); } catch (e) { stack = e.stack; }
        globalThis.__out = stack;
    """
    linked = link([js("index.js", index, main=True), js("lib/b.js", B_JS)], "index.js")
    isolate = Isolate()
    assert isolate.boot(linked)["state"] == "ok"
    stack = isolate.value("globalThis.__out")
    # index.js:2 was rewritten (`fail` reads the namespace), and still maps to its own column.
    assert stack.splitlines()[:2] == ["    at fail (lib/b.js:4:10)", "    at <anonymous> (index.js:2:25)"]
    assert "<input>" not in stack

    # A raw QuickJS stack (a bare context, no prepareStackTrace) maps in Python.
    bare = quickjs.Context()
    bare.eval("\n" * 100 + linked.source)(bare.eval(RAW_LINK))
    raw = bare.eval("(() => { try { __getters.fail()({}); } catch (e) { return e.stack; } })()")
    assert raw.startswith("    at fail (<input>:")
    mapped = linked.map_stack(raw, 100).splitlines()
    assert mapped[:2] == ["    at fail (lib/b.js:4:10)", "    at <anonymous> (z0)"]
    b = next(span for span in linked.line_map if span.module == "lib/b.js")
    assert linked.position(b.first_line + 3, 10) == ("lib/b.js", 4, 10)


def test_map_stack_rewrites_positions_and_hides_z0s_lines() -> None:
    linked = link([js("index.js", "// 1\n// 2\nthrow 1;\n", main=True)], "index.js")
    first = linked.line_map[0].first_line
    stack = (
        f"TypeError: x\n    at f (<input>:{50 + first + 2}:1)\n    at g (<input>:7:3)\n    at <input>:51:1\n"
    )
    assert linked.map_stack(stack, 50) == "TypeError: x\n    at f (index.js:3:1)\n    at g (z0)\n    at z0\n"


def test_lines_are_counted_as_quickjs_counts_them() -> None:
    # CR LF; lone CRs (QuickJS skips one in a block comment unless it becomes LF); U+2028 in a string
    # (not a line for QuickJS) and between tokens (a line).
    b = "const a = 1;\r\n/* \r */ const s = '\u2028';\u2028const t = `x\ry`;\nnull.boom;\n"
    linked = link([js("index.js", "import './lib/b.js';", main=True), js("lib/b.js", b)], "index.js")
    state = Isolate().boot(linked)
    assert state["error"]["stack"].startswith("    at <anonymous> (lib/b.js:6:1)\n")
    assert "\r" not in linked.source


def test_position_of_wrapper_lines_and_first_line_columns() -> None:
    linked = link(
        [js("index.js", "export default { fetch() {} };\nx;\n"), js("b.js", "first();\n")], "index.js"
    )
    assert linked.position(1, 1) is None
    index, b = linked.line_map
    assert linked.position(index.first_line, index.first_column + 1) == ("index.js", 1, 1)
    assert linked.position(index.first_line, 1) is None
    assert linked.position(index.first_line + 1, 1) == ("index.js", 2, 1)
    assert linked.position(b.first_line, b.first_column + 3) == ("b.js", 1, 3)
    assert linked.position(b.first_line + b.line_count, 1) is None
    assert linked.source.split("\n")[b.first_line - 1][b.first_column :] == "first();"


def test_columns_map_exactly_through_rewrites() -> None:
    index = "import { a } from './a.js';\nconst x = a + a.b.c;\n" + MAIN_EXPORT
    linked = link([js("index.js", index), js("a.js", "export let a;")], "index.js")
    line = linked.line_map[0].first_line + 1
    at = linked.source.split("\n")[line - 1].index(".b.c")
    assert linked.position(line, at + 1) == ("index.js", 2, 16)
    assert linked.position(line, 1) == ("index.js", 2, 1)


def test_a_top_level_exception_names_its_module_and_line() -> None:
    state, _ = run(
        js("index.js", "import './lib/b.js';\n", main=True),
        js("lib/b.js", "const ok = 1;\n\nnull.boom;\n"),
    )
    assert state["state"] == "error"
    assert state["error"]["name"] == "TypeError"
    assert state["error"]["stack"].startswith("    at <anonymous> (lib/b.js:3:1)\n")


def test_a_tenant_prepare_stack_trace_replaces_z0s_and_can_be_restored() -> None:
    index = """
        import { thrower } from './lib/b.js';
        const z0s = Error.prepareStackTrace;
        Error.prepareStackTrace = (error, sites) => sites.length;
        let count; try { thrower(); } catch (e) { count = e.stack; }
        Error.prepareStackTrace = z0s;
        globalThis.__out = { count: typeof count, line: new Error('x').stack.split('\\n')[0] };
    """
    assert out_of(js("index.js", index, main=True), js("lib/b.js", B_JS)) == {
        "count": "number",
        "line": "    at <anonymous> (index.js:6:53)",
    }


# --- formats, strictness, names


def test_service_worker_scripts() -> None:
    script = """
        var sloppy = (function () { return this === globalThis; })();
        undeclared = 'global';
        addEventListener('fetch', (event) => event.respondWith(new Response('hi')));
    """
    linked = link([js("sw.js", script)], "sw.js", service_worker=True)
    assert linked.format == "service-worker"
    assert {"addEventListener", "respondWith", "Response"} <= linked.identifiers
    isolate = Isolate()
    assert isolate.boot(linked) == {"state": "ok", "handlers": ["fetch"], "error": None, "logs": []}
    assert isolate.value("globalThis.undeclared") == "global"
    assert linked.position(3, 1) == ("sw.js", 3, 1)


def test_modules_are_strict() -> None:
    state, _ = run(js("index.js", "undeclared = 1;\n", main=True))
    assert state["state"] == "error"
    assert state["error"]["name"] == "ReferenceError"
    assert "index.js:1:" in state["error"]["stack"]


def test_identifiers_and_names_that_look_like_z0s() -> None:
    index = """
        import { a } from './a.js';
        const __z0_link = 'mine', __z0_m0 = 'mine too';
        export default {
          async fetch(request) {
            const url = new URL(request.url);
            const reader = request.body.getReader();
            return new Response(request.headers);
          },
        };
        globalThis.__out = [a, __z0_link, __z0_m0];
    """
    linked = link([js("index.js", index), js("a.js", "export const a = 'a';\n")], "index.js")
    assert {"URL", "Response", "headers", "getReader", "fetch", "request", "url"} <= linked.identifiers
    assert "__z0x_link" in linked.source
    isolate = Isolate()
    assert isolate.boot(linked)["state"] == "ok"
    assert isolate.value("globalThis.__out") == ["a", "mine", "mine too"]


def test_removed_statements_keep_automatic_semicolons_and_a_hashbang_is_a_comment() -> None:
    # Without the `;` left in place of the export, `f\n(1)` would call f.
    index = "#!/usr/bin/env node\nconst f = () => 'f'\nlet r = f\nexport * from './a.js';\n(1)\n"
    index += "globalThis.__out = typeof r;\n"
    assert out_of(js("index.js", index, main=True), js("a.js", "export const a = 1;\n")) == "function"


def test_link_time_for_50_kb() -> None:
    lib = "".join(
        f"export function f{i}(a, {{ b }}, ...c) {{ const x = [a, b, c].map((v) => v ?? f{max(i - 1, 0)});"
        f" for (let j = 0; j < 3; j++) {{ if (x[j]) return x[j]; }} return helper(a); }}\n"
        for i in range(200)
    )
    index = "import * as lib from './lib.js';\nimport { helper } from './helper.js';\n" + "".join(
        f"export const v{i} = () => lib.f{i}(helper({i}), {{ b: {i} }});\n" for i in range(300)
    )
    modules = [
        js("index.js", index, main=True),
        js("lib.js", "import { helper } from './helper.js';\n" + lib),
        js("helper.js", "export const helper = (x) => x;\n"),
    ]
    size = sum(len(module.content) for module in modules)
    started = time.perf_counter()
    for _ in range(5):
        linked = link(modules, "index.js")
    elapsed = (time.perf_counter() - started) / 5
    print(f"\nlink: {size / 1024:.0f} KB in 3 modules, 2,400 rewritten references: {elapsed * 1000:.1f} ms")
    assert Isolate().boot(linked)["state"] == "ok"
