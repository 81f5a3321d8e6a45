"""Workbench roles granted by organisation admins, memberships ended by a handover, and their register actions.

* ``role_grant``: a role an organisation admin granted a member of their organisation, with the reason, the end
  date, and who revoked it when (``models/grant.py``).
* ``membership_end``: a membership an admin ended in a handover (to whom the workspaces went); while not
  re-admitted, a login does not make the user a member of that organisation again.
* ``register_entry.action`` may be ``register-exported``, ``role-granted``, ``role-revoked``,
  ``member-handed-over``, ``workspace-handed-over`` and ``member-readmitted``. As in 0005, SQLite rebuilds the
  register (alembic's batch mode) with its append-only triggers dropped and recreated around the rebuild.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: The actions 0005 allows.
REGISTER_ACTION = ("workspace-launched", "workspace-started", "workspace-failed", "workspace-stopped",
                   "workspace-restarted", "workspace-renamed", "workspace-deleted")
NEW_ACTIONS = ("register-exported", "role-granted", "role-revoked", "member-handed-over", "workspace-handed-over",
               "member-readmitted")

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


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _actions(values: tuple[str, ...]) -> None:
    values = tuple(dict.fromkeys(values))          # once each, in order
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for statement in SQLITE_DROP_TRIGGERS:
            op.execute(statement)
    constraint = op.f("ck_register_entry_register_action")
    with op.batch_alter_table("register_entry") as batch:
        batch.drop_constraint(constraint, type_="check")
        batch.create_check_constraint(constraint, _in("action", values))
    if sqlite:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "role_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=False),
        _time("granted_at"),
        _time("expires_at"),
        _time("revoked_at", nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_role_grant_user_id_app_user",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_role_grant_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["granted_by_id"], ["app_user.id"], name="fk_role_grant_granted_by_id_app_user"),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["app_user.id"], name="fk_role_grant_revoked_by_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_role_grant"),
    )
    op.create_index("ix_role_grant_user_id", "role_grant", ["user_id"])
    op.create_index("ix_role_grant_organisation_id_user_id", "role_grant", ["organisation_id", "user_id"])
    op.create_table(
        "membership_end",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("ended_by_id", sa.Integer(), nullable=False),
        _time("ended_at"),
        sa.Column("successor_id", sa.Integer(), nullable=True),
        _time("readmitted_at", nullable=True),
        sa.Column("readmitted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_membership_end_user_id_app_user",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_membership_end_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["ended_by_id"], ["app_user.id"], name="fk_membership_end_ended_by_id_app_user"),
        sa.ForeignKeyConstraint(["successor_id"], ["app_user.id"], name="fk_membership_end_successor_id_app_user"),
        sa.ForeignKeyConstraint(["readmitted_by_id"], ["app_user.id"],
                                name="fk_membership_end_readmitted_by_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_membership_end"),
    )
    op.create_index("ix_membership_end_user_id_organisation_id", "membership_end", ["user_id", "organisation_id"])
    _actions(REGISTER_ACTION + NEW_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM register_entry WHERE " + _in("action", NEW_ACTIONS))).scalar():
        raise RuntimeError("the register holds grant, handover or export entries, which 0005 cannot store; the "
                           "register is append-only, so 0006 cannot be downgraded on this database")
    _actions(REGISTER_ACTION)
    op.drop_index("ix_membership_end_user_id_organisation_id", table_name="membership_end")
    op.drop_table("membership_end")
    op.drop_index("ix_role_grant_organisation_id_user_id", table_name="role_grant")
    op.drop_index("ix_role_grant_user_id", table_name="role_grant")
    op.drop_table("role_grant")
