"""z0's prelude as QuickJS bytecode: the same Workers API as its source, smaller isolates, z0's frames
still named in stacks, and executors compiling it once for every script that shares it."""

from __future__ import annotations

import json
import time

import pytest
import quickjs

from z0.registry import Module
from z0.runtime import _bytecode
from z0.runtime.compile import compile_script
from z0.runtime.engine import OutOfMemory, Prelude, QuickJsIsolate, ScriptFailed
from z0.runtime.executor import Code, Executor, ExecutorConfig
from z0.runtime.jsapi import prelude_source
from z0.runtime.limits import Limits
from z0.runtime.supervisor import Runtime, RuntimeConfig, RuntimeRequest

JS = "application/javascript+module"
WORKER = """
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const headers = new Headers({ "x-b": "2", "X-A": "1" });
    let stack = "";
    try { new URL("not a url"); } catch (e) { stack = e.stack; }
    return Response.json({
      path: url.pathname, query: url.searchParams.get("q"), headers: [...headers],
      text: new TextDecoder().decode(new TextEncoder().encode("héllo")), uuid: crypto.randomUUID().length,
      stack, native: String(Headers),
    });
  },
};
"""


def code_for(source: str = WORKER) -> Code:
    script = compile_script("ns/bc/v1", "ns/bc", [Module("index.js", JS, source.encode())], "index.js")
    return Code(**script.wire())


def boot(prelude: Prelude, code: Code) -> QuickJsIsolate:
    isolate = QuickJsIsolate(128 * 1024 * 1024)
    isolate.load_prelude(prelude, 5)
    isolate.call("setup", code.setup, budget_s=5)
    linked = isolate.eval("\n" * code.line_offset + code.linked, 5)
    isolate.call("boot", linked, budget_s=5)
    assert isolate.pump(time.thread_time() + 5)
    assert json.loads(isolate.call("bootState", budget_s=5))["state"] == "ok"
    return isolate


def test_this_build_of_the_binding_has_bytecode() -> None:
    # The pinned quickjs-ng: were its layout to change, z0 would quietly fall back to source, slower.
    assert _bytecode.available()
    assert Prelude.compile("(function () { return 1; })()").bytecode is not None


def test_a_prelude_from_bytecode_is_smaller_and_leaves_no_global_behind() -> None:
    code = code_for()
    source = prelude_source(tuple(code.prelude_files))
    from_source, from_bytecode = boot(Prelude(source), code), boot(Prelude.compile(source), code)
    heaps = []
    for isolate in (from_source, from_bytecode):
        isolate._ctx.gc()
        heaps.append(isolate.memory_bytes())
    # Bytecode carries no source text (QuickJS keeps every function's source otherwise).
    assert heaps[1] < heaps[0] - 50_000, heaps
    # Where the bytecode leaves host.js's entry is gone before any tenant code runs.
    assert from_bytecode._ctx.eval("typeof globalThis.__z0_boot") == "undefined"


async def test_a_worker_runs_on_the_bytecode_prelude_in_an_executor() -> None:
    script = compile_script("ns/bc/v2", "ns/bc", [Module("index.js", JS, WORKER.encode())], "index.js")
    async with Runtime(RuntimeConfig(executors=1)) as runtime:
        request = RuntimeRequest("GET", "https://t.example/a/b?q=1", [], b"")
        response = await runtime.fetch(script, request, Limits(), request_id="bc")
    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["path"] == "/a/b" and answer["query"] == "1" and answer["uuid"] == 36
    assert answer["headers"] == [["x-a", "1"], ["x-b", "2"]] and answer["text"] == "héllo"
    # z0's frames are named z0; the tenant's are mapped to its module, line and column.
    assert "    at URL (z0)\n    at fetch (index.js:7:15)\n" in answer["stack"]
    # A tenant sees z0's classes as it sees workerd's: native code, not z0's JS.
    assert answer["native"] == "function Headers() {\n    [native code]\n}"


def test_stack_traces_through_z0_frames_read_the_same() -> None:
    code = code_for()
    source = prelude_source(tuple(code.prelude_files))
    for prelude in (Prelude(source), Prelude.compile(source)):
        isolate = boot(prelude, code)
        isolate._ctx.eval(
            "globalThis.__stack = (() => { try { new URL('not a url'); } catch (e) { return e.stack; } })()"
        )
        stack = isolate._ctx.get("__stack")
        assert "(z0)" in stack, stack  # z0's own frames are named z0, whatever their lines


def test_bytecode_is_only_made_from_what_compiles() -> None:
    with pytest.raises(_bytecode.BytecodeError, match="compile"):
        _bytecode.compile_script("this is not javascript")
    ctx = quickjs.Context()
    with pytest.raises(_bytecode.BytecodeError, match="run"):
        _bytecode.run_script(ctx, _bytecode.compile_script("throw new Error('at load')"))
    assert ctx.eval("1 + 1") == 2  # the context stays usable


def test_a_prelude_too_big_for_the_memory_limit_fails_as_out_of_memory() -> None:
    code = code_for()
    prelude = Prelude.compile(prelude_source(tuple(code.prelude_files)))
    isolate = QuickJsIsolate(256 * 1024)
    with pytest.raises((OutOfMemory, ScriptFailed)):
        isolate.load_prelude(prelude, 5)


class _Discard:
    def write(self, data: bytes) -> None:
        pass


def test_an_executor_compiles_a_prelude_once_for_every_script_that_shares_it() -> None:
    executor = Executor(_Discard(), None, ExecutorConfig())  # type: ignore[arg-type]
    first, second = code_for(), code_for(WORKER.replace("héllo", "hello"))
    assert first.prelude_files == second.prelude_files
    assert executor.prelude(first.prelude_files) is executor.prelude(second.prelude_files)
    hello = code_for("export default { fetch() { return new Response('hi'); } };")
    assert hello.prelude_files != first.prelude_files  # fewer Workers API files: another prelude
    assert executor.prelude(hello.prelude_files) is not executor.prelude(first.prelude_files)
    assert len(executor.preludes) == 2
