"""What the registry hands out: plain frozen records, no database handles."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "Account",
    "ApiToken",
    "Module",
    "ModuleInfo",
    "Namespace",
    "Script",
    "ScriptHead",
    "ScriptUpload",
    "ScriptVersion",
    "Tenant",
    "TenantKey",
    "TenantLimits",
    "TenantStatus",
]


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    created_on: datetime


@dataclass(frozen=True, slots=True)
class Namespace:
    id: str
    account_id: str
    name: str
    created_on: datetime
    modified_on: datetime
    created_by: str | None
    modified_by: str | None
    script_count: int


@dataclass(frozen=True, slots=True)
class Module:
    """One uploaded part: its name (the part's filename), content type and bytes."""

    name: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ScriptVersion:
    """An immutable upload. `etag` is the content hash of its modules and metadata."""

    id: str
    namespace_id: str
    script_name: str
    etag: str
    main_module: str
    format: str  # "modules" or "service-worker"
    metadata: dict[str, Any]
    size: int
    created_on: datetime
    modules: tuple[ModuleInfo, ...] = ()
    handlers: tuple[str, ...] = ()
    startup_ms: float | None = None
    linked_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptHead:
    """What the gateway needs to route to a script: its current version and owner."""

    namespace: str
    name: str
    tenant_id: str | None
    version_id: str
    main_module: str
    format: str


@dataclass(frozen=True, slots=True)
class Script:
    namespace: str
    name: str
    tenant_id: str | None
    tags: tuple[str, ...]
    created_on: datetime
    modified_on: datetime
    version: ScriptVersion


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"  # its workers run
    SUSPENDED = "suspended"  # the gateway answers 403; it may be activated again
    DELETED = "deleted"  # soft-deleted: its records and Facts stay, nothing runs, it cannot come back


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """Per-tenant overrides of the per-request limits; None keeps the platform default."""

    cpu_ms: int | None = None
    memory_mb: int | None = None
    subrequests: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return {"cpu_ms": self.cpu_ms, "memory_mb": self.memory_mb, "subrequests": self.subrequests}


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    account_id: str
    status: TenantStatus
    limits: TenantLimits = field(default_factory=TenantLimits)
    created_on: datetime | None = None
    modified_on: datetime | None = None


@dataclass(frozen=True, slots=True)
class TenantKey:
    id: str
    tenant_id: str
    prefix: str
    created_on: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    account_id: str
    name: str
    tenant_id: str | None  # None: an operator token, allowed everything
    prefix: str
    created_on: datetime

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None


@dataclass(frozen=True, slots=True)
class ScriptUpload:
    """A checked upload, ready to become a version. `tags` None keeps the script's current tags."""

    name: str
    main_module: str
    format: str  # "modules" or "service-worker"
    metadata: dict[str, Any]  # as stored: secret values are taken out into `secrets`
    modules: tuple[Module, ...]
    tags: tuple[str, ...] | None
    secrets: Mapping[str, str] = field(default_factory=dict)  # secret_text bindings: name -> value

    def __repr__(self) -> str:
        return f"ScriptUpload(name={self.name!r}, modules={[m.name for m in self.modules]}, secrets=<hidden>)"

    @property
    def size(self) -> int:
        return sum(len(module.content) for module in self.modules)
