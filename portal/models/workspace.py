"""Workspaces: a user's server, started from one bundle version in one size, in one environment.

A Workspace is a running (or once running) *instance*; the bundle is a catalogue item referenced by
``bundle_id`` + ``bundle_version``. Its state is one :class:`WorkspaceStatus` — never booleans.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, utcnow
from .environment import Environment
from .organisation import Organisation, User


class WorkspaceStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """Still holds (or is getting) resources at the hub."""
        return self in (WorkspaceStatus.STARTING, WorkspaceStatus.RUNNING, WorkspaceStatus.STOPPING)


ACTIVE_STATUSES = tuple(s for s in WorkspaceStatus if s.active)


class Workspace(Base):
    __tablename__ = "workspace"
    __table_args__ = (
        UniqueConstraint("environment_id", "user_id", "server_name"),
        Index("ix_workspace_user_id_status", "user_id", "status"),
        Index("ix_workspace_organisation_id_status", "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environment.id"))
    server_name: Mapped[str] = mapped_column(String(255), doc="the named server at the hub")
    bundle_id: Mapped[str] = mapped_column(String(64))
    bundle_version: Mapped[str] = mapped_column(String(64))
    size_id: Mapped[str] = mapped_column(String(64))
    interface: Mapped[str] = mapped_column(String(32))
    status: Mapped[WorkspaceStatus] = mapped_column(enum_column(WorkspaceStatus, "workspace_status"),
                                                    default=WorkspaceStatus.STARTING)
    status_message: Mapped[str | None] = mapped_column(Text, doc="why it failed, or the hub's last word")
    url: Mapped[str | None] = mapped_column(String(1000), doc="where the running server answers")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()  # usually already in the session (the current user): no query
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    environment: Mapped[Environment] = relationship(lazy="joined")
