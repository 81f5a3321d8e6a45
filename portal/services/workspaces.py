"""Workspaces: launch, follow and list — the portal checks the hub's own role rule first (stop, restart, name and
delete: :mod:`.lifecycle`).

Keyword-only functions; none of them commits. A launch (issue 13) is two halves: the portal's checks and the
workspace row in ``starting`` (:func:`launch_workspace`), answered at once, then the hub's start in the background
(:mod:`.hub_start`), whose refusal or failure marks the workspace failed. No write lock is held while the hub works.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, joinedload

from gereedschapskist.catalogue import Bundle, Catalogue, Interface, LaunchRefused

from ..db import get_or_404
from ..errors import (
    Conflict, Forbidden, HubUnavailable, InvalidInput, LaunchNotAllowed, NotFound, PortalError,
)
from ..models import (
    ACTIVE_STATUSES, Environment, Member, MemberRoleName, Organisation, RegisterAction, User, Workspace,
    WorkspaceStatus, utcnow,
)
from ..models.base import one_of
from ..models.workspace import ENDED_STATUSES
from ..workspace_hub import Hubs, InterfaceState, ProgressEvent, ServerInfo, WorkspaceHub
from . import metering, register
from .environments import (
    check_offer, environment_for, hub_place_options, launch_place, offered_sizes, visible_environments,
)
from .grants import launch_options
from .identity import hub_groups

#: How many ended (stopped/failed) workspaces "my workspaces" shows besides the active ones (in its history; a
#: stopped workspace keeps its server at the hub, so the user must see it to delete it).
RECENT_ENDED = 50
#: Workspaces whose hub server is of no more use: a failed start's, a deleted workspace's.
GONE_STATUSES = (WorkspaceStatus.FAILED, WorkspaceStatus.DELETED)
#: The portal's naming scheme of the hub's named servers (:func:`new_server_name`): ``<bundle id>-<6 hex>``. Only
#: servers named so are the portal's to tidy up without asking (:func:`reconcile_hub_servers`).
SERVER_NAME = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,62}-[0-9a-f]{6}")
#: An unknown server of the portal's scheme younger than this may be a launch another request is making right now
#: (the row is written once the hub accepted the start): reconciling leaves it alone until it is older.
RECONCILE_GRACE_SECONDS = 120
INTERFACE_UNAVAILABLE = "interface-unavailable"
#: Published apps' hub servers (``services/apps.py``: ``app-<slug>``) are no workspaces: never tidied or listed here.
APP_SERVER_PREFIX = "app-"
#: A launch answers before its hub is asked (issue 13): a starting workspace the hub has no server for is given this
#: long for the background start to reach the hub (the hub client's own timeout is 30 s) before it counts as failed
#: — after a portal restart that lost the start, say.
START_GRACE_SECONDS = 120
START_LOST = "start-lost"
NEVER_REACHED_HUB = ("the hub has no server for this workspace: its start did not reach the hub (the portal may "
                     "have restarted meanwhile); start it again")

log = logging.getLogger(__name__)


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


def is_portal_server_name(name: str) -> bool:
    """Whether a hub server's name is of the portal's scheme (so the portal made it)."""
    return SERVER_NAME.fullmatch(name) is not None and not name.startswith(APP_SERVER_PREFIX)


def interface_unavailable(states: dict[str, InterfaceState] | None, interface: Interface) -> str | None:
    """Why the hub cannot serve ``interface`` (for :meth:`Bundle.choose_interface`); None when it can, or when the
    hub does not say (unknown: the hub decides at launch)."""
    state = (states or {}).get(interface.value)
    if state is None or state.available:
        return None
    lacking = f" (it lacks {state.missing})" if state.missing else ""
    return f"{interface.label} cannot start in this environment: its hub cannot serve it{lacking}"


def choose_available_interface(bundle: Bundle, interface: str | None,
                               states: dict[str, InterfaceState] | None) -> str:
    """The interface to open, refusing before the hub one it says it cannot serve (``interface-unavailable``)."""
    try:
        return bundle.choose_interface(interface, unavailable=lambda i: interface_unavailable(states, i)).value
    except LaunchRefused as refused:
        if refused.reason == INTERFACE_UNAVAILABLE:
            raise Conflict(refused.message, reason=INTERFACE_UNAVAILABLE) from None
        raise LaunchNotAllowed(refused.message, reason=refused.reason) from None


def same_hub(environment_id: int):
    """The ids of the environments served by the same hub as ``environment_id`` (a subquery): on a local hub the
    shared environment and every contract environment are one hub, and one user's servers there are one set — a
    server of the user's workspace in another of them is not unknown (issue 14)."""
    api_url = select(Environment.hub_api_url).where(Environment.id == environment_id).scalar_subquery()
    return select(Environment.id).where(Environment.hub_api_url == api_url)


def unknown_hub_servers(session: Session, *, user: User, environment_id: int,
                        servers: dict[str, ServerInfo]) -> dict[str, ServerInfo]:
    """The named hub servers of this user that the portal has no workspace for (in this environment). The
    default server (``""``, which only the hub's own pages use; users cannot start it) is not one of them."""
    servers = {name: info for name, info in servers.items() if name and not name.startswith(APP_SERVER_PREFIX)}
    names = list(servers)
    if not names:
        return {}
    known = set(session.scalars(select(Workspace.server_name).where(Workspace.user_id == user.id,
                                                                   Workspace.environment_id.in_(
                                                                       same_hub(environment_id)),
                                                                   Workspace.server_name.in_(names))))
    return {name: info for name, info in servers.items() if name not in known}


def reconcile_hub_servers(session: Session, *, hub: WorkspaceHub, user: User, environment_id: int,
                          now: datetime | None = None) -> list[str]:
    """Before a launch: remove this user's hub servers of the portal's naming scheme that the portal does not know
    (left behind by a refused or failed launch, or an interrupted request), or knows as failed or deleted — they
    count against the hub's named-server limit. A *stopped* workspace's server is kept: it holds the workspace's
    home folder for a restart, until the user deletes the workspace (:mod:`.lifecycle`). Servers named otherwise
    are never touched (shown on "my workspaces" instead); an unknown server still starting or running younger than
    :data:`RECONCILE_GRACE_SECONDS` may be another request's launch and is left. Returns the names removed. Raises
    when the hub does not answer."""
    now = now or utcnow()
    servers = hub.servers(username=user.username)
    ours = {name: info for name, info in servers.items() if is_portal_server_name(name)}
    if not ours:
        return []
    ended = set(session.scalars(select(Workspace.server_name).where(
        Workspace.user_id == user.id, Workspace.environment_id.in_(same_hub(environment_id)),
        Workspace.server_name.in_(list(ours)), Workspace.status.in_(GONE_STATUSES))))
    unknown = unknown_hub_servers(session, user=user, environment_id=environment_id, servers=ours)
    removed = []
    for name, info in ours.items():
        if name in unknown:
            active = info.ready or info.pending is not None or not info.stopped
            age = _age_seconds(info.started, now=now)
            young = age is None or age < RECONCILE_GRACE_SECONDS
            if active and young:
                continue
        elif name not in ended:
            continue
        try:
            hub.stop(username=user.username, server_name=name)
        except HubUnavailable:
            raise
        except PortalError as exc:
            log.warning("could not remove %s's leftover hub server %s: %s", user.username, name, exc.message)
            continue
        removed.append(name)
    if removed:
        log.info("removed %s's leftover hub servers before a launch: %s", user.username, ", ".join(removed))
    return removed


def remove_hub_server(session: Session, *, hubs: Hubs, user: User, environment_name: str, server_name: str) -> None:
    """Remove one of the user's own hub servers that the portal does not know (shown on "my workspaces")."""
    environment = next((e for e in visible_environments(session, user=user) if e.name == environment_name), None)
    if environment is None:
        raise NotFound(f"there is no environment {environment_name!r}", reason="unknown-environment")
    hub = hubs.for_environment(environment)
    servers = hub.servers(username=user.username)
    if server_name not in unknown_hub_servers(session, user=user, environment_id=environment.id, servers=servers):
        raise NotFound(f"the hub has no server {server_name!r} of yours that the portal does not know",
                       reason="hub-not-found")
    hub.stop(username=user.username, server_name=server_name)
    log.info("%s removed the hub server %s the portal did not know (environment %s)", user.username, server_name,
             environment.name)


@dataclass(frozen=True)
class EnvironmentRef:
    """A workspace's environment as a listing read it with the workspace (no ORM object): what a hub is reached by."""
    id: int
    name: str
    hub_url: str
    hub_api_url: str


def row_environments(rows: list[Row]) -> dict[str, EnvironmentRef]:
    """The environments of workspaces listed by :func:`list_mine_rows`, by name."""
    return {r.environment_name: EnvironmentRef(r.environment_id, r.environment_name, r.environment_hub_url,
                                               r.environment_hub_api_url) for r in rows}


def user_environments(session: Session, *, user: User, environments: dict[str, EnvironmentRef]) -> list:
    """Where the user's servers can be: the environments of their organisations and of their workspaces
    (``environments``, by name)."""
    found = dict(environments)
    for member in user.active_memberships():
        try:
            environment = environment_for(session, organisation=member.organisation)
        except HubUnavailable:          # no environment for this organisation
            continue
        found.setdefault(environment.name, environment)
    return [found[name] for name in sorted(found)]


def hub_only_servers(session: Session, *, hubs: Hubs, user: User, environments: list) -> list[tuple[str, str]]:
    """(environment name, server name) of the user's hub servers the portal does not know, for "my workspaces";
    hubs that do not answer are skipped (the page says they are down)."""
    found: list[tuple[str, str]] = []
    asked: set[str] = set()
    for environment in environments:
        if environment.hub_api_url in asked:            # one hub serving several environments: its servers once
            continue
        asked.add(environment.hub_api_url)
        if not hubs.status(environment).available:      # remembered for a few seconds: no wait on a hub that is down
            continue
        try:
            servers = hubs.for_environment(environment).servers(username=user.username)
        except PortalError:
            continue
        unknown = unknown_hub_servers(session, user=user, environment_id=environment.id, servers=servers)
        found += [(environment.name, name) for name in sorted(unknown)]
    return found


@dataclass(frozen=True)
class HubStart:
    """The hub's half of a launch, handed to :func:`.hub_start.start_at_hub` once the workspace row is committed."""
    workspace_id: int
    options: dict[str, str]


@dataclass(frozen=True)
class Launch:
    workspace: Workspace
    start: HubStart


def launch_workspace(session: Session, *, catalogue: Catalogue, hubs: Hubs, user: User, bundle_id: str,
                     size_id: str | None, interface: str | None = None,
                     organisation: str | None = None, require_contract: bool = False,
                     today: date | None = None) -> Launch:
    """The portal's half of a launch (issue 13: feedback at once): check the role rule and the organisation's
    contract (``services/environments.py``: only an active contract lets members work, with its bundles and sizes),
    the interface, and that the hub knows the user (its single sign-on: :class:`HubLoginNeeded`; a hub that does not
    answer: :class:`HubUnavailable`, 503) — every refusal raised here, before anything is written — then add the
    workspace in ``starting`` (``contract_id`` set under a contract). The caller commits and hands ``start`` to
    :func:`.hub_start.start_at_hub` in the background; a refusal or failure at the hub then marks the workspace
    failed with the hub's reason and message."""
    requested_interface = interface
    try:
        bundle, size = catalogue.authorise_launch(user.role_ids, bundle_id, size_id)
        interface = bundle.choose_interface(interface).value
    except LaunchRefused as refused:
        raise LaunchNotAllowed(refused.message, reason=refused.reason) from None
    member = choose_membership(user, organisation=organisation)
    place = launch_place(session, organisation=member.organisation, require_contract=require_contract)
    environment, contract = place.environment, place.contract
    if contract is not None:
        today = today or utcnow().date()
        if size_id is None:      # no size chosen: the bundle's first size the contract offers this member
            offered = offered_sizes(session, contract=contract, user=user, today=today)
            size = next((s for s in bundle.sizes if f"{bundle.id}/{s.id}" in offered), size)
        check_offer(session, contract=contract, user=user, bundle=bundle.id, size=size.id, today=today)
    # an interface the hub says it cannot serve is refused here, before the hub (unknown: the hub decides)
    interface = choose_available_interface(bundle, requested_interface, hubs.interfaces(environment, bundle.id))
    # one quick read: whether the hub knows the user (else its sign-on first) and answers at all (remembered a while)
    hubs.ensure_user(environment, username=user.username, groups=hub_groups(user))
    server_name = new_server_name(bundle.id)
    options = launch_options(user, bundle=bundle.id, size=size.id, interface=interface,
                             **hub_place_options(place, organisation=member.organisation))
    workspace = Workspace(user=user, organisation=member.organisation, environment=environment,
                          server_name=server_name, bundle_id=bundle.id, bundle_version=bundle.version,
                          size_id=size.id, interface=interface, status=WorkspaceStatus.STARTING,
                          contract_id=contract.id if contract is not None else None)
    session.add(workspace)
    session.flush()
    register.record(session, action=RegisterAction.WORKSPACE_LAUNCHED, workspace=workspace, actor=user,
                    details={"server": server_name, "interface": interface})
    return Launch(workspace, HubStart(workspace.id, options))


def _age_seconds(moment: datetime | None, *, now: datetime) -> float | None:
    """How many seconds before ``now`` a timestamp was (one without a time zone is taken in ``now``'s, as the
    database may give it back); None when there is none."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    return (now - moment).total_seconds()


def start_overdue(workspace: Workspace, *, now: datetime) -> bool:
    """Whether a starting workspace is older than :data:`START_GRACE_SECONDS` (its start should be at the hub)."""
    age = _age_seconds(workspace.created_at, now=now)
    return age is None or age >= START_GRACE_SECONDS


#: How long after a start was asked for a hub that shows its server neither ready nor starting counts as "not begun
#: yet" rather than "stopped before it was ready": JupyterHub lists a named server as stopped from the moment a start
#: request creates it until its spawn begins (after the hub's launch checks). Progress streams report a real failure
#: at once; the background sync after this.
HUB_NOT_BEGUN_SECONDS = 15


def _just_asked(workspace: Workspace, *, now: datetime) -> bool:
    """Whether the workspace's start (its last change: a launch or a restart) is younger than
    :data:`HUB_NOT_BEGUN_SECONDS`."""
    age = _age_seconds(workspace.updated_at or workspace.created_at, now=now)
    return age is not None and age < HUB_NOT_BEGUN_SECONDS


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
    elif workspace.status is WorkspaceStatus.STARTING and info is None and not start_overdue(workspace, now=now):
        pass    # not at the hub yet: its start is being handed over in the background (issue 13)
    elif workspace.status is WorkspaceStatus.STARTING and info is not None and _just_asked(workspace, now=now):
        pass    # the hub has the server but has not begun its spawn yet (it checks the launch first): not stopped
    elif workspace.status is WorkspaceStatus.STARTING:
        workspace.status, workspace.url = WorkspaceStatus.FAILED, None
        workspace.status_message = workspace.status_message or (
            NEVER_REACHED_HUB if info is None else "the hub reports the server stopped before it was ready")
        register.record(session, action=RegisterAction.WORKSPACE_FAILED, workspace=workspace, actor=None,
                        details={"message": workspace.status_message,
                                 **({"reason": START_LOST} if info is None else {})})
    elif workspace.status in (WorkspaceStatus.RUNNING, WorkspaceStatus.STOPPING):
        if workspace.status is WorkspaceStatus.RUNNING:
            register.record(session, action=RegisterAction.WORKSPACE_STOPPED, workspace=workspace, actor=None,
                            details={"by": "hub"})
        workspace.status, workspace.url = WorkspaceStatus.STOPPED, None
        workspace.stopped_at = workspace.stopped_at or now
    session.flush()
    metering.meter(session, workspace=workspace, now=now, started=info.started if info is not None else None)
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
        metering.meter(session, workspace=workspace)


def remove_failed_server(hubs: Hubs, *, workspace: Workspace) -> None:
    """A failed start leaves a stopped server at the hub, which counts against the user's named-server limit:
    remove it (best effort; the hub may already have forgotten it)."""
    try:
        hubs.for_environment(workspace.environment).stop(username=workspace.user.username,
                                                         server_name=workspace.server_name)
    except PortalError:
        pass


def _remove_quietly(hub: WorkspaceHub, *, username: str, server_name: str) -> None:
    try:
        hub.stop(username=username, server_name=server_name)
    except PortalError as exc:     # best effort: the next launch's reconciliation removes it
        log.warning("could not remove the refused server %s of %s: %s", server_name, username, exc.message)


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


def start_in_hand(hubs: Hubs, *, workspace_id: int, status: WorkspaceStatus) -> bool:
    """Whether this workspace's start is still being handed to its hub by this process (issue 13): page views, the
    background sync and progress streams leave the hub alone meanwhile; that start records how it went."""
    return status is WorkspaceStatus.STARTING and hubs.start_pending(workspace_id)


def to_ask(hubs: Hubs, workspaces: list[Workspace]) -> list[Workspace]:
    """The active workspaces a page view asks their hub about: all but starts that a progress stream of this portal
    follows — that stream records the end of the start as soon as the hub says it (issue 12: no hub request per view
    while workspaces start) — and starts this process is still handing to the hub (issue 13,
    :func:`start_in_hand`). The background sync still looks at every active workspace but those."""
    return [w for w in workspaces if w.status in ACTIVE_STATUSES
            and not (w.status is WorkspaceStatus.STARTING and hubs.followed(w.id))
            and not start_in_hand(hubs, workspace_id=w.id, status=w.status)]


def in_transition(workspaces: list[Workspace]) -> list[Workspace]:
    """Those whose state the hub is changing right now (worth asking the hub about on a page view)."""
    return [w for w in workspaces if w.status in (WorkspaceStatus.STARTING, WorkspaceStatus.STOPPING)]


def active_workspaces(session: Session, *, limit: int = 500) -> list[Workspace]:
    return list(session.scalars(select(Workspace).where(Workspace.status.in_(ACTIVE_STATUSES))
                                .options(joinedload(Workspace.user)).order_by(Workspace.id).limit(limit)))


_RECENT_ENDED = (select(Workspace.id).where(Workspace.user_id == bindparam("user_id"),
                                           one_of(Workspace.status, ENDED_STATUSES))
                 .order_by(Workspace.id.desc()).limit(RECENT_ENDED))
#: Which workspaces are "mine": the user's active ones and the most recent ended ones (one rule for both listings).
_MINE_RULE = (Workspace.user_id == bindparam("user_id")) & (
    one_of(Workspace.status, ACTIVE_STATUSES) | Workspace.id.in_(_RECENT_ENDED.scalar_subquery()))
#: Built once: "my workspaces" is the portal's busiest query, and building a statement costs more than running it.
_MINE = select(Workspace).where(_MINE_RULE).order_by(Workspace.id.desc())
_STOPPER = User.__table__.alias("stopper")
#: The same workspaces as plain rows, with their organisation's slug, environment's name and who stopped them.
_ENV = Environment.__table__.c
_MINE_ROWS = (select(*Workspace.__table__.c, Organisation.__table__.c.slug.label("organisation_slug"),
                     _ENV.name.label("environment_name"), _ENV.hub_url.label("environment_hub_url"),
                     _ENV.hub_api_url.label("environment_hub_api_url"), _STOPPER.c.username.label("stopper"))
              .select_from(Workspace.__table__
                           .join(Organisation.__table__, Organisation.id == Workspace.organisation_id)
                           .join(Environment.__table__, Environment.id == Workspace.environment_id)
                           .outerjoin(_STOPPER, _STOPPER.c.id == Workspace.stopped_by_id))
              .where(_MINE_RULE).order_by(Workspace.id.desc()))


def list_mine(session: Session, *, user: User) -> list[Workspace]:
    """The user's active workspaces plus the most recent ended (stopped, failed) ones, newest first (one query);
    deleted ones are left out."""
    return list(session.scalars(_MINE, {"user_id": user.id}))


def list_mine_rows(session: Session, *, user: User) -> list[Row]:
    """:func:`list_mine`'s workspaces as plain rows (a ``Workspace``'s columns and ``organisation_slug``,
    ``environment_name``, ``environment_hub_url``, ``environment_hub_api_url``, ``stopper``): for a read that only
    lists them, without building ORM objects (issue 13)."""
    return list(session.connection().execute(_MINE_ROWS, {"user_id": user.id}))


def _mine_ahead(session: Session, principal: User) -> list[Row]:
    return list_mine_rows(session, user=principal)


#: What the session middleware reads ahead with the session row for the "my workspaces" page and JSON (one connection,
#: one hop: ``sessions.RequestDb.read_ahead``): the user's workspaces as :func:`list_mine_rows` lists them.
READ_AHEAD = {"/workspaces": _mine_ahead, "/api/v1/workspaces": _mine_ahead}


def refresh_rows(session: Session, *, hubs: Hubs, rows: list[Row]) -> bool:
    """:func:`refresh` for listed rows: only the workspaces worth asking their hub about (:func:`to_ask` of
    :func:`in_transition`) are loaded as ORM objects and synced; True when there were any (the listing is stale)."""
    ids = [r.id for r in to_ask(hubs, in_transition(rows))]
    if not ids:
        return False
    refresh(session, hubs=hubs, workspaces=list(session.scalars(
        select(Workspace).where(Workspace.id.in_(ids)).options(joinedload(Workspace.user)))))
    return True


def history(workspaces: list[Workspace]) -> list[tuple[str, list[Workspace]]]:
    """The ended (stopped, failed) workspaces by bundle, newest first in each, the bundle last used first: what "my
    workspaces" folds away under History instead of one row after another."""
    groups: dict[str, list[Workspace]] = defaultdict(list)
    for workspace in sorted((w for w in workspaces if w.status.ended),
                            key=lambda w: (w.stopped_at or w.updated_at or w.created_at, w.id), reverse=True):
        groups[workspace.bundle_id].append(workspace)
    return list(groups.items())


def organisation_workspaces(session: Session, *, organisation: Organisation) -> list[Workspace]:
    """The organisation's active workspaces, newest first."""
    return list(session.scalars(select(Workspace).where(Workspace.organisation_id == organisation.id,
                                                        Workspace.status.in_(ACTIVE_STATUSES))
                                .options(joinedload(Workspace.user)).order_by(Workspace.id.desc())))


def get_workspace(session: Session, *, user: User, workspace_id: int) -> Workspace:
    """The get-or-404-and-authorise rule for one workspace: its owner, an admin of its organisation, or a
    platform admin may see and stop it; anyone else gets a clear refusal."""
    workspace = get_or_404(session, Workspace, workspace_id, what="workspace", reason="unknown-workspace")
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
