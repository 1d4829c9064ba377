"""z0's JavaScript files: their headers, the choice of files for a script, and the prelude.

See `js/README.md` for the conventions. The prelude for a script is built from the files its
linked code needs; `select_files` picks them from the names the code mentions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "ApiFile",
    "api_files",
    "build_prelude",
    "files_named",
    "lazy_source",
    "prelude_for",
    "prelude_source",
    "select_files",
]

_HEADER = re.compile(r"^//\s*(z0-api|requires|provides|triggers|always|lazy):\s*(.*)$")


@dataclass(frozen=True, slots=True)
class ApiFile:
    name: str
    source: str
    requires: tuple[str, ...]
    provides: tuple[str, ...]
    triggers: frozenset[str]
    always: bool
    lazy: bool


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _parse(path_name: str, source: str) -> ApiFile:
    fields: dict[str, str] = {}
    for line in source.splitlines():
        match = _HEADER.match(line.strip())
        if match is None:
            break
        fields[match[1]] = match[2].strip()
    if "z0-api" not in fields:
        raise ValueError(f"{path_name} has no '// z0-api: name' header")
    provides = _names(fields.get("provides", ""))
    triggers = _names(fields["triggers"]) if "triggers" in fields else provides
    return ApiFile(
        name=fields["z0-api"],
        source=source,
        requires=_names(fields.get("requires", "")),
        provides=provides,
        triggers=frozenset(triggers),
        always=fields.get("always", "false") == "true",
        lazy=fields.get("lazy", "false") == "true",
    )


@functools.cache
def api_files() -> dict[str, ApiFile]:
    """Every file under js/ (and js/web/), by its api name."""
    found: dict[str, ApiFile] = {}
    root = resources.files("z0.runtime").joinpath("js")
    for folder in (root, root.joinpath("web")):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".js"):
                api = _parse(entry.name, entry.read_text(encoding="utf-8"))
                if api.name in found:
                    raise ValueError(f"two JS files declare z0-api {api.name!r}")
                found[api.name] = api
    for api in found.values():
        for dependency in api.requires:
            if dependency not in found:
                raise ValueError(f"{api.name} requires {dependency!r}, which no file provides")
    return found


def select_files(mentioned: Iterable[str]) -> list[ApiFile]:
    """The non-lazy files a script mentioning these names needs, dependencies first."""
    names = set(mentioned)
    return files_named(api.name for api in api_files().values() if not api.lazy and api.triggers & names)


def files_named(wanted: Iterable[str]) -> list[ApiFile]:
    """These files, the files they require and the always-loaded ones, dependencies first."""
    files = api_files()
    ordered: list[ApiFile] = []
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise ValueError(f"JS files require each other in a cycle through {name!r}")
        visiting.add(name)
        for dependency in files[name].requires:
            visit(dependency)
        visiting.discard(name)
        done.add(name)
        ordered.append(files[name])

    always = [api.name for api in files.values() if api.always]
    for name in sorted({*always, *wanted}, key=_load_order):
        visit(name)
    return ordered


def _load_order(name: str) -> tuple[int, str]:
    # host.js installs __z0.define and the entry points, so it comes first where it can.
    return (0 if name == "host" else 1, name)


def build_prelude(files: Iterable[ApiFile]) -> str:
    body = "\n".join(f"// ---- {api.name}\n{api.source}" for api in files)
    head = '(function (globalThis) { "use strict";\nconst __z0 = {};\n'
    return f"{head}{body}\nreturn __z0.entry;\n}})(globalThis)\n"


@functools.cache
def _prelude_cached(names: frozenset[str]) -> tuple[str, tuple[str, ...]]:
    files = tuple(api.name for api in select_files(names))
    return prelude_source(files), files


def prelude_for(mentioned: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    """The prelude for a script and the names of the files in it (cached per set of triggers hit)."""
    trigger_names = frozenset().union(*(api.triggers for api in api_files().values()))
    return _prelude_cached(frozenset(mentioned) & trigger_names)


@functools.lru_cache(maxsize=64)
def prelude_source(names: tuple[str, ...]) -> str:
    """The prelude of these files in this order, as `prelude_for` named them."""
    files = api_files()
    return build_prelude(files[name] for name in names)


def lazy_source(name: str) -> str:
    api = api_files().get(name)
    if api is None or not api.lazy:
        raise KeyError(f"no lazy JS file {name!r}")
    return api.source
