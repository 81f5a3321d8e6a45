"""The register as a hash chain; TRUNCATE refused; the runtime role may only INSERT and SELECT it.

* ``register_entry`` gets ``sequence`` (1, 2, 3, … unique), ``previous_hash`` and ``entry_hash``; existing
  entries are chained in the order they were written (by id).
* PostgreSQL: a ``BEFORE TRUNCATE`` trigger joins the row triggers of 0001; every role that is not the
  table's owner (the runtime role that ``gereedschapskist db init-roles`` made, PUBLIC) keeps only SELECT
  and INSERT on the register and SELECT on ``alembic_version`` — whatever it had before.
* SQLite has no roles; its UPDATE/DELETE triggers are recreated around the table rebuild.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gereedschapskist.portal.models.base import UTCDateTime
from gereedschapskist.portal.models.register import GENESIS, entry_digest

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = [
    "CREATE TRIGGER register_entry_no_update BEFORE UPDATE ON register_entry "
    "BEGIN SELECT RAISE(ABORT, 'register_entry is append-only'); END",
    "CREATE TRIGGER register_entry_no_delete BEFORE DELETE ON register_entry "
    "BEGIN SELECT RAISE(ABORT, 'register_entry is append-only'); END",
]
SQLITE_DROP_TRIGGERS = ["DROP TRIGGER IF EXISTS register_entry_no_update",
                        "DROP TRIGGER IF EXISTS register_entry_no_delete"]
NO_TRUNCATE_POSTGRESQL = (
    "CREATE TRIGGER register_entry_no_truncate BEFORE TRUNCATE ON register_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION register_entry_append_only()")

#: What a role that does not own the table keeps (PostgreSQL).
RUNTIME_PRIVILEGES = {"register_entry": "SELECT, INSERT", "alembic_version": "SELECT"}
#: What 0001 + the default privileges of ``db init-roles`` gave, restored on downgrade.
DEFAULT_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"

_entries = sa.table(
    "register_entry",
    sa.column("id", sa.Integer()), sa.column("at", UTCDateTime()), sa.column("actor_id", sa.Integer()),
    sa.column("organisation_id", sa.Integer()), sa.column("action", sa.String()),
    sa.column("workspace_id", sa.Integer()), sa.column("subject", sa.String()), sa.column("purpose", sa.Text()),
    sa.column("details", sa.JSON()), sa.column("sequence", sa.Integer()), sa.column("previous_hash", sa.String()),
    sa.column("entry_hash", sa.String()),
)


def _chain_existing_entries() -> None:
    bind = op.get_bind()
    previous = GENESIS
    rows = bind.execute(sa.select(_entries).order_by(_entries.c.id)).mappings().all()
    for sequence, row in enumerate(rows, start=1):
        digest = entry_digest(sequence=sequence, at=row["at"], actor_id=row["actor_id"],
                              organisation_id=row["organisation_id"], action=row["action"],
                              workspace_id=row["workspace_id"], subject=row["subject"], purpose=row["purpose"],
                              details=row["details"], previous_hash=previous)
        bind.execute(sa.update(_entries).where(_entries.c.id == row["id"])
                     .values(sequence=sequence, previous_hash=previous, entry_hash=digest))
        previous = digest


def _grantees(table: str) -> list[str]:
    """Quoted names of every role with a privilege on ``table`` other than its owner (PUBLIC included)."""
    rows = op.get_bind().execute(sa.text(
        "SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END "
        "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee "
        "WHERE c.oid = to_regclass(:table) AND a.grantee <> c.relowner"), {"table": table}).scalars().all()
    return sorted(rows)


def _restrict_non_owners() -> None:
    for table, keep in RUNTIME_PRIVILEGES.items():
        for grantee in _grantees(table):
            op.execute(f"REVOKE ALL ON {table} FROM {grantee}")
            op.execute(f"GRANT {keep} ON {table} TO {grantee}")


def _chain_columns_not_null() -> None:
    with op.batch_alter_table("register_entry") as batch:
        for column in ("sequence", "previous_hash", "entry_hash"):
            batch.alter_column(column, existing_type=sa.Integer() if column == "sequence" else sa.String(64),
                               nullable=False)
        batch.create_unique_constraint("uq_register_entry_sequence", ["sequence"])


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_DROP_TRIGGERS:
            op.execute(statement)
    with op.batch_alter_table("register_entry") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("previous_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("entry_hash", sa.String(64), nullable=True))
    if dialect == "postgresql":
        op.execute("ALTER TABLE register_entry DISABLE TRIGGER register_entry_append_only")
        _chain_existing_entries()
        op.execute("ALTER TABLE register_entry ENABLE TRIGGER register_entry_append_only")
    else:
        _chain_existing_entries()
    _chain_columns_not_null()
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(NO_TRUNCATE_POSTGRESQL)
        _restrict_non_owners()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_DROP_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER register_entry_no_truncate ON register_entry")
        for table in RUNTIME_PRIVILEGES:
            for grantee in _grantees(table):
                op.execute(f"GRANT {DEFAULT_PRIVILEGES} ON {table} TO {grantee}")
    with op.batch_alter_table("register_entry") as batch:
        batch.drop_constraint("uq_register_entry_sequence", type_="unique")
        for column in ("entry_hash", "previous_hash", "sequence"):
            batch.drop_column(column)
    if dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
