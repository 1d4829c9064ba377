"""Alembic environment: z0 runs migrations itself (z0.registry.migrate), on the connection it hands over."""

from __future__ import annotations

from alembic import context

from z0.registry._tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
