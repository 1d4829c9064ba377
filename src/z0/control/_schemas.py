"""Request and response bodies of the control API: Cloudflare's field names where Cloudflare has them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from z0.registry import ApiToken, Namespace, Script, ScriptVersion, Tenant, TenantKey

__all__ = [
    "AccountOut",
    "KeyCreated",
    "KeyOut",
    "LimitsIn",
    "LimitsOut",
    "ModuleOut",
    "NamespaceIn",
    "NamespaceOut",
    "NamespaceScriptOut",
    "ScriptOut",
    "ScriptUploadOut",
    "TenantIn",
    "TenantOut",
    "TenantPatch",
    "TokenCreated",
    "TokenIn",
    "TokenOut",
    "VersionOut",
]


class AccountOut(BaseModel):
    id: str
    name: str
    type: str = "standard"
    created_on: datetime


class NamespaceIn(BaseModel):
    name: str = Field(description="Lowercase letters, digits, '-' and '_', at most 63 characters.")


class NamespaceOut(BaseModel):
    namespace_id: str
    namespace_name: str
    created_on: datetime
    created_by: str | None
    modified_on: datetime
    modified_by: str | None
    script_count: int
    trusted_workers: bool = False

    @classmethod
    def of(cls, namespace: Namespace) -> NamespaceOut:
        return cls(
            namespace_id=namespace.id,
            namespace_name=namespace.name,
            created_on=namespace.created_on,
            created_by=namespace.created_by,
            modified_on=namespace.modified_on,
            modified_by=namespace.modified_by,
            script_count=namespace.script_count,
        )


class ModuleOut(BaseModel):
    name: str
    content_type: str
    size: int


class ScriptOut(BaseModel):
    """A script as Cloudflare describes it, plus z0's fields: its version, deploy time and owner."""

    id: str = Field(description="The script's name.")
    etag: str = Field(description="Content hash (SHA-256) of the current version's modules and metadata.")
    created_on: datetime
    modified_on: datetime
    compatibility_date: str | None
    compatibility_flags: list[str]
    has_modules: bool
    has_assets: bool = False
    logpush: bool = False
    usage_model: Literal["standard"] = "standard"
    tags: list[str]
    version_id: str = Field(description="The current version's id.")
    deployed_on: datetime = Field(description="When the current version was uploaded.")
    tenant_id: str | None = Field(description="The tenant that owns the script (tag or name).")
    main_module: str
    modules: list[ModuleOut]
    handlers: list[str] = Field(description="The handlers the default export has (fetch, scheduled, …).")

    @classmethod
    def of(cls, script: Script) -> ScriptOut:
        version = script.version
        return cls(
            id=script.name,
            etag=version.etag,
            created_on=script.created_on,
            modified_on=script.modified_on,
            compatibility_date=version.metadata.get("compatibility_date"),
            compatibility_flags=list(version.metadata.get("compatibility_flags") or []),
            has_modules=version.format == "modules",
            tags=list(script.tags),
            version_id=version.id,
            deployed_on=version.created_on,
            tenant_id=script.tenant_id,
            main_module=version.main_module,
            modules=_modules(version),
            handlers=list(version.handlers),
        )


class ScriptUploadOut(ScriptOut):
    startup_time_ms: int = Field(description="CPU time the script's top level took, at the upload check.")
    deployment_id: str = Field(description="The new version's id (wrangler prints it).")

    @classmethod
    def of_upload(cls, script: Script) -> ScriptUploadOut:
        startup = round(script.version.startup_ms or 0)
        return cls(
            **ScriptOut.of(script).model_dump(), startup_time_ms=startup, deployment_id=script.version.id
        )


class NamespaceScriptOut(BaseModel):
    created_on: datetime
    modified_on: datetime
    dispatch_namespace: str
    script: ScriptOut

    @classmethod
    def of(cls, script: Script) -> NamespaceScriptOut:
        return cls(
            created_on=script.created_on,
            modified_on=script.modified_on,
            dispatch_namespace=script.namespace,
            script=ScriptOut.of(script),
        )


class VersionOut(BaseModel):
    id: str
    etag: str
    created_on: datetime
    main_module: str
    size: int
    modules: list[ModuleOut]
    current: bool

    @classmethod
    def of(cls, version: ScriptVersion, *, current: bool) -> VersionOut:
        return cls(
            id=version.id,
            etag=version.etag,
            created_on=version.created_on,
            main_module=version.main_module,
            size=version.size,
            modules=_modules(version),
            current=current,
        )


def _modules(version: ScriptVersion) -> list[ModuleOut]:
    return [ModuleOut(name=m.name, content_type=m.content_type, size=m.size) for m in version.modules]


class LimitsIn(BaseModel):
    """Per-request limits for one tenant; null restores the platform default."""

    model_config = ConfigDict(extra="forbid")

    cpu_ms: int | None = Field(None, ge=1, le=300_000)
    memory_mb: int | None = Field(None, ge=1, le=8192)
    subrequests: int | None = Field(None, ge=0, le=10_000_000)


class LimitsOut(BaseModel):
    cpu_ms: int | None
    memory_mb: int | None
    subrequests: int | None


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="[a-z0-9][a-z0-9_]{0,39}: no '-', so script names parse one way.")
    account_id: str | None = Field(None, max_length=64, description="Default: acct_{id}.")
    status: Literal["active", "suspended"] = "active"
    limits: LimitsIn | None = None


class TenantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "suspended"] | None = None
    limits: LimitsIn | None = None


class TenantOut(BaseModel):
    id: str
    account_id: str
    status: Literal["active", "suspended", "deleted"]
    limits: LimitsOut
    created_on: datetime | None
    modified_on: datetime | None

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            id=tenant.id,
            account_id=tenant.account_id,
            status=tenant.status.value,
            limits=LimitsOut(**tenant.limits.as_dict()),
            created_on=tenant.created_on,
            modified_on=tenant.modified_on,
        )


class KeyOut(BaseModel):
    id: str
    tenant_id: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_on: datetime

    @classmethod
    def of(cls, key: TenantKey) -> KeyOut:
        return cls(id=key.id, tenant_id=key.tenant_id, prefix=key.prefix, created_on=key.created_on)


class KeyCreated(KeyOut):
    key: str = Field(description="The gateway key. Shown only now: z0 keeps only its hash.")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=255)
    tenant_id: str | None = Field(None, description="Limit the token to this tenant's resources.")


class TokenOut(BaseModel):
    id: str
    name: str
    tenant_id: str | None
    prefix: str
    created_on: datetime
    status: Literal["active"] = "active"

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            tenant_id=token.tenant_id,
            prefix=token.prefix,
            created_on=token.created_on,
        )


class TokenCreated(TokenOut):
    value: str = Field(description="The API token. Shown only now: z0 keeps only its hash.")
