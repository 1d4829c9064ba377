"""Configs: versioned settings, global or per tenant. Every change is a new version (`config_version`);
old versions stay, so what was in force at any moment can be shown (the billing run prices a period
with the versions in force at its end).

A tenant's Config of a name overrides the global one key by key: `effective` is the global Config's
data with the tenant's keys on top. The `pricing` Config is checked (`Pricing`); any other name holds a
JSON object for the platform and its tenants' workers (`env.Z0.config.get(name)`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from z0.billing.money import check_currency, exact, parse_amount
from z0.errors import Conflict, InvalidRequest, NotFound
from z0.registry._db import Database, utcnow
from z0.registry._tables import configs, tenants

__all__ = ["ConfigNotFound", "ConfigStore", "ConfigVersion", "EffectiveConfig", "Pricing"]

GLOBAL = ""  # the tenant_id column of global Configs
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
MAX_DATA_BYTES = 64 * 1024
PRICING = "pricing"


class ConfigNotFound(NotFound):
    """Answered 404."""


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    name: str
    tenant_id: str | None  # None: global
    version: int
    data: dict[str, Any]
    created_at: datetime
    created_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": "global" if self.tenant_id is None else "tenant",
            "tenant_id": self.tenant_id,
            "config_version": self.version,
            "data": self.data,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True, slots=True)
class EffectiveConfig:
    """What applies to a tenant: the global data with the tenant's keys on top."""

    name: str
    data: dict[str, Any]
    global_version: int | None
    tenant_version: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "data": self.data,
            "global_version": self.global_version,
            "tenant_version": self.tenant_version,
        }


@dataclass(frozen=True, slots=True)
class Pricing:
    """The platform's unit costs, and the markup that turns a cost into the tenant's charge."""

    per_million_requests: Decimal
    per_million_cpu_ms: Decimal
    markup: Decimal  # a fraction: 0.2 is 20 %
    currency: str
    global_version: int | None = None
    tenant_version: int | None = None

    # Built in (Cloudflare Workers' list prices, no markup): what an operator who set nothing gets.
    DEFAULTS = {
        "per_million_requests": "0.30",
        "per_million_cpu_ms": "0.02",
        "markup": "0",
        "currency": "USD",
    }

    @classmethod
    def of(cls, config: EffectiveConfig) -> Pricing:
        data = {**cls.DEFAULTS, **config.data}
        unknown = set(data) - set(cls.DEFAULTS)
        if unknown:
            raise ValueError(f"unknown pricing keys: {', '.join(sorted(unknown))}")
        try:
            pricing = cls(
                per_million_requests=parse_amount(data["per_million_requests"]),
                per_million_cpu_ms=parse_amount(data["per_million_cpu_ms"]),
                markup=parse_amount(data["markup"]),
                currency=check_currency(data["currency"]),
                global_version=config.global_version,
                tenant_version=config.tenant_version,
            )
        except ValueError as exc:
            raise ValueError(f"pricing: {exc}") from None
        if min(pricing.per_million_requests, pricing.per_million_cpu_ms, pricing.markup) < 0:
            raise ValueError("pricing: prices and the markup are zero or more")
        return pricing

    def cost(self, requests: int, cpu_us: int) -> Decimal:
        """What this much compute cost the platform, exactly."""
        with exact():
            million = Decimal(1_000_000)
            cpu_ms = Decimal(cpu_us) / 1000
            return requests * self.per_million_requests / million + cpu_ms * self.per_million_cpu_ms / million

    def charge(self, cost: Decimal) -> Decimal:
        with exact():
            return cost * (1 + self.markup)


class ConfigStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(
        self, name: str, data: dict[str, Any], *, tenant_id: str | None = None, created_by: str | None = None
    ) -> ConfigVersion:
        """A new version of the Config; the previous ones stay."""
        if not NAME.match(name):
            raise InvalidRequest(f"A Config name is lowercase letters, digits, '_' and '-' (got {name!r}).")
        if not isinstance(data, dict):
            raise InvalidRequest("A Config's data is a JSON object.")
        if len(json.dumps(data)) > MAX_DATA_BYTES:
            raise InvalidRequest(f"A Config's data is at most {MAX_DATA_BYTES} bytes of JSON.")
        scope = tenant_id or GLOBAL
        try:
            with self.db.write(registry_change=False) as connection:
                if (
                    tenant_id is not None
                    and connection.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).scalar()
                    is None
                ):
                    raise InvalidRequest(f"Tenant {tenant_id!r} does not exist.")
                if name == PRICING:
                    self._check_pricing(connection, data, tenant_id)
                latest = connection.execute(
                    select(func.max(configs.c.version)).where(
                        configs.c.name == name, configs.c.tenant_id == scope
                    )
                ).scalar()
                version = int(latest or 0) + 1
                created = utcnow()
                connection.execute(
                    insert(configs).values(
                        name=name,
                        tenant_id=scope,
                        version=version,
                        data_json=json.dumps(data, sort_keys=True),
                        created_at=created,
                        created_by=created_by,
                    )
                )
        except IntegrityError as exc:  # two changes at once on PostgreSQL: one of them must retry
            raise Conflict(f"Config {name!r} changed at the same time; try again.") from exc
        return ConfigVersion(name, tenant_id, version, data, created, created_by)

    def current(
        self, name: str, *, tenant_id: str | None = None, before: datetime | None = None
    ) -> ConfigVersion | None:
        with self.db.read() as connection:
            return self._current(connection, name, tenant_id, before)

    def versions(self, name: str, *, tenant_id: str | None = None) -> list[ConfigVersion]:
        query = (
            select(configs)
            .where(configs.c.name == name, configs.c.tenant_id == (tenant_id or GLOBAL))
            .order_by(configs.c.version)
        )
        with self.db.read() as connection:
            return [_version(row) for row in connection.execute(query).mappings()]

    def names(self, *, tenant_id: str | None = None) -> list[str]:
        query = select(configs.c.name).where(configs.c.tenant_id == (tenant_id or GLOBAL)).distinct()
        with self.db.read() as connection:
            return sorted(connection.execute(query).scalars())

    def effective(
        self,
        name: str,
        tenant_id: str,
        *,
        before: datetime | None = None,
        connection: Connection | None = None,
    ) -> EffectiveConfig | None:
        """The tenant's Config of this name (None if neither it nor a global one exists)."""
        if connection is None:
            with self.db.read() as own:
                return self.effective(name, tenant_id, before=before, connection=own)
        shared = self._current(connection, name, None, before)
        own_version = self._current(connection, name, tenant_id, before)
        if shared is None and own_version is None:
            return None
        return EffectiveConfig(
            name,
            {**(shared.data if shared else {}), **(own_version.data if own_version else {})},
            shared.version if shared else None,
            own_version.version if own_version else None,
        )

    def pricing(self, tenant_id: str, *, before: datetime, connection: Connection) -> Pricing:
        """The pricing in force for the tenant at `before` (the built-in defaults if none was set)."""
        config = self.effective(PRICING, tenant_id, before=before, connection=connection)
        return Pricing.of(config or EffectiveConfig(PRICING, {}, None, None))

    def _check_pricing(self, connection: Connection, data: dict[str, Any], tenant_id: str | None) -> None:
        """A pricing change must leave a valid pricing for whoever it applies to."""
        merged = data
        if tenant_id is not None:
            shared = self._current(connection, PRICING, None, None)
            merged = {**(shared.data if shared else {}), **data}
        try:
            Pricing.of(EffectiveConfig(PRICING, merged, None, None))
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None

    @staticmethod
    def _current(
        connection: Connection, name: str, tenant_id: str | None, before: datetime | None
    ) -> ConfigVersion | None:
        query = select(configs).where(configs.c.name == name, configs.c.tenant_id == (tenant_id or GLOBAL))
        if before is not None:
            query = query.where(configs.c.created_at < before)
        row = connection.execute(query.order_by(configs.c.version.desc()).limit(1)).mappings().first()
        return _version(row) if row is not None else None


def _version(row: Any) -> ConfigVersion:
    return ConfigVersion(
        name=row["name"],
        tenant_id=row["tenant_id"] or None,
        version=int(row["version"]),
        data=json.loads(row["data_json"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
    )
