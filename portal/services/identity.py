"""Role recognition: turn a login's claims into a User with roles and memberships, kept in the database.

Group conventions (shared with the hub): ``org:<org>`` (member, i.e. data scientist), ``role:<role>``
(workbench role), ``org-admin:<org>`` (organisation admin), ``data-owner:<org>`` (data owner), and the
configured platform-admin group. Everything is replaced from the issuer on every login and every refresh.

Nothing in a claim is trusted as it comes (a :class:`~gereedschapskist.core.groups.GroupPolicy`, the rule the
hub applies too): the issuer's groups are first mapped to ours (``OIDC_GROUP_MAPPING``; without one, our own
names are taken as they are), then an organisation counts only when it is configured (``ORGANISATIONS``) and a
role only when the catalogue has it. Anything else is refused with a log line and never created. An organisation
whose admin ended the user's membership in a handover (``MembershipEnd``) is not joined again at a login until an
admin re-admits them; when it was their only one, the login is refused (``membership-ended``). Users are keyed on
issuer + ``sub``; the user name is the username claim through :func:`gereedschapskist.core.identity.hub_username`,
the rule the hub uses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, lazyload
from sqlalchemy.orm.interfaces import LoaderOption

from gereedschapskist.core.groups import (
    DATA_OWNER_PREFIX, MEMBER_PREFIXES, ORG_ADMIN_PREFIX, ORG_PREFIX, Accepted, GroupPolicy, accept_groups,
    role_group,
)
from gereedschapskist.core.identity import hub_username

from ..errors import LoginFailed
from ..models import (
    Member, MemberRole, MemberRoleName, MemberStatus, MembershipEnd, Organisation, User, UserRole, utcnow,
)

log = logging.getLogger(__name__)

#: The member role each organisation group prefix (:mod:`gereedschapskist.core.groups`) stands for.
_MEMBER_PREFIXES = {
    ORG_PREFIX: MemberRoleName.DATA_SCIENTIST,
    ORG_ADMIN_PREFIX: MemberRoleName.ORGANISATION_ADMIN,
    DATA_OWNER_PREFIX: MemberRoleName.DATA_OWNER,
}
#: The member role of each membership kind of :data:`gereedschapskist.core.groups.MEMBER_PREFIXES`.
_MEMBER_ROLES = {kind: _MEMBER_PREFIXES[prefix] for kind, prefix in MEMBER_PREFIXES.items()}


@dataclass(frozen=True)
class Identity:
    """Who logged in, as the issuer says."""

    issuer: str
    subject: str
    username: str
    name: str | None
    email: str | None
    groups: tuple[str, ...]


@dataclass
class Recognised(Accepted):
    """The issuer's groups as the portal uses them: :class:`~gereedschapskist.core.groups.Accepted` (the rule hub
    and portal share, with its ``admitted``), each organisation's membership kinds as the portal's member roles."""

    organisations: dict[str, set[MemberRoleName]] = field(default_factory=dict)


def recognise_groups(groups: Iterable[str], *, policy: GroupPolicy) -> Recognised:
    """Sort the issuer's groups into workbench roles, member roles per organisation and platform admin, by the
    rule hub and portal share (:func:`gereedschapskist.core.groups.accept_groups`)."""
    found = accept_groups(groups, policy=policy)
    return Recognised(groups=found.groups, roles=found.roles, platform_admin=found.platform_admin,
                      ignored=found.ignored, refused=found.refused,
                      organisations={org: {_MEMBER_ROLES[kind] for kind in kinds}
                                     for org, kinds in found.organisations.items()})


def request_user_options() -> tuple[LoaderOption, ...]:
    """How a request reads its user: with the issuer's roles, the memberships (organisation with the id of its
    current contract, member roles) and the grants not revoked, all in the same query as the session row
    (``sessions.SessionStore.load``), so that :attr:`User.role_ids`, the navigation, every permission check and the
    catalogue's offer need no further query. Nothing of this is cached between requests: a revoked grant, an ended
    membership or a contract that changed counts from the next request on."""
    memberships = joinedload(User.memberships)
    return (joinedload(User.roles),
            memberships.joinedload(Member.organisation).undefer(Organisation.current_contract_id),
            memberships.joinedload(Member.roles), joinedload(User.grants).options(lazyload("*")))


def identity_from_claims(claims: Mapping[str, Any], *, issuer: str, username_claim: str,
                         groups_claim: str) -> Identity:
    """Read the claims the portal needs; a clear :class:`LoginFailed` names a missing or malformed one."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise LoginFailed("the login token has no 'sub' claim", reason="claim-missing")
    username = claims.get(username_claim)
    if not isinstance(username, str) or not username.strip():
        raise LoginFailed(f"the login token has no {username_claim!r} claim (the user name); set "
                          "GEREEDSCHAPSKIST_PORTAL_OIDC_USERNAME_CLAIM to the claim your issuer sends",
                          reason="claim-missing")
    groups = claims.get(groups_claim, [])
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise LoginFailed(f"the login token's {groups_claim!r} claim = {groups!r}: expected a list of group "
                          "names like ['org:cbs', 'role:ml']", reason="claim-invalid")
    name = claims.get("name") if isinstance(claims.get("name"), str) else None
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    return Identity(issuer=issuer, subject=subject, username=hub_username(username), name=name, email=email,
                    groups=tuple(groups))


def admission(identity: Identity, *, policy: GroupPolicy) -> Recognised:
    """The groups this login brings; :class:`LoginFailed` (``not-admitted``) when none of its organisations
    is accepted and it is no platform admin. Refused groups are logged, naming the user and the issuer."""
    found = recognise_groups(identity.groups, policy=policy)
    if found.refused:
        log.warning("login of %s (sub %s at %s): refused groups: %s", identity.username, identity.subject,
                    identity.issuer, "; ".join(f"{g}: {why}" for g, why in sorted(found.refused.items())))
    if not found.admitted:
        refused = sorted(g for g in found.refused)
        detail = f" (your login names {', '.join(refused)}, which this portal does not accept)" if refused else ""
        raise LoginFailed("you are not a member of any organisation this portal serves" + detail +
                          "; ask your organisation's admin to give you access", reason="not-admitted")
    return found


def _organisation(session: Session, slug: str) -> Organisation:
    """The organisation row of an accepted (configured) organisation, made on its first member's login."""
    organisation = session.scalar(select(Organisation).where(Organisation.slug == slug))
    if organisation is None:
        organisation = Organisation(slug=slug, name=slug)
        session.add(organisation)
        session.flush()
    return organisation


def record_login(session: Session, *, identity: Identity, policy: GroupPolicy, now: datetime | None = None) -> User:
    """Create or update the user and replace their roles and memberships from the issuer's groups.

    Organisations are created only when ``policy`` accepts them (configured ones), never from a claim alone."""
    now = now or utcnow()
    found = recognise_groups(identity.groups, policy=policy)
    if found.ignored:
        log.info("login of %s: ignoring groups the portal does not use: %s", identity.username,
                 ", ".join(sorted(found.ignored)))
    user = session.scalar(select(User).where(User.issuer == identity.issuer, User.subject == identity.subject))
    # case-insensitive: a name kept in another case before names were lowercased is the same hub user
    other = session.scalar(select(User).where(func.lower(User.username) == identity.username))
    if other is not None and other is not user:
        raise LoginFailed(f"the user name {identity.username!r} already belongs to another account "
                          "(a different 'sub' at the issuer); ask a platform admin", reason="username-taken")
    if user is None:
        user = User(issuer=identity.issuer, subject=identity.subject, username=identity.username)
        session.add(user)
    user.username = identity.username
    user.name = identity.name
    user.email = identity.email
    user.platform_admin = found.platform_admin
    user.last_login_at = now

    current_roles = {r.role: r for r in user.roles}
    for role in set(current_roles) - found.roles:
        user.roles.remove(current_roles[role])
    for role in sorted(found.roles - set(current_roles)):
        user.roles.append(UserRole(role=role))

    by_org = {m.organisation.slug: m for m in user.memberships}
    ended = _ended_by_admin(session, user)
    if ended:
        kept = {slug: kinds for slug, kinds in found.organisations.items() if slug not in ended}
        if not kept and not found.platform_admin:
            names = ", ".join(sorted(ended & set(found.organisations)))
            raise LoginFailed(f"your membership of {names} was ended by its admin (a handover); ask an admin of "
                              f"{names} to re-admit you", reason="membership-ended")
        found.organisations = kept
    for slug in sorted(found.organisations):
        member = by_org.get(slug)
        if member is None:
            member = Member(organisation=_organisation(session, slug), status=MemberStatus.ACTIVE, since=now)
            user.memberships.append(member)
        elif member.status is not MemberStatus.ACTIVE:
            member.status, member.since, member.until = MemberStatus.ACTIVE, now, None
        wanted = found.organisations[slug]
        have = {r.role: r for r in member.roles}
        for role in set(have) - wanted:
            member.roles.remove(have[role])
        for role in sorted(wanted - set(have)):
            member.roles.append(MemberRole(role=role))
    for slug, member in by_org.items():
        if slug not in found.organisations and member.status is MemberStatus.ACTIVE:
            member.status, member.until = MemberStatus.FORMER, now
    session.flush()
    return user


def _ended_by_admin(session: Session, user: User) -> set[str]:
    """Slugs of the organisations whose admin ended this user's membership (a handover) and did not re-admit them:
    a login does not make them a member again, whatever the issuer sends."""
    if user.id is None:
        return set()
    return set(session.scalars(select(Organisation.slug).join(MembershipEnd,
                                                              MembershipEnd.organisation_id == Organisation.id)
                               .where(MembershipEnd.user_id == user.id, MembershipEnd.readmitted_at.is_(None))))


def hub_groups(user: User) -> list[str]:
    """The groups the hub should have for this user: the same names the token carried (the issuer's roles; roles
    granted in the portal travel with each launch instead, as ``granted_roles``)."""
    prefix = {v: k for k, v in _MEMBER_PREFIXES.items()}
    groups = {role_group(role) for role in user.issuer_role_ids}
    for member in user.active_memberships():
        for role in member.role_names:
            groups.add(f"{prefix[role]}{member.organisation.slug}")
    return sorted(groups)
