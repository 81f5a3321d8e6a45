"""Bundle requests (issue 17, supply model d, "maatwerk op aanvraag"): a member asks for a bundle of their own.

- ``bundle_request``: the requester and their organisation, the form as entered (title, role, packages, interfaces,
  sizes, why), the catalogue YAML the portal drafted from it, its state (``drafted``, ``pr-opened``, ``merged``,
  ``rejected``), the pull request (GitHub's URL and number, or the local branch, commit and text file) and the
  platform admin's decision (who, when, why);
- ``register_entry.action`` may also be ``bundle-requested``, ``bundle-request-pr-opened``,
  ``bundle-request-merged`` and ``bundle-request-rejected`` (the register is rebuilt on SQLite as in 0006-0011,
  with its append-only triggers dropped and recreated around the rebuild; PostgreSQL swaps the CHECK constraint).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_0006 = importlib.import_module("gereedschapskist.portal.migrations.versions.0006_role_grants")
_0011 = importlib.import_module("gereedschapskist.portal.migrations.versions.0011_register_per_dataset_and_person")
#: The actions 0011 allows.
REGISTER_ACTION = _0011.REGISTER_ACTION
NEW_ACTIONS = ("bundle-requested", "bundle-request-pr-opened", "bundle-request-merged", "bundle-request-rejected")
STATES = ("drafted", "pr-opened", "merged", "rejected")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bundle_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("bundle_id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("bundle_yaml", sa.Text(), nullable=False),
        sa.Column("state", sa.Enum(*STATES, name="bundle_request_state", native_enum=False, create_constraint=True,
                                   length=32), nullable=False),
        sa.Column("pull_request", sa.JSON(), nullable=True),
        sa.Column("pull_request_error", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        _time("decided_at", nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["requester_id"], ["app_user.id"], name="fk_bundle_request_requester_id_app_user"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_bundle_request_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["app_user.id"], name="fk_bundle_request_decided_by_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_bundle_request"),
    )
    op.create_index("ix_bundle_request_requester_id", "bundle_request", ["requester_id"])
    op.create_index("ix_bundle_request_state", "bundle_request", ["state"])
    _0006._actions(REGISTER_ACTION + NEW_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM register_entry WHERE " + _0006._in("action", NEW_ACTIONS))).scalar():
        raise RuntimeError("the register holds bundle-request entries, which 0011 cannot store; the register is "
                           "append-only, so 0012 cannot be downgraded on this database")
    _0006._actions(REGISTER_ACTION)
    op.drop_index("ix_bundle_request_state", table_name="bundle_request")
    op.drop_index("ix_bundle_request_requester_id", table_name="bundle_request")
    op.drop_table("bundle_request")
