"""Published apps and dashboards (issue 17, section 1; migration 0013): an app of its owner, run by the hub as the
owner's named server ``app-<slug>`` (``hub/apps.py``), with its audience — the owner's organisation, hub groups, or
named users — and its versions: every publish is a new version; a production app rolls back to the previous one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, utcnow
from .environment import Environment
from .organisation import Organisation, User


class AppState(StrEnum):
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"


class AudienceKind(StrEnum):
    ORGANISATION = "organisation"
    GROUP = "group"
    USERS = "users"


class PublishedApp(Base):
    __tablename__ = "published_app"
    __table_args__ = (Index("ix_published_app_owner_id", "owner_id"),
                      Index("ix_published_app_organisation_id_state", "organisation_id", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environment.id"))
    slug: Mapped[str] = mapped_column(String(26))
    server_name: Mapped[str] = mapped_column(String(30), doc="the owner's named server at the hub: app-<slug>")
    title: Mapped[str] = mapped_column(String(200))
    framework: Mapped[str] = mapped_column(String(32))
    bundle_id: Mapped[str] = mapped_column(String(64))
    size_id: Mapped[str] = mapped_column(String(32))
    audience_kind: Mapped[AudienceKind] = mapped_column(enum_column(AudienceKind, "app_audience_kind"))
    audience: Mapped[list[str]] = mapped_column(JSON, doc="group names or user names (empty: the organisation)")
    state: Mapped[AppState] = mapped_column(enum_column(AppState, "published_app_state"),
                                            default=AppState.PUBLISHED)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    unpublished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    owner: Mapped[User] = relationship(lazy="joined")
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    environment: Mapped[Environment] = relationship(lazy="joined")
    versions: Mapped[list["PublishedAppVersion"]] = relationship(
        back_populates="app", order_by="PublishedAppVersion.number", cascade="all, delete-orphan")

    @property
    def version(self) -> "PublishedAppVersion":
        return next(v for v in self.versions if v.number == self.current_version)


class PublishedAppVersion(Base):
    __tablename__ = "published_app_version"
    __table_args__ = (Index("ix_published_app_version_app_id_number", "app_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("published_app.id"))
    number: Mapped[int] = mapped_column(Integer)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, doc="entry, and git + commit for a git source")
    bundle_version: Mapped[str] = mapped_column(String(32))
    published_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    app: Mapped[PublishedApp] = relationship(back_populates="versions")
    published_by: Mapped[User] = relationship()
