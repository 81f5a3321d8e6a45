"""Background starts (issue 13: feedback at once): the launch request answers as soon as the portal's own checks
pass and the workspace is stored in ``starting``; the hub is asked afterwards, on one of the start threads of
:class:`~gereedschapskist.portal.workspace_hub.Hubs`, in a database session of its own, so the start outlives the
request. A portal that stops while a start is handed over finishes it first (``Hubs.close``); one that dies leaves
the workspace ``starting`` with no server at the hub, which the background sync marks failed after
``START_GRACE_SECONDS`` (``services/workspaces.py``)."""

from __future__ import annotations

from .services.hub_start import start_at_hub
from .services.workspaces import HubStart
from .state import PortalState


def run_start(state: PortalState, start: HubStart) -> None:
    """The hub's half of one launch, committed (runs on a start thread)."""
    with state.sessions() as session:
        start_at_hub(session, hubs=state.hubs, start=start)
        session.commit()


def submit(state: PortalState, start: HubStart) -> None:
    """Hand one committed launch to the hub in the background."""
    state.hubs.submit_start(start.workspace_id, lambda: run_start(state, start))
