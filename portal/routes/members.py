"""Roles and handover of one organisation (``/organisations/{slug}/roles``): the grants its admins make on top of the
issuer's roles, revoking them, handing a leaving member's workspaces to a colleague, and re-admitting a former
member. Who may: the page — the organisation's admins and platform admins (``OrganisationDep``); granting and
revoking — its admins only; a handover and a re-admission — its admins and platform admins (the services decide).

A refused form (bad input, a conflict) shows the page again with the problem and what was entered (status 422 or
409), so nothing typed is lost and nothing is stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from ..deps import CatalogueDep, CsrfForm, CurrentUser, HubsDep, OrganisationDep, SessionDep, StateDep
from ..errors import Conflict, InvalidInput, PortalError
from ..models import Organisation, User, utcnow
from ..services import grants as grant_service
from ..services import handover as handover_service
from ..services import organisations as organisation_service
from .rendering import render

router = APIRouter(include_in_schema=False)
#: The confirmations the page shows after a POST (``?done=…``); anything else is ignored.
DONE = {"granted", "revoked", "handover", "readmitted"}


def _page(request: Request, session, *, user: User, organisation: Organisation, status_code: int = 200,
          problem: PortalError | None = None, entered: dict | None = None):
    today = utcnow().date()
    current, ended = grant_service.organisation_grants(session, organisation=organisation)
    done = request.query_params.get("done")
    return render(request, "roles.html", user=user, organisation=organisation, status_code=status_code,
                  members=organisation_service.members(session, organisation=organisation),
                  grants=current, ended_grants=ended,
                  former=handover_service.ended_memberships(session, organisation=organisation),
                  may_grant=grant_service.is_admin_of(user, organisation),
                  may_hand_over=handover_service.may_hand_over(user, organisation),
                  today=today, default_until=today + timedelta(days=90),
                  max_until=today + timedelta(days=grant_service.MAX_GRANT_DAYS),
                  max_days=grant_service.MAX_GRANT_DAYS, problem=problem, entered=entered or {},
                  done=done if done in DONE else None, done_member=request.query_params.get("member", ""),
                  done_folder=request.query_params.get("folder", ""))


def _back(organisation: Organisation, done: str, **params: str) -> RedirectResponse:
    query = urlencode({"done": done, **{k: v for k, v in params.items() if v}})
    return RedirectResponse(f"/organisations/{organisation.slug}/roles?{query}", status_code=303)


@router.get("/organisations/{slug}/roles", name="organisation_roles")
def roles_page(request: Request, organisation: OrganisationDep, user: CurrentUser, session: SessionDep):
    return _page(request, session, user=user, organisation=organisation)


@router.post("/organisations/{slug}/grants", name="grant_role", dependencies=[CsrfForm])
def grant_role(request: Request, organisation: OrganisationDep, user: CurrentUser, session: SessionDep,
               catalogue: CatalogueDep, member: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
               until: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = ""):
    try:
        grant_service.grant_role(session, catalogue=catalogue, organisation=organisation, actor=user,
                                 username=member, role=role, until=until, reason=reason)
    except (InvalidInput, Conflict) as problem:
        session.rollback()
        return _page(request, session, user=user, organisation=organisation, status_code=problem.status,
                     problem=problem, entered={"member": member, "role": role, "until": until, "reason": reason})
    session.commit()
    return _back(organisation, "granted")


@router.post("/organisations/{slug}/grants/{grant_id}/revoke", name="revoke_grant", dependencies=[CsrfForm])
def revoke_grant(organisation: OrganisationDep, user: CurrentUser, session: SessionDep, grant_id: int):
    grant_service.revoke_grant(session, organisation=organisation, actor=user, grant_id=grant_id)
    session.commit()
    return _back(organisation, "revoked")


@router.post("/organisations/{slug}/handover", name="hand_over", dependencies=[CsrfForm])
def hand_over(request: Request, organisation: OrganisationDep, user: CurrentUser, session: SessionDep,
              hubs: HubsDep, state: StateDep, leaving: Annotated[str, Form()] = "",
              colleague: Annotated[str, Form()] = ""):
    try:
        result = handover_service.hand_over(session, hubs=hubs, organisation=organisation, actor=user,
                                            leaving=leaving, colleague=colleague)
    except (InvalidInput, Conflict) as problem:
        session.rollback()
        return _page(request, session, user=user, organisation=organisation, status_code=problem.status,
                     problem=problem, entered={"leaving": leaving, "colleague": colleague})
    session.commit()
    # the leaving member's portal sessions end now (their next login is refused for this organisation)
    state.session_store.end_user_sessions(result.leaving.id)
    folder = next((f for f in result.homes.values() if f), "")
    return _back(organisation, "handover", member=result.leaving.username, folder=folder)


@router.post("/organisations/{slug}/former/{username}/readmit", name="readmit_member", dependencies=[CsrfForm])
def readmit_member(organisation: OrganisationDep, user: CurrentUser, session: SessionDep, username: str):
    ended = handover_service.readmit(session, organisation=organisation, actor=user, username=username)
    session.commit()
    return _back(organisation, "readmitted", member=ended.user.username)
