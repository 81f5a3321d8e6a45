"""FastAPI dependencies: the database session, the current user, CSRF checks and the one
get-or-404-and-authorise dependency per resource (workspace, organisation)."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue

from .errors import CsrfFailed, LoginExpired, LoginFailed, LoginRequired
from .models import Organisation, User, Workspace
from .principal import Principal
from .services import organisations as organisation_service
from .services.identity import Identity, admission, record_login
from .services import workspaces as workspace_service
from .sessions import REQUEST_DB, RequestDb
from .settings import PortalSettings
from .state import PortalState
from .workspace_hub import Hubs

log = logging.getLogger(__name__)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


async def portal_state(request: Request) -> PortalState:
    return request.app.state.portal


StateDep = Annotated[PortalState, Depends(portal_state)]


# Each takes the request itself, not ``StateDep``: every dependency FastAPI solves costs time on every request, a
# nested one twice (issue 13).
async def _settings(request: Request) -> PortalSettings:
    return request.app.state.portal.settings


async def _catalogue(request: Request) -> Catalogue:
    return request.app.state.portal.catalogue


async def _hubs(request: Request) -> Hubs:
    return request.app.state.portal.hubs


SettingsDep = Annotated[PortalSettings, Depends(_settings)]
CatalogueDep = Annotated[Catalogue, Depends(_catalogue)]
HubsDep = Annotated[Hubs, Depends(_hubs)]


@dataclass(frozen=True, slots=True)
class _RequestDb:
    session: Session
    user: User | None


def _request_db(request: Request) -> _RequestDb:
    """The request's database session and the logged-in user, both from the session middleware: it read the
    session row and the user (roles, memberships, grants) in one query, so no dependency here needs a
    worker thread. Routes commit explicitly; anything uncommitted is rolled back when the request ends."""
    db = _scope_db(request)
    user = db.user if db.user is not None and request.session.get("uid") == db.user.id else None
    return _RequestDb(db.session, user)


async def db_session(request: Request) -> Session:
    return _request_db(request).session


SessionDep = Annotated[Session, Depends(db_session)]


def _scope_db(request: Request) -> RequestDb:
    db: RequestDb | None = request.scope.get(REQUEST_DB)
    if db is None:
        raise RuntimeError("the portal's routes need ServerSessionMiddleware (it opens the request's database)")
    return db


async def request_db(request: Request) -> RequestDb:
    """The request's :class:`RequestDb` itself: for an ``async def`` route that runs its database work in one hop
    (:meth:`RequestDb.run`)."""
    return _scope_db(request)


RequestDbDep = Annotated[RequestDb, Depends(request_db)]


def _groups_fresh(request: Request) -> bool:
    """Whether the session's groups were read from the issuer less than ``GROUPS_MAX_AGE_SECONDS`` ago."""
    groups_at = request.session.get("groups_at")
    age = time.time() - groups_at if isinstance(groups_at, (int, float)) else None
    return age is not None and 0 <= age < request.app.state.portal.settings.groups_max_age_seconds


async def optional_user(request: Request) -> User | None:
    """The logged-in user, with groups at most ``GROUPS_MAX_AGE_SECONDS`` old: older ones are read again from
    the issuer first, so a role or organisation removed there stops counting (and launches stop writing it to
    the hub) within that time. A session the issuer no longer vouches for ends here.

    It takes the request only (no sub-dependencies): every page and API call resolves it, and each dependency
    FastAPI solves costs time on every request."""
    found: RequestDb | None = request.scope.get(REQUEST_DB)
    if found is not None and found.user is None and found.principal is not None:
        await run_in_threadpool(found.load_user)     # a read-only path read the principal only; now the ORM user
    db, state = _request_db(request), request.app.state.portal
    if db.user is None:
        if "uid" in request.session:
            request.session.clear()  # the user no longer exists
        return None
    if _groups_fresh(request):
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


async def current_user(request: Request) -> User:
    """:func:`optional_user`, or a refusal (401 / the login page); called directly, not as a sub-dependency."""
    user = await optional_user(request)
    if user is None:
        raise LoginRequired("log in to use this page")
    return user


async def current_principal(request: Request) -> Principal:
    """The logged-in user as read-only data (:mod:`.principal`), for the routes of
    :data:`.principal.READ_ONLY_PATHS`: what the session middleware read for them, when it is this session's user
    and its groups are fresh; otherwise (groups to read again, another path) from :func:`optional_user`. Refuses as
    :func:`current_user` does."""
    db: RequestDb | None = request.scope.get(REQUEST_DB)
    if db is not None and db.principal is not None and request.session.get("uid") == db.principal.id \
            and _groups_fresh(request):
        return db.principal
    user = await optional_user(request)
    if user is None:
        raise LoginRequired("log in to use this page")
    return Principal.of(user)


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]
#: Only for routes that read (no writes through the user): see :data:`.principal.READ_ONLY_PATHS`.
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


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
