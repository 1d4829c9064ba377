"""An isolate with chosen z0 JS files, for unit tests of the Workers API (no executor, no limits).

env = JsEnv(["headers"])                 # files by api name, plus what they require
env.run("return new Headers({a: '1'}).get('A')")   # the body of an async function; JSON result
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import quickjs

from z0.runtime.jsapi import build_prelude, files_named, lazy_source, select_files


class JsError(Exception):
    def __init__(self, name: str, message: str, stack: str) -> None:
        super().__init__(f"{name}: {message}\n{stack}")
        self.name = name
        self.message = message
        self.stack = stack


class JsEnv:
    def __init__(
        self,
        apis: Iterable[str] = (),
        *,
        mentioned: Iterable[str] = (),
        lazy: Iterable[str] = (),
        internals: bool = False,
        seed: bytes | None = None,
    ) -> None:
        """`internals=True` also puts z0's internal namespace on globalThis.__z0 (tests of the host
        contract); `seed` (32 bytes) seeds crypto.js's generator as a dispatched request would."""
        chosen = {api.name for api in select_files(mentioned)} | set(apis)
        self.files = files_named(chosen)
        self.ctx = quickjs.Context()
        prelude = build_prelude(self.files)
        if internals:
            prelude = prelude.replace("return __z0.entry;", "globalThis.__z0 = __z0;\nreturn __z0.entry;")
        self.entry = self.ctx.eval(prelude)
        self.entry("setup", json.dumps({"env": {}}))
        begin: dict[str, Any] = {"id": "test"}
        if seed is not None:
            begin["seed"] = seed.hex()
        self.entry("begin", json.dumps(begin))
        for name in lazy:
            self.load_lazy(name)

    def load_lazy(self, name: str) -> None:
        self.entry("lazy", name, self.ctx.eval(lazy_source(name)))

    def run(self, body: str, *, max_turns: int = 10_000) -> Any:
        """Runs `body` as an async function; resolves timer ops at once; returns its JSON value."""
        self.ctx.eval(
            "globalThis.__test_result = undefined;"
            f"(async () => {{ {body}\n}})().then("
            "(v) => { globalThis.__test_result = JSON.stringify("
            "{ ok: true, value: v === undefined ? null : v }); },"
            "(e) => { globalThis.__test_result = JSON.stringify({ ok: false, name: String(e && e.name),"
            " message: String(e && e.message !== undefined ? e.message : e),"
            " stack: String(e && e.stack || '') }); });"
        )
        for _ in range(max_turns):
            while self.ctx.execute_pending_job():
                pass
            state = json.loads(self.entry("take"))
            if state["ops"]:
                self.entry(
                    "resolve",
                    json.dumps([{"id": op["id"], "ok": True, "value": None} for op in state["ops"]]),
                )
                continue
            break
        raw = self.ctx.eval("globalThis.__test_result")
        if raw is None:
            raise AssertionError("the test body never settled")
        result = json.loads(raw)
        if not result["ok"]:
            raise JsError(result["name"], result["message"], result["stack"])
        return result["value"]

    def memory(self) -> int:
        self.ctx.gc()
        return int(self.ctx.memory()["memory_used_size"])
