"""The start page, the language switch and the health check."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ... import __version__
from ..deps import CatalogueDep, OptionalUser, SessionDep
from ..services import catalogue as catalogue_service
from ..services import grants as grant_service
from ..sessions import NO_TOUCH
from ..texts import LANGUAGES
from .rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/", name="home")
def home(request: Request, user: OptionalUser, catalogue: CatalogueDep, session: SessionDep):
    shelves = catalogue_service.shelves(catalogue, roles=user.role_ids) if user else []
    advice = grant_service.role_advice(session, user=user) if user else []      # no role: the real next step
    return render(request, "home.html", user=user, shelves=shelves, advice=advice)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths: never redirect to another site."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@router.get("/language/{code}", name="language")
def set_language(request: Request, code: str, next: str | None = None):
    request.scope[NO_TOUCH] = True      # choosing a language is no activity: it never prolongs a session
    if code in LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(safe_next(next), status_code=303)


healthz = APIRouter(tags=["system"])


@healthz.get("/healthz", summary="Health check", response_model=dict[str, str],
             responses={503: {"description": "the database does not answer"}})
def health(session: SessionDep) -> JSONResponse:
    """``ok`` when the portal and its database answer. Hubs being down does not make the portal unhealthy."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return JSONResponse({"status": "unavailable", "database": exc.__class__.__name__, "version": __version__},
                            status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "version": __version__})
