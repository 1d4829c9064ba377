"""The registry: namespaces, scripts, versions, tenants, keys and tokens, on SQLite or PostgreSQL."""

from z0.registry._credentials import API_TOKEN_PREFIX, ENV_TOKEN_ID, GATEWAY_KEY_PREFIX, hash_secret
from z0.registry._db import create_registry_engine, migrate
from z0.registry._records import (
    Account,
    ApiToken,
    Module,
    ModuleInfo,
    Namespace,
    Script,
    ScriptHead,
    ScriptUpload,
    ScriptVersion,
    Tenant,
    TenantKey,
    TenantLimits,
    TenantStatus,
)
from z0.registry._registry import Registry
from z0.registry._resources import D1Database, KvNamespace

__all__ = [
    "API_TOKEN_PREFIX",
    "ENV_TOKEN_ID",
    "GATEWAY_KEY_PREFIX",
    "Account",
    "ApiToken",
    "D1Database",
    "KvNamespace",
    "Module",
    "ModuleInfo",
    "Namespace",
    "Registry",
    "Script",
    "ScriptHead",
    "ScriptUpload",
    "ScriptVersion",
    "Tenant",
    "TenantKey",
    "TenantLimits",
    "TenantStatus",
    "create_registry_engine",
    "hash_secret",
    "migrate",
]
