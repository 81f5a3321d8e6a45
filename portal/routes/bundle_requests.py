"""Requesting a bundle, the pages (supply model d): the form, with every problem shown at its field — as the user
types (``static/bundle_request.js`` posts the form to ``/bundle-requests/check`` and shows what comes back) and,
without JavaScript, after submitting; a request's page with its state, the drafted file and its pull request (a
link to GitHub's, or the local branch and the text); platform admins mark it merged or rejected."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from ..deps import CatalogueDep, CsrfForm, CurrentUser, SessionDep, SettingsDep
from ..errors import Conflict, InvalidInput, PortalError
from ..models import User
from ..services import bundle_requests as service
from .rendering import language, render

router = APIRouter(include_in_schema=False)
DONE = {"requested", "merged", "rejected", "retried"}
Text = Annotated[str, Form(max_length=4000)]


def _data(title: str, role: str, packages: str, interfaces: list[str], sizes: str, why: str) -> dict:
    return {"title": title, "role": role, "packages": packages, "interfaces": interfaces, "sizes": sizes, "why": why}


def _list(request: Request, session, *, user: User, catalogue, entered: dict | None = None,
          problems: dict | None = None, problem: PortalError | None = None, status_code: int = 200):
    return render(request, "bundle_requests.html", user=user, requests=service.visible_to(session, user=user),
                  roles=sorted(catalogue.roles), interfaces=service.INTERFACES, entered=entered or {},
                  problems=problems or {}, problem=problem, status_code=status_code,
                  may_request=bool(user.active_memberships()),
                  organisations=[m.organisation for m in user.active_memberships()])


@router.get("/bundle-requests", name="bundle_requests")
def bundle_requests(request: Request, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep):
    return _list(request, session, user=user, catalogue=catalogue)


@router.post("/bundle-requests/check", name="check_bundle_request", dependencies=[CsrfForm])
def check_bundle_request(request: Request, user: CurrentUser, catalogue: CatalogueDep, title: Text = "",
                         role: Text = "", packages: Text = "",
                         interfaces: Annotated[list[str], Form()] = [],  # noqa: B006
                         sizes: Text = "", why: Text = ""):
    """The draft and its problems by field, in the page's language, as JSON, for the form's script (nothing is
    stored)."""
    draft = service.check(catalogue, data=_data(title, role, packages, interfaces, sizes, why), requester=user,
                          language=language(request))
    return JSONResponse(draft.to_json())


@router.post("/bundle-requests", name="request_bundle", dependencies=[CsrfForm])
def request_bundle(request: Request, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
                   settings: SettingsDep, title: Text = "", role: Text = "", packages: Text = "",
                   interfaces: Annotated[list[str], Form()] = [],  # noqa: B006
                   sizes: Text = "", why: Text = "", organisation: Annotated[str, Form(max_length=64)] = ""):
    data = _data(title, role, packages, interfaces, sizes, why)
    try:
        row = service.create(session, catalogue=catalogue, requester=user, data=data,
                             organisation=organisation or None, language=language(request))
    except service.BundleRequestRefused as refused:
        session.rollback()
        return _list(request, session, user=user, catalogue=catalogue, entered=data, problems=refused.problems,
                     status_code=422)
    except (InvalidInput, Conflict) as problem:
        session.rollback()
        return _list(request, session, user=user, catalogue=catalogue, entered=data, problem=problem,
                     status_code=problem.status)
    session.commit()
    service.open_pull_request(session, row=row, catalogue=catalogue, settings=settings, actor=user)
    session.commit()
    return RedirectResponse(f"/bundle-requests/{row.id}?done=requested", status_code=303)


def _page(request: Request, session, *, user: User, row, problem: PortalError | None = None,
          status_code: int = 200):
    done = request.query_params.get("done")
    return render(request, "bundle_request.html", user=user, row=row, problem=problem, status_code=status_code,
                  done=done if done in DONE else None, pr_text=service.pull_request_text(row))


@router.get("/bundle-requests/{request_id}", name="bundle_request")
def bundle_request(request: Request, request_id: int, user: CurrentUser, session: SessionDep, settings: SettingsDep):
    row = service.get_request(session, request_id=request_id, user=user)
    service.follow_github(session, row=row, settings=settings)
    session.commit()
    return _page(request, session, user=user, row=row)


@router.post("/bundle-requests/{request_id}/pull-request", name="retry_bundle_request", dependencies=[CsrfForm])
def retry(request: Request, request_id: int, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
          settings: SettingsDep):
    row = service.get_request(session, request_id=request_id, user=user)
    try:
        service.open_pull_request(session, row=row, catalogue=catalogue, settings=settings, actor=user)
    except Conflict as problem:
        session.rollback()
        return _page(request, session, user=user, row=row, problem=problem, status_code=problem.status)
    session.commit()
    return RedirectResponse(f"/bundle-requests/{row.id}?done=retried", status_code=303)


@router.post("/bundle-requests/{request_id}/status", name="mark_bundle_request", dependencies=[CsrfForm])
def mark(request: Request, request_id: int, user: CurrentUser, session: SessionDep,
         state: Annotated[str, Form(max_length=32)] = "", reason: Annotated[str, Form(max_length=2000)] = ""):
    row = service.get_request(session, request_id=request_id, user=user)
    try:
        service.mark(session, row=row, actor=user, state=state, reason=reason)
    except (InvalidInput, Conflict) as problem:
        session.rollback()
        return _page(request, session, user=user, row=row, problem=problem, status_code=problem.status)
    session.commit()
    return RedirectResponse(f"/bundle-requests/{row.id}?done={row.state.value}", status_code=303)
