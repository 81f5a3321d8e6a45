"""Right-sizing: ``workspace_usage`` keeps the last known CPU and memory peaks of a workspace after it stops.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gereedschapskist.portal.models.base import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_usage",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("peak_cpu_percent", sa.Float(), nullable=False),
        sa.Column("peak_rss_bytes", sa.BigInteger(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("run_started_at", UTCDateTime(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], name="fk_workspace_usage_workspace_id_workspace",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_workspace_usage"),
    )


def downgrade() -> None:
    op.drop_table("workspace_usage")
