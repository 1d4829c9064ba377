"""Usage roll-ups, the Facts ledger, Configs and invoices; the ledger's tables refuse UPDATE and DELETE.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# History is never rewritten, whatever the code does: the database itself refuses.
APPEND_ONLY = ("facts", "configs", "invoices", "invoice_lines")


def _append_only(*tables: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION z0_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'z0: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END $$
            """
        )
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION z0_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION z0_append_only()"
            )
        return
    for table in tables:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'z0: {table} is append-only ({action} refused)'); END"
            )


def _drop_append_only(*tables: str) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in tables:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS z0_append_only()")


def upgrade() -> None:
    op.create_table(
        "configs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", "tenant_id", "version", name=op.f("pk_configs")),
    )
    op.create_table(
        "usage_minutes",
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("script_name", sa.String(length=63), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("cpu_us", sa.BigInteger(), nullable=False),
        sa.Column("duration_us", sa.BigInteger(), nullable=False),
        sa.Column("subrequests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "minute", "tenant_id", "namespace", "script_name", "outcome", name=op.f("pk_usage_minutes")
        ),
    )
    with op.batch_alter_table("usage_minutes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_minutes_namespace_script_name_minute",
            ["namespace", "script_name", "minute"],
            unique=False,
        )
        batch_op.create_index("ix_usage_minutes_tenant_id_minute", ["tenant_id", "minute"], unique=False)

    op.create_table(
        "usage_months",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("cpu_us", sa.BigInteger(), nullable=False),
        sa.Column("duration_us", sa.BigInteger(), nullable=False),
        sa.Column("subrequests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "month", name=op.f("pk_usage_months")),
    )
    op.create_table(
        "usage_segments",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("modified_on", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_usage_segments")),
    )
    op.create_table(
        "facts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subtype", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("from_entity", sa.String(length=128), nullable=False),
        sa.Column("to_entity", sa.String(length=128), nullable=False),
        sa.Column("amount", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tool_id", sa.String(length=128), nullable=True),
        sa.Column("data_json", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_facts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_facts_idempotency_key")),
    )
    with op.batch_alter_table("facts", schema=None) as batch_op:
        batch_op.create_index("ix_facts_tenant_id_id", ["tenant_id", "id"], unique=False)
        batch_op.create_index("ix_facts_type_subtype_id", ["type", "subtype", "id"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("period_end", sa.DateTime(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_invoices_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("tenant_id", "period", "currency", name="uq_invoices_tenant_period_currency"),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index("ix_invoices_period", ["period"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("fact_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["fact_id"], ["facts.id"], name=op.f("fk_invoice_lines_fact_id_facts")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("invoice_id", "position", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint("fact_id", name=op.f("uq_invoice_lines_fact_id")),
    )
    _append_only(*APPEND_ONLY)


def downgrade() -> None:
    _drop_append_only(*APPEND_ONLY)
    op.drop_table("invoice_lines")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_period")

    op.drop_table("invoices")
    with op.batch_alter_table("facts", schema=None) as batch_op:
        batch_op.drop_index("ix_facts_type_subtype_id")
        batch_op.drop_index("ix_facts_tenant_id_id")

    op.drop_table("facts")
    op.drop_table("usage_segments")
    op.drop_table("usage_months")
    with op.batch_alter_table("usage_minutes", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_minutes_tenant_id_minute")
        batch_op.drop_index("ix_usage_minutes_namespace_script_name_minute")

    op.drop_table("usage_minutes")
    op.drop_table("configs")
