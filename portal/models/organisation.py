"""Organisations, users, their memberships and roles — as recognised from the login token's groups.

Two kinds of role, kept apart:

* a user's **workbench roles** (``role:<id>`` groups: bi, ml, streaming, dev) decide which bundles they
  may start, anywhere (:class:`UserRole`);
* a **member role** (:class:`MemberRoleName`) is what someone is *in an organisation*: data scientist
  (``org:<org>``), organisation admin (``org-admin:<org>``), data owner (``data-owner:<org>``).

Both are replaced from the token on every login; memberships that disappear from the token become
``former`` (the row stays, so workspaces and register entries keep pointing at it).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, utcnow


class MemberRoleName(StrEnum):
    DATA_SCIENTIST = "data-scientist"
    ORGANISATION_ADMIN = "organisation-admin"
    DATA_OWNER = "data-owner"


class MemberStatus(StrEnum):
    ACTIVE = "active"
    FORMER = "former"


class UserRules:
    """The rules over a user's roles and memberships, one definition for both shapes a user has: the ORM
    :class:`User` and the read-only :class:`~gereedschapskist.portal.principal.Principal` (plain data a read-only
    request reads with one Core query, issue 13). Each has ``roles`` (``.role``), ``memberships`` (``.status``,
    ``.organisation_id``) and ``grants`` (``.counts(now)``, ``.organisation_id``, ``.role``)."""

    __slots__ = ()

    @property
    def issuer_role_ids(self) -> list[str]:
        """The workbench roles the identity provider gives (``role:<id>`` groups)."""
        return [r.role for r in self.roles]

    @property
    def granted_role_ids(self) -> list[str]:
        """Roles granted in the portal that count now: not revoked, not expired, by an organisation the user is
        still an active member of."""
        if not self.grants:
            return []
        now = utcnow()
        organisations = {m.organisation_id for m in self.active_memberships()}
        return sorted({g.role for g in self.grants if g.counts(now) and g.organisation_id in organisations})

    @property
    def role_ids(self) -> list[str]:
        """The effective workbench roles: the issuer's and the grants that count (the one rule launches use)."""
        granted = self.granted_role_ids
        issuer = self.issuer_role_ids
        return sorted(set(issuer) | set(granted)) if granted else issuer

    def active_memberships(self) -> list:
        return [m for m in self.memberships if m.status is MemberStatus.ACTIVE]

    def membership(self, organisation_id: int):
        return next((m for m in self.active_memberships() if m.organisation_id == organisation_id), None)

    def display_name(self) -> str:
        return self.name or self.username


class MemberRules:
    """The rules over a membership's roles, for the ORM :class:`Member` and the principal's membership."""

    __slots__ = ()

    @property
    def role_names(self) -> list[MemberRoleName]:
        return [r.role for r in self.roles]

    def has_role(self, role: MemberRoleName) -> bool:
        return self.status is MemberStatus.ACTIVE and role in self.role_names


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, doc="the id in org:<id> groups")
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(UserRules, Base):
    __tablename__ = "app_user"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255), doc="the token's sub claim")
    username: Mapped[str] = mapped_column(String(255), unique=True, doc="the name the hubs know the user by")
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    platform_admin: Mapped[bool] = mapped_column(default=False, doc="member of the platform admin group")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    roles: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan", order_by="UserRole.role")
    memberships: Mapped[list["Member"]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                       order_by="Member.id")
    #: roles an organisation admin granted in the portal and did not revoke (``models/grant.py``)
    grants: Mapped[list["RoleGrant"]] = relationship(  # noqa: F821 - registered by models/__init__
        primaryjoin="and_(RoleGrant.user_id == User.id, RoleGrant.revoked_at.is_(None))",
        foreign_keys="RoleGrant.user_id", viewonly=True, order_by="RoleGrant.id")


class UserRole(Base):
    """A workbench role (catalogue role id) of a user, from a ``role:<id>`` group."""

    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)


class Member(MemberRules, Base):
    """A user in an organisation."""

    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint("user_id", "organisation_id"),
        Index("ix_member_organisation_id_status", "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    status: Mapped[MemberStatus] = mapped_column(enum_column(MemberStatus, "member_status"),
                                                 default=MemberStatus.ACTIVE)
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    roles: Mapped[list["MemberRole"]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                     order_by="MemberRole.role")


class MemberRole(Base):
    __tablename__ = "member_role"

    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[MemberRoleName] = mapped_column(enum_column(MemberRoleName, "member_role_name"), primary_key=True)
