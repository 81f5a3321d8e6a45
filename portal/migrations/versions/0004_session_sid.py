"""Back-channel logout: ``portal_session.oidc_sid`` keeps the issuer's session id (the ID token's ``sid``), so
a logout token for that session ends exactly the portal sessions it names.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_session") as batch:
        batch.add_column(sa.Column("oidc_sid", sa.String(255), nullable=True))
    op.create_index("ix_portal_session_oidc_sid", "portal_session", ["oidc_sid"])


def downgrade() -> None:
    op.drop_index("ix_portal_session_oidc_sid", table_name="portal_session")
    with op.batch_alter_table("portal_session") as batch:
        batch.drop_column("oidc_sid")
