"""Bundle requests (migration 0012; supply model d, "maatwerk op aanvraag"): a member asks for a bundle the catalogue
does not have. The portal drafts its catalogue file from the form, checks it with the catalogue's one loader, and
opens a pull request for the platform admins (``services/bundle_requests.py``). The request's state follows the pull
request: ``drafted`` → ``pr-opened`` → ``merged`` or ``rejected``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, utcnow
from .organisation import Organisation, User


class BundleRequestState(StrEnum):
    DRAFTED = "drafted"
    PR_OPENED = "pr-opened"
    MERGED = "merged"
    REJECTED = "rejected"


class BundleRequest(Base):
    __tablename__ = "bundle_request"
    __table_args__ = (Index("ix_bundle_request_requester_id", "requester_id"),
                      Index("ix_bundle_request_state", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    bundle_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(64))
    form: Mapped[dict[str, Any]] = mapped_column(JSON, doc="the form as entered")
    bundle_yaml: Mapped[str] = mapped_column(Text, doc="the catalogue file the portal drafted")
    state: Mapped[BundleRequestState] = mapped_column(enum_column(BundleRequestState, "bundle_request_state"),
                                                      default=BundleRequestState.DRAFTED)
    pull_request: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, doc="url and number on GitHub, or the local branch, commit and text file")
    pull_request_error: Mapped[str | None] = mapped_column(Text, doc="why the last attempt to open it failed")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    organisation: Mapped[Organisation] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
