"""Standard contracts in operation (issue 14): provisioning progress, spend metering, warnings, sizes on request and
the contract document.

- ``contract``: ``provisioning_status``/``_attempts``/``_error``/``_next_at``/``_detail`` (the provisioner's progress,
  retried with back-off), ``callback_token_hash`` (the gitops deploy's activation token), ``budget_warned_at``,
  ``closed_spend_eur`` (the euros of the contract's closed runs, kept by metering in the transaction that closes a
  run, backfilled here from the sessions), ``document_html``/``document_pdf``/``document_made_at``;
- ``environment.contract_id`` and ``workspace.contract_id``: what was provisioned for, and runs under, a contract;
- ``workspace_session`` (one run of a workspace with its price per hour; spend is summed from it in SQL, over an
  index that covers the sum; at most one open run per workspace, a partial unique index; the open runs per contract,
  a partial index), ``lease``
  (background work held by one worker at a time), ``contract_notice`` (warnings, once per contract and kind) and
  ``size_request``;
- ``register_entry.action`` may also be ``contract-provisioning-failed``, ``contract-budget-warned``,
  ``contract-document-made``, ``size-requested``, ``size-approved``, ``size-rejected``, ``size-expired``,
  ``workspace-stopped-by-contract`` and ``contract-budget-changed`` (the register is rebuilt on SQLite as in 0006/0008).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_0005 = importlib.import_module("gereedschapskist.portal.migrations.versions.0005_workspace_lifecycle")
_0006 = importlib.import_module("gereedschapskist.portal.migrations.versions.0006_role_grants")
_0008 = importlib.import_module("gereedschapskist.portal.migrations.versions.0008_contracts")
#: The actions 0008 allows.
REGISTER_ACTION = _0008.REGISTER_ACTION + _0008.NEW_ACTIONS
NEW_ACTIONS = ("contract-provisioning-failed", "contract-budget-warned", "contract-document-made", "size-requested",
               "size-approved", "size-rejected", "size-expired", "workspace-stopped-by-contract",
               "contract-budget-changed")
PROVISIONING = ("pending", "running", "failed", "waiting", "done")
SIZE_STATES = ("requested", "approved", "rejected", "expired")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with _0005._rebuilding():      # SQLite rebuilds tables others refer to: foreign keys off, then every one checked
        _add_columns()
    _create_tables()
    _0006._actions(REGISTER_ACTION + NEW_ACTIONS)


def _add_columns() -> None:
    with op.batch_alter_table("contract") as batch:
        batch.add_column(sa.Column("provisioning_status", sa.Enum(
            *PROVISIONING, name="contract_provisioning_status", native_enum=False, create_constraint=True,
            length=32), nullable=True))
        batch.add_column(sa.Column("provisioning_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("provisioning_error", sa.Text(), nullable=True))
        batch.add_column(_time("provisioning_next_at", nullable=True))
        batch.add_column(sa.Column("provisioning_detail", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("callback_token_hash", sa.String(64), nullable=True))
        batch.add_column(_time("budget_warned_at", nullable=True))
        batch.add_column(sa.Column("closed_spend_eur", sa.Numeric(18, 6), nullable=False, server_default="0"))
        batch.add_column(sa.Column("document_html", sa.Text(), nullable=True))
        batch.add_column(sa.Column("document_pdf", sa.LargeBinary(), nullable=True))
        batch.add_column(_time("document_made_at", nullable=True))
    with op.batch_alter_table("environment") as batch:
        batch.add_column(sa.Column("contract_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_environment_contract_id_contract", "contract", ["contract_id"], ["id"])
        batch.create_index("ix_environment_contract_id", ["contract_id"])
    with op.batch_alter_table("workspace") as batch:
        batch.add_column(sa.Column("contract_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_workspace_contract_id_contract", "contract", ["contract_id"], ["id"])
        batch.create_index("ix_workspace_contract_id", ["contract_id"])


def _create_tables() -> None:
    op.create_table(
        "workspace_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("size", sa.String(130), nullable=False),
        sa.Column("price_per_hour", sa.Numeric(10, 4), nullable=False),
        _time("started_at"),
        _time("stopped_at", nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], name="fk_workspace_session_workspace_id_workspace",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"],
                                name="fk_workspace_session_organisation_id_organisation"),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"], name="fk_workspace_session_contract_id_contract"),
        sa.PrimaryKeyConstraint("id", name="pk_workspace_session"),
    )
    op.create_index("ix_workspace_session_workspace_id", "workspace_session", ["workspace_id"])
    # covers every column the spend aggregate reads, so the overview scans the index alone (issue 14's bench)
    op.create_index("ix_workspace_session_contract_spend", "workspace_session",
                    ["contract_id", "started_at", "stopped_at", "price_per_hour"])
    # at most one open run per workspace, whatever two workers or a replayed hub report do
    op.create_index("uq_workspace_session_open", "workspace_session", ["workspace_id"], unique=True,
                    sqlite_where=sa.text("stopped_at IS NULL"), postgresql_where=sa.text("stopped_at IS NULL"))
    # spend sums only the open runs (the closed ones are in contract.closed_spend_eur)
    op.create_index("ix_workspace_session_open_contract", "workspace_session",
                    ["contract_id", "started_at", "price_per_hour"],
                    sqlite_where=sa.text("stopped_at IS NULL"), postgresql_where=sa.text("stopped_at IS NULL"))
    _backfill_closed_spend()
    op.create_table(
        "lease",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("name", name="pk_lease"),
    )
    op.create_table(
        "contract_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        _time("at"),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("email_to", sa.Text(), nullable=True),
        _time("emailed_at", nullable=True),
        sa.Column("email_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"], name="fk_contract_notice_contract_id_contract",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_contract_notice"),
        sa.UniqueConstraint("contract_id", "kind", name="uq_contract_notice_contract_id_kind"),
    )
    op.create_index("ix_contract_notice_contract_id", "contract_notice", ["contract_id"])
    op.create_table(
        "size_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("bundle", sa.String(64), nullable=False),
        sa.Column("size", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("state", sa.Enum(*SIZE_STATES, name="size_request_state", native_enum=False, create_constraint=True,
                                   length=32), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        _time("decided_at", nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        _time("created_at"),
        sa.ForeignKeyConstraint(["contract_id"], ["contract.id"], name="fk_size_request_contract_id_contract",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requester_id"], ["app_user.id"], name="fk_size_request_requester_id_app_user"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["app_user.id"], name="fk_size_request_decided_by_id_app_user"),
        sa.PrimaryKeyConstraint("id", name="pk_size_request"),
    )
    op.create_index("ix_size_request_contract_id_state", "size_request", ["contract_id", "state"])


def _backfill_closed_spend() -> None:
    """Every contract's ``closed_spend_eur`` from its closed sessions, one UPDATE (the same sum, each run rounded to
    6 decimals, as ``portal.services.metering.rebuild_rollup``)."""
    if op.get_bind().dialect.name == "sqlite":
        hours = "((julianday(s.stopped_at) - julianday(s.started_at)) * 86400.0) / 3600"
    else:
        hours = "EXTRACT(EPOCH FROM (s.stopped_at - s.started_at)) / 3600"
    op.execute(sa.text(
        "UPDATE contract SET closed_spend_eur = coalesce((SELECT sum(round(CAST(s.price_per_hour * " + hours +
        " AS NUMERIC), 6)) FROM workspace_session s WHERE s.contract_id = contract.id AND s.stopped_at IS NOT NULL),"
        " 0)"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM register_entry WHERE " + _0006._in("action", NEW_ACTIONS))).scalar():
        raise RuntimeError("the register holds entries of issue 14's operations, which 0008 cannot store; the "
                           "register is append-only, so 0009 cannot be downgraded on this database")
    _0006._actions(REGISTER_ACTION)
    op.drop_index("ix_size_request_contract_id_state", table_name="size_request")
    op.drop_table("size_request")
    op.drop_index("ix_contract_notice_contract_id", table_name="contract_notice")
    op.drop_table("contract_notice")
    op.drop_table("lease")
    op.drop_index("ix_workspace_session_open_contract", table_name="workspace_session")
    op.drop_index("uq_workspace_session_open", table_name="workspace_session")
    op.drop_index("ix_workspace_session_contract_spend", table_name="workspace_session")
    op.drop_index("ix_workspace_session_workspace_id", table_name="workspace_session")
    op.drop_table("workspace_session")
    with _0005._rebuilding():
        _drop_columns()


def _drop_columns() -> None:
    with op.batch_alter_table("workspace") as batch:
        batch.drop_index("ix_workspace_contract_id")
        batch.drop_constraint("fk_workspace_contract_id_contract", type_="foreignkey")
        batch.drop_column("contract_id")
    with op.batch_alter_table("environment") as batch:
        batch.drop_index("ix_environment_contract_id")
        batch.drop_constraint("fk_environment_contract_id_contract", type_="foreignkey")
        batch.drop_column("contract_id")
    with op.batch_alter_table("contract") as batch:
        batch.drop_constraint(op.f("ck_contract_contract_provisioning_status"), type_="check")
        for column in ("document_made_at", "document_pdf", "document_html", "closed_spend_eur", "budget_warned_at",
                       "callback_token_hash", "provisioning_detail", "provisioning_next_at", "provisioning_error",
                       "provisioning_attempts", "provisioning_status"):
            batch.drop_column(column)
