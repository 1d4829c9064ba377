"""D1 databases through the control API: Cloudflare's paths and shapes, one SQLite file each, owners."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Api


def files(api: Api) -> set[str]:
    settings = api.client.app.state.settings  # type: ignore[attr-defined]
    return {path.name for path in Path(settings.data_dir, "d1").glob("*.sqlite3")}


def create(api: Api, name: str, token: str | None = None, **body: Any) -> Any:
    return api.ok("POST", api.path("/d1/database"), json={"name": name, **body}, token=token)


def query(api: Api, database: str, sql: str, *params: Any, token: str | None = None) -> Any:
    return api.call(
        "POST",
        api.path(f"/d1/database/{database}/query"),
        json={"sql": sql, "params": list(params)},
        token=token,
    )


def test_create_list_get_delete(api: Api) -> None:
    api.registry.tenants.create("tenant_abc")
    created = create(api, "orders", tenant_id="tenant_abc")
    assert created["name"] == "orders" and created["tenant_id"] == "tenant_abc"
    assert created["version"] == "production" and created["num_tables"] == 0 and created["file_size"] > 0
    database = created["uuid"]
    assert files(api) == {f"{database}.sqlite3"}
    create(api, "platform")
    listed = api.call("GET", api.path("/d1/database")).json()
    assert [db["name"] for db in listed["result"]] == ["orders", "platform"]
    assert listed["result_info"]["total_count"] == 2
    named = api.ok("GET", api.path("/d1/database?name=ord"))
    assert [db["uuid"] for db in named] == [database]
    query(api, database, "CREATE TABLE t (x)")
    got = api.ok("GET", api.path(f"/d1/database/{database}"))
    assert got["uuid"] == database and got["num_tables"] == 1 and got["file_size"] >= created["file_size"]
    assert api.ok("DELETE", api.path(f"/d1/database/{database}")) is None
    assert f"{database}.sqlite3" not in files(api)
    assert api.call("GET", api.path(f"/d1/database/{database}")).status_code == 404
    assert query(api, database, "SELECT 1").status_code == 404


def test_names_are_unique_and_checked(api: Api) -> None:
    create(api, "orders")
    assert api.call("POST", api.path("/d1/database"), json={"name": "orders"}).status_code == 409
    assert api.call("POST", api.path("/d1/database"), json={"name": ""}).status_code == 400
    unknown = api.call("POST", api.path("/d1/database"), json={"name": "x", "tenant_id": "ghost"})
    assert unknown.status_code == 404


def test_query_with_params_batch_and_raw(api: Api) -> None:
    database = create(api, "shop")["uuid"]
    setup = query(api, database, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB); "
                  "INSERT INTO items (name, data) VALUES ('first', x'00ff')")  # fmt: skip
    assert setup.status_code == 200, setup.text
    assert [r["success"] for r in setup.json()["result"]] == [True, True]
    inserted = query(api, database, "INSERT INTO items (name) VALUES (?1)", "second").json()["result"]
    assert inserted[0]["meta"]["changes"] == 1 and inserted[0]["meta"]["last_row_id"] == 2
    found = query(api, database, "SELECT id, name, data FROM items WHERE id >= ? ORDER BY id", 1)
    assert found.json()["result"][0]["results"] == [
        {"id": 1, "name": "first", "data": [0, 255]},
        {"id": 2, "name": "second", "data": None},
    ]
    batch = [
        {"sql": "INSERT INTO items (name) VALUES (?)", "params": ["third"]},
        {"sql": "SELECT count(*) AS n FROM items"},
    ]
    counted = api.ok("POST", api.path(f"/d1/database/{database}/query"), json={"batch": batch})
    assert counted[1]["results"] == [{"n": 3}]
    raw = api.ok(
        "POST", api.path(f"/d1/database/{database}/raw"), json={"sql": "SELECT id, name FROM items LIMIT 1"}
    )
    assert raw[0]["results"] == {"columns": ["id", "name"], "rows": [[1, "first"]]}
    assert set(raw[0]["meta"]) >= {
        "duration",
        "changes",
        "last_row_id",
        "rows_read",
        "rows_written",
        "size_after",
    }


def test_sql_errors_are_400_envelopes_and_roll_back(api: Api) -> None:
    database = create(api, "shop")["uuid"]
    query(api, database, "CREATE TABLE t (x UNIQUE)")
    failed = query(api, database, "INSERT INTO t VALUES (1); INSERT INTO nope VALUES (1)")
    assert failed.status_code == 400
    assert failed.json()["success"] is False
    assert failed.json()["errors"] == [{"code": 7500, "message": "no such table: nope: SQLITE_ERROR"}]
    assert query(api, database, "SELECT count(*) AS n FROM t").json()["result"][0]["results"] == [{"n": 0}]
    for sql, params, message in [
        ("ATTACH DATABASE 'other.sqlite3' AS other", [], "a D1 database cannot reach another file"),
        ("SELECT ?; SELECT ?", [1, 2], "Parameters go with a single statement"),
        ("SELECT ?", [], "Incorrect number of bindings"),
        ("  ", [], "No SQL statements detected."),
    ]:
        response = query(api, database, sql, *params)
        assert response.status_code == 400 and message in response.json()["errors"][0]["message"], (
            response.text
        )


def test_tenant_tokens_reach_only_their_own_databases(api: Api) -> None:
    abc = api.tenant_token("tenant_abc")
    xyz = api.tenant_token("tenant_xyz")
    mine = create(api, "mine", token=abc)
    assert mine["tenant_id"] == "tenant_abc"  # created for the token's tenant
    theirs = create(api, "theirs", token=xyz)["uuid"]
    platform = create(api, "platform")["uuid"]
    forged = api.call(
        "POST", api.path("/d1/database"), json={"name": "x", "tenant_id": "tenant_xyz"}, token=abc
    )
    assert forged.status_code == 404
    assert [db["name"] for db in api.ok("GET", api.path("/d1/database"), token=abc)] == ["mine"]
    assert query(api, mine["uuid"], "SELECT 1 AS one", token=abc).json()["result"][0]["results"] == [
        {"one": 1}
    ]
    for database in (theirs, platform):
        assert api.call("GET", api.path(f"/d1/database/{database}"), token=abc).status_code == 404
        assert query(api, database, "SELECT 1", token=abc).status_code == 404
        assert api.call("DELETE", api.path(f"/d1/database/{database}"), token=abc).status_code == 404
    assert f"{theirs}.sqlite3" in files(api)
    # the operator sees them all
    assert len(api.ok("GET", api.path("/d1/database"))) == 3


def test_binding_another_tenants_database_is_refused_at_upload(api: Api) -> None:
    from tests.conftest import HELLO, JS

    api.registry.tenants.create("tenant_b")
    theirs = create(api, "b-orders", tenant_id="tenant_b")["uuid"]
    binding = [{"name": "ORDERS", "type": "d1", "id": theirs}]
    refused = api.upload("tenant_abc", {"index.js": (JS, HELLO)}, bindings=binding)
    assert refused.status_code == 403
    assert "ORDERS" in refused.json()["errors"][0]["message"]
    assert api.upload("tenant_b", {"index.js": (JS, HELLO)}, bindings=binding).status_code == 200
    database_id = [{"name": "ORDERS", "type": "d1", "database_id": theirs}]  # Cloudflare's other spelling
    assert (
        api.upload("tenant_abc-webhook", {"index.js": (JS, HELLO)}, bindings=database_id).status_code == 403
    )
