"""The background sync: bring every active workspace in line with its hub, in one hub request per environment.

Each pass asks each environment's hub for *all* users' running and pending servers (``active_servers``). A
workspace the hub reports gets that state; a workspace the portal thinks active but the hub does not list
(its server died, was culled, or the hub restarted without it) is looked up once more per user, so that the
exact end — stopped, failed before it was ready, or gone — is recorded the way a page view would record it.
So a pass costs one request per environment in the common case, whatever the number of users, and the
portal can afford one every few seconds: a workspace that died shows as stopped within
``RECONCILE_INTERVAL_SECONDS`` (issue 12, defect 8).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from ..models import ACTIVE_STATUSES, Workspace
from ..workspace_hub import Hubs, HubUnavailable
from . import workspaces as workspace_service


def sync_active(session: Session, *, hubs: Hubs, workspaces: list[Workspace]) -> set[str]:
    """Sync these workspaces (the active ones are looked at); return the names of the environments whose hub
    did not answer."""
    by_environment: dict[int, list[Workspace]] = defaultdict(list)
    for workspace in workspaces:
        if workspace.status in ACTIVE_STATUSES:
            by_environment[workspace.environment_id].append(workspace)
    down: set[str] = set()
    for items in by_environment.values():
        environment = items[0].environment
        try:
            active = hubs.for_environment(environment).active_servers()
        except HubUnavailable:
            down.add(environment.name)
            continue
        unlisted = []
        for workspace in items:
            info = active.get(workspace.user.username, {}).get(workspace.server_name)
            if info is None:
                unlisted.append(workspace)
            else:
                workspace_service.apply_server_info(session, workspace=workspace, info=info)
        down |= workspace_service.refresh(session, hubs=hubs, workspaces=unlisted)
    return down
