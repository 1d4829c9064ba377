"""The Facts ledger: append-only records of money moving between entities (DESIGN.md, "Fact").

Every Fact has an id (time-ordered), a timestamp and an idempotency key: appending the same key again
returns the Fact already there, and reusing a key for different content is refused. Nothing updates or
deletes a Fact: there is no code for it, and the database refuses it too (migration 0004's triggers).

The kinds are a closed list. `platform_compute` Facts are written by the billing run only; the others
are the platform's to post (`POST …/z0/facts`): what a tool call cost, what the tenant is charged for
it, a subscription, credits. Charges add to a tenant's invoice, credits take from it; costs are the
platform's own and never invoiced.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from z0.billing.money import check_currency, format_amount, parse_amount
from z0.errors import Conflict, InvalidRequest, NotFound
from z0.registry._db import Database, utcnow
from z0.registry._tables import facts, invoice_lines, tenants

__all__ = [
    "FACT_KINDS",
    "PLATFORM_ENTITY",
    "Fact",
    "FactDraft",
    "FactKind",
    "FactNotFound",
    "Ledger",
]

PLATFORM_ENTITY = "platform_z0"
MAX_DATA_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class FactKind:
    description: str
    tool_id: Literal["required", "optional", "forbidden"] = "optional"
    billing_run_only: bool = False


FACT_KINDS: dict[tuple[str, str], FactKind] = {
    ("cost", "platform_compute"): FactKind(
        "What running the tenant's workers cost the platform in a period.", "forbidden", True
    ),
    ("charge", "platform_compute"): FactKind(
        "The tenant's charge for that compute: the cost times (1 + markup).", "forbidden", True
    ),
    ("cost", "tool_usage"): FactKind("What a tool the tenant used cost the platform.", "required"),
    ("cost", "external"): FactKind("Another cost the platform carries for the tenant."),
    ("charge", "tool_usage"): FactKind("The tenant's charge for a tool it used.", "required"),
    ("charge", "subscription"): FactKind("A recurring fee.", "forbidden"),
    ("charge", "other"): FactKind("Any other charge to the tenant."),
    ("credit", "promotion"): FactKind("A promotional credit (taken off the invoice).", "forbidden"),
    ("credit", "refund"): FactKind("A refund (taken off the invoice)."),
    ("credit", "other"): FactKind("Any other credit (taken off the invoice)."),
}
INVOICED_TYPES = ("charge", "credit")


class FactNotFound(NotFound):
    """Answered 404."""


@dataclass(frozen=True, slots=True)
class FactDraft:
    """A Fact before it is appended: no id or timestamp yet."""

    type: str
    subtype: str
    tenant_id: str
    amount: Decimal
    currency: str
    idempotency_key: str
    from_entity: str | None = None  # default: the tenant's account (costs and charges are the tenant's)
    to_entity: str = PLATFORM_ENTITY
    tool_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Fact:
    id: str
    created_at: datetime
    type: str
    subtype: str
    tenant_id: str
    from_entity: str
    to_entity: str
    amount: Decimal
    currency: str
    tool_id: str | None
    data: dict[str, Any]
    idempotency_key: str

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "timestamp": self.created_at.isoformat().replace("+00:00", "Z"),
            "type": self.type,
            "subtype": self.subtype,
            "tenant_id": self.tenant_id,
            "from_entity": self.from_entity,
            "to_entity": self.to_entity,
            "amount": format_amount(self.amount),
            "currency": self.currency,
            "data": self.data,
            "idempotency_key": self.idempotency_key,
        }
        if self.tool_id is not None:
            body["tool_id"] = self.tool_id
        return body

    @classmethod
    def of(cls, row: RowMapping) -> Fact:
        return cls(
            id=row["id"],
            created_at=row["created_at"],
            type=row["type"],
            subtype=row["subtype"],
            tenant_id=row["tenant_id"],
            from_entity=row["from_entity"],
            to_entity=row["to_entity"],
            amount=Decimal(row["amount"]),
            currency=row["currency"],
            tool_id=row["tool_id"],
            data=json.loads(row["data_json"]),
            idempotency_key=row["idempotency_key"],
        )


def new_fact_id() -> str:
    """Sorts by creation time (milliseconds), then at random within one."""
    return f"fact_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(5)}"


class Ledger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, draft: FactDraft, *, by_billing_run: bool = False) -> tuple[Fact, bool]:
        """The Fact for this idempotency key, and whether it is new. Refuses an invalid Fact
        (InvalidRequest) and a key reused for different content (Conflict)."""
        try:
            with self.db.write(registry_change=False) as connection:
                return self.append_in(connection, draft, by_billing_run=by_billing_run)
        except IntegrityError:  # the same key appended concurrently: theirs is the Fact
            with self.db.read() as connection:
                resolved = self._resolve(connection, draft, by_billing_run=by_billing_run)
                row = (
                    connection.execute(select(facts).where(facts.c.idempotency_key == draft.idempotency_key))
                    .mappings()
                    .first()
                )
            if row is None:
                raise
            return _same_or_conflict(resolved, Fact.of(row)), False

    def append_in(
        self, connection: Connection, draft: FactDraft, *, by_billing_run: bool = False
    ) -> tuple[Fact, bool]:
        """`append` inside a caller's write transaction."""
        resolved = self._resolve(connection, draft, by_billing_run=by_billing_run)
        existing = (
            connection.execute(select(facts).where(facts.c.idempotency_key == draft.idempotency_key))
            .mappings()
            .first()
        )
        if existing is not None:
            return _same_or_conflict(resolved, Fact.of(existing)), False
        fact = Fact(
            id=new_fact_id(),
            created_at=utcnow(),
            type=resolved.type,
            subtype=resolved.subtype,
            tenant_id=resolved.tenant_id,
            from_entity=resolved.from_entity or "",
            to_entity=resolved.to_entity,
            amount=resolved.amount,
            currency=resolved.currency,
            tool_id=resolved.tool_id,
            data=dict(resolved.data),
            idempotency_key=resolved.idempotency_key,
        )
        connection.execute(
            insert(facts).values(
                id=fact.id,
                created_at=fact.created_at,
                type=fact.type,
                subtype=fact.subtype,
                tenant_id=fact.tenant_id,
                from_entity=fact.from_entity,
                to_entity=fact.to_entity,
                amount=format_amount(fact.amount),
                currency=fact.currency,
                tool_id=fact.tool_id,
                data_json=json.dumps(fact.data, sort_keys=True, separators=(",", ":")),
                idempotency_key=fact.idempotency_key,
            )
        )
        return fact, True

    def get(self, fact_id: str, *, tenant_id: str | None = None) -> Fact:
        query = select(facts).where(facts.c.id == fact_id)
        if tenant_id is not None:
            query = query.where(facts.c.tenant_id == tenant_id)
        with self.db.read() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            raise FactNotFound(f"There is no Fact {fact_id!r}.")
        return Fact.of(row)

    def find(
        self,
        *,
        tenant_id: str | None = None,
        type: str | None = None,
        subtype: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Fact]:
        """Oldest first; `after` (a Fact id) continues a listing."""
        where = []
        if tenant_id is not None:
            where.append(facts.c.tenant_id == tenant_id)
        if type is not None:
            where.append(facts.c.type == type)
        if subtype is not None:
            where.append(facts.c.subtype == subtype)
        if since is not None:
            where.append(facts.c.created_at >= since)
        if until is not None:
            where.append(facts.c.created_at < until)
        if after is not None:
            where.append(facts.c.id > after)
        query = select(facts).where(*where).order_by(facts.c.id).limit(limit)
        with self.db.read() as connection:
            return [Fact.of(row) for row in connection.execute(query).mappings()]

    @staticmethod
    def uninvoiced(connection: Connection, tenant_id: str) -> list[Fact]:
        """The tenant's charges and credits not on any invoice yet, oldest first."""
        query = (
            select(facts)
            .select_from(facts.outerjoin(invoice_lines, invoice_lines.c.fact_id == facts.c.id))
            .where(
                and_(
                    facts.c.tenant_id == tenant_id,
                    facts.c.type.in_(INVOICED_TYPES),
                    invoice_lines.c.fact_id.is_(None),
                )
            )
            .order_by(facts.c.id)
        )
        return [Fact.of(row) for row in connection.execute(query).mappings()]

    @staticmethod
    def _resolve(connection: Connection, draft: FactDraft, *, by_billing_run: bool = False) -> FactDraft:
        """The draft checked, with its defaults filled in."""
        kind = FACT_KINDS.get((draft.type, draft.subtype))
        if kind is None:
            known = ", ".join(f"{t}/{s}" for t, s in FACT_KINDS)
            raise InvalidRequest(f"Unknown Fact kind {draft.type}/{draft.subtype}; known: {known}.")
        if kind.billing_run_only and not by_billing_run:
            raise InvalidRequest(
                f"{draft.type}/{draft.subtype} Facts are written by the billing run only (z0 billing run)."
            )
        if kind.tool_id == "required" and not draft.tool_id:
            raise InvalidRequest(f"{draft.type}/{draft.subtype} Facts need a tool_id.")
        if kind.tool_id == "forbidden" and draft.tool_id is not None:
            raise InvalidRequest(f"{draft.type}/{draft.subtype} Facts have no tool_id.")
        if draft.amount < 0 or not draft.amount.is_finite():
            raise InvalidRequest("A Fact's amount is zero or more; record money back as a credit.")
        parse_amount(format_amount(draft.amount))  # within the digits storage keeps
        try:
            check_currency(draft.currency)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        if not draft.idempotency_key or len(draft.idempotency_key) > 255:
            raise InvalidRequest("A Fact needs an idempotency_key of 1 to 255 characters.")
        if len(json.dumps(dict(draft.data))) > MAX_DATA_BYTES:
            raise InvalidRequest(f"A Fact's data is at most {MAX_DATA_BYTES} bytes of JSON.")
        account = connection.execute(
            select(tenants.c.account_id).where(tenants.c.id == draft.tenant_id)
        ).scalar()
        if account is None:
            raise InvalidRequest(f"Tenant {draft.tenant_id!r} does not exist.")
        return FactDraft(
            type=draft.type,
            subtype=draft.subtype,
            tenant_id=draft.tenant_id,
            amount=draft.amount,
            currency=draft.currency,
            idempotency_key=draft.idempotency_key,
            from_entity=draft.from_entity or account,
            to_entity=draft.to_entity,
            tool_id=draft.tool_id,
            data=draft.data,
        )


def _same_or_conflict(draft: FactDraft, existing: Fact) -> Fact:
    same = (
        existing.type == draft.type
        and existing.subtype == draft.subtype
        and existing.tenant_id == draft.tenant_id
        and existing.amount == draft.amount
        and existing.currency == draft.currency
        and existing.from_entity == draft.from_entity
        and existing.to_entity == draft.to_entity
        and existing.tool_id == draft.tool_id
        and existing.data == json.loads(json.dumps(dict(draft.data)))
    )
    if not same:
        raise Conflict(
            f"The idempotency key {draft.idempotency_key!r} was used for a different Fact ({existing.id})."
        )
    return existing
