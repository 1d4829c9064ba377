"""Opening the registry database and bringing its schema up to date.

SQLite (the embedded default) runs in WAL mode with foreign keys on; a write transaction takes the
write lock when it begins (`BEGIN IMMEDIATE`), so two writers queue instead of failing half-way.
PostgreSQL needs nothing special.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from z0.registry._tables import registry_state

__all__ = ["WRITE", "Database", "create_registry_engine", "insert_ignoring_conflicts", "migrate", "utcnow"]

MIGRATIONS = Path(__file__).with_name("migrations")
# Execution option that marks a connection as a writer (SQLite: BEGIN IMMEDIATE).
WRITE = "z0_write"
_MIGRATION_LOCK = 0x7A30  # PostgreSQL advisory lock id: one migrator at a time across nodes


def create_registry_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the driver, so that `_sqlite_on_begin` decides how to begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Applies every migration up to `revision`; safe to call on every start, from several nodes."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK})
                connection.commit()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Database:
    """Read and write transactions on the registry; every write bumps the change counter."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{WRITE: True})

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def write(self, *, registry_change: bool = True) -> Iterator[Connection]:
        """A write transaction. `registry_change=False` for data the gateway's view does not hold
        (KV entries, usage, the ledger): bumping the counter would make every gateway reload."""
        with self._writer.begin() as connection:
            yield connection
            if not registry_change:
                return
            connection.execute(
                update(registry_state)
                .where(registry_state.c.id == 1)
                .values(change_counter=registry_state.c.change_counter + 1)
            )

    def change_counter(self) -> int:
        with self.read() as connection:
            value = connection.execute(
                registry_state.select().with_only_columns(registry_state.c.change_counter)
            ).scalar_one()
        return int(value)


def insert_ignoring_conflicts(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """INSERT … ON CONFLICT (keys) DO NOTHING, on SQLite and PostgreSQL alike."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    connection.execute(statement, list(rows))
