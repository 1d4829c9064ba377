"""The rules for names: namespaces, scripts, tenants, tags, and who owns a script by its name.

Tenant ids have no hyphen (`tenant_abc`), so a script name parses one way only:
`{tenant_id}`, `{tenant_id}-webhook` or `{tenant_id}-integration-{name}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from z0.errors import InvalidName, InvalidRequest, OwnershipMismatch

__all__ = [
    "MAX_TAGS_PER_SCRIPT",
    "TENANT_TAG_PREFIX",
    "ScriptRole",
    "parse_script_name",
    "parse_tag_filter",
    "script_owner",
    "tenant_from_tags",
    "validate_hostname",
    "validate_namespace_name",
    "validate_script_name",
    "validate_tag",
    "validate_tags",
    "validate_tenant_id",
]

MAX_TAGS_PER_SCRIPT = 8
TENANT_TAG_PREFIX = "tenant_id:"
MAX_TAG_LENGTH = 256

_WORKER_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")
_SCRIPT_ROLE = re.compile(
    r"(?P<tenant>[a-z0-9][a-z0-9_]{0,39})(?:-(?P<webhook>webhook)|-integration-(?P<integration>[a-z0-9_-]+))?"
)
_TAG_FORBIDDEN = re.compile(r"[,\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ScriptRole:
    """What a script name says: whose it is and which of the tenant's workers it is."""

    tenant_id: str
    kind: str  # "primary", "webhook" or "integration"
    integration: str | None = None


def validate_script_name(name: str) -> str:
    return _worker_name("Script", name)


def validate_namespace_name(name: str) -> str:
    return _worker_name("Namespace", name)


def _worker_name(what: str, name: str) -> str:
    if not _WORKER_NAME.fullmatch(name):
        raise InvalidName(
            f"{what} name {name!r} is invalid: use lowercase letters, digits, '-' and '_', "
            "at most 63 characters, not starting or ending with '-'."
        )
    return name


def validate_tenant_id(tenant_id: str) -> str:
    if not _TENANT_ID.fullmatch(tenant_id):
        raise InvalidName(
            f"Tenant id {tenant_id!r} is invalid: use lowercase letters, digits and '_' "
            "(no '-'), starting with a letter or digit, at most 40 characters."
        )
    return tenant_id


_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def validate_hostname(hostname: str) -> str:
    """A DNS hostname in lower case (internationalized names in their xn-- form)."""
    name = hostname.strip().lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidName(
            f"Hostname {hostname!r} is invalid: use a DNS name like shop.example.com "
            "(letters, digits and '-' in each label; internationalized names in xn-- form)."
        )
    return name


def validate_tag(tag: str) -> str:
    if not tag or len(tag) > MAX_TAG_LENGTH or _TAG_FORBIDDEN.search(tag):
        raise InvalidName(
            f"Tag {tag!r} is invalid: a tag is 1 to {MAX_TAG_LENGTH} characters, "
            "with no commas or control characters."
        )
    return tag


def validate_tags(tags: list[str]) -> list[str]:
    """Checks each tag and the count; returns the tags without duplicates, in their first order."""
    unique = list(dict.fromkeys(validate_tag(tag) for tag in tags))
    if len(unique) > MAX_TAGS_PER_SCRIPT:
        raise InvalidName(f"A script has at most {MAX_TAGS_PER_SCRIPT} tags; {len(unique)} were given.")
    return unique


def parse_script_name(name: str) -> ScriptRole | None:
    """The tenant and role a script name names, or None for a name outside the tenant scheme."""
    match = _SCRIPT_ROLE.fullmatch(name)
    if match is None:
        return None
    if match["webhook"]:
        return ScriptRole(match["tenant"], "webhook")
    if match["integration"]:
        return ScriptRole(match["tenant"], "integration", match["integration"])
    return ScriptRole(match["tenant"], "primary")


def tenant_from_tags(tags: list[str]) -> str | None:
    """The tenant a `tenant_id:{id}` tag names; two such tags naming different tenants are refused."""
    named = {tag[len(TENANT_TAG_PREFIX) :] for tag in tags if tag.startswith(TENANT_TAG_PREFIX)}
    if not named:
        return None
    if len(named) > 1:
        raise InvalidName(f"The tags name more than one tenant: {', '.join(sorted(named))}.")
    return validate_tenant_id(named.pop())


def script_owner(name: str, tags: list[str]) -> str | None:
    """Who owns a script: the `tenant_id:` tag, else the tenant its name names; a disagreement is refused."""
    tagged = tenant_from_tags(tags)
    role = parse_script_name(name)
    if tagged is not None and role is not None and role.tenant_id != tagged:
        raise OwnershipMismatch(
            f"Script {name!r} belongs to tenant {role.tenant_id!r} by its name, "
            f"but its tag says tenant {tagged!r}."
        )
    if tagged is not None:
        return tagged
    return role.tenant_id if role is not None else None


def parse_tag_filter(value: str) -> list[tuple[str, bool]]:
    """Cloudflare's `?tags=TAG:yes,TAG:no`: each item split at its last colon (`plan:pro:yes`)."""
    clauses: list[tuple[str, bool]] = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        tag, colon, verdict = item.rpartition(":")
        if not colon or not tag or verdict not in ("yes", "no"):
            raise InvalidRequest(
                f"Tag filter {item!r} is invalid: write TAG:yes or TAG:no, comma-separated "
                "(e.g. plan:pro:yes)."
            )
        clauses.append((tag, verdict == "yes"))
    if not clauses:
        raise InvalidRequest("The tag filter is empty: write TAG:yes or TAG:no, comma-separated.")
    return clauses
