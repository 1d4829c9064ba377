"""How the gateway finds the tenant of a request, one strategy per way (DESIGN.md, "Gateway strategies").

A strategy that finds no credential of its kind answers None and the next one is tried; one that
finds a credential that is wrong (an unknown key, an unknown tenant) answers REFUSED at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from z0.errors import InvalidName
from z0.gateway._view import ViewData
from z0.names import validate_tenant_id
from z0.registry import GATEWAY_KEY_PREFIX, hash_secret

__all__ = ["REFUSED", "HostnameStrategy", "KeyStrategy", "PathStrategy", "Resolution", "Strategy"]


@dataclass(frozen=True, slots=True)
class Resolution:
    tenant_id: str
    path: str  # the path the worker sees
    consumed: frozenset[bytes] = frozenset()  # request headers to remove (lower-case names)


class _Refused:
    """A credential was present and wrong: 401, no other strategy is tried."""


REFUSED = _Refused()


class Strategy:
    def resolve(
        self, view: ViewData, namespace: str, host: str, path: str, headers: dict[bytes, bytes]
    ) -> Resolution | _Refused | None:
        raise NotImplementedError


class KeyStrategy(Strategy):
    """A tenant gateway key in `x-z0-api-key` or `Authorization: Bearer z0k_…`; both are stripped."""

    def resolve(
        self, view: ViewData, namespace: str, host: str, path: str, headers: dict[bytes, bytes]
    ) -> Resolution | _Refused | None:
        consumed = set()
        key = headers.get(b"x-z0-api-key")
        if key is not None:
            consumed.add(b"x-z0-api-key")
        authorization = headers.get(b"authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip().startswith(GATEWAY_KEY_PREFIX.encode()):
                consumed.add(b"authorization")
                key = key if key is not None else token.strip()
        if key is None:
            return None
        tenant_id = view.tenant_by_key_hash.get(hash_secret(key.decode("latin-1")))
        if tenant_id is None:
            return REFUSED
        return Resolution(tenant_id, path, frozenset(consumed))


class HostnameStrategy(Strategy):
    """Public traffic: `{tenant-id}.{base_domain}` ('_' written '-'), or a tenant's custom hostname."""

    def __init__(self, base_domain: str | None) -> None:
        self.suffix = "." + base_domain.strip(".").lower() if base_domain else None

    def resolve(
        self, view: ViewData, namespace: str, host: str, path: str, headers: dict[bytes, bytes]
    ) -> Resolution | _Refused | None:
        tenant_id = view.tenant_by_hostname.get(host)
        if tenant_id is not None:
            return Resolution(tenant_id, path)
        if self.suffix is None or not host.endswith(self.suffix):
            return None
        label = host[: -len(self.suffix)]
        if not label or "." in label:
            return REFUSED
        tenant_id = label.replace("-", "_")
        return Resolution(tenant_id, path) if tenant_id in view.tenants else REFUSED


class PathStrategy(Strategy):
    """`/t/{tenant_id}/…`, for the dev namespace only; the prefix is stripped."""

    def __init__(self, dev_namespace: str) -> None:
        self.dev_namespace = dev_namespace

    def resolve(
        self, view: ViewData, namespace: str, host: str, path: str, headers: dict[bytes, bytes]
    ) -> Resolution | _Refused | None:
        if namespace != self.dev_namespace or not path.startswith("/t/"):
            return None
        tenant_id, slash, rest = path[3:].partition("/")
        try:
            validate_tenant_id(tenant_id)
        except InvalidName:
            return REFUSED
        if tenant_id not in view.tenants:
            return REFUSED
        return Resolution(tenant_id, slash + rest if slash else "/")
