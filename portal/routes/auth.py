"""Login with OpenID Connect, the callback, logout, and the issuer's back-channel logout.

``POST /auth/backchannel-logout`` (OpenID Connect Back-Channel Logout 1.0) is called by the issuer, server to
server, when the user logs out there: it carries no session cookie and no CSRF token, and is the one POST
route without a CSRF check; the signed logout token is its authentication."""

from __future__ import annotations

import logging
import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ..deps import CsrfForm, StateDep
from ..errors import LoginUnavailable
from ..models import User
from ..oidc import LogoutRequest, LogoutTokenInvalid
from ..services.identity import Identity, admission, record_login
from ..state import PortalState
from .home import safe_next

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
#: The one POST route without a CSRF check (tests/portal/test_sessions_csrf.py holds every other to it).
BACKCHANNEL_LOGOUT_PATH = "/auth/backchannel-logout"
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/login", name="login")
async def login(request: Request, state: StateDep, next: str | None = None):
    request.session["next"] = safe_next(next)
    redirect_uri = f"{state.settings.public_url}/auth/callback"
    return await state.oidc.redirect(request, redirect_uri=redirect_uri)


def _record(state: PortalState, identity: Identity) -> int:
    admission(identity, policy=state.group_policy)      # refused: no organisation this portal serves
    with state.sessions() as session:
        user: User = record_login(session, identity=identity, policy=state.group_policy)
        session.commit()
        return user.id


@router.get("/auth/callback", name="auth_callback")
async def callback(request: Request, state: StateDep):
    identity, tokens = await state.oidc.identity(request)
    user_id = await run_in_threadpool(_record, state, identity)
    target = safe_next(request.session.get("next"))
    language = request.session.get("lang")
    request.session.clear()          # a fresh session (and id) at every login: no fixation, a new CSRF token
    request.session.update({"uid": user_id, "csrf": secrets.token_urlsafe(32), "tokens": tokens,
                            "groups_at": time.time()})
    if language:
        request.session["lang"] = language
    return RedirectResponse(target, status_code=303)


@router.post("/logout", name="logout", dependencies=[CsrfForm])
async def logout(request: Request, state: StateDep):
    id_token = (request.session.get("tokens") or {}).get("id_token")
    request.session.clear()          # deletes the session row: the cookie is worthless from now on
    end_session = None
    if state.settings.oidc_logout == "provider":
        end_session = await state.oidc.end_session_url(id_token=id_token,
                                                       post_logout_redirect_uri=f"{state.settings.public_url}/")
    return RedirectResponse(end_session or "/", status_code=303)


def _end_sessions(state: PortalState, request: LogoutRequest) -> int:
    user_id = None
    if request.subject is not None:
        with state.sessions() as session:
            user_id = session.scalar(select(User.id).where(User.issuer == request.issuer,
                                                           User.subject == request.subject))
        if user_id is None:
            return 0                                     # not a user of this portal: nothing to end
    return state.session_store.end_issuer_sessions(user_id=user_id, sid=request.sid)


@router.post(BACKCHANNEL_LOGOUT_PATH, name="backchannel_logout")
async def backchannel_logout(request: Request, state: StateDep):
    """The issuer ends the user's portal sessions (of one issuer session ``sid``, or all of ``sub``)."""
    try:
        form = await request.form()
        value = form.get("logout_token")
        logout = await state.oidc.logout_token(value if isinstance(value, str) else None)
    except LogoutTokenInvalid as exc:
        log.warning("back-channel logout refused: %s", exc)
        return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, status_code=400,
                            headers=NO_STORE)
    except LoginUnavailable as exc:
        log.warning("back-channel logout not verified: %s", exc.message)
        return JSONResponse({"error": "temporarily_unavailable", "error_description": exc.message},
                            status_code=503, headers=NO_STORE)
    ended = await run_in_threadpool(_end_sessions, state, logout)
    log.info("back-channel logout from the issuer (sub %s, sid %s): %d portal session(s) ended",
             logout.subject, logout.sid, ended)
    return Response(status_code=200, headers=NO_STORE)
