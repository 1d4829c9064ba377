"""Script versions ready to run, by version id: loaded from the registry on first use, then kept
(least recently used first out). Concurrent first requests for one version load it once."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from z0.registry import Registry, ScriptHead
from z0.runtime.compile import compile_script, linked_from_json
from z0.runtime.supervisor import ScriptCode
from z0.secrets import SecretBox

__all__ = ["ScriptCache", "script_key"]


def script_key(head: ScriptHead) -> str:
    return f"{head.namespace}/{head.name}/{head.version_id}"


class ScriptCache:
    def __init__(self, registry: Registry, box: SecretBox, *, capacity: int = 10_000) -> None:
        self.registry = registry
        self.box = box
        self.capacity = capacity
        self._ready: OrderedDict[str, ScriptCode] = OrderedDict()
        self._loading: dict[str, asyncio.Future[ScriptCode]] = {}

    async def get(self, head: ScriptHead) -> ScriptCode:
        code = self._ready.get(head.version_id)
        if code is not None:
            self._ready.move_to_end(head.version_id)
            return code
        pending = self._loading.get(head.version_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ScriptCode] = asyncio.get_running_loop().create_future()
        self._loading[head.version_id] = future
        try:
            code = await asyncio.to_thread(self._load, head)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters see it through shield
            raise
        finally:
            self._loading.pop(head.version_id, None)
        future.set_result(code)
        self._ready[head.version_id] = code
        while len(self._ready) > self.capacity:
            self._ready.popitem(last=False)
        return code

    def forget(self, version_id: str) -> None:
        self._ready.pop(version_id, None)

    def _load(self, head: ScriptHead) -> ScriptCode:
        version = self.registry.scripts.version(head.version_id)
        modules = self.registry.scripts.modules(head.version_id)
        stored = self.registry.scripts.blob(version.linked_sha256) if version.linked_sha256 else None
        return compile_script(
            script_key(head),
            f"{head.namespace}/{head.name}",
            modules,
            version.main_module,
            service_worker=version.format == "service-worker",
            bindings=version.metadata.get("bindings") or [],
            secrets={
                secret.name: self.box.open(secret.nonce, secret.ciphertext, secret.key_id, secret.place)
                for secret in self.registry.secrets.sealed(version.namespace_id, head.name)
            },
            tenant_id=head.tenant_id,
            linked=linked_from_json(stored) if stored is not None else None,
        )
