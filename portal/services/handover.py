"""Workspace handover: when a member leaves, an admin gives their stopped workspaces and home folder to a colleague.

:func:`hand_over` (an admin of the organisation, or a platform admin — a handover must be possible when the last
admin leaves): the leaving member and the colleague are active members of the same organisation, two different
people, neither of them the admin doing it; the leaving member is a member of no other organisation (a hub keeps one
home folder per user, which holds that organisation's work too: ``member-elsewhere``). Workspaces still running (starting, running, stopping) refuse the whole
handover (``workspace-running``): stop them first. Then, in this order:

1. each hub the leaving member's workspaces of this organisation ran on (and the organisation's own hub) moves
   their home folder into the colleague's home (:meth:`~..workspace_hub.WorkspaceHub.hand_over_home`); a hub that
   refuses or does not answer stops the handover before anything in the portal changes;
2. the stopped and failed workspaces of this organisation become the colleague's (the row's owner; the leaving
   user's named servers at the hub are removed, so a restart starts the colleague's own);
3. the membership ends (``former``), with a :class:`~..models.MembershipEnd` that keeps later logins from making
   them a member again until an admin re-admits them (:func:`readmit`); their grants in the organisation end;
4. all of it is written to the register (one entry for the handover, one per workspace, one per ended grant).

The caller commits, then ends the leaving user's portal sessions (``SessionStore.end_user_sessions``).
Keyword-only functions; none of them commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Forbidden, HubRefused, InvalidInput, NotFound, PortalError
from ..models import (
    ACTIVE_STATUSES, Environment, MemberStatus, MembershipEnd, Organisation, RegisterAction, User, Workspace,
    WorkspaceStatus, utcnow,
)
from ..workspace_hub import Hubs
from . import grants as grant_service
from . import register
from .environments import environment_for

log = logging.getLogger(__name__)

#: The workspaces a handover gives to the colleague (active ones refuse it; deleted ones stay history).
TRANSFERRED = (WorkspaceStatus.STOPPED, WorkspaceStatus.FAILED)


@dataclass
class HandoverResult:
    leaving: User
    colleague: User
    workspaces: list[Workspace] = field(default_factory=list)
    homes: dict[str, str | None] = field(default_factory=dict)     # environment name → folder in the colleague's home
    grants_ended: int = 0


def may_hand_over(user: User, organisation: Organisation) -> bool:
    return user.platform_admin or grant_service.is_admin_of(user, organisation)


def _workspaces(session: Session, *, organisation: Organisation, user: User) -> list[Workspace]:
    return list(session.scalars(select(Workspace).where(Workspace.organisation_id == organisation.id,
                                                        Workspace.user_id == user.id).order_by(Workspace.id)))


def _environments(session: Session, *, organisation: Organisation, workspaces: list[Workspace]) -> list[Environment]:
    found: dict[str, Environment] = {w.environment.name: w.environment for w in workspaces}
    try:
        own = environment_for(session, organisation=organisation)
        found.setdefault(own.name, own)
    except PortalError:                 # no environment for this organisation: only the workspaces' ones
        pass
    return [found[name] for name in sorted(found)]


def hand_over(session: Session, *, hubs: Hubs, organisation: Organisation, actor: User, leaving: str | None,
              colleague: str | None, now: datetime | None = None) -> HandoverResult:
    """Hand the leaving member's stopped workspaces and home folder to a colleague and end their membership."""
    now = now or utcnow()
    if not may_hand_over(actor, organisation):
        raise Forbidden(f"only admins of organisation {organisation.slug!r} (or platform admins) may hand over "
                        "workspaces", reason="not-organisation-admin")
    if not (leaving or "").strip():
        raise InvalidInput("leaving: choose the member who leaves", reason="invalid-input")
    if not (colleague or "").strip():
        raise InvalidInput("colleague: choose the colleague who receives the workspaces", reason="invalid-input")
    who = grant_service.active_member(session, organisation=organisation, username=leaving or "", field="leaving")
    to = grant_service.active_member(session, organisation=organisation, username=colleague or "", field="colleague")
    if who.id == to.id:
        raise InvalidInput(f"leaving = colleague = {who.username!r}: hand over to someone else",
                           reason="handover-to-self")
    if who.id == actor.id:
        raise Forbidden(f"leaving = {who.username!r}: you cannot hand over your own workspaces; another admin of "
                        f"{organisation.slug!r} or a platform admin can", reason="handover-of-self")
    elsewhere = sorted(m.organisation.slug for m in who.active_memberships() if m.organisation_id != organisation.id)
    if elsewhere:        # one home folder per user at a hub: moving it would take the other organisation's work too
        raise Conflict(f"leaving = {who.username!r} is still a member of {', '.join(elsewhere)}: their home folder "
                       f"holds that work too; end that membership first (or move the files by hand)",
                       reason="member-elsewhere")
    workspaces = _workspaces(session, organisation=organisation, user=who)
    running = [w for w in workspaces if w.status in ACTIVE_STATUSES]
    if running:
        names = ", ".join(f"{getattr(w, 'name', None) or w.bundle_id} (#{w.id}, {w.status.value})" for w in running)
        raise Conflict(f"{who.username} still has workspaces running in {organisation.slug}: {names}; stop them "
                       "first, then hand over", reason="workspace-running")
    result = HandoverResult(leaving=who, colleague=to)
    for environment in _environments(session, organisation=organisation, workspaces=workspaces):
        hub = hubs.for_environment(environment)
        try:
            moved = hub.hand_over_home(from_username=who.username, to_username=to.username)
        except HubRefused as refused:
            if refused.reason == "workspace-running":
                raise Conflict(f"the hub of {environment.name} still runs a server of {who.username}: "
                               f"{refused.message}; stop it first, then hand over",
                               reason="workspace-running") from None
            raise
        result.homes[environment.name] = moved.folder if moved.moved else None
    for workspace in workspaces:
        if workspace.status not in TRANSFERRED:
            continue
        try:        # the leaving user's stopped named server: a restart starts the colleague's own
            hubs.for_environment(workspace.environment).stop(username=who.username,
                                                             server_name=workspace.server_name)
        except PortalError as exc:
            log.warning("handover: could not remove %s's server %s: %s", who.username, workspace.server_name,
                        exc.message)
        workspace.user = to
        session.flush()
        register.record(session, action=RegisterAction.WORKSPACE_HANDED_OVER, workspace=workspace, actor=actor,
                        details={"from": who.username, "to": to.username})
        result.workspaces.append(workspace)
    result.grants_ended = len(grant_service.revoke_all(session, organisation=organisation, actor=actor, user=who,
                                                       now=now))
    member = who.membership(organisation.id)
    assert member is not None
    member.status, member.until = MemberStatus.FORMER, now
    session.add(MembershipEnd(user=who, organisation=organisation, ended_by=actor, ended_at=now, successor=to))
    session.flush()
    register.append(session, action=RegisterAction.MEMBER_HANDED_OVER, actor_id=actor.id,
                    organisation_id=organisation.id, subject=f"member {who.username} left; handed over to "
                                                             f"{to.username}",
                    details={"from": who.username, "to": to.username,
                             "workspaces": [w.id for w in result.workspaces], "homes": result.homes,
                             "grants_ended": result.grants_ended})
    return result


def ended_memberships(session: Session, *, organisation: Organisation) -> list[MembershipEnd]:
    """Memberships of this organisation ended by a handover and not re-admitted, newest first."""
    return list(session.scalars(select(MembershipEnd).where(MembershipEnd.organisation_id == organisation.id,
                                                            MembershipEnd.readmitted_at.is_(None))
                                .order_by(MembershipEnd.id.desc())))


def readmit(session: Session, *, organisation: Organisation, actor: User, username: str,
            now: datetime | None = None) -> MembershipEnd:
    """Let a former member's next login make them a member again (the issuer must still send the group)."""
    now = now or utcnow()
    if not may_hand_over(actor, organisation):
        raise Forbidden(f"only admins of organisation {organisation.slug!r} (or platform admins) may re-admit "
                        "members", reason="not-organisation-admin")
    name = (username or "").strip().lower()
    ended = next((e for e in ended_memberships(session, organisation=organisation) if e.user.username == name), None)
    if ended is None:
        raise NotFound(f"{username!r} is not a former member of {organisation.slug!r} waiting to be re-admitted",
                       reason="not-a-former-member")
    ended.readmitted_at, ended.readmitted_by_id = now, actor.id
    session.flush()
    register.append(session, action=RegisterAction.MEMBER_READMITTED, actor_id=actor.id,
                    organisation_id=organisation.id, subject=f"member {ended.user.username} re-admitted",
                    details={"user": ended.user.username, "ended_at": ended.ended_at.isoformat()})
    return ended
