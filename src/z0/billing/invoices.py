"""Invoices: one per tenant, period and currency, made by the billing run; append-only like the Facts.

Each line is one charge or credit Fact (a Fact is on at most one invoice: a unique constraint), its
amount rounded half-up to the currency's minor unit; the total is the sum of the lines. A line for an
earlier period than the invoice's (usage that arrived after that period was invoiced) is an
`adjustment`; credits are negative `credit` lines.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import jinja2
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, RowMapping

from z0.billing.money import MINOR_UNITS, format_money
from z0.errors import NotFound
from z0.registry._db import Database
from z0.registry._tables import invoice_lines, invoices

__all__ = ["Invoice", "InvoiceLine", "InvoiceNotFound", "InvoiceStore", "render_html"]


class InvoiceNotFound(NotFound):
    """Answered 404."""


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    position: int
    kind: str  # charge, adjustment, credit
    description: str
    fact_id: str
    period: str
    amount: Decimal

    def as_json(self, currency: str) -> dict[str, Any]:
        return {
            "position": self.position,
            "kind": self.kind,
            "description": self.description,
            "fact_id": self.fact_id,
            "period": self.period,
            "amount": format_money(self.amount, currency),
        }


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    tenant_id: str
    account_id: str
    period: str
    period_start: datetime
    period_end: datetime
    currency: str
    total: Decimal
    created_at: datetime
    lines: tuple[InvoiceLine, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "account_id": self.account_id,
            "period": self.period,
            "period_start": _iso(self.period_start),
            "period_end": _iso(self.period_end),
            "currency": self.currency,
            "total": format_money(self.total, self.currency),
            "created_at": _iso(self.created_at),
            "lines": [line.as_json(self.currency) for line in self.lines],
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def new_invoice_id() -> str:
    return f"inv_{secrets.token_hex(10)}"


class InvoiceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, invoice_id: str, *, tenant_id: str | None = None) -> Invoice:
        with self.db.read() as connection:
            query = select(invoices).where(invoices.c.id == invoice_id)
            if tenant_id is not None:
                query = query.where(invoices.c.tenant_id == tenant_id)
            row = connection.execute(query).mappings().first()
            if row is None:
                raise InvoiceNotFound(f"There is no invoice {invoice_id!r}.")
            return self._invoice(connection, row)

    def find(self, *, tenant_id: str | None = None, period: str | None = None) -> list[Invoice]:
        query = select(invoices).order_by(invoices.c.period, invoices.c.tenant_id, invoices.c.currency)
        if tenant_id is not None:
            query = query.where(invoices.c.tenant_id == tenant_id)
        if period is not None:
            query = query.where(invoices.c.period == period)
        with self.db.read() as connection:
            return [self._invoice(connection, row) for row in connection.execute(query).mappings().all()]

    @staticmethod
    def exists(connection: Connection, tenant_id: str, period: str, currency: str) -> bool:
        found = connection.execute(
            select(invoices.c.id).where(
                invoices.c.tenant_id == tenant_id,
                invoices.c.period == period,
                invoices.c.currency == currency,
            )
        ).first()
        return found is not None

    @staticmethod
    def create_in(connection: Connection, invoice: Invoice) -> None:
        connection.execute(
            insert(invoices).values(
                id=invoice.id,
                tenant_id=invoice.tenant_id,
                account_id=invoice.account_id,
                period=invoice.period,
                period_start=invoice.period_start,
                period_end=invoice.period_end,
                currency=invoice.currency,
                total=format_money(invoice.total, invoice.currency),
                created_at=invoice.created_at,
            )
        )
        connection.execute(
            insert(invoice_lines),
            [
                {
                    "invoice_id": invoice.id,
                    "position": line.position,
                    "kind": line.kind,
                    "description": line.description[:255],
                    "fact_id": line.fact_id,
                    "period": line.period,
                    "amount": format_money(line.amount, invoice.currency),
                }
                for line in invoice.lines
            ],
        )

    @staticmethod
    def _invoice(connection: Connection, row: RowMapping) -> Invoice:
        lines = connection.execute(
            select(invoice_lines)
            .where(invoice_lines.c.invoice_id == row["id"])
            .order_by(invoice_lines.c.position)
        ).mappings()
        return Invoice(
            id=row["id"],
            tenant_id=row["tenant_id"],
            account_id=row["account_id"],
            period=row["period"],
            period_start=row["period_start"],
            period_end=row["period_end"],
            currency=row["currency"],
            total=Decimal(row["total"]),
            created_at=row["created_at"],
            lines=tuple(
                InvoiceLine(
                    line["position"],
                    line["kind"],
                    line["description"],
                    line["fact_id"],
                    line["period"],
                    Decimal(line["amount"]),
                )
                for line in lines
            ),
        )


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("z0.billing", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(invoice: Invoice, *, issuer: str = "z0") -> str:
    """A printable page for one invoice (everything the tenant sent is escaped)."""
    places = MINOR_UNITS[invoice.currency]
    return (
        _templates()
        .get_template("invoice.html")
        .render(
            invoice=invoice.as_json(),
            issuer=issuer,
            places=places,
        )
    )
