"""Workspaces as JSON: launch, list mine, one, live progress (server-sent events), stop."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import Response, StreamingResponse
from pydantic import TypeAdapter

from ..deps import CatalogueDep, CsrfHeader, CurrentUser, HubsDep, SessionDep, StateDep, WorkspaceDep
from ..progress import relay
from ..services import workspaces as workspace_service
from .schemas import ERRORS, HUB_ERRORS, LaunchIn, WorkspaceOut

router = APIRouter(tags=["workspaces"])


@router.get("/workspaces", response_model=list[WorkspaceOut], responses=ERRORS, summary="My workspaces")
def my_workspaces(user: CurrentUser, session: SessionDep) -> Response:
    """Your active workspaces and your most recent ended ones, newest first."""
    items = [WorkspaceOut.of(w) for w in workspace_service.list_mine(session, user=user)]
    return Response(_WORKSPACE_LIST.dump_json(items), media_type="application/json")


_WORKSPACE_LIST = TypeAdapter(list[WorkspaceOut])


@router.post("/workspaces", response_model=WorkspaceOut, status_code=status.HTTP_202_ACCEPTED,
             responses={**ERRORS, **HUB_ERRORS}, dependencies=[CsrfHeader], summary="Launch a workspace")
def launch(body: LaunchIn, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
           hubs: HubsDep) -> WorkspaceOut:
    """Checks the catalogue's role rule, then asks your organisation's hub to start the bundle. Follow
    ``progress_url`` for live progress. A refused launch (4xx) or an unavailable hub (503) starts and stores
    nothing; a start the hub accepted but that failed at once comes back as a workspace with status
    ``failed`` and the hub's message."""
    workspace = workspace_service.launch_workspace(session, catalogue=catalogue, hubs=hubs, user=user,
                                                   bundle_id=body.bundle, size_id=body.size,
                                                   interface=body.interface, organisation=body.organisation)
    session.commit()
    return WorkspaceOut.of(workspace)


@router.get("/workspaces/{workspace_id}", response_model=WorkspaceOut, responses=ERRORS, summary="One workspace")
def workspace(workspace: WorkspaceDep, session: SessionDep, hubs: HubsDep) -> WorkspaceOut:
    if workspace_service.in_transition([workspace]):
        workspace_service.refresh(session, hubs=hubs, workspaces=[workspace])
        session.commit()
    return WorkspaceOut.of(workspace)


@router.get("/workspaces/{workspace_id}/progress", responses={
    **ERRORS, 200: {"content": {"text/event-stream": {}},
                    "description": "server-sent events: progress…, then one of ready, failed, status, unavailable"}},
    response_class=StreamingResponse, summary="Live start progress (server-sent events)")
def progress(workspace: WorkspaceDep, state: StateDep) -> StreamingResponse:
    """Relays the hub's progress stream. Each event's data is JSON with ``status``, ``progress`` (0–100) and
    ``message``; ``ready`` carries ``open_url``."""
    stream = relay(state, workspace_id=workspace.id, username=workspace.user.username,
                   server_name=workspace.server_name, status=workspace.status,
                   status_message=workspace.status_message, environment=workspace.environment)
    return StreamingResponse(stream, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/workspaces/{workspace_id}/stop", response_model=WorkspaceOut, responses={**ERRORS, **HUB_ERRORS},
             dependencies=[CsrfHeader], summary="Stop a workspace")
def stop(workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, hubs: HubsDep) -> WorkspaceOut:
    """Your own workspace, or (as organisation admin) one of your organisation's."""
    workspace_service.stop_workspace(session, hubs=hubs, workspace=workspace, actor=user)
    session.commit()
    return WorkspaceOut.of(workspace)
