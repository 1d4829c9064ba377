"""First start: the account, the three namespaces and an operator API token; later starts check them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from z0.registry import Registry
from z0.settings import DEFAULT_NAMESPACES, Settings

__all__ = ["Bootstrap", "BootstrapError", "bootstrap"]


class BootstrapError(Exception):
    """The data directory and the settings disagree; z0 does not start."""


@dataclass(frozen=True, slots=True)
class Bootstrap:
    account_id: str
    first_start: bool
    new_token: str | None  # made on first start when Z0_API_TOKEN is not set; shown once


def bootstrap(registry: Registry, settings: Settings) -> Bootstrap:
    account = registry.namespaces.account()
    env_token = settings.api_token.get_secret_value() if settings.api_token else None
    if account is not None:
        if settings.account_id and settings.account_id != account.id:
            raise BootstrapError(
                f"This data belongs to account {account.id}; --account-id {settings.account_id} differs. "
                "Drop --account-id, or use another data directory."
            )
        if env_token:
            registry.credentials.set_env_token(account.id, env_token)
        return Bootstrap(account.id, first_start=False, new_token=None)

    account = registry.namespaces.create_account(settings.account_id or secrets.token_hex(16))
    for name in DEFAULT_NAMESPACES:
        registry.namespaces.create(account.id, name, created_by="z0")
    if env_token:
        registry.credentials.set_env_token(account.id, env_token)
        return Bootstrap(account.id, first_start=True, new_token=None)
    _, secret = registry.credentials.create_token(account.id, name="operator (first start)")
    return Bootstrap(account.id, first_start=True, new_token=secret)
