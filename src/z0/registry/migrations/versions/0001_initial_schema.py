"""The initial schema: accounts, namespaces, scripts and their versions, tenants, keys and tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("change_counter", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_state")),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("limits_json", sa.Text(), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("modified_on", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=True),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("revoked_on", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_api_tokens_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_api_tokens_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "namespaces",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("modified_on", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("modified_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_namespaces_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_namespaces")),
        sa.UniqueConstraint("name", name=op.f("uq_namespaces_name")),
    )
    op.create_table(
        "tenant_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("revoked_on", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_keys_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_tenant_keys_key_hash")),
    )
    with op.batch_alter_table("tenant_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenant_keys_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "scripts",
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=True),
        sa.Column("current_version_id", sa.String(length=36), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.Column("modified_on", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["namespaces.id"],
            name=op.f("fk_scripts_namespace_id_namespaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "name", name=op.f("pk_scripts")),
    )
    with op.batch_alter_table("scripts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scripts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "script_tags",
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("script_name", sa.String(length=63), nullable=False),
        sa.Column("tag", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id", "script_name"],
            ["scripts.namespace_id", "scripts.name"],
            name="fk_script_tags_script",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "script_name", "tag", name=op.f("pk_script_tags")),
    )
    with op.batch_alter_table("script_tags", schema=None) as batch_op:
        batch_op.create_index("ix_script_tags_namespace_id_tag", ["namespace_id", "tag"], unique=False)

    op.create_table(
        "script_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("script_name", sa.String(length=63), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("main_module", sa.String(length=255), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_on", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id", "script_name"],
            ["scripts.namespace_id", "scripts.name"],
            name="fk_script_versions_script",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_script_versions")),
    )
    with op.batch_alter_table("script_versions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_script_versions_namespace_id_script_name",
            ["namespace_id", "script_name", "created_on"],
            unique=False,
        )

    op.create_table(
        "version_modules",
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_sha256"], ["blobs.sha256"], name=op.f("fk_version_modules_blob_sha256_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["script_versions.id"],
            name=op.f("fk_version_modules_version_id_script_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "position", name=op.f("pk_version_modules")),
    )
    with op.batch_alter_table("version_modules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_version_modules_blob_sha256"), ["blob_sha256"], unique=False)

    registry_state = sa.table(
        "registry_state", sa.column("id", sa.Integer), sa.column("change_counter", sa.BigInteger)
    )
    op.bulk_insert(registry_state, [{"id": 1, "change_counter": 0}])


def downgrade() -> None:
    with op.batch_alter_table("version_modules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_version_modules_blob_sha256"))

    op.drop_table("version_modules")
    with op.batch_alter_table("script_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_script_versions_namespace_id_script_name")

    op.drop_table("script_versions")
    with op.batch_alter_table("script_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_script_tags_namespace_id_tag")

    op.drop_table("script_tags")
    with op.batch_alter_table("scripts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scripts_tenant_id"))

    op.drop_table("scripts")
    with op.batch_alter_table("tenant_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_keys_tenant_id"))

    op.drop_table("tenant_keys")
    op.drop_table("namespaces")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_tenant_id"))

    op.drop_table("api_tokens")
    op.drop_table("tenants")
    op.drop_table("registry_state")
    op.drop_table("blobs")
    op.drop_table("accounts")
