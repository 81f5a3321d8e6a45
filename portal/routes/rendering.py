"""Rendering pages: every template gets the user, the language, ``t()`` and the CSRF token."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from ..deps import CSRF_FIELD, csrf_token
from ..models import User
from ..services.organisations import administered
from ..texts import pick_language, translator


def language(request: Request) -> str:
    state = request.app.state.portal
    return pick_language(chosen=request.session.get("lang"), accept_language=request.headers.get("accept-language"),
                         default=state.settings.default_language)


def render(request: Request, template: str, *, user: User | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    state = request.app.state.portal
    lang = language(request)
    context.update(
        user=user, lang=lang, t=translator(lang), csrf_field=CSRF_FIELD, csrf_token=csrf_token(request),
        administered=administered(user) if user else [], login_configured=state.oidc.configured,
        catalogue=state.catalogue,
    )
    return state.templates.TemplateResponse(request, template, context, status_code=status_code)
