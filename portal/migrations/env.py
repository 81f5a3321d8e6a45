"""Alembic environment: the engine comes from :func:`gereedschapskist.portal.db.alembic_config`."""

from __future__ import annotations

from alembic import context

from gereedschapskist.portal.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only reached when someone runs plain `alembic` by hand
    raise RuntimeError("run migrations with `gereedschapskist db upgrade`, which passes the database engine")

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
