"""Organisations as their admins see them: members with their roles."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..errors import Forbidden, NotFound
from ..models import Member, MemberRoleName, MemberStatus, Organisation, User


@dataclass(frozen=True)
class MemberView:
    member: Member
    user: User


def administered(user: User) -> list[Organisation]:
    """Organisations this user is an admin of."""
    return [m.organisation for m in user.active_memberships() if m.has_role(MemberRoleName.ORGANISATION_ADMIN)]


def get_organisation(session: Session, *, user: User, slug: str) -> Organisation:
    """The get-or-404-and-authorise rule for organisation pages: its admins and platform admins."""
    # a NUL cannot be in a slug, and PostgreSQL refuses it in a query: no such organisation
    organisation = None if "\x00" in slug else session.scalar(select(Organisation).where(Organisation.slug == slug))
    if organisation is None:
        raise NotFound(f"there is no organisation {slug!r}", reason="unknown-organisation")
    member = user.membership(organisation.id)
    if user.platform_admin or (member is not None and member.has_role(MemberRoleName.ORGANISATION_ADMIN)):
        return organisation
    raise Forbidden(f"only admins of organisation {slug!r} can see its members and workspaces",
                    reason="not-organisation-admin")


def members(session: Session, *, organisation: Organisation) -> list[MemberView]:
    rows = session.scalars(
        select(Member).where(Member.organisation_id == organisation.id, Member.status == MemberStatus.ACTIVE)
        .options(selectinload(Member.user)).join(Member.user).order_by(User.username)).all()
    return [MemberView(member=m, user=m.user) for m in rows]
