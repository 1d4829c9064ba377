"""From an uploaded version to ScriptCode: link its modules, choose its prelude, set up its env."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from z0.registry import Module
from z0.runtime.jsapi import prelude_for
from z0.runtime.linker import LinkedScript, link
from z0.runtime.supervisor import ScriptCode

__all__ = ["compile_script", "plain_env"]


def plain_env(bindings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The bindings that are plain values in `env`: `plain_text` (a string) and `json` (any JSON)."""
    env: dict[str, Any] = {}
    for binding in bindings:
        if binding.get("type") == "plain_text":
            env[str(binding["name"])] = str(binding.get("text", ""))
        elif binding.get("type") == "json":
            env[str(binding["name"])] = binding.get("json")
    return env


def compile_script(
    key: str,
    name: str,
    modules: Sequence[Module],
    main_module: str,
    *,
    service_worker: bool = False,
    bindings: Sequence[Mapping[str, Any]] = (),
    linked: LinkedScript | None = None,
) -> ScriptCode:
    """Links (unless given the linked form) and picks the Workers API files the code mentions."""
    linked = linked or link(modules, main_module, service_worker=service_worker)
    prelude, _ = prelude_for(linked.identifiers)
    offset = prelude.count("\n") + 1
    return ScriptCode(
        key=key,
        name=name,
        prelude=prelude,
        linked_source=linked.source,
        line_offset=offset,
        setup=json.dumps({"env": plain_env(bindings), "lineOffset": offset}),
        map_stack=lambda stack: linked.map_stack(stack, offset),
    )
