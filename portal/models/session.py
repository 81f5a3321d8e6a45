"""Server-side login sessions: the cookie holds only a random id, everything else stays here.

The row is keyed by the SHA-256 of the id, so someone who reads the table cannot turn a row into a
cookie. ``data`` holds what a session needs (user id, CSRF token, language, the OAuth state during a
login, the issuer's tokens); an absolute and an idle lifetime end it, and logout deletes it. ``oidc_sid`` is
the issuer's session id (the ID token's ``sid``), so a back-channel logout for that session finds the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class PortalSession(Base):
    __tablename__ = "portal_session"
    __table_args__ = (Index("ix_portal_session_last_seen_at", "last_seen_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, doc="SHA-256 (hex) of the id in the cookie")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    oidc_sid: Mapped[str | None] = mapped_column(String(255), index=True,
                                                 doc="the issuer's session id (ID token 'sid'), for back-channel logout")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
