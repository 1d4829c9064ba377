"""Turning an upload (Workers' multipart format) into a checked ScriptUpload, or a clear refusal.

Nothing here runs tenant code: JavaScript is only parsed, to refuse syntax errors at upload with
the module's name and line, while the previous version keeps serving.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from z0.errors import InvalidMetadata, InvalidModule, PayloadTooLarge
from z0.modules import ModuleKind, module_kind, normalize_content_type
from z0.names import validate_script_name, validate_tags
from z0.registry import Module, ScriptUpload
from z0.runtime.syntax import check_module_source, decode_source

__all__ = ["Binding", "UploadMetadata", "UploadPart", "prepare_upload"]

MAX_MODULE_NAME_LENGTH = 255


class Binding(BaseModel):
    """A binding as Workers' metadata declares it; the fields beyond name and type depend on the type."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=64)


class UploadMetadata(BaseModel):
    """The `metadata` part. Fields z0 does not use yet are kept as they came."""

    model_config = ConfigDict(extra="allow")

    main_module: str | None = None
    body_part: str | None = None
    bindings: list[Binding] = Field(default_factory=list)
    tags: list[str] | None = None
    compatibility_date: str | None = None
    compatibility_flags: list[str] = Field(default_factory=list)

    @field_validator("compatibility_date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"compatibility_date {value!r} is not a date like 2025-01-01") from None
            if len(value) != len("2025-01-01"):
                raise ValueError(f"compatibility_date {value!r} is not a date like 2025-01-01")
        return value


@dataclass(frozen=True, slots=True)
class UploadPart:
    """One part of the multipart body other than `metadata`."""

    field_name: str
    filename: str | None
    content_type: str | None
    content: bytes

    @property
    def module_name(self) -> str:
        # The official SDK names every part "files"; the module's name is then its filename.
        return self.filename or self.field_name


def parse_metadata(raw: str | bytes | None) -> tuple[UploadMetadata, dict[str, Any]]:
    if raw is None:
        raise InvalidMetadata("The upload has no 'metadata' part; send one with main_module (JSON).")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMetadata(f"The 'metadata' part is not valid JSON: {exc}.") from exc
    if not isinstance(document, dict):
        raise InvalidMetadata("The 'metadata' part must be a JSON object.")
    try:
        metadata = UploadMetadata.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "metadata"
        raise InvalidMetadata(f"metadata.{where}: {first['msg']}.") from exc
    return metadata, document


def prepare_upload(
    script_name: str, metadata_raw: str | bytes | None, parts: Sequence[UploadPart], *, max_bytes: int
) -> ScriptUpload:
    validate_script_name(script_name)
    metadata, document = parse_metadata(metadata_raw)
    main = metadata.main_module or metadata.body_part
    if not main:
        raise InvalidMetadata("metadata names no main_module (or body_part for a service-worker script).")
    service_worker = metadata.main_module is None
    main = _check_module_name(main)
    names = [binding.name for binding in metadata.bindings]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidMetadata(f"metadata.bindings names {', '.join(map(repr, duplicates))} more than once.")
    secrets = check_bindings(metadata.bindings)
    if secrets:  # secret values never reach the stored metadata
        document = {
            **document,
            "bindings": [
                {"name": b["name"], "type": "secret_text"} if b.get("type") == "secret_text" else b
                for b in document.get("bindings", [])
            ],
        }
    tags = tuple(validate_tags(metadata.tags)) if metadata.tags is not None else None

    total = sum(len(part.content) for part in parts)
    if total > max_bytes:
        raise PayloadTooLarge(f"The script's modules total {total} bytes; the limit is {max_bytes} bytes.")
    modules: list[Module] = []
    kinds: dict[str, ModuleKind] = {}
    for part in parts:
        name = _check_module_name(part.module_name)
        if name in kinds:
            raise InvalidModule(f"Module {name!r} is uploaded more than once.")
        content_type = normalize_content_type(part.content_type, name)
        kinds[name] = module_kind(content_type, name)
        modules.append(Module(name, content_type, part.content))
    if main not in kinds:
        uploaded = ", ".join(repr(name) for name in kinds) or "none"
        raise InvalidModule(f"main_module {main!r} is not among the uploaded modules (uploaded: {uploaded}).")
    if kinds[main] is not ModuleKind.ES_MODULE:
        raise InvalidModule(
            f"main_module {main!r} must be JavaScript, not {_content_type_of(modules, main)}."
        )
    for module in modules:
        if kinds[module.name] is ModuleKind.ES_MODULE:
            source = decode_source(module.name, module.content)
            check_module_source(module.name, source, es_module=not (service_worker and module.name == main))
        elif kinds[module.name] is ModuleKind.TEXT:
            decode_source(module.name, module.content)
    return ScriptUpload(
        name=script_name,
        main_module=main,
        format="service-worker" if service_worker else "modules",
        metadata=document,
        modules=tuple(modules),
        tags=tags,
        secrets=secrets,
    )


SUPPORTED_BINDINGS = {
    "plain_text": ("text",),
    "json": ("json",),
    "secret_text": ("text",),
    "kv_namespace": ("namespace_id",),
    "d1": (),
    "z0": (),  # read only, the calling tenant's own Configs and Facts: no resource to own
    "inherit": (),
}


def check_bindings(bindings: Sequence[Binding]) -> dict[str, str]:
    """Refuses bindings z0 cannot provide or that lack what they need; returns the secret values."""
    secrets: dict[str, str] = {}
    for binding in bindings:
        fields = binding.model_extra or {}
        required = SUPPORTED_BINDINGS.get(binding.type)
        if required is None:
            supported = ", ".join(sorted(SUPPORTED_BINDINGS))
            raise InvalidMetadata(
                f"Binding {binding.name!r} has type {binding.type!r}, which z0 does not provide; "
                f"z0 binds {supported}."
            )
        missing = [name for name in required if name not in fields]
        if binding.type == "d1" and not (fields.get("id") or fields.get("database_id")):
            missing.append("id")
        if missing:
            raise InvalidMetadata(f"Binding {binding.name!r} ({binding.type}) needs {', '.join(missing)}.")
        if binding.type in ("plain_text", "secret_text") and not isinstance(fields["text"], str):
            raise InvalidMetadata(f"Binding {binding.name!r}: text must be a string.")
        if binding.type == "secret_text":
            secrets[binding.name] = fields["text"]
    return secrets


def _content_type_of(modules: Sequence[Module], name: str) -> str:
    return next(module.content_type for module in modules if module.name == name)


def _check_module_name(name: str) -> str:
    """A module's name as the linker resolves it: a relative path; a leading './' (wrangler sends
    './{hash}-add.wasm') is dropped, as import specifiers resolve to the same module."""
    while name.startswith("./"):
        name = name[2:]
    segments = name.split("/")
    if (
        not name
        or len(name) > MAX_MODULE_NAME_LENGTH
        or name.startswith("/")
        or "\\" in name
        or any(segment in ("", ".", "..") for segment in segments)
        or any(ord(char) < 0x20 for char in name)
    ):
        raise InvalidModule(
            f"Module name {name!r} is invalid: use a relative path like 'index.js' or 'lib/util.js' "
            f"(no '..', no leading '/', at most {MAX_MODULE_NAME_LENGTH} characters)."
        )
    return name
