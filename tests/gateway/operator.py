"""An operator driving a live z0 over HTTP: tenants, keys, deploys (for gateway tests)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.support import LiveServer

JS = "application/javascript+module"


class Operator:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.api = httpx.Client(
            base_url=f"{server.api_url}/accounts/{server.account_id}",
            headers={"authorization": f"Bearer {server.token}"},
            timeout=60,
        )
        self.gateway = httpx.Client(base_url=server.gateway_url, timeout=60)

    def __enter__(self) -> Operator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.api.close()
        self.gateway.close()

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def tenant(self, prefix: str = "t") -> str:
        tenant_id = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.ok("POST", "/z0/tenants", json={"id": tenant_id})
        return tenant_id

    def key(self, tenant_id: str) -> dict[str, Any]:
        return self.ok("POST", f"/z0/tenants/{tenant_id}/keys")  # type: ignore[no-any-return]

    def deploy(
        self,
        name: str,
        source: str,
        *,
        namespace: str = "z0-prod-tenants",
        tags: list[str] | None = None,
        bindings: list[dict[str, Any]] | None = None,
    ) -> Any:
        metadata: dict[str, Any] = {"main_module": "index.js", "bindings": bindings or []}
        if tags is not None:
            metadata["tags"] = tags
        files = [
            ("metadata", (None, json.dumps(metadata), "application/json")),
            ("files", ("index.js", source.encode(), JS)),
        ]
        return self.ok("PUT", f"/workers/dispatch/namespaces/{namespace}/scripts/{name}", files=files)
