"""Alembic migrations of the portal database (applied by ``gereedschapskist db upgrade``)."""
