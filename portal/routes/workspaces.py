"""Workspace pages: launch (a form post), my workspaces, one workspace with live progress, open; its lifecycle:
stop and delete (each after a confirmation page, which works without JavaScript), restart, name.

**A first launch passes the hub's single sign-on.** The hub takes users and groups from the issuer when they log
in there, so a launch for someone the hub does not know yet is refused with ``hub-login-needed``. The launch
page then keeps the choice in the (server-side) session under a one-time marker and sends the browser through
the hub's login (no second password: the issuer knows the user from the portal's login) back to
``/workspaces/resume?launch=<marker>``. That page shows the same choice as a form with the session's CSRF
token, which ``static/resume.js`` submits (without JavaScript the user presses the button): a workspace is
only ever started by a CSRF-checked POST, and the resume page only shows a choice this session posted itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from .. import starts
from ..deps import (
    CatalogueDep, CsrfForm, CurrentPrincipal, CurrentUser, HubsDep, RequestDbDep, SessionDep, SettingsDep, StateDep,
    WorkspaceDep,
)
from ..errors import Forbidden, HubLoginNeeded, InvalidInput, PortalError
from ..models import WorkspaceStatus
from ..models.workspace import NAME_MAX
from ..services import hub_start, lifecycle
from ..services import usage_view
from ..services import workspaces as workspace_service
from ..services.environments import list_environments
from ..sessions import read_alone
from . import resume
from .home import safe_next
from .rendering import render

router = APIRouter(include_in_schema=False)


def hub_problems(hubs: HubsDep, environments: list) -> list[str]:
    """The reasons of the hubs that do not answer (pages show their texts; the messages name internal addresses)."""
    return [status.reason or "hub-unavailable" for env in environments if not (status := hubs.status(env)).available]


@router.get("/workspaces", name="workspaces")
async def my_workspaces(request: Request, user: CurrentPrincipal, db: RequestDbDep, hubs: HubsDep):
    # the user's workspaces were read with the session row, in the session's hop (workspace_service.READ_AHEAD)
    return await db.run(_my_workspaces, request, user, db.session, hubs, db.read_ahead(user))   # one thread hop


def _my_workspaces(request: Request, user: CurrentPrincipal, session: Session, hubs: HubsDep, items: list | None):
    # the reads need no transaction (no BEGIN/ROLLBACK round trips, no thread hop to end one: issue 13); what the
    # hubs say is written in a transaction of its own, and each commit hands the connection back in this thread.
    # The workspaces are plain rows (no ORM objects); only those a hub is asked about are loaded to be synced.
    if items is None:
        read_alone(session)
        items = workspace_service.list_mine_rows(session, user=user)
    mine = workspace_service.row_environments(items)
    if not mine:
        read_alone(session)
    environments = mine or {e.name: e for e in list_environments(session)}
    session.commit()
    problems = hub_problems(hubs, list(environments.values()))
    hub_only: list[tuple[str, str]] = []
    if not problems:
        refreshed = workspace_service.refresh_rows(session, hubs=hubs, rows=items)
        if refreshed:
            session.commit()                    # what the hubs said, in a transaction of its own
        read_alone(session)
        if refreshed:
            items = workspace_service.list_mine_rows(session, user=user)     # as the hubs left them
        hub_only = workspace_service.hub_only_servers(
            session, hubs=hubs, user=user,
            environments=workspace_service.user_environments(session, user=user, environments=mine))
        session.commit()
    return render(request, "workspaces.html", user=user, workspaces=items, problems=problems, hub_only=hub_only,
                  active=[w for w in items if w.status.active], history=workspace_service.history(items))


@router.post("/workspaces/hub-servers/remove", name="remove_hub_server", dependencies=[CsrfForm])
def remove_hub_server(user: CurrentUser, session: SessionDep, hubs: HubsDep,
                      environment: Annotated[str, Form()], server: Annotated[str, Form()]):
    """Remove one of the user's own hub servers the portal does not know (listed on "my workspaces")."""
    workspace_service.remove_hub_server(session, hubs=hubs, user=user, environment_name=environment,
                                        server_name=server)
    return RedirectResponse("/workspaces", status_code=303)


#: The session key of a launch waiting for the hub's single sign-on: the choice and its one-time marker.
PENDING_LAUNCH = "pending_launch"
RESUME_PATH = "/workspaces/resume"


@router.post("/workspaces", name="launch", dependencies=[CsrfForm])
def launch(request: Request, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep, hubs: HubsDep,
           settings: SettingsDep, state: StateDep, bundle: Annotated[str, Form()], size: Annotated[str | None, Form()] = None,
           interface: Annotated[str | None, Form()] = None, organisation: Annotated[str | None, Form()] = None,
           resumed: Annotated[str | None, Form()] = None):
    choice = {"bundle": bundle, "size": size or None, "interface": interface or None,
              "organisation": organisation or None}
    request.session.pop(PENDING_LAUNCH, None)
    try:
        launched = workspace_service.launch_workspace(session, catalogue=catalogue, hubs=hubs, user=user,
                                                       bundle_id=bundle, size_id=choice["size"],
                                                       interface=choice["interface"],
                                                       organisation=choice["organisation"],
                                                       require_contract=settings.require_contract)
    except HubLoginNeeded as needed:    # the hub's sign-on, then the resume page (a resumed launch: a click first)
        return resume.to_hub_login(request, user=user, needed=needed, key=PENDING_LAUNCH, resume_path=RESUME_PATH,
                                   parameter="launch", posted=choice, resumed=resumed)
    session.commit()
    starts.submit(state, launched.start)        # the hub is asked after this answer (issue 13: feedback at once)
    return RedirectResponse(f"/workspaces/{launched.start.workspace_id}", status_code=303)


@router.get(RESUME_PATH, name="resume_launch")
def resume_launch(request: Request, user: CurrentUser, catalogue: CatalogueDep, launch: str | None = None):
    """Back from the hub's single sign-on: the launch this session asked for, as a form to confirm (submitted by
    ``static/resume.js``). Anything else — no launch waiting, another marker — goes to "my workspaces"."""
    pending = resume.remembered(request, key=PENDING_LAUNCH, marker=launch)
    if pending is None:
        return RedirectResponse("/workspaces", status_code=303)
    return render(request, "resume.html", user=user, pending=pending, bundle=catalogue.bundles.get(pending["bundle"]))


@router.get("/workspaces/{workspace_id}", name="workspace")
def workspace_page(request: Request, workspace: WorkspaceDep, user: CurrentUser, session: SessionDep,
                   hubs: HubsDep, catalogue: CatalogueDep):
    status = hubs.status(workspace.environment)
    if status.available and workspace_service.to_ask(hubs, [workspace]):   # a running one may have died: ask (defect 8)
        workspace_service.refresh(session, hubs=hubs, workspaces=[workspace])
        session.commit()
    return render(request, "workspace.html", user=user, workspace=workspace, hub_status=status,
                  bundle=catalogue.bundles.get(workspace.bundle_id), name_max=NAME_MAX,
                  usage=usage_view.usage_view(session, hubs=hubs, catalogue=catalogue, workspace=workspace)
                  if status.available else None, stopped_by_hub=lifecycle.stopped_by_hub(session, workspace),
                  failure_reason=hub_start.failure_reason(session, workspace=workspace)
                  if workspace.status is WorkspaceStatus.FAILED else None,
                  # reloaded by the page's own script when the start it showed ended: keep saying it is ready
                  just_ready=workspace.status is WorkspaceStatus.RUNNING and request.query_params.get("ready") == "1")


@router.get("/workspaces/{workspace_id}/open", name="open_workspace")
def open_workspace(workspace: WorkspaceDep, user: CurrentUser, hubs: HubsDep):
    if workspace.user_id != user.id:
        raise Forbidden("only the workspace's own user can open it", reason="not-yours")
    if workspace.status is not WorkspaceStatus.RUNNING or not workspace.url:
        return RedirectResponse(f"/workspaces/{workspace.id}", status_code=303)
    return RedirectResponse(hubs.for_environment(workspace.environment).open_url(workspace.url), status_code=303)


def _confirm_page(request: Request, *, user, workspace, catalogue, action: str, error: PortalError | None = None,
                  reason: str | None = None, next: str | None = None):
    """The confirmation of a stop or a delete: a page with a form (no JavaScript needed), CSRF-protected."""
    return render(request, "workspace_confirm.html", user=user, workspace=workspace, action=action, error=error,
                  reason=reason or "", next=safe_next(next, f"/workspaces/{workspace.id}"),
                  bundle=catalogue.bundles.get(workspace.bundle_id),
                  home_per_workspace=lifecycle.home_is_per_workspace(workspace),
                  status_code=error.status if error else 200)


@router.get("/workspaces/{workspace_id}/stop", name="confirm_stop")
def confirm_stop(request: Request, workspace: WorkspaceDep, user: CurrentUser, catalogue: CatalogueDep,
                 next: str | None = None):
    """Confirm before stopping; someone else than the owner (an admin) says why there."""
    return _confirm_page(request, user=user, workspace=workspace, catalogue=catalogue, action="stop", next=next)


@router.post("/workspaces/{workspace_id}/stop", name="stop_workspace", dependencies=[CsrfForm])
def stop(request: Request, workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, hubs: HubsDep,
         catalogue: CatalogueDep, next: Annotated[str | None, Form()] = None,
         confirm: Annotated[str | None, Form()] = None, reason: Annotated[str | None, Form()] = None):
    if confirm != "yes":       # not from the confirmation: show it
        return _confirm_page(request, user=user, workspace=workspace, catalogue=catalogue, action="stop",
                             reason=reason, next=next)
    try:
        lifecycle.stop_workspace(session, hubs=hubs, workspace=workspace, actor=user, reason=reason)
    except InvalidInput as invalid:
        return _confirm_page(request, user=user, workspace=workspace, catalogue=catalogue, action="stop",
                             error=invalid, reason=reason, next=next)
    session.commit()
    return RedirectResponse(safe_next(next, f"/workspaces/{workspace.id}"), status_code=303)


@router.post("/workspaces/{workspace_id}/restart", name="restart_workspace", dependencies=[CsrfForm])
def restart(workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, hubs: HubsDep, catalogue: CatalogueDep):
    """Start a stopped workspace again (the same named server, so the same home folder)."""
    lifecycle.restart_workspace(session, catalogue=catalogue, hubs=hubs, workspace=workspace, actor=user)
    session.commit()
    return RedirectResponse(f"/workspaces/{workspace.id}", status_code=303)


@router.post("/workspaces/{workspace_id}/name", name="rename_workspace", dependencies=[CsrfForm])
def rename(workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, name: Annotated[str, Form()] = ""):
    lifecycle.rename_workspace(session, workspace=workspace, actor=user, name=name)
    session.commit()
    return RedirectResponse(f"/workspaces/{workspace.id}", status_code=303)


@router.get("/workspaces/{workspace_id}/delete", name="confirm_delete")
def confirm_delete(request: Request, workspace: WorkspaceDep, user: CurrentUser, catalogue: CatalogueDep):
    """Confirm before deleting: the page says what goes (the named server; in a cloud environment its home folder)."""
    if workspace.user_id != user.id:
        raise Forbidden("only the workspace's own user can delete it", reason="not-yours")
    return _confirm_page(request, user=user, workspace=workspace, catalogue=catalogue, action="delete")


@router.post("/workspaces/{workspace_id}/delete", name="delete_workspace", dependencies=[CsrfForm])
def delete(request: Request, workspace: WorkspaceDep, user: CurrentUser, session: SessionDep, hubs: HubsDep,
           catalogue: CatalogueDep, confirm: Annotated[str | None, Form()] = None):
    try:
        lifecycle.delete_workspace(session, hubs=hubs, workspace=workspace, actor=user, confirm=confirm == "yes")
    except InvalidInput as invalid:     # the box was not ticked: the confirmation again, saying so
        return _confirm_page(request, user=user, workspace=workspace, catalogue=catalogue, action="delete",
                             error=invalid)
    session.commit()
    return RedirectResponse("/workspaces", status_code=303)
