"""The workspace lifecycle after a launch: stop (with who and why when an admin stops it), restart, name, delete.

Keyword-only functions; none of them commits. Each change is recorded in the register. The hub's named server is
the workspace's home: a stop *keeps* it at the hub (stopped), so a restart starts the *same* named server again —
on Kubernetes its home folder is a volume named after the server (``claim-<user><server>``), on the local backend
the user's home folder — and only a delete removes it (which on Kubernetes deletes that volume: the delete asks
for a confirmation that says so). Permissions:

- stop: the owner, an admin of the workspace's organisation, a platform admin; someone else than the owner must
  give a reason (``reason-required``), which the owner's page shows with who stopped it;
- restart, name, delete: the owner only (``not-yours``): a restart starts the user's own server under their own
  roles, and a delete removes their files.
"""

from __future__ import annotations

import logging
import unicodedata

from gereedschapskist.catalogue import Catalogue, LaunchRefused

from ..errors import Conflict, Forbidden, HubStartFailed, HubUnavailable, InvalidInput, LaunchNotAllowed
from sqlalchemy import select

from ..models import (
    ACTIVE_STATUSES, RegisterAction, RegisterEntry, User, Workspace, WorkspaceStatus, utcnow,
)
from ..models.workspace import NAME_MAX
from ..workspace_hub import Hubs, ProgressEvent
from . import metering, register
from .environments import homes_per_workspace, restart_options
from .grants import launch_options
from .identity import hub_groups
from .workspaces import apply_progress_end, apply_server_info, choose_available_interface, choose_membership

#: The longest reason an admin may give for stopping someone's workspace.
REASON_MAX = 500

log = logging.getLogger(__name__)

#: How long a stop waits for this process to finish handing the same workspace's start to its hub (seconds).
PENDING_START_WAIT_SECONDS = 30.0


def _after_pending_start(session, hubs: Hubs, workspace: Workspace) -> None:
    """A stop of a workspace whose start this process is still handing to the hub waits for that start's answer and
    acts on what it committed: stopping first would let the start, answered afterwards, mark it running again."""
    if hubs.start_pending(workspace.id):
        hubs.wait_start(workspace.id, timeout=PENDING_START_WAIT_SECONDS)
        session.refresh(workspace)


def _owner_only(workspace: Workspace, actor: User, what: str) -> None:
    if workspace.user_id != actor.id:
        raise Forbidden(f"only the workspace's own user can {what} workspace {workspace.id}", reason="not-yours")


def _clean_text(value: str | None, *, field: str, limit: int) -> str | None:
    """A one-line text from a form: trimmed, None when empty; refused (naming the field and value) when too long
    or holding control characters."""
    text = " ".join((value or "").split())
    if not text:
        return None
    if len(text) > limit:
        raise InvalidInput(f"{field} = {text[:40]!r}…: at most {limit} characters, got {len(text)}",
                           reason=f"invalid-{field}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise InvalidInput(f"{field} = {text!r}: control or invisible characters are not allowed",
                           reason=f"invalid-{field}")
    return text


def stop_workspace(session, *, hubs: Hubs, workspace: Workspace, actor: User, reason: str | None = None) -> Workspace:
    """Stop a workspace, keeping its named server at the hub (so a restart gets the same home folder). An admin
    stopping someone else's workspace must say why; the owner's page shows who did and why."""
    _after_pending_start(session, hubs, workspace)
    if workspace.status not in ACTIVE_STATUSES:
        raise Conflict(f"workspace {workspace.id} is already {workspace.status.value}", reason="not-active")
    by_owner = actor.id == workspace.user_id
    why = _clean_text(reason, field="reason", limit=REASON_MAX)
    if not by_owner and why is None:
        raise InvalidInput(f"reason = {reason or ''!r}: say why you stop {workspace.user.username}'s workspace "
                           f"{workspace.id}; they will read it", reason="reason-required")
    hub = hubs.for_environment(workspace.environment)
    info = hub.stop(username=workspace.user.username, server_name=workspace.server_name, remove=False)
    previous = workspace.status
    if info is None:
        workspace.status, workspace.stopped_at, workspace.url = WorkspaceStatus.STOPPED, utcnow(), None
    else:
        workspace.status = WorkspaceStatus.STOPPING
    workspace.status_message = None
    workspace.stopped_by_id = None if by_owner else actor.id
    workspace.stopped_by = None if by_owner else actor
    workspace.stop_reason = None if by_owner else why
    details = {"was": previous.value, "by": "owner" if by_owner else "admin"}
    if not by_owner:
        details["reason"] = why
    register.record(session, action=RegisterAction.WORKSPACE_STOPPED, workspace=workspace, actor=actor,
                    details=details)
    session.flush()
    metering.meter(session, workspace=workspace)
    return workspace


def restart_workspace(session, *, catalogue: Catalogue, hubs: Hubs, workspace: Workspace,
                      actor: User) -> Workspace:
    """Start a stopped (or failed) workspace again: the same named server at the same hub, so the same home
    folder, with the bundle's current version, under the role rule as it stands now. Nothing changes when the hub
    refuses or does not answer; a start that fails at once leaves the workspace ``failed`` with the hub's word."""
    _owner_only(workspace, actor, "restart")
    if not workspace.status.ended:
        raise Conflict(f"workspace {workspace.id} is {workspace.status.value}; only a stopped or failed workspace "
                       "can be restarted", reason="not-ended")
    try:
        bundle, size = catalogue.authorise_launch(actor.role_ids, workspace.bundle_id, workspace.size_id)
    except LaunchRefused as refused:
        raise LaunchNotAllowed(refused.message, reason=refused.reason) from None
    choose_membership(actor, organisation=workspace.organisation.slug)      # still a member there
    place = restart_options(session, workspace=workspace, user=actor, today=utcnow().date())   # its contract
    environment = workspace.environment
    interface = choose_available_interface(bundle, workspace.interface, hubs.interfaces(environment))
    hub = hubs.for_environment(environment)
    failure: str | None = None
    try:
        hub.ensure_user(username=actor.username, groups=hub_groups(actor))
        info = hub.start(username=actor.username, server_name=workspace.server_name,
                         options=launch_options(actor, bundle=bundle.id, size=size.id, interface=interface,
                                                **place))
    except HubStartFailed as exc:
        failure, info = exc.message, None
    except HubUnavailable as exc:
        hubs.report_down(environment.name, exc.message, exc.reason)
        raise
    was = {"status": workspace.status.value, "version": workspace.bundle_version}
    workspace.status, workspace.bundle_version, workspace.interface = WorkspaceStatus.STARTING, bundle.version, \
        interface
    workspace.url = workspace.status_message = workspace.started_at = workspace.stopped_at = None
    workspace.stopped_by_id, workspace.stopped_by, workspace.stop_reason = None, None, None
    session.flush()
    register.record(session, action=RegisterAction.WORKSPACE_RESTARTED, workspace=workspace, actor=actor,
                    details={"server": workspace.server_name, "interface": interface, "was": was["status"],
                             "version_was": was["version"]})
    if failure is not None:
        apply_progress_end(session, workspace=workspace, event=ProgressEvent(100, failure, failed=True))
    else:
        apply_server_info(session, workspace=workspace, info=info)
    return workspace


def rename_workspace(session, *, workspace: Workspace, actor: User, name: str | None) -> Workspace:
    """Give the workspace a name of the user's own (empty: no name, the bundle's title shows)."""
    _owner_only(workspace, actor, "name")
    if workspace.status is WorkspaceStatus.DELETED:
        raise Conflict(f"workspace {workspace.id} is deleted", reason="not-ended")
    new = _clean_text(name, field="name", limit=NAME_MAX)
    if new == workspace.name:
        return workspace
    register.record(session, action=RegisterAction.WORKSPACE_RENAMED, workspace=workspace, actor=actor,
                    details={"from": workspace.name, "to": new})
    workspace.name = new
    session.flush()
    return workspace


def stopped_by_hub(session, workspace: Workspace) -> bool:
    """Whether the workspace's last stop came from the hub itself (the idle culler, a server that died, a hub
    restart) rather than from someone in the portal: the register's last stop entry says so (``{"by": "hub"}``)."""
    if workspace.status is not WorkspaceStatus.STOPPED or workspace.stopped_by_id is not None:
        return False
    details = session.scalar(select(RegisterEntry.details)
                             .where(RegisterEntry.workspace_id == workspace.id,
                                    RegisterEntry.action == RegisterAction.WORKSPACE_STOPPED)
                             .order_by(RegisterEntry.id.desc()).limit(1))
    return isinstance(details, dict) and details.get("by") == "hub"


def home_is_per_workspace(workspace: Workspace) -> bool:
    """Whether the workspace has a home folder of its own that a delete removes: in a cloud environment each named
    server has its own volume; on the local backend every workspace of a user shares the user's home folder."""
    return homes_per_workspace(workspace.environment)


def delete_workspace(session, *, hubs: Hubs, workspace: Workspace, actor: User, confirm: bool) -> Workspace:
    """Remove a stopped (or failed) workspace's named server at the hub — with it, in a cloud environment, its home
    folder — after an explicit confirmation. The row stays (``deleted``): the register refers to it."""
    _owner_only(workspace, actor, "delete")
    if not workspace.status.ended:
        raise Conflict(f"workspace {workspace.id} is {workspace.status.value}; stop it before deleting it",
                       reason="not-ended")
    if not confirm:
        raise InvalidInput(f"confirm = false: deleting workspace {workspace.id} removes its named server "
                           + ("and its home folder " if home_is_per_workspace(workspace) else "")
                           + "for good; confirm that you want this", reason="confirmation-required")
    try:
        hubs.for_environment(workspace.environment).stop(username=workspace.user.username,
                                                         server_name=workspace.server_name, remove=True)
    except HubUnavailable as exc:
        hubs.report_down(workspace.environment.name, exc.message, exc.reason)
        raise
    was = workspace.status.value
    workspace.status, workspace.deleted_at, workspace.url = WorkspaceStatus.DELETED, utcnow(), None
    register.record(session, action=RegisterAction.WORKSPACE_DELETED, workspace=workspace, actor=actor,
                    details={"server": workspace.server_name, "was": was,
                             "home": "deleted" if home_is_per_workspace(workspace) else "kept (shared)"})
    session.flush()
    return workspace
