"""Login with OpenID Connect, the callback, and logout."""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from ..deps import CsrfForm, StateDep
from ..models import User
from ..services.identity import Identity, admission, record_login
from ..state import PortalState
from .home import safe_next

router = APIRouter(include_in_schema=False)


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
