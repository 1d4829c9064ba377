"""One settings object, from command-line flags, then `Z0_*` environment variables, then a TOML file.

[z0]                                   # or the same keys at the top level
data_dir = "/var/lib/z0"
api_port = 8788
database_url = "postgresql+psycopg://z0@db/z0"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["DEFAULT_NAMESPACES", "Settings"]

DEFAULT_NAMESPACES = ("z0-prod-tenants", "z0-staging-tenants", "z0-dev-tenants")
Strategy = Literal["key", "hostname", "path"]
DEFAULT_STRATEGIES: tuple[Strategy, ...] = ("key", "hostname", "path")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="Z0_", extra="forbid")

    data_dir: Path = Field(Path("z0-data"), description="Where the embedded SQLite files live.")
    host: str = Field("127.0.0.1", description="The address both servers listen on.")
    gateway_port: int = Field(8787, ge=0, le=65535)
    api_port: int = Field(8788, ge=0, le=65535)
    account_id: str | None = Field(None, description="The account id to create on first start.")
    api_token: SecretStr | None = Field(
        None, description="An operator API token to accept (else one is made on first start)."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the registry; default: SQLite under data_dir."
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Largest script upload accepted.")

    # The gateway: which namespace it serves, how it finds the tenant, how it routes.
    namespace: str = Field("z0-prod-tenants", description="The namespace the gateway serves by default.")
    namespaces_by_host: dict[str, str] = Field(
        default_factory=dict,
        description="Hostname patterns ('*.staging.example.test') mapped to the namespace they serve.",
    )
    strategies: list[Strategy] = Field(
        default_factory=lambda: list(DEFAULT_STRATEGIES),
        description="How the gateway finds the tenant, tried in this order.",
    )
    base_domain: str | None = Field(None, description="Public traffic: {tenant-id}.{base_domain}.")
    dev_namespace: str = Field("z0-dev-tenants", description="The namespace where /t/{tenant_id}/… works.")
    routes: dict[str, str] = Field(
        default_factory=lambda: {
            "/webhook/": "{tenant_id}-webhook",
            "/integrations/{name}/": "{tenant_id}-integration-{name}",
        },
        description="Path prefixes mapped to script names; any other path goes to {tenant_id}.",
    )
    max_request_bytes: int = Field(
        100 * 1024 * 1024, gt=0, description="Largest request body the gateway takes."
    )

    # Outbound fetch from workers: public addresses only, unless a host:port is let through here
    # (for tests and local upstreams; off by default).
    fetch_allow_hosts: list[str] = Field(
        default_factory=list, description="host:port pairs a worker may fetch even though private/loopback."
    )
    fetch_timeout_s: float = Field(30.0, gt=0, le=600, description="Per subrequest, connect to last byte.")
    fetch_max_response_bytes: int = Field(32 * 1024 * 1024, gt=0, description="Largest subrequest response.")
    # Secrets: AES-GCM master key, base64 (else a key file made in the data directory, mode 0600).
    master_key: SecretStr | None = Field(None, description="Master key for secrets, 32 bytes in base64.")
    # D1 databases: one SQLite file each under data_dir/d1.
    d1_max_database_bytes: int = Field(500 * 1024 * 1024, gt=0, description="Size limit of one database.")
    d1_query_timeout_ms: int = Field(5000, gt=0, description="Time limit of one query (or batch).")

    # Metering: the usage log's roll-up into the database, and how long consumed log segments are kept.
    usage_rollup_interval_s: float = Field(1.0, gt=0, le=3600, description="Seconds between usage roll-ups.")
    usage_log_retention_days: float = Field(
        30, ge=0, description="Days consumed usage log segments (per-invocation records) are kept."
    )

    # The platform's own work per request, each on by default; off only to measure what it costs
    # (`bench/peers_bench.py`): without metering nothing is billed, without metrics /metrics is empty.
    metering: bool = Field(True, description="Record every invocation's usage (billing needs it).")
    metrics: bool = Field(True, description="Count requests for /metrics.")
    tail: bool = Field(True, description="Keep invocations' logs for `z0 tail`.")

    # Observability: metrics snapshots, the gateway port's own /_z0/metrics, live tenant logs.
    metrics_flush_interval_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between each process's metrics snapshots."
    )
    gateway_metrics: bool = Field(
        False, description="Also serve /_z0/metrics on the gateway port (it is public: off by default)."
    )
    tail_ring_size: int = Field(
        100, ge=0, le=10_000, description="Recent invocations kept per script for `z0 tail`."
    )

    # Per-request limits, unless the tenant's own override them.
    default_cpu_ms: int = Field(50, ge=1, le=300_000)
    default_memory_mb: int = Field(128, ge=8, le=8192)
    default_subrequests: int = Field(1000, ge=0)
    workers: int | None = Field(
        None, ge=1, le=256, description="Gateway processes sharing the gateway port; default: one per CPU."
    )
    # The runtime: executor processes and their isolates.
    executors: int | None = Field(
        None, ge=1, le=256, description="JS executor processes; default: one per CPU."
    )
    max_isolates: int = Field(1000, ge=1, description="Isolates kept per executor (least recently used go).")
    executor_memory_mb: int = Field(1024, ge=16, description="Memory of all isolates of one executor.")
    isolates_per_script: int = Field(4, ge=1, le=64, description="Concurrent isolates per script version.")
    startup_cpu_ms: int = Field(400, ge=10, le=60_000, description="CPU limit of a script's top level.")

    @field_validator("account_id")
    @classmethod
    def _account_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not (1 <= len(value) <= 64 and value.isalnum() and value.isascii()):
            raise ValueError("an account id is 1 to 64 ASCII letters and digits")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings

    @classmethod
    def load(cls, config_file: Path | None = None, **flags: Any) -> Settings:
        """Flags given (not None) win over the environment, which wins over the file."""
        given = {key: value for key, value in flags.items() if value is not None}
        settings = cls(**given)
        if config_file is None:
            return settings
        from_file = _read_toml(config_file)
        from_env_or_flags = settings.model_fields_set
        merged = {key: value for key, value in from_file.items() if key not in from_env_or_flags}
        return cls.model_validate({**settings.model_dump(exclude_unset=True), **merged})

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'z0.sqlite3').resolve()}"

    @property
    def uses_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise ValueError(f"Cannot read the settings file {path}: {exc.strerror}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"The settings file {path} is not valid TOML: {exc}.") from exc
    section = document.get("z0", document)
    if not isinstance(section, dict):
        raise ValueError(f"The settings file {path} has a [z0] entry that is not a table.")
    return dict(section)
