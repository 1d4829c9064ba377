"""Module kinds of an upload, by content type as in Workers' multipart format.

JavaScript parts are ES modules; `text/plain` is a string module, `application/octet-stream` an
ArrayBuffer; source maps are kept but never run. WebAssembly and Python are refused: the engine
(QuickJS) has neither.
"""

from __future__ import annotations

import enum
from pathlib import PurePosixPath

from z0.errors import InvalidModule

__all__ = ["ACCEPTED_CONTENT_TYPES", "ModuleKind", "module_kind", "normalize_content_type"]


class ModuleKind(enum.StrEnum):
    ES_MODULE = "esm"
    TEXT = "text"
    DATA = "data"
    SOURCE_MAP = "source-map"


_BY_CONTENT_TYPE = {
    "application/javascript+module": ModuleKind.ES_MODULE,
    "text/javascript+module": ModuleKind.ES_MODULE,
    "application/javascript": ModuleKind.ES_MODULE,
    "text/javascript": ModuleKind.ES_MODULE,
    "text/plain": ModuleKind.TEXT,
    "application/octet-stream": ModuleKind.DATA,
    "application/source-map": ModuleKind.SOURCE_MAP,
    "application/json+source-map": ModuleKind.SOURCE_MAP,
}
ACCEPTED_CONTENT_TYPES = tuple(_BY_CONTENT_TYPE)

# For parts sent without a content type.
_BY_EXTENSION = {
    ".js": "application/javascript+module",
    ".mjs": "application/javascript+module",
    ".txt": "text/plain",
    ".bin": "application/octet-stream",
    ".map": "application/source-map",
}

_REFUSED = {
    "application/wasm": "WebAssembly modules are not supported: z0 runs Workers on QuickJS, which has no "
    "WebAssembly.",
    "text/x-python": "Python Workers are not supported: z0 runs JavaScript only.",
    "text/x-python-requirement": "Python Workers are not supported: z0 runs JavaScript only.",
}


def normalize_content_type(content_type: str | None, filename: str) -> str:
    """The bare, lower-case content type of a part, guessed from the file name when none was sent."""
    bare = (content_type or "").split(";", 1)[0].strip().lower()
    if bare:
        return bare
    guessed = _BY_EXTENSION.get(PurePosixPath(filename).suffix.lower())
    if guessed is None:
        if filename.lower().endswith(".wasm"):
            return "application/wasm"
        raise InvalidModule(
            f"Module {filename!r} has no content type; send one of {', '.join(ACCEPTED_CONTENT_TYPES)}."
        )
    return guessed


def module_kind(content_type: str, filename: str) -> ModuleKind:
    if content_type in _REFUSED:
        raise InvalidModule(f"Module {filename!r} ({content_type}) is refused. {_REFUSED[content_type]}")
    kind = _BY_CONTENT_TYPE.get(content_type)
    if kind is None:
        raise InvalidModule(
            f"Module {filename!r} has content type {content_type!r}, which z0 does not accept; "
            f"use one of {', '.join(ACCEPTED_CONTENT_TYPES)}."
        )
    return kind
