"""D1 through real executors: the Workers D1 API in d1.js, the d1.* host ops, and the limits on what a
worker's SQL may reach."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from z0.bindings import d1
from z0.bindings._router import HostOpRouter
from z0.registry import Module, Registry
from z0.runtime.compile import compile_script
from z0.runtime.hostops import HostOpError
from z0.runtime.supervisor import Runtime, RuntimeConfig, RuntimeRequest, ScriptCode
from z0.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

JS = "application/javascript+module"
TIMEOUT_MS = 300
MAX_BYTES = 256 * 1024


@dataclass
class Env:
    runtime: Runtime
    router: HostOpRouter
    store: d1.D1Store
    settings: Settings
    a: str  # bound as DB
    b: str  # bound as OTHER_DB, in other scripts

    async def run(self, body: str, **bindings: str) -> Any:
        """Runs `body` as a fetch handler (with `env`) and returns what it returns, as JSON; an error
        comes back as {error, cause}."""
        source = (
            "export default { async fetch(request, env) {"
            " try { const out = await (async () => {" + body + "})();"
            " return Response.json(out === undefined ? null : out); }"
            " catch (e) { return Response.json({ error: e.message, cause: e.cause && e.cause.message }); }"
            " } };"
        )
        script = worker(source, **(bindings or {"DB": self.a}))
        request = RuntimeRequest("GET", "https://tenant.example/", [])
        response = await self.runtime.fetch(script, request, request_id=str(uuid.uuid4()))
        assert response.status == 200, response.body
        return json.loads(response.body)


def worker(source: str, **bindings: str) -> ScriptCode:
    descriptors = [{"type": "d1", "name": name, "id": database} for name, database in bindings.items()]
    version = uuid.uuid4().hex[:8]
    return compile_script(
        f"ns/d1/{version}",
        "ns/d1",
        [Module("index.js", JS, source.encode())],
        "index.js",
        bindings=descriptors,
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    root = tmp_path_factory.mktemp("d1")
    settings = Settings(data_dir=root, d1_query_timeout_ms=TIMEOUT_MS, d1_max_database_bytes=MAX_BYTES)
    registry = Registry.open(f"sqlite:///{root / 'z0.sqlite3'}")
    account = registry.namespaces.create_account("acc0123456789").id
    store = d1.D1Store.from_settings(settings)
    a, b = (registry.d1.create(account, name).id for name in ("alpha", "beta"))
    for database in (a, b):
        store.create(database)
    router = HostOpRouter()
    d1.register(router, settings=settings, registry=registry)
    try:
        async with Runtime(RuntimeConfig(executors=1), host_ops=router) as runtime:
            yield Env(runtime, router, store, settings, a, b)
    finally:
        await store.close()
        registry.close()


@pytest_asyncio.fixture(loop_scope="module")
async def db(env: Env) -> Env:
    """A fresh table `t` in database A (and an empty B)."""
    await env.run(
        "await env.DB.exec('DROP TABLE IF EXISTS t;\\nDROP TABLE IF EXISTS big;\\n"
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n REAL, b BLOB)');"
    )
    await env.run("await env.OTHER_DB.exec('DROP TABLE IF EXISTS t');", OTHER_DB=env.b)
    return env


# The Workers D1 API


async def test_prepare_bind_first_all_run_raw(db: Env) -> None:
    out = await db.run("""
      const insert = () => env.DB.prepare("INSERT INTO t (name, n) VALUES (?1, ?2)");
      const ran = await insert().bind("ann", 1.5).run();
      await insert().bind("bob", 2).run();
      const select = env.DB.prepare("SELECT id, name, n FROM t WHERE n >= ? ORDER BY id");
      const bound = select.bind(0);
      return {
        ran,
        all: await bound.all(),
        first: await bound.first(),
        firstName: await select.bind(2).first("name"),
        none: await select.bind(99).first(),
        noneColumn: await select.bind(99).first("nope"),
        raw: await bound.raw(),
        rawNames: await bound.raw({ columnNames: true }),
        unbound: await select.all().catch((e) => e.message),
      };
    """)
    assert out["ran"]["success"] is True and out["ran"]["results"] == []
    meta = out["ran"]["meta"]
    assert meta["changes"] == 1 and meta["last_row_id"] == 1 and meta["changed_db"] is True
    assert meta["rows_written"] == 1 and meta["size_after"] > 0 and meta["duration"] >= 0
    assert set(meta) >= {"duration", "changes", "last_row_id", "rows_read", "rows_written", "size_after"}
    assert out["all"]["results"] == [{"id": 1, "name": "ann", "n": 1.5}, {"id": 2, "name": "bob", "n": 2}]
    assert out["all"]["meta"]["changed_db"] is False and out["all"]["meta"]["rows_read"] == 2
    assert out["first"] == {"id": 1, "name": "ann", "n": 1.5}
    assert out["firstName"] == "bob"
    assert out["none"] is None and out["noneColumn"] is None
    assert out["raw"] == [[1, "ann", 1.5], [2, "bob", 2]]
    assert out["rawNames"] == [["id", "name", "n"], [1, "ann", 1.5], [2, "bob", 2]]
    assert "Incorrect number of bindings" in out["unbound"]  # bind() made new statements


async def test_values_and_type_errors(db: Env) -> None:
    out = await db.run("""
      const row = await env.DB.prepare("SELECT ?1 AS t, ?2 AS f, ?3 AS z, ?4 AS big, typeof(?4) AS kind")
        .bind(true, false, null, 9007199254740993n).first();
      const fail = (v) => { try { env.DB.prepare("SELECT ?").bind(v); return "bound"; }
        catch (e) { return [e.message, e.cause.message]; } };
      return { row, undef: fail(undefined), obj: fail({}) };
    """)
    assert out["row"] == {"t": 1, "f": 0, "z": None, "big": 9007199254740992, "kind": "integer"}
    assert out["undef"] == [
        "D1_TYPE_ERROR: Type 'undefined' not supported for value 'undefined'",
        "Type 'undefined' not supported for value 'undefined'",
    ]
    assert out["obj"][0].startswith("D1_TYPE_ERROR: Type 'object'")


async def test_blobs_round_trip_as_byte_arrays(db: Env) -> None:
    out = await db.run("""
      const bytes = new Uint8Array([0, 1, 127, 128, 255]);
      const stmt = env.DB.prepare("INSERT INTO t (name, b) VALUES (?, ?)");
      await env.DB.batch([stmt.bind("u8", bytes), stmt.bind("buffer", bytes.buffer),
        stmt.bind("view", new DataView(bytes.buffer, 1, 2)), stmt.bind("array", [9, 8])]);
      const { results } = await env.DB.prepare("SELECT name, b, typeof(b) AS kind FROM t ORDER BY id").all();
      return results;
    """)
    assert out == [
        {"name": "u8", "b": [0, 1, 127, 128, 255], "kind": "blob"},
        {"name": "buffer", "b": [0, 1, 127, 128, 255], "kind": "blob"},
        {"name": "view", "b": [1, 127], "kind": "blob"},
        {"name": "array", "b": [9, 8], "kind": "blob"},
    ]


async def test_batch_is_all_or_nothing(db: Env) -> None:
    out = await db.run("""
      const add = env.DB.prepare("INSERT INTO t (name) VALUES (?)");
      const done = await env.DB.batch([add.bind("one"), add.bind("two"),
        env.DB.prepare("SELECT count(*) AS c FROM t")]);
      let error = null;
      try { await env.DB.batch([add.bind("three"), env.DB.prepare("INSERT INTO nope VALUES (1)")]); }
      catch (e) { error = [e.message, e.cause.message]; }
      const names = await env.DB.prepare("SELECT name FROM t ORDER BY id").raw();
      return { done, error, names };
    """)
    assert [r["meta"]["changes"] for r in out["done"]] == [1, 1, 0]
    assert out["done"][2]["results"] == [{"c": 2}]
    assert out["error"] == [
        "D1_ERROR: no such table: nope: SQLITE_ERROR",
        "no such table: nope: SQLITE_ERROR",
    ]
    assert out["names"] == [["one"], ["two"]]  # "three" was rolled back


async def test_exec_runs_a_script(db: Env) -> None:
    out = await db.run("""
      const ran = await env.DB.exec(`INSERT INTO t (name) VALUES ('a');
        INSERT INTO t (name) VALUES ('b;c'); -- a comment; not a statement
        SELECT * FROM t;`);
      let error = null;
      try { await env.DB.exec("INSERT INTO t (name) VALUES ('d');\\nINSERT INTO t (nope) VALUES (1);"); }
      catch (e) { error = e.message; }
      return { ran, error, count: await env.DB.prepare("SELECT count(*) AS c FROM t").first("c") };
    """)
    assert out["ran"]["count"] == 3 and out["ran"]["duration"] >= 0
    assert out["error"] == (
        "D1_EXEC_ERROR: Error in line 2: INSERT INTO t (nope) VALUES (1);: table t has no column named nope: "
        "SQLITE_ERROR"
    )
    assert out["count"] == 2  # exec is atomic too: 'd' was rolled back


async def test_errors_are_d1_errors(db: Env) -> None:
    out = await db.run("""
      const fail = (p) => p.then(() => "ok", (e) => [e instanceof Error, e.message, e.cause.message]);
      return {
        table: await fail(env.DB.prepare("SELECT * FROM nope").all()),
        column: await fail(env.DB.prepare("SELECT 1 AS a").first("b")),
        empty: await fail(env.DB.prepare("  ").all()),
      };
    """)
    assert out["table"] == [
        True,
        "D1_ERROR: no such table: nope: SQLITE_ERROR",
        "no such table: nope: SQLITE_ERROR",
    ]
    assert out["column"] == [True, "D1_COLUMN_NOTFOUND: Column not found (b)", "Column not found (b)"]
    assert out["empty"][1] == "D1_ERROR: No SQL statements detected."


# What a worker's SQL may not do


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("ATTACH DATABASE '{path}' AS other", "a D1 database cannot reach another file"),
        ("VACUUM INTO '{dir}/copy.sqlite3'", "VACUUM"),
        ("SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')", "load_extension"),
        ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
        ("PRAGMA writable_schema = ON", "PRAGMA writable_schema is not allowed"),
        ("PRAGMA journal_mode = OFF", "PRAGMA journal_mode is not allowed to be set"),
        ("PRAGMA max_page_count = 1000000", "PRAGMA max_page_count is not allowed to be set"),
        ("PRAGMA temp_store_directory = '/tmp'", "PRAGMA temp_store_directory is not allowed"),
        ("CREATE TEMP TABLE scratch (x)", "temporary tables"),
        ("COMMIT", "use batch() for a transaction"),
        ("BEGIN IMMEDIATE", "use batch() for a transaction"),
        ("SAVEPOINT inner", "use batch() for a transaction"),
    ],
)
async def test_refused_statements(db: Env, sql: str, message: str) -> None:
    other = db.store.path(db.b)
    sql = sql.format(path=other, dir=other.parent)
    out = await db.run(f"return await env.DB.prepare({json.dumps(sql)}).run().catch((e) => e.message);")
    assert out.startswith("D1_ERROR: ") and message in out, out
    assert not (other.parent / "copy.sqlite3").exists()


async def test_harmless_pragmas_and_full_text_search_work(db: Env) -> None:
    out = await db.run("""
      await env.DB.exec("DROP TABLE IF EXISTS docs;\\nCREATE VIRTUAL TABLE docs USING fts5(body);");
      await env.DB.prepare("INSERT INTO docs VALUES (?)").bind("hello sqlite").run();
      return {
        columns: (await env.DB.prepare("PRAGMA table_info(t)").all()).results.map((c) => c.name),
        foreignKeys: await env.DB.prepare("PRAGMA foreign_keys").first("foreign_keys"),
        found: await env.DB.prepare("SELECT body FROM docs WHERE docs MATCH ?").bind("hello").first("body"),
      };
    """)
    assert out == {"columns": ["id", "name", "n", "b"], "foreignKeys": 1, "found": "hello sqlite"}


async def test_a_runaway_query_is_stopped_at_the_time_limit(db: Env) -> None:
    started = asyncio.get_running_loop().time()
    out = await db.run("""
      const runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";
      const error = await env.DB.prepare(runaway).first().catch((e) => e.message);
      return { error, after: await env.DB.prepare("SELECT 42 AS x").first("x") };
    """)
    elapsed = asyncio.get_running_loop().time() - started
    assert (
        out["error"]
        == f"D1_ERROR: D1 stopped the query at its time limit of {TIMEOUT_MS} ms: SQLITE_INTERRUPT"
    )
    assert out["after"] == 42
    assert TIMEOUT_MS / 1000 <= elapsed < 3


async def test_a_database_stops_growing_at_its_size_limit(db: Env) -> None:
    out = await db.run("""
      await env.DB.exec("CREATE TABLE big (b BLOB)");
      const add = env.DB.prepare("INSERT INTO big VALUES (randomblob(50000))");
      let added = 0;
      try { for (;;) { await add.run(); added++; } } catch (e) { return { added, error: e.message }; }
    """)
    assert out["error"] == f"D1_ERROR: Exceeded maximum DB size of {MAX_BYTES} bytes: SQLITE_FULL"
    assert 2 <= out["added"] < MAX_BYTES // 50000
    assert db.store.path(db.a).stat().st_size <= MAX_BYTES
    deleted = await db.run("return (await env.DB.prepare('DELETE FROM big').run()).meta.changes;")
    assert deleted == out["added"]  # and the database is still usable


# One script, its own databases only


async def test_databases_are_separate_files(db: Env) -> None:
    both = {"DB": db.a, "OTHER_DB": db.b}
    out = await db.run(
        """
      await env.DB.prepare("INSERT INTO t (name) VALUES ('in a')").run();
      return { a: (await env.DB.prepare("SELECT name FROM t").raw()),
               b: await env.OTHER_DB.prepare("SELECT name FROM t").raw().catch((e) => e.message) };
    """,
        **both,
    )
    assert out == {"a": [["in a"]], "b": "D1_ERROR: no such table: t: SQLITE_ERROR"}
    files = sorted(path.name for path in (db.settings.data_dir / "d1").glob("*.sqlite3"))
    assert files == sorted(f"{database}.sqlite3" for database in (db.a, db.b))


async def test_a_script_reaches_only_its_own_bindings(db: Env) -> None:
    script = worker("export default { fetch() { return new Response('x'); } };", DB=db.a)
    other = {"op": "d1.query", "binding": "OTHER_DB", "sql": "SELECT 1", "params": []}
    with pytest.raises(HostOpError, match="'OTHER_DB' is not a d1 binding of this script"):
        await db.router.perform(script, "r1", other)
    # a database id in the op itself counts for nothing: the binding's descriptor names the database
    forged = {"op": "d1.query", "binding": "DB", "id": db.b, "database_id": db.b, "sql": "SELECT name FROM t"}
    assert (await db.router.perform(script, "r2", {**forged, "params": []}))["columns"] == ["name"]
    # and from JS there is no other way in: only env's bindings exist
    out = await db.run("return [typeof env.OTHER_DB, typeof __z0, Object.keys(env)];")
    assert out == ["undefined", "undefined", ["DB"]]


async def test_database_id_from_cloudflares_field_and_bad_ids(db: Env) -> None:
    descriptor = {"type": "d1", "name": "DB", "database_id": db.a}
    script = compile_script(
        "ns/x/1", "ns/x", [Module("index.js", JS, b"export default { fetch() {} };")], "index.js",
        bindings=[descriptor],
    )  # fmt: skip
    result = await db.router.perform(
        script, "r", {"op": "d1.query", "binding": "DB", "sql": "SELECT 1 AS one"}
    )
    assert result["rows"] == [[1]]
    bad = compile_script(
        "ns/x/2", "ns/x", [Module("index.js", JS, b"export default { fetch() {} };")], "index.js",
        bindings=[{"type": "d1", "name": "DB", "id": "../z0"}],
    )  # fmt: skip
    with pytest.raises(HostOpError, match="is not a D1 database id"):
        await db.router.perform(bad, "r", {"op": "d1.query", "binding": "DB", "sql": "SELECT 1"})


# The store itself


async def test_store_keeps_few_connections_and_sees_deletes(tmp_path: Path) -> None:
    store = d1.D1Store(tmp_path, max_bytes=MAX_BYTES, timeout_ms=1000, max_open=2)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    for database in ids:
        store.create(database)
        await store.exec(database, f"CREATE TABLE t (x); INSERT INTO t VALUES ('{database}')")
    for database in ids:
        rows = (await store.batch(database, [d1.Statement("SELECT x FROM t")]))[0]["rows"]
        assert rows == [[database]]
    await asyncio.sleep(0.05)
    assert len(store._open) <= 2
    # another process (here: another store) deletes a database this one has open
    other = d1.D1Store(tmp_path, max_bytes=MAX_BYTES, timeout_ms=1000)
    await other.delete(ids[-1])
    with pytest.raises(d1.D1Error, match="was not found"):
        await store.batch(ids[-1], [d1.Statement("SELECT 1")])
    left = {path.name.split(".")[0] for path in await asyncio.to_thread(lambda: list(tmp_path.iterdir()))}
    assert left == set(ids[:-1])
    await asyncio.gather(store.close(), other.close())


async def test_concurrent_work_on_one_database_is_serialized(tmp_path: Path) -> None:
    store = d1.D1Store(tmp_path, max_bytes=MAX_BYTES, timeout_ms=500)
    database = str(uuid.uuid4())
    store.create(database)
    await store.exec(database, "CREATE TABLE n (x INTEGER)")
    add = [d1.Statement("INSERT INTO n SELECT coalesce(max(x), 0) + 1 FROM n")]
    await asyncio.gather(*(store.batch(database, add) for _ in range(20)))
    rows = (await store.batch(database, [d1.Statement("SELECT count(*), max(x) FROM n")]))[0]["rows"]
    assert rows == [[20, 20]]
    # a caller that gives up (its request ended) leaves the database locked until its query has stopped
    runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
    task = asyncio.ensure_future(store.batch(database, [add[0], d1.Statement(runaway)]))
    await asyncio.sleep(0.1)
    task.cancel()
    started = asyncio.get_running_loop().time()
    rows = (await store.batch(database, [d1.Statement("SELECT count(*) FROM n")]))[0]["rows"]
    assert rows == [[20]]  # its batch was rolled back
    assert asyncio.get_running_loop().time() - started > 0.25  # it waited for the runaway to stop
    await store.close()


async def test_split_statements() -> None:
    script = """-- setup
CREATE TABLE a (x); INSERT INTO a VALUES ('a;b'); /* c; */
CREATE TRIGGER tr AFTER INSERT ON a BEGIN
  UPDATE a SET x = 'it''s;';
END;
;; -- trailing
SELECT "semi;colon" FROM a"""
    assert d1.split_statements(script) == [
        (2, "CREATE TABLE a (x);"),
        (2, "INSERT INTO a VALUES ('a;b');"),
        (3, "CREATE TRIGGER tr AFTER INSERT ON a BEGIN\n  UPDATE a SET x = 'it''s;';\nEND;"),
        (7, 'SELECT "semi;colon" FROM a'),
    ]
    assert d1.split_statements(" ; -- nothing") == []
