"""Error handlers: the portal's errors as JSON under /api, as a page in the user's language elsewhere."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gereedschapskist.core.refusal import format_validation_errors

from ..errors import HubLoginNeeded, InvalidInput, LoginRequired, NotFound, PortalError, without_urls
from ..models import User
from ..texts import reason_title
from .rendering import language, render

log = logging.getLogger(__name__)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _page_user(request: Request):
    state = request.app.state.portal
    user_id = request.session.get("uid")
    if not isinstance(user_id, int):
        return None
    with state.sessions() as session:
        user = session.get(User, user_id)
        if user is not None:
            user.active_memberships()      # load what the navigation needs before the session closes
            for member in user.memberships:
                _ = member.organisation, member.roles
        return user


def portal_error_response(request: Request, exc: PortalError) -> Response:
    if exc.status >= 500 or not exc.public_message:
        log.warning("%s %s: %s (%s)", request.method, request.url.path, exc.message, exc.reason)
    if _wants_json(request):
        body = {"reason": exc.reason, "title": reason_title(language(request), exc.reason),
                "message": exc.message if exc.public_message else without_urls(exc.message)}
        if isinstance(exc, HubLoginNeeded):
            body["login_url"] = exc.login_url
        return JSONResponse(body, status_code=exc.status)
    if isinstance(exc, LoginRequired) and request.method == "GET" and request.app.state.portal.oidc.configured:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return render(request, "error.html", user=_page_user(request), status_code=exc.status, error=exc)


def install(app: FastAPI) -> None:
    @app.exception_handler(PortalError)
    async def _portal_error(request: Request, exc: PortalError) -> Response:
        return portal_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(format_validation_errors(exc, show_value=lambda field, value: False))
        return portal_error_response(request, InvalidInput(f"invalid request: {problems}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return portal_error_response(request, NotFound(f"there is no page {request.url.path}"))
        return portal_error_response(request, PortalError(str(exc.detail), reason="http-error", status=exc.status_code))
