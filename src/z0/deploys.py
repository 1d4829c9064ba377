"""Deploying a version: the steps between a checked upload and a new current version.

    authorize (namespace, owner, token) → resolve inherited bindings → check the bound resources
    belong to the owner → link, with the script's secrets → evaluate once in an executor → store
    the version and its new secrets in one transaction

Nothing of the tenant's runs before the authorization and ownership checks pass. A secret change
(the secrets API) makes a new version with the same code, so that every gateway process loads
the script again with the new value.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from z0.errors import InvalidMetadata, InvalidModule, NotFound
from z0.registry import Registry, Script, ScriptUpload
from z0.runtime.compile import compile_script, linked_to_json
from z0.runtime.limits import Limits
from z0.runtime.linker import link
from z0.runtime.supervisor import CheckResult, Runtime, ScriptCode, ScriptStartError
from z0.secrets import SecretBox
from z0.settings import Settings

__all__ = ["Deployer", "resolve_inherited"]

# Binding types whose values live outside the version: kept by every deploy.
_ALWAYS_KEPT = frozenset({"secret_text"})


def resolve_inherited(
    bindings: Sequence[Mapping[str, Any]],
    previous: Sequence[Mapping[str, Any]],
    *,
    keep_types: Sequence[str] = (),
    strict: bool = False,
) -> list[dict[str, Any]]:
    """Cloudflare's `{"type": "inherit", "name", "old_name"?}` bindings and `keep_bindings` types,
    filled in from the previous version's bindings."""
    earlier = {str(b["name"]): dict(b) for b in previous}
    result: list[dict[str, Any]] = []
    for binding in bindings:
        if binding.get("type") != "inherit":
            result.append(dict(binding))
            continue
        source = earlier.get(str(binding.get("old_name") or binding["name"]))
        if source is None or source.get("type") in _ALWAYS_KEPT:
            if strict:
                raise InvalidMetadata(
                    f"Binding {binding['name']!r} inherits from the previous version, "
                    "which has no such binding."
                )
            continue
        result.append({**source, "name": binding["name"]})
    named = {str(b["name"]) for b in result}
    for binding in previous:
        if binding.get("type") in keep_types and binding["name"] not in named:
            result.append(dict(binding))
    return result


@dataclass
class Deployer:
    registry: Registry
    runtime: Runtime
    settings: Settings
    box: SecretBox

    async def deploy(
        self,
        account_id: str,
        namespace: str,
        upload: ScriptUpload,
        *,
        acting_tenant: str | None = None,
        strict_inherit: bool = False,
    ) -> Script:
        scripts = self.registry.scripts
        owner = await asyncio.to_thread(
            functools.partial(
                scripts.authorize_put, account_id, namespace, upload, acting_tenant=acting_tenant
            )
        )
        previous = await asyncio.to_thread(self._current_metadata, account_id, namespace, upload.name)
        bindings = resolve_inherited(
            upload.metadata.get("bindings") or [],
            previous.get("bindings") or [],
            keep_types=[str(t) for t in upload.metadata.get("keep_bindings") or []],
            strict=strict_inherit,
        )
        upload = replace(upload, metadata={**upload.metadata, "bindings": bindings})
        await asyncio.to_thread(self._check_resources, account_id, bindings, owner)
        namespace_id = await asyncio.to_thread(self.registry.secrets.namespace_id, account_id, namespace)
        secrets = {**await asyncio.to_thread(self.secret_values, namespace_id, upload.name), **upload.secrets}
        version_id = str(uuid.uuid4())
        linked = await asyncio.to_thread(
            link, upload.modules, upload.main_module, service_worker=upload.format == "service-worker"
        )
        code = compile_script(
            f"{namespace}/{upload.name}/{version_id}",
            f"{namespace}/{upload.name}",
            upload.modules,
            upload.main_module,
            bindings=bindings,
            secrets=secrets,
            tenant_id=owner,
            linked=linked,
        )
        checked = await self._check(code, await asyncio.to_thread(self.limits_for, owner))
        sealed = [
            (name, *self.box.seal(value, (namespace_id, upload.name, name)))
            for name, value in upload.secrets.items()
        ]
        return await asyncio.to_thread(
            functools.partial(
                scripts.put,
                account_id,
                namespace,
                upload,
                acting_tenant=acting_tenant,
                version_id=version_id,
                linked=linked_to_json(linked),
                handlers=checked.handlers,
                startup_ms=checked.startup_ms,
                secrets=sealed,
            )
        )

    def secret_values(self, namespace_id: str, script_name: str) -> dict[str, str]:
        """A script's secrets, opened (for its env: never logged, never returned by an API)."""
        return {
            secret.name: self.box.open(secret.nonce, secret.ciphertext, secret.key_id, secret.place)
            for secret in self.registry.secrets.sealed(namespace_id, script_name)
        }

    def set_secret(
        self,
        account_id: str,
        namespace: str,
        script: str,
        name: str,
        value: str,
        *,
        acting_tenant: str | None,
    ) -> Script:
        self.registry.scripts.get(account_id, namespace, script, acting_tenant=acting_tenant)
        namespace_id = self.registry.secrets.namespace_id(account_id, namespace)
        self.registry.secrets.put(
            namespace_id, script, name, *self.box.seal(value, (namespace_id, script, name))
        )
        return self.registry.scripts.redeploy(account_id, namespace, script, acting_tenant=acting_tenant)

    def delete_secret(
        self, account_id: str, namespace: str, script: str, name: str, *, acting_tenant: str | None
    ) -> Script:
        self.registry.scripts.get(account_id, namespace, script, acting_tenant=acting_tenant)
        self.registry.secrets.delete(self.registry.secrets.namespace_id(account_id, namespace), script, name)
        return self.registry.scripts.redeploy(account_id, namespace, script, acting_tenant=acting_tenant)

    def limits_for(self, tenant_id: str | None) -> Limits:
        settings = self.settings
        limits = Limits(settings.default_cpu_ms, settings.default_memory_mb, settings.default_subrequests)
        if tenant_id is None:
            return limits
        try:
            tenant = self.registry.tenants.get(tenant_id)
        except NotFound:
            return limits
        return limits.override(**tenant.limits.as_dict())

    def _current_metadata(self, account_id: str, namespace: str, name: str) -> dict[str, Any]:
        try:
            return self.registry.scripts.get(account_id, namespace, name).version.metadata
        except NotFound:
            return {}

    def _check_resources(
        self, account_id: str, bindings: Sequence[Mapping[str, Any]], owner: str | None
    ) -> None:
        for binding in bindings:
            if binding.get("type") == "kv_namespace":
                self.registry.kv.check_owner(
                    account_id, str(binding["namespace_id"]), owner, str(binding["name"])
                )
            elif binding.get("type") == "d1":
                database = str(binding.get("id") or binding.get("database_id"))
                self.registry.d1.check_owner(account_id, database, owner, str(binding["name"]))

    async def _check(self, code: ScriptCode, limits: Limits) -> CheckResult:
        """Evaluates the top level once in an executor; a script that cannot start is refused."""
        try:
            return await self.runtime.check(code, limits)
        except ScriptStartError as exc:
            where = next(
                (line.strip() for line in exc.stack.splitlines() if line.strip().startswith("at ")), ""
            )
            detail = f" ({where})" if where and "(z0)" not in where else ""
            raise InvalidModule(f"The script cannot start: {exc.message}{detail}") from exc
