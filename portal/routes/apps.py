"""Published apps and dashboards, the pages (issue 17, section 1): the list with the publish form, one app's page
(open, log, stop, unpublish, versions and rollback), and ``/apps/<id>/open``: straight to a running app, or — when
the idle culler stopped it — a "starting" page that asks the hub to start it and forwards once it answers
(``static/app_starting.js`` asks ``/apps/<id>/status``; without JavaScript the page refreshes itself)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from ..deps import CatalogueDep, CsrfForm, CurrentUser, HubsDep, SessionDep
from ..errors import HubLoginNeeded, PortalError
from ..models import User
from ..services import apps as service
from ..services.identity import hub_groups
from . import resume
from .rendering import render

router = APIRouter(include_in_schema=False)
DONE = {"published", "unpublished", "stopped", "rolled-back"}
FIELDS = ("title", "framework", "bundle", "entry", "workspace", "git", "commit", "audience", "audience_names")
Text = Annotated[str, Form(max_length=500)]


def _bundles(catalogue, user: User) -> list:
    """The bundles the user may start that pin an app framework, with those frameworks."""
    from gereedschapskist.core.apps import bundle_frameworks

    return [(b, bundle_frameworks(b)) for b in catalogue.offered_for(user.role_ids) if bundle_frameworks(b)]


def _list(request: Request, session, *, user: User, catalogue, hubs, entered: dict | None = None,
          problem: PortalError | None = None, status_code: int = 200):
    apps = service.visible(session, user=user)
    done = request.query_params.get("done")
    return render(request, "apps.html", user=user, apps=apps, bundles=_bundles(catalogue, user),
                  url=lambda app: service.url(hubs, app=app), may_manage=lambda app: service.may_manage(user, app),
                  entered=entered or {}, problem=problem, status_code=status_code,
                  done=done if done in DONE else None, groups=hub_groups(user),
                  workspaces=service.app_workspaces(session, user=user),
                  may_publish=bool(user.active_memberships()))


@router.get("/apps", name="apps")
def apps(request: Request, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep, hubs: HubsDep):
    """The list and the form; a link may fill the form in from its query."""
    entered = {name: request.query_params[name][:500] for name in FIELDS if name in request.query_params}
    return _list(request, session, user=user, catalogue=catalogue, hubs=hubs, entered=entered)


#: The session key of a publish waiting for the hub's single sign-on: the form as entered and its one-time marker.
PENDING_PUBLISH = "pending_publish"
RESUME_PATH = "/apps/resume"


@router.post("/apps", name="publish_app", dependencies=[CsrfForm])
def publish(request: Request, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep, hubs: HubsDep,
            title: Text = "", framework: Text = "", bundle: Text = "", entry: Text = "", workspace: Text = "",
            git: Text = "", commit: Text = "", audience: Text = "organisation",
            audience_names: Annotated[str, Form(max_length=4000)] = "", resumed: Text = ""):
    entered = {"title": title, "framework": framework, "bundle": bundle, "entry": entry, "workspace": workspace,
               "git": git, "commit": commit, "audience": audience, "audience_names": audience_names}
    request.session.pop(PENDING_PUBLISH, None)
    try:
        app = service.publish(session, catalogue=catalogue, hubs=hubs, user=user, title=title, framework=framework,
                              bundle_id=bundle, entry=entry, git=git, commit=commit, audience=audience,
                              audience_names=audience_names, workspace=workspace or None)
    except HubLoginNeeded as needed:
        # the hub's single sign-on, then back to a page that publishes what this session posted (one press of
        # "Publish", as a launch resumes after it); a resumed publish still refused asks for a click, no loop
        session.rollback()
        return resume.to_hub_login(request, user=user, needed=needed, key=PENDING_PUBLISH, resume_path=RESUME_PATH,
                                   parameter="publish", posted=entered, resumed=resumed)
    except PortalError as problem:
        session.rollback()
        return _list(request, session, user=user, catalogue=catalogue, hubs=hubs, entered=entered, problem=problem,
                     status_code=problem.status)
    session.commit()
    return RedirectResponse(f"/apps/{app.id}?done=published", status_code=303)


def _page(request: Request, *, user: User, app, hubs, problem: PortalError | None = None, status_code: int = 200,
          lines: list[str] | None = None, show_logs: bool = False):
    try:
        info = service.status(hubs, app=app)
        running = bool(info and info.ready)
    except PortalError:
        running = None
    done = request.query_params.get("done")
    return render(request, "app.html", user=user, app=app, url=service.url(hubs, app=app), running=running,
                  may_manage=service.may_manage(user, app), problem=problem, status_code=status_code,
                  done=done if done in DONE else None, lines=lines, show_logs=show_logs)


@router.get(RESUME_PATH, name="resume_publish")
def resume_publish(request: Request, user: CurrentUser, publish: str | None = None):
    """Back from the hub's single sign-on: the publish this session asked for, as a form to confirm (submitted by
    ``static/resume.js``). Anything else — nothing waiting, another marker — goes to the apps page."""
    pending = resume.remembered(request, key=PENDING_PUBLISH, marker=publish)
    if pending is None:
        return RedirectResponse("/apps", status_code=303)
    return render(request, "apps_resume.html", user=user, pending=pending, fields=FIELDS)


@router.get("/apps/{app_id}", name="app")
def app_page(request: Request, app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep):
    app = service.get_app(session, user=user, app_id=app_id)
    return _page(request, user=user, app=app, hubs=hubs)


@router.get("/apps/{app_id}/logs", name="app_logs")
def app_logs(request: Request, app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep):
    app = service.get_app(session, user=user, app_id=app_id, manage=True)
    return _page(request, user=user, app=app, hubs=hubs, lines=service.logs(hubs, app=app), show_logs=True)


@router.get("/apps/{app_id}/open", name="open_app")
def open_app(request: Request, app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep):
    """Straight to the app when it runs; else start it and show the "starting" page."""
    app = service.get_app(session, user=user, app_id=app_id)
    try:
        info = service.wake(session, hubs=hubs, user=user, app=app)
    except HubLoginNeeded as needed:    # the hub's single sign-on first, then back here
        return RedirectResponse(needed.login_url_to(f"/apps/{app.id}/open"), status_code=303)
    target = service.url(hubs, app=app)
    if info.ready:
        return RedirectResponse(target, status_code=303)
    return render(request, "app_starting.html", user=user, app=app, url=target)


@router.get("/apps/{app_id}/status", name="app_status")
def app_status(app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep):
    app = service.get_app(session, user=user, app_id=app_id)
    info = service.status(hubs, app=app)
    return JSONResponse({"ready": bool(info and info.ready), "pending": info.pending if info else None,
                         "url": service.url(hubs, app=app)})


def _manage(request: Request, app_id: int, user: User, session, hubs, action) -> object:
    app = service.get_app(session, user=user, app_id=app_id, manage=True)
    try:
        done = action(app)
    except PortalError as problem:
        session.rollback()
        return _page(request, user=user, app=app, hubs=hubs, problem=problem, status_code=problem.status)
    session.commit()
    if done == "unpublished":
        return RedirectResponse("/apps?done=unpublished", status_code=303)
    return RedirectResponse(f"/apps/{app.id}?done={done}", status_code=303)


@router.post("/apps/{app_id}/stop", name="stop_app", dependencies=[CsrfForm])
def stop(request: Request, app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep):
    return _manage(request, app_id, user, session, hubs, lambda app: service.stop(hubs, app=app) or "stopped")


@router.post("/apps/{app_id}/unpublish", name="unpublish_app", dependencies=[CsrfForm])
def unpublish(request: Request, app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep):
    return _manage(request, app_id, user, session, hubs,
                   lambda app: service.unpublish(session, hubs=hubs, user=user, app=app) or "unpublished")


@router.post("/apps/{app_id}/rollback", name="rollback_app", dependencies=[CsrfForm])
def rollback(request: Request, app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep):
    return _manage(request, app_id, user, session, hubs,
                   lambda app: service.rollback(session, hubs=hubs, user=user, app=app) or "rolled-back")
