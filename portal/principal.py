"""The request's user as plain, read-only data: :class:`Principal` (issue 13).

The busiest reads — the catalogue and "my workspaces", as pages and as JSON — only *read* the logged-in user: its
name, its roles, its memberships with their organisations (and the organisation's current contract) and its grants.
Building those as ORM objects cost about as much CPU as the rest of such a request (SQLAlchemy builds its row
processors and instance state on every execution). For the paths in :data:`READ_ONLY_PATHS` the session middleware
reads the session row and the user in one plain Core query (:data:`SESSION_AND_PRINCIPAL`) and keeps a
:class:`Principal`; every other request reads the ORM :class:`~.models.User` exactly as before.

One definition of the rules: :class:`Principal` and :class:`~.models.User` share ``role_ids``, ``active_memberships``,
``membership`` and ``display_name`` (:class:`~.models.organisation.UserRules`), a membership's ``has_role``
(:class:`~.models.organisation.MemberRules`) and a grant's ``counts`` (:class:`~.models.grant.GrantRules`).
Nothing is cached: the query runs on every request, so a revoked grant or an ended membership counts at the next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Row

from .models import Member, MemberRole, Organisation, PortalSession, RoleGrant, User, UserRole
from .models.grant import GrantRules
from .models.organisation import MemberRoleName, MemberRules, MemberStatus, UserRules

#: The GET paths whose routes only read the user (they take ``deps.CurrentPrincipal``); the session middleware reads
#: a :class:`Principal` for them instead of the ORM user. ``tests/portal/test_principal.py`` checks that each of
#: these routes asks for nothing else.
READ_ONLY_PATHS = frozenset({"/catalogue", "/workspaces", "/api/v1/bundles", "/api/v1/workspaces"})


@dataclass(frozen=True, slots=True)
class Role:
    role: Any       # a workbench role id (str) or a MemberRoleName


@dataclass(frozen=True, slots=True)
class OrganisationView:
    id: int
    slug: str
    name: str
    current_contract_id: int | None     # as read with the user (``Organisation.current_contract_id``)


@dataclass(frozen=True, slots=True)
class Membership(MemberRules):
    id: int
    organisation_id: int
    status: MemberStatus
    organisation: OrganisationView
    roles: tuple[Role, ...]


@dataclass(frozen=True, slots=True)
class Grant(GrantRules):
    id: int
    organisation_id: int
    role: str
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal(UserRules):
    """The logged-in user, read-only: what the read-only routes, the pages' navigation and the permission rules
    read of a :class:`~.models.User`. It is not an ORM object: nothing can be written through it."""

    id: int
    issuer: str
    subject: str
    username: str
    name: str | None
    email: str | None
    platform_admin: bool
    roles: tuple[Role, ...]
    memberships: tuple[Membership, ...]
    grants: tuple[Grant, ...]

    @classmethod
    def of(cls, user: User) -> "Principal":
        """The principal of an ORM user (as loaded: roles, memberships, grants)."""
        return cls(user.id, user.issuer, user.subject, user.username, user.name, user.email, user.platform_admin,
                   tuple(Role(r.role) for r in user.roles),
                   tuple(Membership(m.id, m.organisation_id, m.status,
                                    OrganisationView(m.organisation.id, m.organisation.slug, m.organisation.name,
                                                     m.organisation.current_contract_id),
                                    tuple(Role(r.role) for r in m.roles)) for m in user.memberships),
                   tuple(Grant(g.id, g.organisation_id, g.role, g.expires_at, g.revoked_at) for g in user.grants))


def _labelled(prefix: str, columns: dict[str, Any]) -> list:
    return [column.label(f"{prefix}_{name}") for name, column in columns.items()]


_S, _U, _O = PortalSession.__table__.c, User.__table__.c, Organisation.__table__.c
_M, _MR, _UR, _G = Member.__table__.c, MemberRole.__table__.c, UserRole.__table__.c, RoleGrant.__table__.c
_USER_FIELDS = ("id", "issuer", "subject", "username", "name", "email", "platform_admin")

#: The session row and its user with roles, memberships (organisation, its current contract, member roles) and the
#: grants not revoked, in one statement (the joins multiply rows; :func:`principal_of` folds them). Built once.
SESSION_AND_PRINCIPAL = (
    select(*_labelled("s", {n: _S[n] for n in ("user_id", "data", "created_at", "last_seen_at")}),
           *_labelled("u", {n: _U[n] for n in _USER_FIELDS}),
           _UR.role.label("ur_role"),
           *_labelled("m", {n: _M[n] for n in ("id", "organisation_id", "status")}),
           *_labelled("o", {n: _O[n] for n in ("slug", "name")}),
           Organisation.current_contract_id.expression.label("o_contract"),
           _MR.role.label("mr_role"),
           *_labelled("g", {n: _G[n] for n in ("id", "organisation_id", "role", "expires_at", "revoked_at")}))
    .select_from(PortalSession.__table__
                 .outerjoin(User.__table__, _U.id == _S.user_id)
                 .outerjoin(UserRole.__table__, _UR.user_id == _U.id)
                 .outerjoin(Member.__table__, _M.user_id == _U.id)
                 .outerjoin(Organisation.__table__, _O.id == _M.organisation_id)
                 .outerjoin(MemberRole.__table__, _MR.member_id == _M.id)
                 .outerjoin(RoleGrant.__table__, and_(_G.user_id == _U.id, _G.revoked_at.is_(None))))
    .where(_S.id == bindparam("key")))


def principal_of(rows: Sequence[Row]) -> Principal | None:
    """Fold the rows of :data:`SESSION_AND_PRINCIPAL` into the principal (None: the session has no user), ordered
    as the ORM relationships are: roles by name, memberships by id, a member's roles by name, grants by id."""
    first = rows[0]
    if first.u_id is None:
        return None
    roles: set[str] = set()
    members: dict[int, Row] = {}
    member_roles: dict[int, set[MemberRoleName]] = {}
    grants: dict[int, Grant] = {}
    for row in rows:
        if row.ur_role is not None:
            roles.add(row.ur_role)
        if row.m_id is not None:
            members.setdefault(row.m_id, row)
            found = member_roles.setdefault(row.m_id, set())
            if row.mr_role is not None:
                found.add(row.mr_role)
        if row.g_id is not None and row.g_id not in grants:
            grants[row.g_id] = Grant(row.g_id, row.g_organisation_id, row.g_role, row.g_expires_at, row.g_revoked_at)
    memberships = tuple(
        Membership(m.m_id, m.m_organisation_id, m.m_status,
                   OrganisationView(m.m_organisation_id, m.o_slug, m.o_name, m.o_contract),
                   tuple(Role(r) for r in sorted(member_roles[m.m_id], key=lambda r: r.value)))
        for _, m in sorted(members.items()))
    return Principal(first.u_id, first.u_issuer, first.u_subject, first.u_username, first.u_name, first.u_email,
                     first.u_platform_admin, tuple(Role(r) for r in sorted(roles)), memberships,
                     tuple(grants[g] for g in sorted(grants)))
