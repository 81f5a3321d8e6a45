"""Organisations, users and members with their roles, environments, workspaces, the register.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER register_entry_no_update BEFORE UPDATE ON register_entry "
    "BEGIN SELECT RAISE(ABORT, 'register_entry is append-only'); END",
    "CREATE TRIGGER register_entry_no_delete BEFORE DELETE ON register_entry "
    "BEGIN SELECT RAISE(ABORT, 'register_entry is append-only'); END",
]
APPEND_ONLY_POSTGRESQL = [
    "CREATE FUNCTION register_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'register_entry is append-only'; END $$",
    "CREATE TRIGGER register_entry_append_only BEFORE UPDATE OR DELETE ON register_entry "
    "FOR EACH ROW EXECUTE FUNCTION register_entry_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("platform_admin", sa.Boolean(), nullable=False),
        _time("created_at"),
        _time("last_login_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_app_user"),
        sa.UniqueConstraint("issuer", "subject", name="uq_app_user_issuer_subject"),
        sa.UniqueConstraint("username", name="uq_app_user_username"),
    )
    op.create_table(
        "organisation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_organisation"),
        sa.UniqueConstraint("slug", name="uq_organisation_slug"),
    )
    op.create_table(
        "environment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", _enum("environment_kind", "local", "cloud"), nullable=False),
        sa.Column("stage", _enum("environment_stage", "development", "production"), nullable=False),
        sa.Column("status", _enum("environment_status", "active", "retired"), nullable=False),
        sa.Column("hub_url", sa.String(500), nullable=False),
        sa.Column("hub_api_url", sa.String(500), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_environment_organisation_id_organisation"),
        sa.PrimaryKeyConstraint("id", name="pk_environment"),
        sa.UniqueConstraint("name", name="uq_environment_name"),
    )
    op.create_table(
        "member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("status", _enum("member_status", "active", "former"), nullable=False),
        _time("since"),
        _time("until", nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"], name="fk_member_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_member_user_id_app_user", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_member"),
        sa.UniqueConstraint("user_id", "organisation_id", name="uq_member_user_id_organisation_id"),
    )
    op.create_index("ix_member_organisation_id_status", "member", ["organisation_id", "status"])
    op.create_table(
        "user_role",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_user_role_user_id_app_user", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role", name="pk_user_role"),
    )
    op.create_table(
        "member_role",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("role", _enum("member_role_name", "data-scientist", "organisation-admin", "data-owner"),
                  nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name="fk_member_role_member_id_member", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("member_id", "role", name="pk_member_role"),
    )
    op.create_table(
        "workspace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("server_name", sa.String(255), nullable=False),
        sa.Column("bundle_id", sa.String(64), nullable=False),
        sa.Column("bundle_version", sa.String(64), nullable=False),
        sa.Column("size_id", sa.String(64), nullable=False),
        sa.Column("interface", sa.String(32), nullable=False),
        sa.Column("status", _enum("workspace_status", "starting", "running", "stopping", "stopped", "failed"),
                  nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("url", sa.String(1000), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("started_at", nullable=True),
        _time("stopped_at", nullable=True),
        sa.ForeignKeyConstraint(["environment_id"], ["environment.id"], name="fk_workspace_environment_id_environment"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_workspace_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_workspace_user_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_workspace"),
        sa.UniqueConstraint("environment_id", "user_id", "server_name",
                            name="uq_workspace_environment_id_user_id_server_name"),
    )
    op.create_index("ix_workspace_user_id_status", "workspace", ["user_id", "status"])
    op.create_index("ix_workspace_organisation_id_status", "workspace", ["organisation_id", "status"])
    op.create_table(
        "register_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        _time("at"),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("action", _enum("register_action", "workspace-launched", "workspace-started", "workspace-failed",
                                  "workspace-stopped"), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["app_user.id"], name="fk_register_entry_actor_id_app_user"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_register_entry_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], name="fk_register_entry_workspace_id_workspace"),
        sa.PrimaryKeyConstraint("id", name="pk_register_entry"),
    )
    op.create_index("ix_register_entry_organisation_id_at", "register_entry", ["organisation_id", "at"])
    op.create_index("ix_register_entry_workspace_id", "register_entry", ["workspace_id"])
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": APPEND_ONLY_SQLITE, "postgresql": APPEND_ONLY_POSTGRESQL}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER register_entry_append_only ON register_entry")
        op.execute("DROP FUNCTION register_entry_append_only()")
    for table in ("register_entry", "workspace", "member_role", "user_role", "member", "environment",
                  "organisation", "app_user"):
        op.drop_table(table)
