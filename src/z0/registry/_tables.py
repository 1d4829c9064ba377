"""The registry's tables (SQLAlchemy Core). Migrations in `migrations/versions` create exactly these;
`tests/registry/test_migrations.py` checks that they agree on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

__all__ = [
    "UTCDateTime",
    "accounts",
    "api_tokens",
    "blobs",
    "configs",
    "d1_databases",
    "facts",
    "invoice_lines",
    "invoices",
    "kv_entries",
    "kv_namespaces",
    "metadata",
    "namespaces",
    "registry_state",
    "script_secrets",
    "script_tags",
    "script_versions",
    "scripts",
    "tenant_hostnames",
    "tenant_keys",
    "tenants",
    "usage_minutes",
    "usage_months",
    "usage_segments",
    "version_modules",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones), always handed back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("z0 stores only aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row: bumped by every registry write, so that every process sees a change within a poll.
registry_state = Table(
    "registry_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("change_counter", BigInteger, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_on", UTCDateTime, nullable=False),
)

namespaces = Table(
    "namespaces",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(63), nullable=False, unique=True),
    Column("created_on", UTCDateTime, nullable=False),
    Column("modified_on", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=True),
    Column("modified_by", String(64), nullable=True),
)

scripts = Table(
    "scripts",
    metadata,
    Column("namespace_id", String(36), ForeignKey("namespaces.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("tenant_id", String(40), nullable=True, index=True),
    Column("current_version_id", String(36), nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
    Column("modified_on", UTCDateTime, nullable=False),
)

script_tags = Table(
    "script_tags",
    metadata,
    Column("namespace_id", String(36), primary_key=True),
    Column("script_name", String(63), primary_key=True),
    Column("tag", String(256), primary_key=True),
    ForeignKeyConstraint(
        ["namespace_id", "script_name"],
        ["scripts.namespace_id", "scripts.name"],
        ondelete="CASCADE",
        name="fk_script_tags_script",
    ),
    Index("ix_script_tags_namespace_id_tag", "namespace_id", "tag"),
)

script_versions = Table(
    "script_versions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("namespace_id", String(36), nullable=False),
    Column("script_name", String(63), nullable=False),
    Column("etag", String(64), nullable=False),
    Column("main_module", String(255), nullable=False),
    Column("format", String(16), nullable=False),  # "modules" or "service-worker"
    Column("metadata_json", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
    # What the upload check found: the linked form (a blob), its handlers and startup time.
    Column("linked_sha256", String(64), nullable=True),
    Column("handlers_json", Text, nullable=True),
    Column("startup_ms", Float, nullable=True),
    ForeignKeyConstraint(
        ["namespace_id", "script_name"],
        ["scripts.namespace_id", "scripts.name"],
        ondelete="CASCADE",
        name="fk_script_versions_script",
    ),
    Index("ix_script_versions_namespace_id_script_name", "namespace_id", "script_name", "created_on"),
)

# Module contents by SHA-256: many tenants deploying one template store it once.
blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

version_modules = Table(
    "version_modules",
    metadata,
    Column("version_id", String(36), ForeignKey("script_versions.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("blob_sha256", String(64), ForeignKey("blobs.sha256"), nullable=False, index=True),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("limits_json", Text, nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
    Column("modified_on", UTCDateTime, nullable=False),
)

tenant_keys = Table(
    "tenant_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_on", UTCDateTime, nullable=False),
    Column("revoked_on", UTCDateTime, nullable=True),
)

# Custom hostnames that route public traffic to a tenant (besides {tenant-id}.{base_domain}).
tenant_hostnames = Table(
    "tenant_hostnames",
    metadata,
    Column("hostname", String(253), primary_key=True),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False, index=True),
    Column("created_on", UTCDateTime, nullable=False),
)

# KV namespaces (Workers KV), each owned by a tenant (or by the platform: tenant_id NULL).
kv_namespaces = Table(
    "kv_namespaces",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("title", String(255), nullable=False),
    Column("tenant_id", String(40), nullable=True, index=True),
    Column("created_on", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "title", name="uq_kv_namespaces_title"),
)

kv_entries = Table(
    "kv_entries",
    metadata,
    Column("namespace_id", String(32), ForeignKey("kv_namespaces.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("metadata_json", Text, nullable=True),
    Column("expiration", BigInteger, nullable=True),  # unix seconds; NULL: never
)

# SQL databases (D1): the registry knows them; each is its own SQLite file under the data directory.
d1_databases = Table(
    "d1_databases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("tenant_id", String(40), nullable=True, index=True),
    Column("created_on", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "name", name="uq_d1_databases_name"),
)

# A script's secrets, AES-GCM encrypted under the master key `key_id` names; never stored in clear.
script_secrets = Table(
    "script_secrets",
    metadata,
    Column("namespace_id", String(36), primary_key=True),
    Column("script_name", String(63), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
    Column("modified_on", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["namespace_id", "script_name"],
        ["scripts.namespace_id", "scripts.name"],
        ondelete="CASCADE",
        name="fk_script_secrets_script",
    ),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=True, index=True),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_on", UTCDateTime, nullable=False),
    Column("revoked_on", UTCDateTime, nullable=True),
)


# Metering: usage rolled up from the gateways' usage logs. Sums only, so that the roll-up can merge a
# request's two entries by adding and subtracting; times in integer microseconds so that sums are exact.
usage_minutes = Table(
    "usage_minutes",
    metadata,
    Column("minute", BigInteger, primary_key=True),  # unix seconds at the start of the minute (UTC)
    Column("tenant_id", String(40), primary_key=True),
    Column("namespace", String(63), primary_key=True),
    Column("script_name", String(63), primary_key=True),
    Column("outcome", String(32), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("cpu_us", BigInteger, nullable=False),
    Column("duration_us", BigInteger, nullable=False),
    Column("subrequests", BigInteger, nullable=False),
    Index("ix_usage_minutes_tenant_id_minute", "tenant_id", "minute"),
    Index("ix_usage_minutes_namespace_script_name_minute", "namespace", "script_name", "minute"),
)

# The same sums per tenant and calendar month (UTC): what billing charges.
usage_months = Table(
    "usage_months",
    metadata,
    Column("tenant_id", String(40), primary_key=True),
    Column("month", String(7), primary_key=True),  # "2026-11"
    Column("requests", BigInteger, nullable=False),
    Column("cpu_us", BigInteger, nullable=False),
    Column("duration_us", BigInteger, nullable=False),
    Column("subrequests", BigInteger, nullable=False),
)

# How far the roll-up has read each usage log segment; moved in the same transaction as the sums.
usage_segments = Table(
    "usage_segments",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("modified_on", UTCDateTime, nullable=False),
)

# Money. Facts, Config versions, invoices and their lines are append-only: the database refuses
# UPDATE and DELETE on them (triggers, migration 0004). Amounts are decimal strings, never floats.
facts = Table(
    "facts",
    metadata,
    Column("id", String(40), primary_key=True),  # time-ordered: fact_{ms:012x}{random:10x}
    Column("created_at", UTCDateTime, nullable=False),
    Column("type", String(32), nullable=False),
    Column("subtype", String(64), nullable=False),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False),
    Column("from_entity", String(128), nullable=False),
    Column("to_entity", String(128), nullable=False),
    Column("amount", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("tool_id", String(128), nullable=True),
    Column("data_json", Text, nullable=False),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Index("ix_facts_tenant_id_id", "tenant_id", "id"),
    Index("ix_facts_type_subtype_id", "type", "subtype", "id"),
)

configs = Table(
    "configs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("tenant_id", String(40), primary_key=True),  # "" for the global Config
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("data_json", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=True),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(40), ForeignKey("tenants.id"), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("period", String(7), nullable=False),
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "period", "currency", name="uq_invoices_tenant_period_currency"),
    Index("ix_invoices_period", "period"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("invoice_id", String(40), ForeignKey("invoices.id"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),  # charge, adjustment, credit
    Column("description", String(255), nullable=False),
    Column("fact_id", String(40), ForeignKey("facts.id"), nullable=False, unique=True),  # billed once
    Column("period", String(7), nullable=False),
    Column("amount", String(64), nullable=False),  # rounded to the currency's minor unit
)
