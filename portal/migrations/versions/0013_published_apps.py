"""Published apps and dashboards (issue 17, section 1).

- ``published_app``: the owner and their organisation, the environment (its hub), the slug and the hub server
  ``app-<slug>``, title, framework, bundle and size, the audience (organisation, groups or named users), the state
  (``published``, ``unpublished``) and the version that runs;
- ``published_app_version``: every publish is a version (its source: the entry file, and git URL + commit for a git
  source; the bundle's version; who published it), so a production app rolls back to the previous one;
- ``register_entry.action`` may also be ``app-published``, ``app-unpublished`` and ``app-rolled-back`` (rebuilt on
  SQLite as in 0006-0012, triggers around the rebuild; PostgreSQL swaps the CHECK constraint).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_0006 = importlib.import_module("gereedschapskist.portal.migrations.versions.0006_role_grants")
_0012 = importlib.import_module("gereedschapskist.portal.migrations.versions.0012_bundle_requests")
#: The actions 0012 allows.
REGISTER_ACTION = _0012.REGISTER_ACTION + _0012.NEW_ACTIONS
NEW_ACTIONS = ("app-published", "app-unpublished", "app-rolled-back")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "published_app",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(26), nullable=False),
        sa.Column("server_name", sa.String(30), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("framework", sa.String(32), nullable=False),
        sa.Column("bundle_id", sa.String(64), nullable=False),
        sa.Column("size_id", sa.String(32), nullable=False),
        sa.Column("audience_kind", _enum("app_audience_kind", "organisation", "group", "users"), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("state", _enum("published_app_state", "published", "unpublished"), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("unpublished_at", nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["app_user.id"], name="fk_published_app_owner_id_app_user"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_published_app_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["environment_id"], ["environment.id"],
                                name="fk_published_app_environment_id_environment"),
        sa.PrimaryKeyConstraint("id", name="pk_published_app"),
    )
    op.create_index("ix_published_app_owner_id", "published_app", ["owner_id"])
    op.create_index("ix_published_app_organisation_id_state", "published_app", ["organisation_id", "state"])
    op.create_table(
        "published_app_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("bundle_version", sa.String(32), nullable=False),
        sa.Column("published_by_id", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.ForeignKeyConstraint(["app_id"], ["published_app.id"], name="fk_published_app_version_app_id_published_app"),
        sa.ForeignKeyConstraint(["published_by_id"], ["app_user.id"],
                                name="fk_published_app_version_published_by_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_published_app_version"),
    )
    op.create_index("ix_published_app_version_app_id_number", "published_app_version", ["app_id", "number"],
                    unique=True)
    _0006._actions(REGISTER_ACTION + NEW_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM register_entry WHERE " + _0006._in("action", NEW_ACTIONS))).scalar():
        raise RuntimeError("the register holds published-app entries, which 0012 cannot store; the register is "
                           "append-only, so 0013 cannot be downgraded on this database")
    _0006._actions(REGISTER_ACTION)
    op.drop_index("ix_published_app_version_app_id_number", table_name="published_app_version")
    op.drop_table("published_app_version")
    op.drop_index("ix_published_app_organisation_id_state", table_name="published_app")
    op.drop_index("ix_published_app_owner_id", table_name="published_app")
    op.drop_table("published_app")
