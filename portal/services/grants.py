"""Who grants workbench roles: the identity provider, and on top of it an organisation's admins in the portal.

The decision (README, "Who grants workbench roles"): the issuer's ``role:<id>`` groups stay the source. An
admin of an organisation may grant a member of that same organisation one of the catalogue's workbench roles,
with a reason and an end date at most :data:`MAX_GRANT_DAYS` ahead; the grant is recorded in the register and can
be revoked. An admin never grants to themselves, never to someone outside their organisation, never a role the
catalogue does not have (fail closed). Platform admins see the grants but do not grant: roles are the
organisation's decision. A user's effective roles (``User.role_ids``) are the issuer's plus the grants that count;
the portal passes the granted ones to the hub with the launch it decided (``granted_roles``), and the hub accepts
them from the portal's own token only.

Keyword-only functions; none of them commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from gereedschapskist.catalogue import Catalogue

from ..db import MAX_ID
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..models import (
    Member, MemberRoleName, MemberStatus, Organisation, RegisterAction, RoleGrant, User, utcnow,
)
from . import register

#: The longest a grant may run; after that the issuer (or a new grant) must say so again.
MAX_GRANT_DAYS = 365
REASON_MIN, REASON_MAX = 3, 500


def is_admin_of(user: User, organisation: Organisation) -> bool:
    member = user.membership(organisation.id)
    return member is not None and member.has_role(MemberRoleName.ORGANISATION_ADMIN)


def require_admin(user: User, organisation: Organisation, *, what: str) -> None:
    """Only an active admin of this very organisation may ``what`` (platform admins are not its members)."""
    if not is_admin_of(user, organisation):
        raise Forbidden(f"only admins of organisation {organisation.slug!r} may {what}",
                        reason="not-organisation-admin")


def active_member(session: Session, *, organisation: Organisation, username: str, field: str) -> User:
    """The user ``username`` as an active member of ``organisation``; a clear refusal naming the field otherwise."""
    name = (username or "").strip().lower()
    user = session.scalar(select(User).where(User.username == name)) if name and "\x00" not in name else None
    if user is None or user.membership(organisation.id) is None:
        raise InvalidInput(f"{field} = {username!r}: not an active member of organisation {organisation.slug!r}",
                           reason="not-organisation-member")
    return user


def parse_until(value: str | None, *, today: date) -> datetime:
    """``until`` (``YYYY-MM-DD``, the last day the grant counts) → when it stops counting (midnight UTC after)."""
    try:
        until = date.fromisoformat((value or "").strip())
    except ValueError:
        raise InvalidInput(f"until = {value!r}: expected a date like {(today + timedelta(days=90)).isoformat()}",
                           reason="invalid-date") from None
    if until < today:
        raise InvalidInput(f"until = {until.isoformat()}: that day has passed; choose a day from "
                           f"{today.isoformat()} on", reason="invalid-date")
    if until > today + timedelta(days=MAX_GRANT_DAYS):
        raise InvalidInput(f"until = {until.isoformat()}: a grant runs at most {MAX_GRANT_DAYS} days, until "
                           f"{(today + timedelta(days=MAX_GRANT_DAYS)).isoformat()}", reason="grant-too-long")
    return datetime.combine(until + timedelta(days=1), time(0), tzinfo=timezone.utc)


def grant_role(session: Session, *, catalogue: Catalogue, organisation: Organisation, actor: User, username: str,
               role: str, until: str | None, reason: str | None, now: datetime | None = None) -> RoleGrant:
    """Grant ``role`` to member ``username`` of ``organisation``, by its admin ``actor``; recorded in the register."""
    now = now or utcnow()
    require_admin(actor, organisation, what="grant workbench roles")
    if role not in catalogue.roles:
        raise InvalidInput(f"role = {role!r}: not a workbench role of the catalogue; choose one of "
                           f"{', '.join(sorted(catalogue.roles))}", reason="unknown-role")
    grantee = active_member(session, organisation=organisation, username=username, field="member")
    if grantee.id == actor.id:
        raise Forbidden(f"you cannot grant yourself a role (member = {username!r}): ask another admin of "
                        f"{organisation.slug!r}, or the identity provider's administrators", reason="grant-to-self")
    expires_at = parse_until(until, today=now.date())
    text = " ".join((reason or "").split())
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise InvalidInput(f"reason = {reason!r}: say in {REASON_MIN}–{REASON_MAX} characters why "
                           f"{grantee.username} needs the role", reason="grant-reason-required")
    if role in grantee.issuer_role_ids:
        raise Conflict(f"{grantee.username} already has the role {role!r} from the identity provider",
                       reason="role-already-held")
    if any(g.role == role and g.organisation_id == organisation.id and g.counts(now) for g in grantee.grants):
        raise Conflict(f"{grantee.username} already has a grant of {role!r} in {organisation.slug!r}; revoke it "
                       "first to change its end date", reason="role-already-held")
    grant = RoleGrant(user=grantee, organisation=organisation, role=role, reason=text, granted_by=actor,
                      granted_at=now, expires_at=expires_at)
    session.add(grant)
    session.flush()
    session.expire(grantee, ["grants"])
    register.append(session, action=RegisterAction.ROLE_GRANTED, actor_id=actor.id, organisation_id=organisation.id,
                    subject=f"role {role} for {grantee.username} until {grant.last_day.isoformat()}",
                    purpose=text, details={"grant": grant.id, "user": grantee.username, "role": role,
                                           "expires_at": expires_at.isoformat()})
    return grant


#: The launch option carrying the roles the portal granted (the hub's ``hub/launch.py`` reads it from the portal only).
GRANTED_ROLES_OPTION = "granted_roles"


def launch_options(user: User, **options: str) -> dict:
    """The hub's launch options for ``user``: ``options`` and, when roles granted in the portal count, those roles
    (``granted_roles``) — the hub sees the issuer's groups only, so the portal passes what it decided."""
    granted = sorted(set(user.granted_role_ids) - set(user.issuer_role_ids))
    return {**options, GRANTED_ROLES_OPTION: granted} if granted else dict(options)


def get_grant(session: Session, *, organisation: Organisation, grant_id: int) -> RoleGrant:
    grant = session.get(RoleGrant, grant_id) if 0 < grant_id <= MAX_ID else None
    if grant is None or grant.organisation_id != organisation.id:
        raise NotFound(f"organisation {organisation.slug!r} has no grant {grant_id}", reason="unknown-grant")
    return grant


def revoke_grant(session: Session, *, organisation: Organisation, actor: User, grant_id: int,
                 now: datetime | None = None) -> RoleGrant:
    now = now or utcnow()
    require_admin(actor, organisation, what="revoke workbench roles")
    grant = get_grant(session, organisation=organisation, grant_id=grant_id)
    if not grant.counts(now):
        raise Conflict(f"grant {grant_id} ({grant.role} for {grant.user.username}) has already ended",
                       reason="grant-ended")
    grant.revoked_at, grant.revoked_by = now, actor
    session.flush()
    session.expire(grant.user, ["grants"])
    register.append(session, action=RegisterAction.ROLE_REVOKED, actor_id=actor.id, organisation_id=organisation.id,
                    subject=f"role {grant.role} for {grant.user.username}",
                    details={"grant": grant.id, "user": grant.user.username, "role": grant.role})
    return grant


def revoke_all(session: Session, *, organisation: Organisation, actor: User, user: User,
               now: datetime | None = None) -> list[RoleGrant]:
    """End every grant of ``user`` in ``organisation`` (a handover); recorded like a revocation each."""
    now = now or utcnow()
    ended = []
    for grant in list(user.grants):
        if grant.organisation_id == organisation.id and grant.counts(now):
            grant.revoked_at, grant.revoked_by = now, actor
            register.append(session, action=RegisterAction.ROLE_REVOKED, actor_id=actor.id,
                            organisation_id=organisation.id, subject=f"role {grant.role} for {user.username}",
                            details={"grant": grant.id, "user": user.username, "role": grant.role,
                                     "by": "handover"})
            ended.append(grant)
    session.flush()
    session.expire(user, ["grants"])
    return ended


def organisation_grants(session: Session, *, organisation: Organisation, now: datetime | None = None
                        ) -> tuple[list[RoleGrant], list[RoleGrant]]:
    """(grants that count now, ended ones newest first — at most 50) of the organisation."""
    now = now or utcnow()
    rows = list(session.scalars(select(RoleGrant).where(RoleGrant.organisation_id == organisation.id)
                                .options(selectinload(RoleGrant.user), selectinload(RoleGrant.revoked_by))
                                .order_by(RoleGrant.id.desc())))
    return [g for g in rows if g.counts(now)], [g for g in rows if not g.counts(now)][:50]


def admins_of(session: Session, *, organisation_ids: list[int]) -> dict[int, list[User]]:
    """The active admins of each organisation, by organisation id."""
    if not organisation_ids:
        return {}
    members = session.scalars(select(Member).where(Member.organisation_id.in_(organisation_ids),
                                                   Member.status == MemberStatus.ACTIVE)
                              .options(selectinload(Member.user))).all()
    found: dict[int, list[User]] = {i: [] for i in organisation_ids}
    for member in members:
        if member.has_role(MemberRoleName.ORGANISATION_ADMIN):
            found[member.organisation_id].append(member.user)
    return {i: sorted(users, key=lambda u: u.username) for i, users in found.items()}


@dataclass(frozen=True)
class Advice:
    """The real next step for a user without a workbench role, per organisation (rendered by ``home.html``):
    ``kind`` ``self-admin`` (they administer it: another admin or the issuer must grant; they grant others at
    ``link``), ``ask-admins`` (named ``admins``), ``no-admin`` (the organisation has no admin in the portal yet),
    ``platform`` (no organisation: roles come from the identity provider)."""

    kind: str
    organisation: Organisation | None = None
    admins: tuple[str, ...] = ()
    link: str | None = None


def role_advice(session: Session, *, user: User) -> list[Advice]:
    """What a user without roles should do next, named (empty when they have a role)."""
    if user.role_ids:
        return []
    memberships = user.active_memberships()
    if not memberships:
        return [Advice(kind="platform")]
    admins = admins_of(session, organisation_ids=[m.organisation_id for m in memberships])
    advice = []
    for member in memberships:
        organisation = member.organisation
        others = tuple(u.display_name() for u in admins.get(organisation.id, []) if u.id != user.id)
        if member.has_role(MemberRoleName.ORGANISATION_ADMIN):
            advice.append(Advice(kind="self-admin", organisation=organisation, admins=others,
                                 link=f"/organisations/{organisation.slug}/roles"))
        elif others:
            advice.append(Advice(kind="ask-admins", organisation=organisation, admins=others))
        else:
            advice.append(Advice(kind="no-admin", organisation=organisation))
    return advice
