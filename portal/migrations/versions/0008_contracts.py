"""Standard contracts (issue 14): ``contract`` (an organisation's order and its state) and ``contract_transition``
(each change of state: from, to, who, when, why); ``register_entry.action`` may be ``contract-drafted``,
``contract-requested``, ``contract-approved``, ``contract-rejected``, ``contract-provisioning``,
``contract-activated``, ``contract-suspended`` and ``contract-ended``. As in 0005/0006, SQLite rebuilds the register
(alembic's batch mode) with its append-only triggers dropped and recreated around the rebuild.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_0006 = importlib.import_module("gereedschapskist.portal.migrations.versions.0006_role_grants")
#: The actions 0006 (and 0007) allow.
REGISTER_ACTION = _0006.REGISTER_ACTION + _0006.NEW_ACTIONS
NEW_ACTIONS = ("contract-drafted", "contract-requested", "contract-approved", "contract-rejected",
               "contract-provisioning", "contract-activated", "contract-suspended", "contract-ended")
STATES = ("draft", "requested", "approved", "rejected", "provisioning", "active", "suspended", "ended")
STAGES = ("development", "production")


def _state(name: str, constraint: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Enum(*STATES, name=constraint, native_enum=False, create_constraint=True, length=32),
                     nullable=nullable)


def _time(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        _state("state", "contract_state"),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("stage", sa.Enum(*STAGES, name="contract_stage", native_enum=False, create_constraint=True,
                                   length=32), nullable=False),
        sa.Column("provisioner", sa.String(32), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("bundles", sa.JSON(), nullable=False),
        sa.Column("sizes", sa.JSON(), nullable=False),
        sa.Column("expected_users", sa.Integer(), nullable=False),
        sa.Column("hours_per_week", sa.Numeric(6, 2), nullable=False),
        sa.Column("budget_eur", sa.Numeric(12, 2), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("contact", sa.String(200), nullable=False),
        sa.Column("cost_centre", sa.String(64), nullable=False),
        sa.Column("estimate", sa.JSON(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_contract_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["environment_id"], ["environment.id"], name="fk_contract_environment_id_environment"),
        sa.ForeignKeyConstraint(["created_by_id"], ["app_user.id"], name="fk_contract_created_by_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_contract"),
    )
    op.create_index("ix_contract_state", "contract", ["state"])
    op.create_index("ix_contract_organisation_id_partner_stage", "contract", ["organisation_id", "partner", "stage"])
    op.create_table(
        "contract_transition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        _state("from_state", "contract_from_state", nullable=True),
        _state("to_state", "contract_to_state"),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        _time("at"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"], name="fk_contract_transition_contract_id_contract",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["app_user.id"], name="fk_contract_transition_actor_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_contract_transition"),
    )
    op.create_index("ix_contract_transition_contract_id", "contract_transition", ["contract_id"])
    _0006._actions(REGISTER_ACTION + NEW_ACTIONS)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM register_entry WHERE " + _0006._in("action", NEW_ACTIONS))).scalar():
        raise RuntimeError("the register holds contract entries, which 0007 cannot store; the register is "
                           "append-only, so 0008 cannot be downgraded on this database")
    _0006._actions(REGISTER_ACTION)
    op.drop_index("ix_contract_transition_contract_id", table_name="contract_transition")
    op.drop_table("contract_transition")
    op.drop_index("ix_contract_organisation_id_partner_stage", table_name="contract")
    op.drop_index("ix_contract_state", table_name="contract")
    op.drop_table("contract")
