"""Workspace pages: launch (a form post), my workspaces, one workspace with live progress, open, stop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from ..deps import CatalogueDep, CsrfForm, CurrentUser, HubsDep, SessionDep, WorkspaceDep
from ..errors import Forbidden
from ..models import WorkspaceStatus
from ..services import workspaces as workspace_service
from ..services.environments import list_environments
from .home import safe_next
from .rendering import render

router = APIRouter(include_in_schema=False)


def hub_problems(hubs: HubsDep, environments: list) -> list[str]:
    return [status.message for env in environments if not (status := hubs.status(env)).available]


@router.get("/workspaces", name="workspaces")
def my_workspaces(request: Request, user: CurrentUser, session: SessionDep, hubs: HubsDep):
    items = workspace_service.list_mine(session, user=user)
    environments = {w.environment.name: w.environment for w in items} or \
        {e.name: e for e in list_environments(session)}
    problems = hub_problems(hubs, list(environments.values()))
    if not problems:
        workspace_service.refresh(session, hubs=hubs, workspaces=workspace_service.in_transition(items))
        session.commit()
    return render(request, "workspaces.html", user=user, workspaces=items, problems=problems)


@router.post("/workspaces", name="launch", dependencies=[CsrfForm])
def launch(user: CurrentUser, session: SessionDep, catalogue: CatalogueDep, hubs: HubsDep,
           bundle: Annotated[str, Form()], size: Annotated[str | None, Form()] = None,
           interface: Annotated[str | None, Form()] = None, organisation: Annotated[str | None, Form()] = None):
    workspace = workspace_service.launch_workspace(session, catalogue=catalogue, hubs=hubs, user=user,
                                                   bundle_id=bundle, size_id=size or None,
                                                   interface=interface or None, organisation=organisation or None)
    session.commit()
    return RedirectResponse(f"/workspaces/{workspace.id}", status_code=303)


@router.get("/workspaces/{workspace_id}", name="workspace")
def workspace_page(request: Request, workspace: WorkspaceDep, user: CurrentUser, session: SessionDep,
                   hubs: HubsDep, catalogue: CatalogueDep):
    status = hubs.status(workspace.environment)
    if status.available and workspace_service.in_transition([workspace]):
        workspace_service.refresh(session, hubs=hubs, workspaces=[workspace])
        session.commit()
    return render(request, "workspace.html", user=user, workspace=workspace, hub_status=status,
                  bundle=catalogue.bundles.get(workspace.bundle_id))


@router.get("/workspaces/{workspace_id}/open", name="open_workspace")
def open_workspace(workspace: WorkspaceDep, user: CurrentUser, hubs: HubsDep):
    if workspace.user_id != user.id:
        raise Forbidden("only the workspace's own user can open it", reason="not-yours")
    if workspace.status is not WorkspaceStatus.RUNNING or not workspace.url:
        return RedirectResponse(f"/workspaces/{workspace.id}", status_code=303)
    return RedirectResponse(hubs.for_environment(workspace.environment).open_url(workspace.url), status_code=303)


@router.post("/workspaces/{workspace_id}/stop", name="stop_workspace", dependencies=[CsrfForm])
def stop(workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, hubs: HubsDep,
         next: Annotated[str | None, Form()] = None):
    workspace_service.stop_workspace(session, hubs=hubs, workspace=workspace, actor=user)
    session.commit()
    return RedirectResponse(safe_next(next, f"/workspaces/{workspace.id}"), status_code=303)
