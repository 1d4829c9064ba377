from __future__ import annotations

import pytest

from z0.errors import InvalidName, InvalidRequest, OwnershipMismatch
from z0.names import (
    ScriptRole,
    parse_script_name,
    parse_tag_filter,
    script_owner,
    validate_script_name,
    validate_tags,
    validate_tenant_id,
)


@pytest.mark.parametrize(
    "name", ["tenant_abc", "a", "tenant_abc-webhook", "x" * 63, "my-worker", "_internal"]
)
def test_good_script_names(name: str) -> None:
    assert validate_script_name(name) == name


@pytest.mark.parametrize("name", ["", "Tenant", "x" * 64, "-lead", "trail-", "has space", "dot.js", "ünï"])
def test_bad_script_names(name: str) -> None:
    with pytest.raises(InvalidName, match="Script name"):
        validate_script_name(name)


@pytest.mark.parametrize("tenant_id", ["tenant_abc", "t", "0abc", "a" * 40])
def test_good_tenant_ids(tenant_id: str) -> None:
    assert validate_tenant_id(tenant_id) == tenant_id


@pytest.mark.parametrize("tenant_id", ["", "_abc", "tenant-abc", "a" * 41, "Tenant"])
def test_bad_tenant_ids(tenant_id: str) -> None:
    with pytest.raises(InvalidName, match="Tenant id"):
        validate_tenant_id(tenant_id)


def test_script_names_parse_one_way() -> None:
    assert parse_script_name("tenant_abc") == ScriptRole("tenant_abc", "primary")
    assert parse_script_name("tenant_abc-webhook") == ScriptRole("tenant_abc", "webhook")
    assert parse_script_name("tenant_abc-integration-slack") == ScriptRole(
        "tenant_abc", "integration", "slack"
    )
    assert parse_script_name("tenant_abc-integration-my-crm") == ScriptRole(
        "tenant_abc", "integration", "my-crm"
    )
    assert parse_script_name("my-worker") is None
    assert parse_script_name("tenant_abc-webhooks") is None


def test_owner_from_tag_or_name() -> None:
    assert script_owner("tenant_abc", []) == "tenant_abc"
    assert script_owner("tenant_abc-webhook", ["tenant_id:tenant_abc"]) == "tenant_abc"
    assert script_owner("my-worker", ["tenant_id:tenant_xyz", "plan:pro"]) == "tenant_xyz"
    assert script_owner("my-worker", ["plan:pro"]) is None
    with pytest.raises(OwnershipMismatch, match=r"tenant_abc.*tenant_xyz"):
        script_owner("tenant_abc", ["tenant_id:tenant_xyz"])
    with pytest.raises(InvalidName, match="more than one tenant"):
        script_owner("my-worker", ["tenant_id:a", "tenant_id:b"])


def test_tags_are_opaque_and_at_most_eight() -> None:
    assert validate_tags(["tenant_id:tenant_abc", "plan:pro", "plan:pro"]) == [
        "tenant_id:tenant_abc",
        "plan:pro",
    ]
    assert validate_tags([f"t{i}" for i in range(8)]) == [f"t{i}" for i in range(8)]
    with pytest.raises(InvalidName, match="at most 8"):
        validate_tags([f"t{i}" for i in range(9)])
    for bad in ["", "a,b", "line\nbreak", "x" * 257]:
        with pytest.raises(InvalidName):
            validate_tags([bad])


def test_tag_filter_splits_at_the_last_colon() -> None:
    assert parse_tag_filter("plan:pro:yes,tenant_id:tenant_abc:no") == [
        ("plan:pro", True),
        ("tenant_id:tenant_abc", False),
    ]
    assert parse_tag_filter("beta:yes") == [("beta", True)]
    for bad in ["plan:pro", "plan:pro:maybe", ":yes", "", ","]:
        with pytest.raises(InvalidRequest):
            parse_tag_filter(bad)
