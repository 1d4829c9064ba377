"""(being written) host ops for kv."""

from __future__ import annotations

from z0.bindings._router import HostOpRouter
from z0.registry import Registry
from z0.settings import Settings

__all__ = ["register"]


def register(router: HostOpRouter, *, settings: Settings, registry: Registry) -> None:
    """Adds this module's host ops to the router."""
