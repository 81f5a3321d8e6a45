"""Published apps and dashboards in the JSON API (issue 17, section 1): publish (a new version), list, one, open
(wakes a stopped app), stop, unpublish, logs, rollback. ``services/apps.py`` decides who may: the owner, the
organisation's admins and platform admins manage; the audience opens."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from ..db import MAX_ID
from ..deps import CatalogueDep, CsrfHeader, CurrentUser, HubsDep, SessionDep
from ..errors import PortalError
from ..models import PublishedApp
from ..services import apps as service
from .schemas import API_PREFIX, ERRORS, HUB_ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["apps"])


class PublishIn(BaseModel):
    title: str = Field(max_length=200, description="3-120 characters; the app's slug (and hub server app-<slug>) "
                                                   "comes from it; publishing the same title again is a new version")
    framework: Literal["panel", "voila", "streamlit", "dash", "shiny"]
    bundle: str = Field(max_length=64, description="the bundle the app runs on: it must pin the framework")
    entry: str = Field(max_length=300, description="the app's file, relative to your home folder (or to the "
                                                   "repository for a git source)")
    git: str | None = Field(default=None, max_length=500, description="an https:// repository URL (production: "
                                                                      "required)")
    commit: str | None = Field(default=None, max_length=40, description="the full commit id (with git)")
    workspace: int | None = Field(default=None, ge=1, le=MAX_ID,
                                  description="an app from a folder: the id of your workspace whose home folder holds "
                                              "it (in a cloud environment, where every workspace has a home of its "
                                              "own: required); none for git")
    size: str | None = Field(default=None, max_length=32)
    audience: Literal["organisation", "group", "users"] = "organisation"
    audience_names: list[str] | str | None = Field(default=None, description="groups (org:<id>, role:<id>) or user "
                                                                             "names")
    organisation: str | None = Field(default=None, max_length=64)


class VersionOut(BaseModel):
    number: int
    source: dict[str, Any]
    bundle_version: str
    published_by: str
    created_at: datetime


class AppOut(BaseModel):
    id: int
    title: str
    slug: str
    owner: str
    organisation: str
    environment: str
    framework: str
    bundle: str
    size: str
    audience: str
    audience_names: list[str]
    state: str
    version: int
    versions: list[VersionOut]
    url: str = Field(description="the app's own URL at the hub")
    open_url: str = Field(description="the portal's page that wakes a stopped app and forwards to it")
    running: bool | None = Field(description="None when the hub does not answer")
    may_manage: bool

    @classmethod
    def of(cls, app: PublishedApp, *, hubs, user, ask_hub: bool = True) -> "AppOut":
        running = None
        if ask_hub:
            try:
                info = service.status(hubs, app=app)
                running = bool(info and info.ready)
            except PortalError:
                running = None
        return cls(id=app.id, title=app.title, slug=app.slug, owner=app.owner.username,
                   organisation=app.organisation.slug, environment=app.environment.name, framework=app.framework,
                   bundle=app.bundle_id, size=app.size_id, audience=app.audience_kind.value,
                   audience_names=list(app.audience), state=app.state.value, version=app.current_version,
                   versions=[VersionOut(number=v.number, source=v.source, bundle_version=v.bundle_version,
                                        published_by=v.published_by.username, created_at=v.created_at)
                             for v in app.versions],
                   url=service.url(hubs, app=app), open_url=f"/apps/{app.id}/open", running=running,
                   may_manage=service.may_manage(user, app))


class LogsOut(BaseModel):
    lines: list[str] | None = Field(description="the app server's last log lines; None when its hub cannot say")


@router.get("/apps", response_model=list[AppOut], responses=ERRORS,
            summary="Published apps you may open (and those you manage)")
def list_apps(user: CurrentUser, session: SessionDep, hubs: HubsDep) -> list[AppOut]:
    return [AppOut.of(app, hubs=hubs, user=user, ask_hub=False) for app in service.visible(session, user=user)]


@router.post("/apps", response_model=AppOut, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, **HUB_ERRORS}, dependencies=[CsrfHeader],
             summary="Publish an app or dashboard (a new version when the title is published already)")
def publish(body: PublishIn, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
            hubs: HubsDep) -> AppOut:
    app = service.publish(session, catalogue=catalogue, hubs=hubs, user=user, title=body.title,
                          framework=body.framework, bundle_id=body.bundle, entry=body.entry, git=body.git,
                          commit=body.commit, size_id=body.size, audience=body.audience,
                          audience_names=body.audience_names, organisation=body.organisation,
                          workspace=body.workspace)
    session.commit()
    return AppOut.of(app, hubs=hubs, user=user)


@router.get("/apps/{app_id}", response_model=AppOut, responses={**ERRORS, **HUB_ERRORS}, summary="One app")
def get_app(app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep) -> AppOut:
    return AppOut.of(service.get_app(session, user=user, app_id=app_id), hubs=hubs, user=user)


@router.post("/apps/{app_id}/open", response_model=AppOut, responses={**ERRORS, **HUB_ERRORS},
             dependencies=[CsrfHeader], summary="Wake the app (start it when stopped); then open its url")
def open_app(app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep) -> AppOut:
    app = service.get_app(session, user=user, app_id=app_id)
    service.wake(session, hubs=hubs, user=user, app=app)
    return AppOut.of(app, hubs=hubs, user=user)


@router.post("/apps/{app_id}/stop", response_model=AppOut, responses={**ERRORS, **HUB_ERRORS},
             dependencies=[CsrfHeader], summary="Stop the app's server (the next open wakes it)")
def stop_app(app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep) -> AppOut:
    app = service.get_app(session, user=user, app_id=app_id, manage=True)
    service.stop(hubs, app=app)
    return AppOut.of(app, hubs=hubs, user=user)


@router.post("/apps/{app_id}/unpublish", status_code=status.HTTP_204_NO_CONTENT,
             responses={**ERRORS, **HUB_ERRORS}, dependencies=[CsrfHeader],
             summary="Unpublish: the server and every share go; the app is gone for its audience")
def unpublish_app(app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep) -> None:
    app = service.get_app(session, user=user, app_id=app_id, manage=True)
    service.unpublish(session, hubs=hubs, user=user, app=app)
    session.commit()


@router.post("/apps/{app_id}/rollback", response_model=AppOut, responses={**ERRORS, **HUB_ERRORS},
             dependencies=[CsrfHeader], summary="Run the previous version again")
def rollback_app(app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep) -> AppOut:
    app = service.get_app(session, user=user, app_id=app_id, manage=True)
    service.rollback(session, hubs=hubs, user=user, app=app)
    session.commit()
    return AppOut.of(app, hubs=hubs, user=user)


@router.get("/apps/{app_id}/logs", response_model=LogsOut, responses={**ERRORS, **HUB_ERRORS},
            summary="The app server's last log lines (its managers)")
def app_logs(app_id: int, user: CurrentUser, session: SessionDep, hubs: HubsDep) -> LogsOut:
    app = service.get_app(session, user=user, app_id=app_id, manage=True)
    return LogsOut(lines=service.logs(hubs, app=app))
