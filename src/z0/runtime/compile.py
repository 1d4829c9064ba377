"""From an uploaded version to ScriptCode: link its modules, choose its prelude, set up its env.

The linked form is kept with the version (as JSON, in a blob) so that a process loading the script
later does not link it again, unless the linker has changed since (its fingerprint differs).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from z0.registry import Module
from z0.runtime.jsapi import prelude_for
from z0.runtime.linker import LinkedScript, ModuleSpan, Shift, link
from z0.runtime.supervisor import ScriptCode

__all__ = [
    "PLAIN_TYPES",
    "compile_script",
    "linked_from_json",
    "linked_to_json",
    "linker_fingerprint",
    "plain_env",
    "resource_bindings",
]


PLAIN_TYPES = frozenset({"plain_text", "json", "secret_text"})


def plain_env(
    bindings: Sequence[Mapping[str, Any]], secrets: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The bindings that are plain values in `env`: `plain_text` (a string), `json` (any JSON) and
    `secret_text` (its decrypted value, from `secrets`)."""
    env: dict[str, Any] = {}
    for binding in bindings:
        if binding.get("type") == "plain_text":
            env[str(binding["name"])] = str(binding.get("text", ""))
        elif binding.get("type") == "json":
            env[str(binding["name"])] = binding.get("json")
    for name, value in (secrets or {}).items():
        env[name] = value
    return env


def resource_bindings(bindings: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The bindings that are objects in `env` (KV, D1, …), by name: their descriptors, as stored."""
    return {
        str(binding["name"]): dict(binding)
        for binding in bindings
        if binding.get("type") not in PLAIN_TYPES and binding.get("type") != "inherit"
    }


def compile_script(
    key: str,
    name: str,
    modules: Sequence[Module],
    main_module: str,
    *,
    service_worker: bool = False,
    bindings: Sequence[Mapping[str, Any]] = (),
    secrets: Mapping[str, str] | None = None,
    tenant_id: str | None = None,
    linked: LinkedScript | None = None,
) -> ScriptCode:
    """Links (unless given the linked form) and picks the Workers API files the code mentions, and
    those of its bindings' types (a binding file is triggered by `binding:{type}`)."""
    linked = linked or link(modules, main_module, service_worker=service_worker)
    objects = resource_bindings(bindings)
    mentioned = linked.identifiers | {f"binding:{b['type']}" for b in objects.values()}
    prelude, prelude_files = prelude_for(mentioned)
    offset = prelude.count("\n") + 1
    setup = {
        "env": plain_env(bindings, secrets),
        "bindings": {name: {"type": b["type"]} for name, b in objects.items()},
        "lineOffset": offset,
    }
    return ScriptCode(
        key=key,
        name=name,
        prelude_files=prelude_files,
        linked_source=linked.source,
        line_offset=offset,
        setup=json.dumps(setup),
        map_stack=lambda stack: linked.map_stack(stack, offset),
        tenant_id=tenant_id,
        bindings=objects,
    )


@functools.cache
def linker_fingerprint() -> str:
    """Changes whenever the linker or its JS module registry does."""
    digest = hashlib.sha256()
    package = resources.files("z0.runtime")
    for part in ("linker.py", "js/modules.js"):
        digest.update(package.joinpath(part).read_bytes())
    return digest.hexdigest()[:16]


def linked_to_json(linked: LinkedScript) -> bytes:
    return json.dumps(
        {
            "linker": linker_fingerprint(),
            "source": linked.source,
            "format": linked.format,
            "main_module": linked.main_module,
            "identifiers": sorted(linked.identifiers),
            "line_map": [
                {
                    "module": span.module,
                    "first_line": span.first_line,
                    "line_count": span.line_count,
                    "first_column": span.first_column,
                    "shifts": {
                        str(line): [[s.out_start, s.out_end, s.in_start, s.delta] for s in shifts]
                        for line, shifts in span.shifts.items()
                    },
                }
                for span in linked.line_map
            ],
        },
        separators=(",", ":"),
    ).encode()


def linked_from_json(data: bytes) -> LinkedScript | None:
    """The stored linked form, or None when another linker made it (link again)."""
    document = json.loads(data)
    if document.get("linker") != linker_fingerprint():
        return None
    return LinkedScript(
        source=document["source"],
        format=document["format"],
        main_module=document["main_module"],
        line_map=tuple(
            ModuleSpan(
                module=span["module"],
                first_line=span["first_line"],
                line_count=span["line_count"],
                first_column=span["first_column"],
                shifts={
                    int(line): tuple(Shift(*shift) for shift in shifts)
                    for line, shifts in span["shifts"].items()
                },
            )
            for span in document["line_map"]
        ),
        identifiers=frozenset(document["identifiers"]),
    )
