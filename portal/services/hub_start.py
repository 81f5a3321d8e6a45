"""The hub's half of a launch (issue 13: feedback at once), run in the background after the launch request has
answered: remove the user's leftover servers, ask the hub to start the workspace's named server, and record how
that went. A refusal or failure at the hub marks the workspace ``failed`` with the hub's machine ``reason`` (in the
register entry, which the workspace page and the progress stream turn into a Dutch and English text) and its
message; a start the hub accepted goes on as ``starting`` (its progress stream follows it) or ``running``.

Keyword-only functions; none of them commits (:mod:`gereedschapskist.portal.starts` runs them in a session of its
own and commits).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from gereedschapskist.core.identity import HUB_LOGIN_NEEDED

from ..errors import HubLoginNeeded, HubUnavailable, NotFound, PortalError
from ..models import RegisterAction, RegisterEntry, Workspace, WorkspaceStatus
from ..workspace_hub import Hubs
from . import metering, register
from .workspaces import HubStart, _remove_quietly, apply_server_info, reconcile_hub_servers

log = logging.getLogger(__name__)


def start_at_hub(session: Session, *, hubs: Hubs, start: HubStart) -> Workspace | None:
    """Ask the workspace's hub to start it with the launch's options; returns the workspace (None when it is gone,
    or no longer starting: nothing is asked then). Never raises a hub's refusal: it marks the workspace failed."""
    workspace = session.get(Workspace, start.workspace_id)
    if workspace is None or workspace.status is not WorkspaceStatus.STARTING:
        return workspace
    environment, username = workspace.environment, workspace.user.username
    hub = hubs.for_environment(environment)
    started = False
    try:
        reconcile_hub_servers(session, hub=hub, user=workspace.user, environment_id=environment.id)
        started = True
        info = hub.start(username=username, server_name=workspace.server_name, options=start.options)
    except PortalError as exc:
        if isinstance(exc, HubUnavailable):
            hubs.report_down(environment.name, exc.message, exc.reason)
        reason = exc.reason
        if isinstance(exc, (NotFound, HubLoginNeeded)):   # the hub does not know the user (any more): the launch's
            hubs.forget_user(environment, username)          # remembered "yes" is dropped, its sign-on comes first
            reason = HUB_LOGIN_NEEDED
        fail_start(session, workspace=workspace, reason=reason, message=exc.message)
        if started:     # a refused or failed start leaves its (stopped) named server at the hub: remove it
            _remove_quietly(hub, username=username, server_name=workspace.server_name)
        log.info("the hub did not start workspace %s (%s): %s", workspace.id, exc.reason, exc.message)
        return workspace
    # the row as committed now, locked until this answer is committed (a stop elsewhere waits for it)
    now_status = session.scalar(select(Workspace.status).where(Workspace.id == workspace.id).with_for_update())
    if now_status is not WorkspaceStatus.STARTING:
        session.refresh(workspace)
        # stopped (or failed by the background sync) while the hub started it, from another process or after a
        # stop's wait ran out: the hub's answer must not mark it running again; the server it started is stopped
        log.info("workspace %s became %s while its hub started it: stopping that server", workspace.id,
                 workspace.status.value)
        try:
            hub.stop(username=username, server_name=workspace.server_name,
                     remove=workspace.status is WorkspaceStatus.DELETED)
        except PortalError as exc:      # best effort: the background sync finds a server the portal did not want
            log.warning("could not stop server %s of %s: %s", workspace.server_name, username, exc.message)
        return workspace
    apply_server_info(session, workspace=workspace, info=info)
    return workspace


def fail_start(session: Session, *, workspace: Workspace, reason: str, message: str) -> None:
    """A starting workspace's start was refused or failed at the hub: record it with the hub's reason and message."""
    if workspace.status is not WorkspaceStatus.STARTING:
        return
    workspace.status, workspace.url = WorkspaceStatus.FAILED, None
    workspace.status_message = message or "the hub could not start the server"
    register.record(session, action=RegisterAction.WORKSPACE_FAILED, workspace=workspace, actor=None,
                    details={"message": workspace.status_message, "reason": reason})
    session.flush()
    metering.meter(session, workspace=workspace)


def failure_reason(session: Session, *, workspace: Workspace) -> str:
    """Why a failed workspace failed, as a machine reason (from its last ``workspace-failed`` register entry);
    ``start-failed`` when the entry names none (a start that failed while the hub ran it)."""
    details = session.scalar(select(RegisterEntry.details)
                             .where(RegisterEntry.workspace_id == workspace.id,
                                    RegisterEntry.action == RegisterAction.WORKSPACE_FAILED)
                             .order_by(RegisterEntry.id.desc()).limit(1))
    reason = details.get("reason") if isinstance(details, dict) else None
    return reason if isinstance(reason, str) and reason else "start-failed"
