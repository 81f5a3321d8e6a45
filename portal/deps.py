"""FastAPI dependencies: the database session, the current user, CSRF checks and the one
get-or-404-and-authorise dependency per resource (workspace, organisation)."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Iterator

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from gereedschapskist.catalogue import Catalogue

from .errors import CsrfFailed, LoginExpired, LoginFailed, LoginRequired
from .models import Member, Organisation, User, Workspace
from .services import organisations as organisation_service
from .services.identity import Identity, admission, record_login
from .services import workspaces as workspace_service
from .settings import PortalSettings
from .state import PortalState
from .workspace_hub import Hubs

log = logging.getLogger(__name__)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


async def portal_state(request: Request) -> PortalState:
    return request.app.state.portal


StateDep = Annotated[PortalState, Depends(portal_state)]


async def _settings(state: StateDep) -> PortalSettings:
    return state.settings


async def _catalogue(state: StateDep) -> Catalogue:
    return state.catalogue


async def _hubs(state: StateDep) -> Hubs:
    return state.hubs


SettingsDep = Annotated[PortalSettings, Depends(_settings)]
CatalogueDep = Annotated[Catalogue, Depends(_catalogue)]
HubsDep = Annotated[Hubs, Depends(_hubs)]


#: Built once (every request runs one of them). API calls need the user's workbench roles; pages also show
#: the user's organisations in their navigation, so for pages the memberships come in the same query.
_API_USER = select(User).where(User.id == bindparam("user_id")).options(joinedload(User.roles))
_PAGE_USER = _API_USER.options(joinedload(User.memberships).joinedload(Member.organisation),
                               joinedload(User.memberships).joinedload(Member.roles))


@dataclass(frozen=True, slots=True)
class _RequestDb:
    session: Session
    user: User | None


def _request_db(request: Request, state: StateDep) -> Iterator[_RequestDb]:
    """One session per request, and the logged-in user read with it, in one worker-thread hop.

    Opening the session and reading the user together (instead of two dependencies) saves a hop
    to the thread pool on every request. Routes commit explicitly; anything uncommitted is rolled back.
    """
    session = state.sessions()
    try:
        user = None
        user_id = request.session.get("uid")
        if isinstance(user_id, int):
            statement = _API_USER if request.url.path.startswith("/api/") else _PAGE_USER
            user = session.execute(statement, {"user_id": user_id}).unique().scalar_one_or_none()
        yield _RequestDb(session, user)
    finally:
        session.close()


_RequestDbDep = Annotated[_RequestDb, Depends(_request_db)]


async def db_session(db: _RequestDbDep) -> Session:
    return db.session


SessionDep = Annotated[Session, Depends(db_session)]


async def optional_user(request: Request, db: _RequestDbDep, state: StateDep) -> User | None:
    """The logged-in user, with groups at most ``GROUPS_MAX_AGE_SECONDS`` old: older ones are read again from
    the issuer first, so a role or organisation removed there stops counting (and launches stop writing it to
    the hub) within that time. A session the issuer no longer vouches for ends here."""
    if db.user is None:
        if "uid" in request.session:
            request.session.clear()  # the user no longer exists
        return None
    groups_at = request.session.get("groups_at")
    age = time.time() - groups_at if isinstance(groups_at, (int, float)) else None
    if age is not None and 0 <= age < state.settings.groups_max_age_seconds:
        return db.user
    try:
        identity, tokens = await state.oidc.refresh(request.session.get("tokens") or {})
        await run_in_threadpool(_apply_refresh, state, db, identity)
    except (LoginExpired, LoginFailed) as exc:
        log.info("session of %s ended at refresh: %s", db.user.username, exc.message)
        request.session.clear()
        if isinstance(exc, LoginFailed):
            raise
        return None
    request.session.update({"tokens": tokens, "groups_at": time.time()})
    return db.user


def _apply_refresh(state: PortalState, db: _RequestDb, identity: Identity) -> None:
    user = db.user
    assert user is not None
    if (identity.issuer, identity.subject) != (user.issuer, user.subject):
        raise LoginExpired("the login service answered for another user; log in again")
    try:
        admission(identity, policy=state.group_policy)
        record_login(db.session, identity=identity, policy=state.group_policy)
        db.session.commit()
    except LoginFailed:
        db.session.rollback()
        raise


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise LoginRequired("log in to use this page")
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def _matches(request: Request, given: object) -> bool:
    expected = request.session.get("csrf")
    return isinstance(expected, str) and isinstance(given, str) and secrets.compare_digest(expected, given)


async def check_csrf_form(request: Request) -> None:
    """Every HTML form posts the session's token in a hidden field."""
    form = await request.form()
    if not _matches(request, form.get(CSRF_FIELD)):
        raise CsrfFailed("the form's security token is missing or out of date; reload the page and try again")


async def check_csrf_header(request: Request) -> None:
    """JSON API calls that change something send the token (from GET /api/v1/me) in a header."""
    if not _matches(request, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed(f"send the session's CSRF token in the {CSRF_HEADER} header (see GET /api/v1/me)")


CsrfForm = Depends(check_csrf_form)
CsrfHeader = Depends(check_csrf_header)


def workspace_for_user(workspace_id: int, session: SessionDep, user: CurrentUser) -> Workspace:
    return workspace_service.get_workspace(session, user=user, workspace_id=workspace_id)


def organisation_for_admin(slug: str, session: SessionDep, user: CurrentUser) -> Organisation:
    return organisation_service.get_organisation(session, user=user, slug=slug)


WorkspaceDep = Annotated[Workspace, Depends(workspace_for_user)]
OrganisationDep = Annotated[Organisation, Depends(organisation_for_admin)]
