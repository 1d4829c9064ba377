"""The migrations build exactly the tables the code uses, on SQLite and on the local PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from z0.registry import create_registry_engine, migrate
from z0.registry._db import MIGRATIONS
from z0.registry._tables import metadata, registry_state


def test_migrations_match_the_tables_and_rerun_harmlessly(database_url: str) -> None:
    engine = create_registry_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)  # every start runs it: the second run changes nothing
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
            assert context.get_current_revision() == _head()
            assert connection.execute(select(registry_state.c.change_counter)).scalar_one() == 0
        tables = set(inspect(engine).get_table_names())
        assert {"namespaces", "scripts", "script_versions", "tenants", "api_tokens", "tenant_keys"} <= tables
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = create_registry_engine(sqlite_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def _head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()
