"""Bundle requests in the JSON API (supply model d): a member checks a draft (every problem by field), requests the
bundle (the portal opens its pull request), follows it; platform admins mark the pull request merged or rejected
(``services/bundle_requests.py`` decides who may)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..deps import CatalogueDep, CsrfHeader, CurrentUser, SessionDep, SettingsDep
from ..models import BundleRequest, BundleRequestState
from ..services import bundle_requests as service
from .schemas import API_PREFIX, ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["bundle requests"])
CONFLICT = {409: {"model": ERRORS[403]["model"], "description": "an open request for the same bundle, or not "
                                                                 "possible in the request's state"}}


class BundleRequestIn(BaseModel):
    """The form; :data:`services.bundle_requests.FIELDS`. Problems come back per field (422)."""

    title: str = Field(default="", max_length=500, description="the bundle's title (3–120 characters); its id is "
                                                               "<role>-<title as a slug>")
    role: str = Field(default="", max_length=64, description="a catalogue role: bi, ml, streaming, dev")
    packages: str | list[str] = Field(default="", description="one a line: name==version (PyPI), or "
                                                              "'cran: name==version', 'conda-forge: name==version'")
    interfaces: list[str] | str = Field(default_factory=list, description="jupyterlab, rstudio and/or vscode; the "
                                                                          "first is the default")
    sizes: str | list[str] = Field(default="", description="one a line: id cpu memory, e.g. 'small 1 4Gi'")
    why: str = Field(default="", max_length=4000, description="what users will do with it, and why (10–2000 "
                                                              "characters)")
    organisation: str | None = Field(default=None, max_length=64, description="the organisation it is for (default: "
                                                                              "your first)")


class CheckOut(BaseModel):
    ok: bool
    bundle_id: str
    file: str = Field(description="where the bundle file goes in the repository")
    yaml: str = Field(description="the drafted catalogue file")
    problems: dict[str, list[str]] = Field(description="every problem, by form field (title, role, packages, "
                                                       "interfaces, sizes, why; bundle: the file as a whole)")


class StatusIn(BaseModel):
    state: Literal["merged", "rejected"]
    reason: str | None = Field(default=None, max_length=2000, description="why (required to reject)")


class BundleRequestOut(BaseModel):
    id: int
    requester: str
    organisation: str
    bundle_id: str
    title: str
    role: str
    state: BundleRequestState
    pull_request: dict[str, Any] | None = Field(description="url and number on GitHub, or the local branch, commit "
                                                            "and text file")
    pull_request_error: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime
    yaml: str

    @classmethod
    def of(cls, r: BundleRequest) -> "BundleRequestOut":
        return cls(id=r.id, requester=r.requester.username, organisation=r.organisation.slug, bundle_id=r.bundle_id,
                   title=r.title, role=r.role, state=r.state, pull_request=r.pull_request,
                   pull_request_error=r.pull_request_error, decided_by=r.decided_by.username if r.decided_by else None,
                   decided_at=r.decided_at, decision_reason=r.decision_reason, created_at=r.created_at,
                   yaml=r.bundle_yaml)


def _data(body: BundleRequestIn) -> dict[str, Any]:
    return body.model_dump(exclude={"organisation"})


@router.post("/bundle-requests/check", response_model=CheckOut, responses=ERRORS, dependencies=[CsrfHeader],
             summary="Draft a bundle file from the form and check it with the catalogue's loader (nothing is stored)")
def check(body: BundleRequestIn, user: CurrentUser, catalogue: CatalogueDep) -> CheckOut:
    return CheckOut(**service.check(catalogue, data=_data(body), requester=user).to_json())


@router.get("/bundle-requests", response_model=list[BundleRequestOut], responses=ERRORS,
            summary="Your bundle requests (platform admins: every one)")
def bundle_requests(user: CurrentUser, session: SessionDep) -> list[BundleRequestOut]:
    return [BundleRequestOut.of(r) for r in service.visible_to(session, user=user)]


@router.post("/bundle-requests", response_model=BundleRequestOut, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, **CONFLICT, 422: {"model": CheckOut, "description": "the draft's problems, by "
                                                                                      "field"}},
             dependencies=[CsrfHeader], summary="Request a bundle (active members): the portal opens its pull request")
def request_bundle(body: BundleRequestIn, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
                   settings: SettingsDep):
    try:
        row = service.create(session, catalogue=catalogue, requester=user, data=_data(body),
                             organisation=body.organisation)
    except service.BundleRequestRefused as refused:
        session.rollback()
        return JSONResponse(CheckOut(**refused.draft.to_json()).model_dump(), status_code=422)
    session.commit()
    service.open_pull_request(session, row=row, catalogue=catalogue, settings=settings, actor=user)
    session.commit()
    return BundleRequestOut.of(row)


@router.get("/bundle-requests/{request_id}", response_model=BundleRequestOut, responses=ERRORS,
            summary="One bundle request (its requester and platform admins)")
def bundle_request(request_id: int, user: CurrentUser, session: SessionDep, settings: SettingsDep
                   ) -> BundleRequestOut:
    row = service.get_request(session, request_id=request_id, user=user)
    service.follow_github(session, row=row, settings=settings)       # with a token: merged or closed there
    session.commit()
    return BundleRequestOut.of(row)


@router.post("/bundle-requests/{request_id}/pull-request", response_model=BundleRequestOut,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader],
             summary="Try again to open a drafted request's pull request (its requester and platform admins)")
def retry(request_id: int, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
          settings: SettingsDep) -> BundleRequestOut:
    row = service.get_request(session, request_id=request_id, user=user)
    service.open_pull_request(session, row=row, catalogue=catalogue, settings=settings, actor=user)
    session.commit()
    return BundleRequestOut.of(row)


@router.post("/bundle-requests/{request_id}/status", response_model=BundleRequestOut,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader],
             summary="Mark a bundle request's pull request merged or rejected (platform admins)")
def mark(request_id: int, body: StatusIn, user: CurrentUser, session: SessionDep) -> BundleRequestOut:
    row = service.get_request(session, request_id=request_id, user=user)
    service.mark(session, row=row, actor=user, state=body.state, reason=body.reason)
    session.commit()
    return BundleRequestOut.of(row)
