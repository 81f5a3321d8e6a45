"""Server-side sessions: ``portal_session`` (the cookie holds only a random id; the row is keyed by its
SHA-256). Rows end with their absolute and idle lifetimes and at logout; deleting a user ends theirs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gereedschapskist.portal.models.base import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_session",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_portal_session_user_id_app_user",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_portal_session"),
    )
    op.create_index("ix_portal_session_user_id", "portal_session", ["user_id"])
    op.create_index("ix_portal_session_last_seen_at", "portal_session", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_portal_session_last_seen_at", table_name="portal_session")
    op.drop_index("ix_portal_session_user_id", table_name="portal_session")
    op.drop_table("portal_session")
