"""KV namespaces and entries, D1 databases, and scripts' encrypted secrets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "d1_databases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=True),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_d1_databases_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_d1_databases")),
        sa.UniqueConstraint("account_id", "name", name="uq_d1_databases_name"),
    )
    with op.batch_alter_table("d1_databases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_d1_databases_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "kv_namespaces",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=True),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_kv_namespaces_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kv_namespaces")),
        sa.UniqueConstraint("account_id", "title", name="uq_kv_namespaces_title"),
    )
    with op.batch_alter_table("kv_namespaces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kv_namespaces_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "kv_entries",
        sa.Column("namespace_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=True),
        sa.Column("expiration", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["kv_namespaces.id"],
            name=op.f("fk_kv_entries_namespace_id_kv_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "key", name=op.f("pk_kv_entries")),
    )
    op.create_table(
        "script_secrets",
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("script_name", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("modified_on", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id", "script_name"],
            ["scripts.namespace_id", "scripts.name"],
            name="fk_script_secrets_script",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "script_name", "name", name=op.f("pk_script_secrets")),
    )


def downgrade() -> None:
    op.drop_table("script_secrets")
    op.drop_table("kv_entries")
    with op.batch_alter_table("kv_namespaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kv_namespaces_tenant_id"))

    op.drop_table("kv_namespaces")
    with op.batch_alter_table("d1_databases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_d1_databases_tenant_id"))

    op.drop_table("d1_databases")
