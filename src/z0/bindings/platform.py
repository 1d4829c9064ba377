"""Every host op a worker has, wired to this z0's settings and registry."""

from __future__ import annotations

from z0.bindings import d1, fetch, kv, subtle, z0_binding
from z0.bindings._router import HostOpRouter
from z0.observe.tracing import Tracing
from z0.registry import Registry
from z0.settings import Settings

__all__ = ["build_host_ops"]


def build_host_ops(settings: Settings, registry: Registry, tracing: Tracing | None = None) -> HostOpRouter:
    """With `tracing`, each outbound fetch is recorded as a span."""
    router = HostOpRouter()
    fetch.register(router, settings=settings, registry=registry, tracing=tracing)
    for module in (subtle, kv, d1, z0_binding):
        module.register(router, settings=settings, registry=registry)
    return router
