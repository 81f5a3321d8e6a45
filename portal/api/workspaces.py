"""Workspaces as JSON: launch, list mine, one, live progress (server-sent events); the lifecycle: stop, restart,
name, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy.orm import Session

from ..deps import (
    CatalogueDep, CsrfHeader, CurrentPrincipal, CurrentUser, HubsDep, RequestDbDep, SessionDep, SettingsDep, StateDep,
    WorkspaceDep,
)
from ..models.workspace import NAME_MAX
from .. import starts
from ..progress import relay
from ..sessions import read_alone
from ..services import lifecycle
from ..services import workspaces as workspace_service
from .schemas import API_PREFIX, ERRORS, HUB_ERRORS, LaunchIn, WorkspaceOut

router = APIRouter(prefix=API_PREFIX, tags=["workspaces"])


@router.get("/workspaces", response_model=list[WorkspaceOut], responses=ERRORS, summary="My workspaces")
async def my_workspaces(user: CurrentPrincipal, db: RequestDbDep) -> Response:
    """Your active workspaces and your most recent ended ones, newest first."""
    rows = db.read_ahead(user)      # read with the session row, in the session's hop (workspace_service.READ_AHEAD)
    if rows is not None:
        return _listing(user, rows)     # no hop: a few rows (the active ones and the last ended ones) as JSON
    return await db.run(_my_workspaces, user, db.session)     # one thread hop for the route (RequestDb.run)


def _my_workspaces(user: CurrentPrincipal, session: Session) -> Response:
    read_alone(session)     # a read alone: no BEGIN/ROLLBACK round trips, no thread hop to end it (issue 13)
    rows = workspace_service.list_mine_rows(session, user=user)
    session.commit()
    return _listing(user, rows)


def _listing(user: CurrentPrincipal, rows: list) -> Response:
    items = [WorkspaceOut.of_row(w, owner=user.username) for w in rows]
    return Response(_WORKSPACE_LIST.dump_json(items), media_type="application/json")


_WORKSPACE_LIST = TypeAdapter(list[WorkspaceOut])


@router.post("/workspaces", response_model=WorkspaceOut, status_code=status.HTTP_202_ACCEPTED,
             responses={**ERRORS, **HUB_ERRORS}, dependencies=[CsrfHeader], summary="Launch a workspace")
def launch(body: LaunchIn, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
           hubs: HubsDep, settings: SettingsDep, state: StateDep) -> WorkspaceOut:
    """Checks the catalogue's role rule, your organisation's contract and that the hub knows you, stores the
    workspace in ``starting`` and answers at once (202); the hub is asked to start it right after. Follow
    ``progress_url`` for live progress. A launch the portal refuses (4xx) or an unavailable hub (503) starts and
    stores nothing. A refusal or failure at the hub after the answer (its launch rule, its server limit, a start
    that failed) makes the workspace ``failed``, with the hub's message: the progress stream ends with ``failed``
    and its machine ``reason``. A member of an organisation under a standard contract launches only while it is
    active, with its bundles and sizes (refusals ``no-contract``, ``contract-not-active``, ``contract-suspended``,
    ``contract-ended``, ``bundle-not-in-contract``, ``size-not-in-contract``)."""
    launched = workspace_service.launch_workspace(session, catalogue=catalogue, hubs=hubs, user=user,
                                                  bundle_id=body.bundle, size_id=body.size,
                                                  interface=body.interface, organisation=body.organisation,
                                                  require_contract=settings.require_contract)
    session.commit()
    answer = WorkspaceOut.of(launched.workspace)       # as stored: starting; the hub is asked after this
    starts.submit(state, launched.start)
    return answer


@router.get("/workspaces/{workspace_id}", response_model=WorkspaceOut, responses=ERRORS, summary="One workspace")
def workspace(workspace: WorkspaceDep, session: SessionDep, hubs: HubsDep) -> WorkspaceOut:
    # a running one may have died: ask its hub (defect 8), unless the hub was just found down (no wait on a hung hub)
    if workspace_service.to_ask(hubs, [workspace]) and hubs.status(workspace.environment).available:
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


class StopIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=lifecycle.REASON_MAX,
                               description="why you stop it; required when it is not your own workspace (the "
                                           "owner reads it)", examples=["runs a job outside office hours"])


class RenameIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(description=f"your name for it (at most {NAME_MAX} characters); empty or null: none",
                             examples=["kwartaalcijfers"])


@router.post("/workspaces/{workspace_id}/stop", response_model=WorkspaceOut, responses={**ERRORS, **HUB_ERRORS},
             dependencies=[CsrfHeader], summary="Stop a workspace")
def stop(workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, hubs: HubsDep,
         body: StopIn | None = None) -> WorkspaceOut:
    """Your own workspace, or (as organisation or platform admin) one of your organisation's — then with a
    ``reason`` (422 ``reason-required`` without one), shown to its owner with your name. The hub keeps the stopped
    server, so a restart gets the same home folder. 409 ``not-active`` when it is not running."""
    lifecycle.stop_workspace(session, hubs=hubs, workspace=workspace, actor=user, reason=body.reason if body else None)
    session.commit()
    return WorkspaceOut.of(workspace)


@router.post("/workspaces/{workspace_id}/restart", response_model=WorkspaceOut, status_code=status.HTTP_202_ACCEPTED,
             responses={**ERRORS, **HUB_ERRORS}, dependencies=[CsrfHeader], summary="Restart a stopped workspace")
def restart(workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, hubs: HubsDep,
            catalogue: CatalogueDep) -> WorkspaceOut:
    """Your own stopped (or failed) workspace, started again as the same named server at the hub — with the same
    home folder — and the bundle's current version, under the role rule as it is now. Follow ``progress_url``.
    409 ``not-ended`` when it is not stopped; 403 for someone else's."""
    lifecycle.restart_workspace(session, catalogue=catalogue, hubs=hubs, workspace=workspace, actor=user)
    session.commit()
    return WorkspaceOut.of(workspace)


@router.patch("/workspaces/{workspace_id}", response_model=WorkspaceOut, responses=ERRORS,
              dependencies=[CsrfHeader], summary="Name a workspace")
def rename(workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, body: RenameIn) -> WorkspaceOut:
    """Give your own workspace a name (422 ``invalid-name`` for one too long or with control characters)."""
    lifecycle.rename_workspace(session, workspace=workspace, actor=user, name=body.name)
    session.commit()
    return WorkspaceOut.of(workspace)


@router.delete("/workspaces/{workspace_id}", response_model=WorkspaceOut, responses={**ERRORS, **HUB_ERRORS},
               dependencies=[CsrfHeader], summary="Delete a stopped workspace")
def delete(workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, hubs: HubsDep,
           confirm: Annotated[bool, Query(description="must be true: the named server is removed at the hub and, "
                                                      "in a cloud environment, its home folder with every file "
                                                      "in it; this cannot be undone")] = False) -> WorkspaceOut:
    """Your own stopped (or failed) workspace: its named server is removed at the hub. Without ``confirm=true``
    nothing happens (422 ``confirmation-required``); 409 ``not-ended`` while it runs. The workspace stays listed
    in the register, with status ``deleted``."""
    lifecycle.delete_workspace(session, hubs=hubs, workspace=workspace, actor=user, confirm=confirm)
    session.commit()
    return WorkspaceOut.of(workspace)
