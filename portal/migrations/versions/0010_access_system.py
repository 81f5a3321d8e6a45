"""The access system's foundation (issue 15): datasets, access requests and dataset grants.

- ``dataset``: metadata from a publication point (unique on the source's identifier), its owner organisation and
  data owner, category, sensitivity level, the data file in the local data store, automatic approval on or off;
- ``access_request``: a member's request (purpose, purpose code, legal ground, workbench role, period), its
  decision, and for an automatic one the earlier approval it relied on (``relied_on_id``);
- ``dataset_grant``: an approved request's access, with its expiry (index on user and expiry: the lookup at
  workspace start);
- ``register_entry.action`` may also be ``access-requested``, ``access-approved``, ``access-rejected``,
  ``access-granted``, ``access-expired``, ``access-revoked``, ``dataset-auto-approval-changed`` and
  ``dataset-mounted`` (the register is rebuilt on SQLite as in 0006/0008/0009).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_0006 = importlib.import_module("gereedschapskist.portal.migrations.versions.0006_role_grants")
_0009 = importlib.import_module("gereedschapskist.portal.migrations.versions.0009_contract_operations")
#: The actions 0009 allows.
REGISTER_ACTION = _0009.REGISTER_ACTION + _0009.NEW_ACTIONS
NEW_ACTIONS = ("access-requested", "access-approved", "access-rejected", "access-granted", "access-expired",
               "access-revoked", "dataset-auto-approval-changed", "dataset-mounted")
CATEGORIES = ("person", "business", "location", "sensor", "other")
LEVELS = ("public", "internal", "confidential", "special")
REQUEST_STATES = ("requested", "approved", "rejected")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, values: tuple[str, ...], type_name: str) -> sa.Column:
    return sa.Column(name, sa.Enum(*values, name=type_name, native_enum=False, create_constraint=True, length=32),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("title_nl", sa.String(500), nullable=False),
        sa.Column("title_en", sa.String(500), nullable=True),
        sa.Column("description_nl", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("data_owner_id", sa.Integer(), nullable=True),
        _enum("category", CATEGORIES, "dataset_category"),
        _enum("sensitivity", LEVELS, "sensitivity_level"),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("source_url", sa.String(1000), nullable=True),
        sa.Column("data_path", sa.String(500), nullable=True),
        sa.Column("auto_approval", sa.Boolean(), nullable=False),
        _time("imported_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"], name="fk_dataset_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["data_owner_id"], ["app_user.id"], name="fk_dataset_data_owner_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_dataset"),
        sa.UniqueConstraint("identifier", name="uq_dataset_identifier"),
    )
    op.create_index("ix_dataset_organisation_id", "dataset", ["organisation_id"])
    op.create_table(
        "access_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("purpose_code", sa.String(64), nullable=False),
        sa.Column("legal_ground", sa.String(64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        _enum("state", REQUEST_STATES, "access_request_state"),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("relied_on_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        _time("decided_at", nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        _time("created_at"),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name="fk_access_request_dataset_id_dataset"),
        sa.ForeignKeyConstraint(["requester_id"], ["app_user.id"], name="fk_access_request_requester_id_app_user"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_access_request_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["relied_on_id"], ["access_request.id"],
                                name="fk_access_request_relied_on_id_access_request"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["app_user.id"], name="fk_access_request_decided_by_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_access_request"),
    )
    op.create_index("ix_access_request_dataset_id_state", "access_request", ["dataset_id", "state"])
    op.create_index("ix_access_request_requester_id", "access_request", ["requester_id"])
    op.create_table(
        "dataset_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("access_request_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        _time("starts_at"),
        _time("expires_at"),
        _time("revoked_at", nullable=True),
        _time("created_at"),
        sa.ForeignKeyConstraint(["access_request_id"], ["access_request.id"],
                                name="fk_dataset_grant_access_request_id_access_request"),
        sa.ForeignKeyConstraint(["dataset_id"], ["dataset.id"], name="fk_dataset_grant_dataset_id_dataset"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_dataset_grant_user_id_app_user"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_dataset_grant_organisation_id_organisation"),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_grant"),
        sa.UniqueConstraint("access_request_id", name="uq_dataset_grant_access_request_id"),
    )
    op.create_index("ix_dataset_grant_dataset_id", "dataset_grant", ["dataset_id"])
    op.create_index("ix_dataset_grant_user_id_expires_at", "dataset_grant", ["user_id", "expires_at"])
    _0006._actions(REGISTER_ACTION + NEW_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM register_entry WHERE " + _0006._in("action", NEW_ACTIONS))).scalar():
        raise RuntimeError("the register holds entries of issue 15's access system, which 0009 cannot store; the "
                           "register is append-only, so 0010 cannot be downgraded on this database")
    _0006._actions(REGISTER_ACTION)
    op.drop_index("ix_dataset_grant_user_id_expires_at", table_name="dataset_grant")
    op.drop_index("ix_dataset_grant_dataset_id", table_name="dataset_grant")
    op.drop_table("dataset_grant")
    op.drop_index("ix_access_request_requester_id", table_name="access_request")
    op.drop_index("ix_access_request_dataset_id_state", table_name="access_request")
    op.drop_table("access_request")
    op.drop_index("ix_dataset_organisation_id", table_name="dataset")
    op.drop_table("dataset")
