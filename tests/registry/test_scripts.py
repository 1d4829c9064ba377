"""Scripts, versions and tags in the registry, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from z0.errors import Forbidden, NamespaceNotFound, OwnershipMismatch, ScriptNotFound
from z0.registry import Module, Registry, ScriptUpload
from z0.registry._tables import blobs

NS = "z0-prod-tenants"
JS = "application/javascript+module"


def upload(name: str, body: str = "export default {};", tags: tuple[str, ...] | None = None) -> ScriptUpload:
    return ScriptUpload(
        name=name,
        main_module="index.js",
        format="modules",
        metadata={"main_module": "index.js", "body": body},
        modules=(Module("index.js", JS, body.encode()),),
        tags=tags,
    )


@pytest.fixture
def ns(registry: Registry, account_id: str) -> str:
    registry.namespaces.create(account_id, NS)
    return NS


def test_every_upload_is_a_version_and_the_newest_is_current(
    registry: Registry, account_id: str, ns: str
) -> None:
    first = registry.scripts.put(account_id, ns, upload("tenant_abc", "export default {a: 1};"))
    second = registry.scripts.put(account_id, ns, upload("tenant_abc", "export default {a: 2};"))
    assert first.version.id != second.version.id
    assert first.version.etag != second.version.etag
    current = registry.scripts.get(account_id, ns, "tenant_abc")
    assert current.version.id == second.version.id
    assert current.created_on == first.created_on
    assert [m.content for m in registry.scripts.modules(current.version.id)] == [b"export default {a: 2};"]
    # the old version is kept, immutable
    assert [m.content for m in registry.scripts.modules(first.version.id)] == [b"export default {a: 1};"]
    versions = registry.scripts.versions(account_id, ns, "tenant_abc")
    assert [v.id for v in versions] == [second.version.id, first.version.id]


def test_same_content_same_etag_and_one_blob(registry: Registry, account_id: str, ns: str) -> None:
    a = registry.scripts.put(account_id, ns, upload("tenant_a"))
    b = registry.scripts.put(account_id, ns, upload("tenant_b"))
    assert a.version.etag == b.version.etag
    with registry.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(blobs)).scalar_one() == 1


def test_tags_kept_when_absent_and_replaced_when_given(registry: Registry, account_id: str, ns: str) -> None:
    registry.scripts.put(account_id, ns, upload("tenant_abc", tags=("plan:pro", "tenant_id:tenant_abc")))
    kept = registry.scripts.put(account_id, ns, upload("tenant_abc", "export default {b: 1};"))
    assert set(kept.tags) == {"plan:pro", "tenant_id:tenant_abc"}
    replaced = registry.scripts.put(account_id, ns, upload("tenant_abc", tags=()))
    assert replaced.tags == ()
    assert replaced.tenant_id == "tenant_abc"  # from the name


def test_tag_filter_and_delete_by_tag(registry: Registry, account_id: str, ns: str) -> None:
    registry.scripts.put(account_id, ns, upload("tenant_a", tags=("plan:pro",)))
    registry.scripts.put(account_id, ns, upload("tenant_b", tags=("plan:free",)))
    registry.scripts.put(account_id, ns, upload("tenant_c", tags=("plan:pro", "beta")))
    names = lambda scripts: [s.name for s in scripts]  # noqa: E731
    assert names(registry.scripts.find(account_id, ns, tag_filter=[("plan:pro", True)])) == [
        "tenant_a",
        "tenant_c",
    ]
    assert names(registry.scripts.find(account_id, ns, tag_filter=[("plan:pro", True), ("beta", False)])) == [
        "tenant_a"
    ]
    assert names(registry.scripts.find(account_id, ns, tag_filter=[("plan:pro", False)])) == ["tenant_b"]
    assert registry.scripts.delete_by_tags(account_id, ns, [("plan:pro", True)]) == ["tenant_a", "tenant_c"]
    assert names(registry.scripts.find(account_id, ns)) == ["tenant_b"]


def test_ownership_is_stored_and_never_moves(registry: Registry, account_id: str, ns: str) -> None:
    owned = registry.scripts.put(account_id, ns, upload("shared-worker", tags=("tenant_id:tenant_abc",)))
    assert owned.tenant_id == "tenant_abc"
    with pytest.raises(OwnershipMismatch, match="belongs to tenant 'tenant_abc'"):
        registry.scripts.put(account_id, ns, upload("shared-worker", tags=("tenant_id:tenant_xyz",)))
    with pytest.raises(OwnershipMismatch):
        registry.scripts.set_tags(account_id, ns, "shared-worker", ["tenant_id:tenant_xyz"])
    with pytest.raises(OwnershipMismatch, match="by its name"):
        registry.scripts.put(account_id, ns, upload("tenant_abc", tags=("tenant_id:tenant_xyz",)))
    # dropping the tag keeps the stored owner
    assert registry.scripts.set_tags(account_id, ns, "shared-worker", []) == []
    assert registry.scripts.get(account_id, ns, "shared-worker").tenant_id == "tenant_abc"


def test_acting_tenant_sees_only_its_own(registry: Registry, account_id: str, ns: str) -> None:
    registry.scripts.put(account_id, ns, upload("tenant_xyz"))
    mine = registry.scripts.put(account_id, ns, upload("tenant_abc-webhook"), acting_tenant="tenant_abc")
    assert mine.tenant_id == "tenant_abc"
    with pytest.raises(Forbidden):
        registry.scripts.get(account_id, ns, "tenant_xyz", acting_tenant="tenant_abc")
    with pytest.raises(Forbidden):
        registry.scripts.put(account_id, ns, upload("tenant_xyz"), acting_tenant="tenant_abc")
    with pytest.raises(Forbidden):  # an absent script of another tenant: 403 too, no enumeration
        registry.scripts.get(account_id, ns, "tenant_qqq", acting_tenant="tenant_abc")
    with pytest.raises(ScriptNotFound):
        registry.scripts.get(account_id, ns, "tenant_abc", acting_tenant="tenant_abc")
    assert [s.name for s in registry.scripts.find(account_id, ns, tenant_id="tenant_abc")] == [
        "tenant_abc-webhook"
    ]
    # the other tenant's script is untouched
    assert registry.scripts.get(account_id, ns, "tenant_xyz").version.metadata["body"] == "export default {};"


def test_delete_script_removes_versions_and_unshared_blobs(
    registry: Registry, account_id: str, ns: str
) -> None:
    registry.scripts.put(account_id, ns, upload("tenant_a", "export default {only: 'a'};"))
    registry.scripts.put(account_id, ns, upload("tenant_b"))
    registry.scripts.put(account_id, ns, upload("tenant_a"))  # shares its blob with tenant_b
    registry.scripts.delete(account_id, ns, "tenant_a")
    with pytest.raises(ScriptNotFound):
        registry.scripts.get(account_id, ns, "tenant_a")
    with registry.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(blobs)).scalar_one() == 1
    assert registry.scripts.modules(registry.scripts.get(account_id, ns, "tenant_b").version.id)


def test_namespace_delete_removes_its_scripts(registry: Registry, account_id: str, ns: str) -> None:
    registry.scripts.put(account_id, ns, upload("tenant_a"))
    assert registry.namespaces.get(account_id, ns).script_count == 1
    registry.namespaces.delete(account_id, ns)
    with pytest.raises(NamespaceNotFound):
        registry.scripts.find(account_id, ns)
    registry.namespaces.create(account_id, ns)
    assert registry.scripts.find(account_id, ns) == []
    with registry.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(blobs)).scalar_one() == 0


def test_concurrent_uploads_record_both_and_the_last_wins(
    registry: Registry, account_id: str, ns: str
) -> None:
    registry.scripts.put(account_id, ns, upload("tenant_abc", "export default {v: 0};"))
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def deploy(i: int) -> None:
        try:
            barrier.wait()
            registry.scripts.put(account_id, ns, upload("tenant_abc", f"export default {{v: {i + 1}}};"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deploy, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    versions = registry.scripts.versions(account_id, ns, "tenant_abc")
    assert len(versions) == 9
    assert len({v.etag for v in versions}) == 9
    current = registry.scripts.get(account_id, ns, "tenant_abc")
    newest = max(versions, key=lambda v: v.created_on)
    assert current.version.id == newest.id
    assert [m.content for m in registry.scripts.modules(current.version.id)] == [
        newest.metadata["body"].encode()
    ]


def test_change_counter_moves_on_every_write(registry: Registry, account_id: str, ns: str) -> None:
    before = registry.change_counter()
    registry.scripts.put(account_id, ns, upload("tenant_abc"))
    after_upload = registry.change_counter()
    assert after_upload > before
    registry.scripts.get(account_id, ns, "tenant_abc")
    assert registry.change_counter() == after_upload
    registry.tenants.create("tenant_abc")
    assert registry.change_counter() > after_upload


def test_heads_and_checked_versions(registry: Registry, account_id: str, ns: str) -> None:
    registry.namespaces.create(account_id, "other-ns")
    first = registry.scripts.put(
        account_id, ns, upload("tenant_a"), linked=b'{"linked": 1}', handlers=["fetch"], startup_ms=1.5
    )
    registry.scripts.put(account_id, "other-ns", upload("tenant_a", "export default {x: 1};"))
    heads = registry.scripts.heads()
    assert heads[(ns, "tenant_a")].version_id == first.version.id
    assert heads[(ns, "tenant_a")].tenant_id == "tenant_a"
    assert heads[("other-ns", "tenant_a")].version_id != first.version.id
    version = registry.scripts.version(first.version.id)
    assert (version.handlers, version.startup_ms) == (("fetch",), 1.5)
    assert version.linked_sha256 is not None
    assert registry.scripts.blob(version.linked_sha256) == b'{"linked": 1}'
    with pytest.raises(ScriptNotFound):
        registry.scripts.version("no-such-version")
    # deleting the script removes its linked form too
    registry.scripts.delete(account_id, ns, "tenant_a")
    assert registry.scripts.blob(version.linked_sha256) is None


def test_authorize_put_runs_the_ownership_rules_before_any_code(
    registry: Registry, account_id: str, ns: str
) -> None:
    registry.scripts.put(account_id, ns, upload("shared-worker", tags=("tenant_id:tenant_abc",)))
    assert registry.scripts.authorize_put(account_id, ns, upload("tenant_new")) == "tenant_new"
    assert registry.scripts.authorize_put(account_id, ns, upload("shared-worker")) == "tenant_abc"
    with pytest.raises(Forbidden):
        registry.scripts.authorize_put(account_id, ns, upload("shared-worker"), acting_tenant="tenant_xyz")
    with pytest.raises(OwnershipMismatch):
        registry.scripts.authorize_put(
            account_id, ns, upload("shared-worker", tags=("tenant_id:tenant_xyz",))
        )
    with pytest.raises(NamespaceNotFound):
        registry.scripts.authorize_put(account_id, "nope", upload("tenant_abc"))


def test_heads_follow_deploys_and_deletes(registry: Registry, account_id: str, ns: str) -> None:
    first = {name: registry.scripts.put(account_id, ns, upload(name)) for name in ("tenant_a", "tenant_b")}
    before = registry.scripts.heads()
    newer = registry.scripts.put(account_id, ns, upload("tenant_a", "export default {v: 2};"))
    registry.scripts.delete(account_id, ns, "tenant_b")
    registry.scripts.put(account_id, ns, upload("tenant_c"))
    after = registry.scripts.heads()
    assert before[(ns, "tenant_a")].version_id == first["tenant_a"].version.id
    assert after[(ns, "tenant_a")].version_id == newer.version.id
    assert (ns, "tenant_b") not in after and (ns, "tenant_c") in after
    assert registry.scripts.heads() == after
    assert registry.scripts.heads()[(ns, "tenant_c")] is after[(ns, "tenant_c")]  # unchanged: kept
