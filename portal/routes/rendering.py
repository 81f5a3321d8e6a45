"""Rendering pages: every template gets the user, the language, ``t()`` and the CSRF token; a posted form ends
:func:`committed` (sent on) or :func:`refused` (its page again, nothing stored)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Interface

from ..deps import CSRF_FIELD, csrf_token
from ..errors import PortalError
from ..models import User
from ..services.organisations import administered
from ..texts import TEXTS, pick_language, translator


def compiled_templates(directory: Path) -> Jinja2Templates:
    """The page templates, each compiled once per process and kept: Jinja does not look at the files again on a
    render (``auto_reload`` off), so a changed template counts from the portal's next start."""
    templates = Jinja2Templates(directory=directory)
    templates.env.auto_reload = False
    return templates


def language(request: Request) -> str:
    state = request.app.state.portal
    return pick_language(chosen=request.session.get("lang"), accept_language=request.headers.get("accept-language"),
                         default=state.settings.default_language)


def _localisers(lang: str, t, catalogue) -> dict[str, Any]:
    """Helpers that put catalogue ids and errors into the page's language (every shown word from the texts)."""

    def size_name(size_id: str, bundle_id: str | None = None) -> str:
        """The size's own title in the catalogue, else its text (``size.<id>``), else its id."""
        bundle = catalogue.bundles.get(bundle_id) if bundle_id else None
        size = next((s for s in bundle.sizes if s.id == size_id), None) if bundle else None
        if size is not None and size.title is not None:
            return size.title.get(lang)
        return t(f"size.{size_id}") if f"size.{size_id}" in TEXTS else size_id

    def interface_name(value: str) -> str:
        try:
            return Interface(value).label
        except ValueError:
            return value

    def explain(error: Any) -> str | None:
        """What a page says about an error below its headline: in English the error's own message (it names the
        values involved); in another language the reason's text (``why.<reason>``), never the English message."""
        message = getattr(error, "message", None)
        if lang == "en" and message and getattr(error, "public_message", True):
            return message
        key = f"why.{getattr(error, 'reason', '')}"
        return t(key) if key in TEXTS else None

    return {"size_name": size_name, "interface_name": interface_name, "explain": explain}


def render(request: Request, template: str, *, user: User | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    state = request.app.state.portal
    lang = language(request)
    orgs = administered(user) if user else []
    path = request.url.path
    signed_in, platform_admin, admin_of = user is not None, bool(user and user.platform_admin), \
        tuple((o.slug, o.name) for o in orgs)
    context.update(
        user=user, lang=lang, t=translator(lang), csrf_field=CSRF_FIELD, csrf_token=csrf_token(request),
        administered=orgs, login_configured=state.oidc.configured, catalogue=state.catalogue,
        site_nav=state.fragments.render("_site_nav.html", (path, signed_in, platform_admin, admin_of), lang=lang,
                                        path=path, signed_in=signed_in, platform_admin=platform_admin,
                                        administered=admin_of),
    )
    context.update(_localisers(lang, context["t"], state.catalogue))
    return state.templates.TemplateResponse(request, template, context, status_code=status_code)


def refused(session: Session, problem: PortalError, page: Callable[..., Response], *args: Any,
            **context: Any) -> Response:
    """A refused form: nothing of it is stored (the session rolls back) and ``page(*args, **context)`` shows again
    with the problem and its status."""
    session.rollback()
    return page(*args, problem=problem, status_code=problem.status, **context)


def committed(session: Session, url: str) -> RedirectResponse:
    """A form done: the session commits and the browser goes on to ``url`` (303: a reload does not post again)."""
    session.commit()
    return RedirectResponse(url, status_code=303)
