"""What the Workers Web API costs: which files load for which names, and the isolate memory and source
size of the always-loaded set and of everything (printed, not asserted; run with -s to see it)."""

from __future__ import annotations

import quickjs

from tests.runtime.jsenv import JsEnv
from z0.runtime.jsapi import api_files, build_prelude, files_named, select_files

WEB = [
    "bytes", "headers", "body", "request", "response", "domexception", "events", "abort", "encoding",
    "base64", "blob", "formdata", "streams", "streams-writable", "structured-clone", "crypto",
    "encoding-streams", "subtle",
]  # fmt: skip


def test_triggers_choose_the_files() -> None:
    def loaded(*names: str) -> set[str]:
        return {api.name for api in select_files(names)} & set(WEB)

    always = {"bytes", "headers", "body", "request", "response"}
    assert loaded() == always
    assert loaded("Headers", "Response", "Request", "json", "text") == always
    assert loaded("body") == always | {"streams"}
    assert loaded("getReader") == always | {"streams"}
    assert loaded("pipeTo") == always | {"streams", "streams-writable"}
    assert loaded("TextDecoderStream") == always | {
        "streams",
        "streams-writable",
        "encoding",
        "encoding-streams",
    }
    assert loaded("formData") == always | {"formdata", "blob"}
    assert loaded("signal") == always | {"abort", "events", "domexception"}
    assert loaded("atob") == always | {"base64", "domexception"}
    assert loaded("randomUUID") == always | {"crypto", "domexception"}
    assert loaded("structuredClone") == always | {"structured-clone", "domexception"}


def isolate_memory(names: list[str]) -> int:
    """Bytes in use by an isolate that has evaluated host.js, modules.js and these files (QuickJS counts
    references, so the prelude's garbage is already gone; a full GC changes nothing and is slow here)."""
    chosen = [api for api in files_named(names) if api.name in {"host", "modules", *names}]
    ctx = quickjs.Context()
    ctx.eval(build_prelude(chosen))
    return int(ctx.memory()["memory_used_size"])


def test_memory_of_the_web_api() -> None:
    files = api_files()
    empty = isolate_memory([])
    always = [name for name in WEB if files[name].always]
    base = isolate_memory(always) - empty
    everything = isolate_memory(WEB) - empty
    size_always = sum(len(files[name].source.encode()) for name in always)
    size_all = sum(len(files[name].source.encode()) for name in WEB)
    with_jsenv = JsEnv(WEB).memory() - JsEnv().memory()
    print()
    print(
        f"JsEnv(all web files).memory() - JsEnv().memory(): +{with_jsenv} bytes (the files not always loaded)"
    )
    print(f"empty isolate (host.js + modules.js): {empty} bytes")
    print(f"always-loaded web files {always}: {size_always} bytes of source, +{base} bytes of isolate memory")
    print(f"all {len(WEB)} web files: {size_all} bytes of source, +{everything} bytes of isolate memory")
    for name in WEB:
        alone = isolate_memory([*always, *files_needed(name)]) - empty - base
        print(
            f"  {name:18} {len(files[name].source.encode()):6} bytes source,"
            f" +{alone} bytes over the always-loaded set"
        )


def files_needed(name: str) -> list[str]:
    return [api.name for api in files_named([name])]
