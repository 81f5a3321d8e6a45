"""Workspaces: a user's server, started from one bundle version in one size, in one environment.

A Workspace is a running (or once running) *instance*; the bundle is a catalogue item referenced by
``bundle_id`` + ``bundle_version``. Its state is one :class:`WorkspaceStatus` — never booleans.

Lifecycle: ``starting → running → stopping → stopped``; a stopped (or failed) workspace can be restarted (the same
named server at the hub, so the same home folder: back to ``starting``) or deleted (``deleted``: the hub's named
server is removed; the row stays, because the register refers to it). ``name`` is the user's own label; a stop by
someone else (an organisation or platform admin) keeps who (``stopped_by``) and why (``stop_reason``), which the
owner's page shows.
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
    DELETED = "deleted"

    @property
    def active(self) -> bool:
        """Still holds (or is getting) resources at the hub."""
        return self in (WorkspaceStatus.STARTING, WorkspaceStatus.RUNNING, WorkspaceStatus.STOPPING)

    @property
    def ended(self) -> bool:
        """Stopped or failed: kept for a restart (history), until deleted."""
        return self in (WorkspaceStatus.STOPPED, WorkspaceStatus.FAILED)


ACTIVE_STATUSES = tuple(s for s in WorkspaceStatus if s.active)
ENDED_STATUSES = tuple(s for s in WorkspaceStatus if s.ended)
#: The longest name a user may give a workspace.
NAME_MAX = 80


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
    contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("contract.id"), index=True, doc="the contract it runs (and is metered) under (migration 0009)")
    server_name: Mapped[str] = mapped_column(String(255), doc="the named server at the hub")
    name: Mapped[str | None] = mapped_column(String(NAME_MAX), doc="the user's own name for it")
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
    stopped_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"),
                                                      doc="who stopped it when not its owner (an admin)")
    stop_reason: Mapped[str | None] = mapped_column(Text, doc="why an admin stopped it (shown to the owner)")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # usually already in the session (the current user): no query
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    stopped_by: Mapped[User | None] = relationship(foreign_keys=[stopped_by_id])
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    environment: Mapped[Environment] = relationship(lazy="joined")
