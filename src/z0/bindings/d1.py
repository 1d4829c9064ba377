"""D1: a tenant's SQL databases, one SQLite file each (`{data_dir}/d1/{id}.sqlite3`), queried by the
control API and by workers.

Binding contract (web/d1.js ⇄ host); each op names the script's own `d1` binding, whose descriptor
holds the database id (`id`, or Cloudflare's `database_id`); the JS never names a database:

    d1.query {binding, sql, params}                    -> {columns, rows, meta}
    d1.batch {binding, statements: [{sql, params}]}    -> [{columns, rows, meta}]   all or nothing
    d1.exec  {binding, sql}                            -> {count, duration}         all or nothing

Params are JSON numbers, strings and null, a BLOB `{"blob": base64}`, a BigInt `{"bigint": "123"}`
(and, as D1 accepts, an array of byte values). Rows come back as arrays, a BLOB as an array of byte
values (as D1 returns it). A failure rejects with D1's message: `D1_ERROR: no such table: t:
SQLITE_ERROR`, `D1_EXEC_ERROR: Error in line 2: …`.

Safety: an authorizer allows plain SQL on the database itself and refuses ATTACH/DETACH (and so
VACUUM INTO), temporary objects, transaction statements (use batch), load_extension and
fts3_tokenizer, virtual tables other than full-text and R*Tree, and every PRAGMA but introspection;
SQLITE_LIMIT_ATTACHED is 0 besides. Extensions are never enabled. A progress handler stops a query
(or batch) at `d1_query_timeout_ms`; `max_page_count` holds a database to `d1_max_database_bytes`;
`trusted_schema` is off, `cell_size_check` and `foreign_keys` on; D1's limits on value, statement
and parameter sizes are SQLite limits. Queries run in a small thread pool, one at a time per
database, so the event loop never waits on SQLite.

`meta.rows_read` and `meta.rows_written` are estimates (rows returned, rows changed): SQLite's
scan counters are out of Python's reach.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import os
import re
import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from z0.bindings._router import HostOpRouter, OpContext
from z0.errors import InvalidRequest
from z0.registry import Registry
from z0.runtime.hostops import HostOpError
from z0.settings import Settings

__all__ = ["D1Error", "D1Store", "Statement", "register", "split_statements"]

T = TypeVar("T")

MAX_RESULT_BYTES = 32 * 1024 * 1024
MAX_OPEN = 64
THREADS = 4
PROGRESS_STEPS = 5000
# D1's limits: 2 MB values and rows, 100 KB statements, 100 parameters, 100 columns, 32 arguments.
SQLITE_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: 2_000_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 100,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 32,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
}
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DDL = re.compile(r"^(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:create|drop|alter|reindex|analyze)\b", re.I | re.S)
_INT64 = (-(2**63), 2**63 - 1)
# Statements are cached by text and authorized only when prepared: a tenant sending the same text
# must not get z0's own BEGIN, prepared while transactions were allowed.
_BEGIN = f"BEGIN IMMEDIATE /* z0 {secrets.token_hex(8)} */"


class D1Error(InvalidRequest):
    """A query D1 refuses or SQLite fails: 400 with Cloudflare's D1 code in the control API."""

    code = 7500

    def __init__(self, message: str, prefix: str = "D1_ERROR") -> None:
        super().__init__(message)
        self.prefix = prefix


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: Sequence[Any] = ()


# What the authorizer lets through


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _codes(names: str) -> frozenset[int]:
    return frozenset(int(getattr(sqlite3, f"SQLITE_{name}")) for name in _words(names))


_ALLOWED = _codes(
    "SELECT READ INSERT UPDATE DELETE RECURSIVE CREATE_TABLE CREATE_INDEX CREATE_VIEW CREATE_TRIGGER "
    "DROP_TABLE DROP_INDEX DROP_VIEW DROP_TRIGGER DROP_VTABLE ALTER_TABLE REINDEX ANALYZE"
)
_TEMP = _codes(
    "CREATE_TEMP_TABLE CREATE_TEMP_INDEX CREATE_TEMP_VIEW CREATE_TEMP_TRIGGER "
    "DROP_TEMP_TABLE DROP_TEMP_INDEX DROP_TEMP_VIEW DROP_TEMP_TRIGGER"
)
# Introspection, with or without an argument; then settings that may only be read.
_PRAGMAS = _words(
    "table_info table_xinfo table_list index_list index_info index_xinfo foreign_key_list foreign_key_check "
    "quick_check integrity_check defer_foreign_keys optimize user_version collation_list"
)
_READ_ONLY_PRAGMAS = _words(
    "foreign_keys data_version page_count page_size max_page_count freelist_count schema_version encoding "
    "journal_mode application_id auto_vacuum"
)
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})
_VTABLE_MODULES = frozenset({"fts3", "fts4", "fts5", "fts5vocab", "fts4aux", "rtree", "rtree_i32"})


def _denial(action: int, arg1: str | None, arg2: str | None) -> str | None:
    """Why a tenant's statement may not do this; None when it may."""
    if action in _ALLOWED:
        return None
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return "ATTACH, DETACH and VACUUM are not allowed: a D1 database cannot reach another file"
    if action in _TEMP:
        return "temporary tables, views, triggers and indexes are not allowed"
    if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
        return "use batch() for a transaction: BEGIN, COMMIT, ROLLBACK and SAVEPOINT are not allowed"
    if action == sqlite3.SQLITE_FUNCTION:
        return f"the function {arg2}() is not allowed" if (arg2 or "").lower() in _DENIED_FUNCTIONS else None
    if action == sqlite3.SQLITE_CREATE_VTABLE:
        return (
            None
            if (arg2 or "").lower() in _VTABLE_MODULES
            else f"virtual tables using {arg2} are not allowed"
        )
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _PRAGMAS or (name in _READ_ONLY_PRAGMAS and arg2 is None):
            return None
        return f"PRAGMA {name} is not allowed" + (" to be set" if name in _READ_ONLY_PRAGMAS else "")
    return "this statement is not allowed"


class _Database:
    """One database: its connection (opened lazily, in a pool thread), and the state its authorizer and
    progress handler read. Only one thread uses it at a time (the store's per-database lock)."""

    def __init__(self, database_id: str, path: Path) -> None:
        self.id = database_id
        self.path = path
        self.lock = asyncio.Lock()
        self.users = 0  # coroutines holding or waiting for the lock
        self.connection: sqlite3.Connection | None = None
        self.inode = 0
        self.page_size = 4096
        self.deadline = math.inf
        self.internal = False  # z0's own BEGIN/COMMIT/ROLLBACK
        self.denied: str | None = None
        self.budget = MAX_RESULT_BYTES

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
    ) -> int:
        if self.internal and action == sqlite3.SQLITE_TRANSACTION:
            return sqlite3.SQLITE_OK
        reason = _denial(action, arg1, arg2)
        if reason is None:
            return sqlite3.SQLITE_OK
        self.denied = reason
        return sqlite3.SQLITE_DENY

    def progress(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class D1Store:
    """The D1 databases under one data directory, with a bounded set of open connections."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        timeout_ms: int,
        max_open: int = MAX_OPEN,
        threads: int = THREADS,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.timeout_ms = timeout_ms
        self._max_open = max_open
        self._open: OrderedDict[str, _Database] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="z0-d1")

    @classmethod
    def from_settings(cls, settings: Settings) -> D1Store:
        return cls(
            settings.data_dir / "d1",
            max_bytes=settings.d1_max_database_bytes,
            timeout_ms=settings.d1_query_timeout_ms,
        )

    def path(self, database_id: str) -> Path:
        if not _ID.match(database_id):
            raise D1Error(f"{database_id!r} is not a D1 database id.")
        return self.directory / f"{database_id}.sqlite3"

    # Whole databases

    def create(self, database_id: str) -> int:
        """Makes the empty file (blocking; call it from a thread); returns its size."""
        path = self.path(database_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=rwc", uri=True, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA user_version=0")  # writes the header: the file is a database now
        finally:
            connection.close()
        return path.stat().st_size

    async def delete(self, database_id: str) -> None:
        path = self.path(database_id)

        def remove(database: _Database) -> None:
            database.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        await self._call(database_id, remove)

    async def details(self, database_id: str) -> dict[str, int]:
        """`file_size` and `num_tables`, as Cloudflare reports them."""

        def read(database: _Database) -> dict[str, int]:
            connection = self._connection(database)
            database.deadline = time.monotonic() + self.timeout_ms / 1000
            try:
                (tables,) = connection.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                    "ESCAPE '\\'"
                ).fetchone()
            except sqlite3.Error as exc:
                raise self._error(exc, database) from None
            return {"file_size": self._size(database), "num_tables": int(tables)}

        return await self._call(database_id, read)

    # Queries

    async def batch(self, database_id: str, statements: Sequence[Statement]) -> list[dict[str, Any]]:
        """Runs statements in one transaction: all of them, or (on any error) none."""
        if not statements:
            return []

        def run(database: _Database) -> list[dict[str, Any]]:
            return self._transaction(
                database, lambda connection: [self._execute(database, connection, s) for s in statements]
            )

        return await self._call(database_id, run)

    async def exec(self, database_id: str, sql: str) -> dict[str, Any]:
        """Runs a script of statements without parameters, in one transaction: `{count, duration}`."""
        statements = split_statements(sql)
        if not statements:
            raise D1Error("No SQL statements detected.", "D1_EXEC_ERROR")

        def run(database: _Database) -> dict[str, Any]:
            return self._transaction(database, lambda c: self._script(database, c, statements))

        return await self._call(database_id, run)

    async def close(self) -> None:
        databases = list(self._open.values())
        self._open.clear()
        for database in databases:
            async with database.lock:
                await asyncio.get_running_loop().run_in_executor(self._pool, database.close)
        self._pool.shutdown(wait=False)

    # One database at a time, in the pool

    async def _call(self, database_id: str, work: Callable[[_Database], T]) -> T:
        """Runs `work` in a pool thread, after any earlier work on the same database. The database stays
        locked until the thread is done, even when the caller is cancelled."""
        database = self._database(database_id)
        try:
            await database.lock.acquire()
        except BaseException:
            database.users -= 1
            raise
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool, work, database)
        except BaseException:
            self._release(database)
            raise
        future.add_done_callback(lambda done: self._release(database, done))
        return await asyncio.shield(future)

    def _database(self, database_id: str) -> _Database:
        database = self._open.get(database_id)
        if database is None:
            database = self._open[database_id] = _Database(database_id, self.path(database_id))
        self._open.move_to_end(database_id)
        database.users += 1
        return database

    def _release(self, database: _Database, done: asyncio.Future[Any] | None = None) -> None:
        if done is not None and not done.cancelled():
            done.exception()  # a cancelled caller never reads it
        database.lock.release()
        database.users -= 1
        self._evict()

    def _evict(self) -> None:
        while len(self._open) > self._max_open:
            idle = next((key for key, database in self._open.items() if database.users == 0), None)
            if idle is None:
                return
            self._pool.submit(self._open.pop(idle).close)

    # In a pool thread, holding the database

    def _connection(self, database: _Database) -> sqlite3.Connection:
        """The open connection, after checking that the file is still the one it opened (another process
        may have deleted the database)."""
        try:
            inode = os.stat(database.path).st_ino
        except FileNotFoundError:
            database.close()
            raise D1Error(f"D1 database {database.id} was not found.") from None
        if database.connection is not None and inode != database.inode:
            database.close()
        if database.connection is None:
            database.connection = self._open_connection(database)
            database.inode = inode
        return database.connection

    def _open_connection(self, database: _Database) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                f"file:{quote(str(database.path))}?mode=rw",
                uri=True,
                isolation_level=None,  # z0 begins and ends every transaction itself
                check_same_thread=False,  # pool threads take turns, under the database's lock
                timeout=self.timeout_ms / 1000,
            )
        except sqlite3.Error as exc:
            raise D1Error(f"D1 database {database.id} cannot be opened: {exc}") from None
        try:
            self._configure(connection, database)
        except sqlite3.Error as exc:
            connection.close()
            raise D1Error(f"D1 database {database.id} cannot be opened: {exc}") from None
        return connection

    def _configure(self, connection: sqlite3.Connection, database: _Database) -> None:
        (database.page_size,) = connection.execute("PRAGMA page_size").fetchone()
        pages = max(1, self.max_bytes // database.page_size)
        for pragma in (
            f"max_page_count = {pages}",
            "trusted_schema = OFF",
            "cell_size_check = ON",
            "foreign_keys = ON",
            "synchronous = NORMAL",
        ):
            connection.execute(f"PRAGMA {pragma}")
        for limit, value in SQLITE_LIMITS.items():
            connection.setlimit(limit, value)
        # set last: it also expires the statements prepared above, so none escapes it
        connection.set_authorizer(database.authorize)
        connection.set_progress_handler(database.progress, PROGRESS_STEPS)

    def _transaction(self, database: _Database, work: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._connection(database)
        database.deadline = time.monotonic() + self.timeout_ms / 1000
        database.budget = MAX_RESULT_BYTES
        self._internal(database, lambda: connection.execute(_BEGIN))
        try:
            result = work(connection)
            database.deadline = math.inf
            self._internal(database, connection.commit)
        except BaseException:
            database.deadline = math.inf
            self._internal(database, connection.rollback)  # a no-op once SQLite has rolled back itself
            raise
        if isinstance(result, list):
            size = self._size(database)
            for item in result:
                item["meta"]["size_after"] = size
        return result

    def _internal(self, database: _Database, step: Callable[[], object]) -> None:
        database.internal = True
        try:
            step()
        except sqlite3.Error as exc:
            raise self._error(exc, database) from None
        finally:
            database.internal = False

    def _execute(
        self, database: _Database, connection: sqlite3.Connection, statement: Statement, *, fetch: bool = True
    ) -> dict[str, Any]:
        if not statement.sql.strip():
            raise D1Error("No SQL statements detected.")
        params = [_param(value) for value in statement.params]
        database.denied = None
        started = time.perf_counter()
        before = connection.total_changes
        cursor = connection.cursor()
        try:
            cursor.execute(statement.sql, params)
            columns = [column[0] for column in cursor.description or ()]
            rows = self._fetch(cursor, database) if columns and fetch else []
            last_row_id = cursor.lastrowid or 0
        except (sqlite3.Error, OverflowError) as exc:
            raise self._error(exc, database) from None
        finally:
            cursor.close()
        duration = (time.perf_counter() - started) * 1000
        changes = connection.total_changes - before
        meta = {
            "served_by": "z0",
            "served_by_primary": True,
            "duration": duration,
            "changes": changes,
            "last_row_id": last_row_id,
            "changed_db": changes > 0 or bool(_DDL.match(statement.sql)),
            "size_after": 0,
            "rows_read": max(len(rows), changes),
            "rows_written": changes,
            "timings": {"sql_duration_ms": duration},
        }
        return {"columns": columns, "rows": rows, "meta": meta}

    def _script(
        self, database: _Database, connection: sqlite3.Connection, statements: list[tuple[int, str]]
    ) -> dict[str, Any]:
        duration = 0.0
        for line, text in statements:
            try:
                result = self._execute(database, connection, Statement(text), fetch=False)
            except D1Error as exc:
                raise D1Error(f"Error in line {line}: {text}: {exc.message}", "D1_EXEC_ERROR") from None
            duration += result["meta"]["duration"]
        return {"count": len(statements), "duration": duration}

    @staticmethod
    def _fetch(cursor: sqlite3.Cursor, database: _Database) -> list[list[Any]]:
        rows: list[list[Any]] = []
        while batch := cursor.fetchmany(256):
            for row in batch:
                values, size = _row(row)
                rows.append(values)
                database.budget -= size
            if database.budget < 0:
                limit = MAX_RESULT_BYTES // (1024 * 1024)
                raise D1Error(f"The results are over {limit} MiB; select fewer rows or columns.")
        return rows

    def _size(self, database: _Database) -> int:
        assert database.connection is not None
        (pages,) = database.connection.execute("PRAGMA page_count").fetchone()
        return int(pages) * database.page_size

    def _error(self, exc: Exception, database: _Database) -> D1Error:
        name = getattr(exc, "sqlite_errorname", None)
        if name == "SQLITE_INTERRUPT":
            text = f"D1 stopped the query at its time limit of {self.timeout_ms} ms"
        elif name == "SQLITE_FULL":
            text = f"Exceeded maximum DB size of {self.max_bytes} bytes"
        elif str(exc) == "not authorized" and database.denied:
            text = f"not authorized: {database.denied}"
        else:
            text = str(exc)
        return D1Error(f"{text}: {name}" if name else text)


def _row(row: tuple[Any, ...]) -> tuple[list[Any], int]:
    """A row as JSON values (a BLOB as its byte values, as D1), and roughly its size once encoded."""
    values: list[Any] = []
    size = 2
    for value in row:
        if isinstance(value, str):
            size += len(value) + 3
        elif isinstance(value, bytes):
            size += 4 * len(value) + 2
            value = list(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None  # JSON has no infinities
        size += 8
        values.append(value)
    return values, size


def _param(value: Any) -> Any:
    """A bound value from JSON: D1's types, BLOBs as `{"blob": base64}` or byte arrays, BigInts."""
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    if isinstance(value, Mapping) and isinstance(value.get("blob"), str):
        try:
            return base64.b64decode(value["blob"], validate=True)
        except binascii.Error:
            raise D1Error("A BLOB parameter did not arrive as base64.", "D1_TYPE_ERROR") from None
    if isinstance(value, Mapping) and isinstance(value.get("bigint"), str):
        number = int(value["bigint"])
        if not _INT64[0] <= number <= _INT64[1]:
            raise D1Error(f"The BigInt {number} is outside SQLite's 64-bit integers.", "D1_TYPE_ERROR")
        return number
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    raise D1Error(f"Type '{type(value).__name__}' not supported for value '{value}'", "D1_TYPE_ERROR")


# Scripts: statements one by one


_TOKENS = re.compile(
    r"'[^']*(?:''[^']*)*'?|\"[^\"]*(?:\"\"[^\"]*)*\"?|`[^`]*`?|\[[^\]]*\]?|--[^\n]*|/\*.*?(?:\*/|\Z)|;",
    re.S,
)
_LEADING = re.compile(r"(?:\s|;|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.S)


def split_statements(sql: str) -> list[tuple[int, str]]:
    """The statements of a script, with the line each starts on. Splits at semicolons outside quotes and
    comments, then joins pieces SQLite sees as incomplete (the body of a CREATE TRIGGER)."""
    statements: list[tuple[int, str]] = []
    start = 0
    for match in _TOKENS.finditer(sql):
        if match.group() != ";":
            continue
        piece = sql[start : match.end()]
        if sqlite3.complete_statement(piece):
            _keep(statements, sql, start, piece)
            start = match.end()
    _keep(statements, sql, start, sql[start:])
    return statements


def _keep(statements: list[tuple[int, str]], sql: str, start: int, piece: str) -> None:
    leading = _LEADING.match(piece)
    offset = leading.end() if leading else 0
    if offset < len(piece):
        statements.append((sql.count("\n", 0, start + offset) + 1, piece[offset:].rstrip()))


# Host ops


def register(router: HostOpRouter, *, settings: Settings, registry: Registry) -> None:
    """The d1.* ops, on a store of this process's own."""
    del registry  # the binding's descriptor names the database; its owner was checked at upload
    store = D1Store.from_settings(settings)

    def database_of(context: OpContext) -> str:
        assert context.binding is not None
        return str(context.binding.get("id") or context.binding.get("database_id") or "")

    async def guarded(work: Awaitable[T]) -> T:
        try:
            return await work
        except D1Error as exc:
            raise HostOpError(f"{exc.prefix}: {exc.message}") from None

    async def d1_query(context: OpContext, op: dict[str, Any]) -> Any:
        results = await guarded(store.batch(database_of(context), [_statement(op)]))
        return results[0]

    async def d1_batch(context: OpContext, op: dict[str, Any]) -> Any:
        statements = op.get("statements")
        if not isinstance(statements, list):
            raise HostOpError("D1_ERROR: batch() takes an array of prepared statements.")
        return await guarded(store.batch(database_of(context), [_statement(s) for s in statements]))

    async def d1_exec(context: OpContext, op: dict[str, Any]) -> Any:
        sql = op.get("sql")
        if not isinstance(sql, str):
            raise HostOpError("D1_EXEC_ERROR: exec() takes a string of SQL.")
        return await guarded(store.exec(database_of(context), sql))

    for name, handler in (("d1.query", d1_query), ("d1.batch", d1_batch), ("d1.exec", d1_exec)):
        router.register(name, handler, binding_type="d1")


def _statement(op: object) -> Statement:
    sql = op.get("sql") if isinstance(op, dict) else None
    params = op.get("params") if isinstance(op, dict) else None
    if not isinstance(sql, str) or not isinstance(params, list | None):
        raise HostOpError("D1_ERROR: a statement is {sql, params}: a string and an array.")
    return Statement(sql, params or ())
