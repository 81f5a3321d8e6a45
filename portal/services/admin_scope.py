"""Who sees what on the admin screens: platform admins every organisation, organisation admins only their own.

:func:`admin_scope` is the one rule for the usage and register screens (and their exports). It fails closed: an
organisation that does not exist is refused (404), one the caller does not administer is refused (403), and a
user who administers nothing gets 403 — never an empty page that looks like "no data". :func:`parse_day` reads the
date fields of those screens and names the field and the value it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Forbidden, InvalidInput, NotFound
from ..models import Organisation, User
from .organisations import administered

ADMIN_ONLY = "admin-only"
NOT_PLATFORM_ADMIN = "not-platform-admin"


@dataclass(frozen=True)
class AdminScope:
    """The organisations a screen shows. ``everything``: a platform admin without an organisation filter, who also
    sees what belongs to no organisation (e.g. an export of the whole register)."""

    organisations: tuple[Organisation, ...]
    everything: bool = False

    @property
    def organisation_ids(self) -> list[int]:
        return [o.id for o in self.organisations]

    @property
    def single(self) -> Organisation | None:
        return self.organisations[0] if len(self.organisations) == 1 and not self.everything else None


def require_platform_admin(user: User) -> None:
    if not user.platform_admin:
        raise Forbidden("only platform admins (members of the platform admin group) can see this page",
                        reason=NOT_PLATFORM_ADMIN)


def admin_scope(session: Session, *, user: User, organisation: str | None) -> AdminScope:
    """The scope of a usage or register screen for ``user``, narrowed to ``organisation`` (a slug) when given."""
    mine = administered(user)
    if not user.platform_admin and not mine:
        raise Forbidden("only platform admins and organisation admins can see usage and the register",
                        reason=ADMIN_ONLY)
    if organisation:
        found = None if "\x00" in organisation else session.scalar(
            select(Organisation).where(Organisation.slug == organisation))
        if found is None:
            raise NotFound(f"organisation = {organisation!r}: there is no such organisation",
                           reason="unknown-organisation")
        if not user.platform_admin and found.id not in {o.id for o in mine}:
            raise Forbidden(f"organisation = {organisation!r}: you are not an admin of it; yours: "
                            f"{', '.join(o.slug for o in mine)}", reason="not-organisation-admin")
        return AdminScope((found,))
    if user.platform_admin:
        return AdminScope(tuple(session.scalars(select(Organisation).order_by(Organisation.name))), everything=True)
    return AdminScope(tuple(sorted(mine, key=lambda o: o.name)))


def parse_day(field: str, value: str | None) -> date | None:
    """A ``YYYY-MM-DD`` field; empty is None; anything else is refused naming the field and the value."""
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{field} = {value[:40]!r}: expected a date like 2026-11-30 (YYYY-MM-DD)") from None
