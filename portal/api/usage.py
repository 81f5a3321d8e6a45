"""A workspace's live usage as JSON (the workspace page refreshes from it, ``static/usage.js``)."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import CatalogueDep, HubsDep, SessionDep, WorkspaceDep
from ..services import usage_view
from .schemas import API_PREFIX, ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["workspaces"])


@router.get("/workspaces/{workspace_id}/usage", responses=ERRORS, summary="A workspace's CPU and memory use")
def workspace_usage(workspace: WorkspaceDep, session: SessionDep, hubs: HubsDep, catalogue: CatalogueDep) -> dict:
    """CPU (percent of one CPU) and memory (bytes) now and at their peaks against the workspace's size, when it
    started, when the idle culler stops it (``idle_cull_at``) and whether its hub enforces sizes (``enforced``;
    null: the hub does not say). The peaks are kept after the workspace stops (for right-sizing advice)."""
    view = usage_view.usage_view(session, hubs=hubs, catalogue=catalogue, workspace=workspace, keep=True)
    session.commit()
    return view.as_json()
