"""Custom hostnames of tenants; what the upload check found for each version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_hostnames",
        sa.Column("hostname", sa.String(length=253), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_hostnames_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("hostname", name=op.f("pk_tenant_hostnames")),
    )
    with op.batch_alter_table("tenant_hostnames", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenant_hostnames_tenant_id"), ["tenant_id"], unique=False)
    with op.batch_alter_table("script_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("linked_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("handlers_json", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("startup_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("script_versions", schema=None) as batch_op:
        batch_op.drop_column("startup_ms")
        batch_op.drop_column("handlers_json")
        batch_op.drop_column("linked_sha256")
    with op.batch_alter_table("tenant_hostnames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_hostnames_tenant_id"))
    op.drop_table("tenant_hostnames")
