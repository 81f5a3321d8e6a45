"""The workspace lifecycle: a name, who stopped it and why, ``deleted``; register actions for restart, rename
and delete.

* ``workspace`` gets ``name`` (the user's label), ``stopped_by_id`` + ``stop_reason`` (an admin's stop, shown to
  the owner) and ``deleted_at``; its status may be ``deleted`` (the hub's named server removed; the row stays,
  because register entries refer to it).
* ``register_entry.action`` may be ``workspace-restarted``, ``workspace-renamed`` and ``workspace-deleted``.
* SQLite cannot change a CHECK constraint in place: both tables are rebuilt (alembic's batch mode). The register's
  append-only triggers are dropped and recreated around its rebuild (as in 0002), and foreign keys are switched
  off for the rebuild of ``workspace`` (register entries refer to it: dropping the old table would otherwise fail;
  SQLite only takes that switch between transactions, so on SQLite the migration commits in three steps);
  ``PRAGMA foreign_key_check`` afterwards proves no reference was broken.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WORKSPACE_STATUS = ("starting", "running", "stopping", "stopped", "failed")
REGISTER_ACTION = ("workspace-launched", "workspace-started", "workspace-failed", "workspace-stopped")
NEW_STATUS = ("deleted",)
NEW_ACTIONS = ("workspace-restarted", "workspace-renamed", "workspace-deleted")

SQLITE_TRIGGERS = [
    "CREATE TRIGGER register_entry_no_update BEFORE UPDATE ON register_entry "
    "BEGIN SELECT RAISE(ABORT, 'register_entry is append-only'); END",
    "CREATE TRIGGER register_entry_no_delete BEFORE DELETE ON register_entry "
    "BEGIN SELECT RAISE(ABORT, 'register_entry is append-only'); END",
]
SQLITE_DROP_TRIGGERS = ["DROP TRIGGER IF EXISTS register_entry_no_update",
                        "DROP TRIGGER IF EXISTS register_entry_no_delete"]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace_check(table: str, constraint: str, column: str, values: tuple[str, ...]) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(constraint, type_="check")
        batch.create_check_constraint(constraint, _in(column, values))


@contextmanager
def _rebuilding():
    """SQLite: foreign keys off and the register's triggers dropped while tables are rebuilt, then both back and
    every reference checked. Other databases change constraints in place: nothing to do."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    # a PRAGMA foreign_keys inside a transaction does nothing: switch them off between two transactions
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
    for statement in SQLITE_DROP_TRIGGERS:
        op.execute(statement)
    yield
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)
    broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rebuilding the tables broke references: {broken[:5]}")
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=ON")


def _checks(*, status: tuple[str, ...], actions: tuple[str, ...]) -> None:
    _replace_check("workspace", op.f("ck_workspace_workspace_status"), "status", status)
    _replace_check("register_entry", op.f("ck_register_entry_register_action"), "action", actions)


def upgrade() -> None:
    with _rebuilding():
        with op.batch_alter_table("workspace") as batch:
            batch.add_column(sa.Column("name", sa.String(80), nullable=True))
            batch.add_column(sa.Column("stopped_by_id", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("stop_reason", sa.Text(), nullable=True))
            batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
            batch.create_foreign_key(op.f("fk_workspace_stopped_by_id_app_user"), "app_user", ["stopped_by_id"],
                                     ["id"])
        _checks(status=WORKSPACE_STATUS + NEW_STATUS, actions=REGISTER_ACTION + NEW_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM register_entry WHERE "
                            + _in("action", NEW_ACTIONS))).scalar():
        raise RuntimeError("the register holds restart, rename or delete entries, which 0004 cannot store; the "
                           "register is append-only, so 0005 cannot be downgraded on this database")
    op.execute(sa.text("UPDATE workspace SET status = 'stopped' WHERE status = 'deleted'"))
    with _rebuilding():
        _checks(status=WORKSPACE_STATUS, actions=REGISTER_ACTION)
        with op.batch_alter_table("workspace") as batch:
            batch.drop_constraint(op.f("fk_workspace_stopped_by_id_app_user"), type_="foreignkey")
            for column in ("deleted_at", "stop_reason", "stopped_by_id", "name"):
                batch.drop_column(column)
