"""Workbench roles an organisation admin grants in the portal, and memberships an admin ended (a handover).

The identity provider stays the source of roles (``role:<id>`` groups, :class:`~.organisation.UserRole`). On top
of it an organisation admin may grant a member of their own organisation a workbench role for a limited time
(:class:`RoleGrant`): recorded with who, why and until when, revocable, written to the register. A user's
effective roles are the issuer's roles and their grants that count (not revoked, not expired, and of an
organisation they are still an active member of): :attr:`~.organisation.User.role_ids`.

A handover ends a member's membership of one organisation (:class:`MembershipEnd`): from then on a login does not
make them a member of it again, even when the issuer still sends the group, until an admin re-admits them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .organisation import Organisation, User


class GrantRules:
    """Whether a grant counts, for the ORM :class:`RoleGrant` and the principal's grants (``portal/principal.py``)."""

    __slots__ = ()

    def counts(self, now: datetime | None = None) -> bool:
        """Not revoked and not expired (membership is checked by :attr:`User.role_ids`)."""
        return self.revoked_at is None and (now or utcnow()) < self.expires_at


class RoleGrant(GrantRules, Base):
    """A workbench role granted to ``user`` by an admin of ``organisation``, valid until ``expires_at``."""

    __tablename__ = "role_grant"
    __table_args__ = (Index("ix_role_grant_organisation_id_user_id", "organisation_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True,
                                         doc="who holds the role")
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), doc="whose admin granted it")
    role: Mapped[str] = mapped_column(String(64), doc="a catalogue role id (bi, ml, streaming, dev)")
    reason: Mapped[str] = mapped_column(Text, doc="why, as the admin wrote it")
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), doc="the grant counts until (not including) this")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    granted_by: Mapped[User] = relationship(foreign_keys=[granted_by_id], lazy="joined")
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    @property
    def last_day(self) -> date:
        """The last day the grant counts (what the admin chose as "until")."""
        return (self.expires_at - timedelta(days=1)).date()


class MembershipEnd(Base):
    """An admin ended ``user``'s membership of ``organisation`` (a handover to ``successor``). While
    ``readmitted_at`` is empty, a login does not make them a member of it again."""

    __tablename__ = "membership_end"
    __table_args__ = (Index("ix_membership_end_user_id_organisation_id", "user_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    ended_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"),
                                                     doc="the colleague who received the workspaces and files")
    readmitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    readmitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    ended_by: Mapped[User] = relationship(foreign_keys=[ended_by_id], lazy="joined")
    successor: Mapped[User | None] = relationship(foreign_keys=[successor_id], lazy="joined")

    @property
    def in_force(self) -> bool:
        return self.readmitted_at is None
