"""Workspaces: launch, follow, stop and list — the portal checks the hub's own role rule first.

Keyword-only functions; none of them commits. A launch writes nothing until the hub has accepted the
start, so when the hub refuses or is down nothing changes (and no write lock is held while the hub works).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from gereedschapskist.catalogue import Catalogue, LaunchRefused

from ..errors import (
    Conflict, Forbidden, HubStartFailed, HubUnavailable, InvalidInput, LaunchNotAllowed, NotFound, PortalError,
)
from ..models import (
    ACTIVE_STATUSES, Member, MemberRoleName, Organisation, RegisterAction, User, Workspace, WorkspaceStatus, utcnow,
)
from ..workspace_hub import Hubs, ProgressEvent, ServerInfo
from . import register
from .environments import environment_for
from .identity import hub_groups

#: The largest id an integer primary key holds on every database (PostgreSQL's ``integer``).
MAX_ID = 2**31 - 1
#: How many ended (stopped/failed) workspaces "my workspaces" shows besides the active ones.
RECENT_ENDED = 10


def choose_membership(user: User, *, organisation: str | None) -> Member:
    """The organisation a workspace is for: the one named, or the user's only one."""
    active = user.active_memberships()
    if organisation:
        member = next((m for m in active if m.organisation.slug == organisation), None)
        if member is None:
            raise LaunchNotAllowed(f"you are not a member of organisation {organisation!r}; yours: "
                                   f"{', '.join(m.organisation.slug for m in active) or 'none'}",
                                   reason="not-a-member")
        return member
    if not active:
        raise LaunchNotAllowed("you are not a member of any organisation (no org:<id> group in your login), so "
                               "there is nowhere to run a workspace; ask your organisation admin",
                               reason="no-organisation")
    if len(active) > 1:
        raise InvalidInput("you are a member of several organisations; choose one: "
                           f"{', '.join(m.organisation.slug for m in active)}", reason="organisation-required")
    return active[0]


def new_server_name(bundle_id: str) -> str:
    return f"{bundle_id}-{secrets.token_hex(3)}"


def launch_workspace(session: Session, *, catalogue: Catalogue, hubs: Hubs, user: User, bundle_id: str,
                     size_id: str | None, interface: str | None = None,
                     organisation: str | None = None) -> Workspace:
    """Check the role rule, then ask the organisation's hub to start the bundle; returns the new Workspace."""
    try:
        bundle, size = catalogue.authorise_launch(user.role_ids, bundle_id, size_id)
        interface = bundle.choose_interface(interface).value
    except LaunchRefused as refused:
        raise LaunchNotAllowed(refused.message, reason=refused.reason) from None
    member = choose_membership(user, organisation=organisation)
    environment = environment_for(session, organisation=member.organisation)
    server_name = new_server_name(bundle.id)
    hub = hubs.for_environment(environment)
    failure: str | None = None
    try:
        hub.ensure_user(username=user.username, groups=hub_groups(user))
        info = hub.start(username=user.username, server_name=server_name,
                         options={"bundle": bundle.id, "size": size.id, "interface": interface})
    except HubUnavailable as exc:
        hubs.report_down(environment.name, exc.message, exc.reason)
        raise
    except HubStartFailed as exc:      # the hub accepted the launch and the start failed at once
        failure, info = exc.message, None
    workspace = Workspace(user=user, organisation=member.organisation, environment=environment,
                          server_name=server_name, bundle_id=bundle.id, bundle_version=bundle.version,
                          size_id=size.id, interface=interface, status=WorkspaceStatus.STARTING)
    session.add(workspace)
    session.flush()
    register.record(session, action=RegisterAction.WORKSPACE_LAUNCHED, workspace=workspace, actor=user,
                    details={"server": server_name, "interface": interface})
    if failure is not None:
        apply_progress_end(session, workspace=workspace, event=ProgressEvent(100, failure, failed=True))
        remove_failed_server(hubs, workspace=workspace)
    else:
        apply_server_info(session, workspace=workspace, info=info)
    return workspace


def stop_workspace(session: Session, *, hubs: Hubs, workspace: Workspace, actor: User) -> Workspace:
    if workspace.status not in ACTIVE_STATUSES:
        raise Conflict(f"workspace {workspace.id} is already {workspace.status.value}", reason="not-active")
    hub = hubs.for_environment(workspace.environment)
    info = hub.stop(username=workspace.user.username, server_name=workspace.server_name)
    previous = workspace.status
    if info is None:
        workspace.status, workspace.stopped_at, workspace.url = WorkspaceStatus.STOPPED, utcnow(), None
    else:
        workspace.status = WorkspaceStatus.STOPPING
    workspace.status_message = None
    register.record(session, action=RegisterAction.WORKSPACE_STOPPED, workspace=workspace, actor=actor,
                    details={"was": previous.value, "by": "owner" if actor.id == workspace.user_id else "admin"})
    session.flush()
    return workspace


def apply_server_info(session: Session, *, workspace: Workspace, info: ServerInfo | None,
                      now: datetime | None = None) -> bool:
    """Bring a workspace's status in line with what its hub reports; True when it changed."""
    now = now or utcnow()
    before = (workspace.status, workspace.url)
    hub = workspace.environment
    if info is not None and info.ready:
        if workspace.status is not WorkspaceStatus.RUNNING:
            workspace.started_at = workspace.started_at or now
            register.record(session, action=RegisterAction.WORKSPACE_STARTED, workspace=workspace, actor=None)
        workspace.status = WorkspaceStatus.RUNNING
        workspace.status_message = None
        if info.url:
            workspace.url = _absolute(hub.hub_url, info.url)
    elif info is not None and info.pending == "spawn":
        workspace.status = WorkspaceStatus.STARTING
    elif info is not None and info.pending == "stop":
        if workspace.status is WorkspaceStatus.RUNNING:      # stopped at the hub, not through the portal
            register.record(session, action=RegisterAction.WORKSPACE_STOPPED, workspace=workspace, actor=None,
                            details={"by": "hub"})
        workspace.status = WorkspaceStatus.STOPPING
    elif workspace.status is WorkspaceStatus.STARTING:
        workspace.status, workspace.url = WorkspaceStatus.FAILED, None
        workspace.status_message = workspace.status_message or "the hub reports the server stopped before it " \
                                                               "was ready"
        register.record(session, action=RegisterAction.WORKSPACE_FAILED, workspace=workspace, actor=None,
                        details={"message": workspace.status_message})
    elif workspace.status in (WorkspaceStatus.RUNNING, WorkspaceStatus.STOPPING):
        if workspace.status is WorkspaceStatus.RUNNING:
            register.record(session, action=RegisterAction.WORKSPACE_STOPPED, workspace=workspace, actor=None,
                            details={"by": "hub"})
        workspace.status, workspace.url = WorkspaceStatus.STOPPED, None
        workspace.stopped_at = workspace.stopped_at or now
    session.flush()
    return (workspace.status, workspace.url) != before


def apply_progress_end(session: Session, *, workspace: Workspace, event: ProgressEvent) -> None:
    """The hub's progress stream ended in ``ready`` or ``failed``: record it."""
    if event.ready:
        apply_server_info(session, workspace=workspace,
                          info=ServerInfo(workspace.server_name, ready=True, url=event.url))
    elif event.failed and workspace.status is WorkspaceStatus.STARTING:
        workspace.status, workspace.url = WorkspaceStatus.FAILED, None
        workspace.status_message = event.message or "the hub could not start the server"
        register.record(session, action=RegisterAction.WORKSPACE_FAILED, workspace=workspace, actor=None,
                        details={"message": workspace.status_message})
        session.flush()


def remove_failed_server(hubs: Hubs, *, workspace: Workspace) -> None:
    """A failed start leaves a stopped server at the hub, which counts against the user's named-server limit:
    remove it (best effort; the hub may already have forgotten it)."""
    try:
        hubs.for_environment(workspace.environment).stop(username=workspace.user.username,
                                                         server_name=workspace.server_name)
    except PortalError:
        pass


def refresh(session: Session, *, hubs: Hubs, workspaces: list[Workspace]) -> set[str]:
    """Sync active workspaces from their hubs (one request per user and hub); return the environments down."""
    groups: dict[tuple[int, int], list[Workspace]] = defaultdict(list)
    for workspace in workspaces:
        if workspace.status in ACTIVE_STATUSES:
            groups[(workspace.environment_id, workspace.user_id)].append(workspace)
    down: set[str] = set()
    for items in groups.values():
        environment = items[0].environment
        if environment.name in down:
            continue
        try:
            servers = hubs.for_environment(environment).servers(username=items[0].user.username)
        except HubUnavailable:
            down.add(environment.name)
            continue
        for workspace in items:
            apply_server_info(session, workspace=workspace, info=servers.get(workspace.server_name))
    return down


def in_transition(workspaces: list[Workspace]) -> list[Workspace]:
    """Those whose state the hub is changing right now (worth asking the hub about on a page view)."""
    return [w for w in workspaces if w.status in (WorkspaceStatus.STARTING, WorkspaceStatus.STOPPING)]


def active_workspaces(session: Session, *, limit: int = 500) -> list[Workspace]:
    return list(session.scalars(select(Workspace).where(Workspace.status.in_(ACTIVE_STATUSES))
                                .options(joinedload(Workspace.user)).order_by(Workspace.id).limit(limit)))


_RECENT_ENDED = (select(Workspace.id).where(Workspace.user_id == bindparam("user_id"),
                                           Workspace.status.not_in(ACTIVE_STATUSES))
                 .order_by(Workspace.id.desc()).limit(RECENT_ENDED))
#: Built once: "my workspaces" is the portal's busiest query, and building a statement costs more than running it.
_MINE = (select(Workspace)
         .where(Workspace.user_id == bindparam("user_id"),
                Workspace.status.in_(ACTIVE_STATUSES) | Workspace.id.in_(_RECENT_ENDED.scalar_subquery()))
         .order_by(Workspace.id.desc()))


def list_mine(session: Session, *, user: User) -> list[Workspace]:
    """The user's active workspaces plus the most recent ended ones, newest first (one query)."""
    return list(session.scalars(_MINE, {"user_id": user.id}))


def organisation_workspaces(session: Session, *, organisation: Organisation) -> list[Workspace]:
    """The organisation's active workspaces, newest first."""
    return list(session.scalars(select(Workspace).where(Workspace.organisation_id == organisation.id,
                                                        Workspace.status.in_(ACTIVE_STATUSES))
                                .options(joinedload(Workspace.user)).order_by(Workspace.id.desc())))


def get_workspace(session: Session, *, user: User, workspace_id: int) -> Workspace:
    """The get-or-404-and-authorise rule for one workspace: its owner, an admin of its organisation, or a
    platform admin may see and stop it; anyone else gets a clear refusal."""
    # ids beyond the id column's range (PostgreSQL: 32 bits) cannot exist; asking the database would fail
    workspace = session.get(Workspace, workspace_id) if 0 < workspace_id <= MAX_ID else None
    if workspace is None:
        raise NotFound(f"there is no workspace {workspace_id}", reason="unknown-workspace")
    if workspace.user_id == user.id or user.platform_admin:
        return workspace
    member = user.membership(workspace.organisation_id)
    if member is not None and member.has_role(MemberRoleName.ORGANISATION_ADMIN):
        return workspace
    raise Forbidden(f"workspace {workspace_id} is not yours and not of an organisation you administer",
                    reason="not-yours")


def _absolute(hub_url: str, url: str) -> str:
    if url.startswith(("http://", "https://")):
        return url
    return hub_url.rstrip("/") + "/" + url.lstrip("/")
