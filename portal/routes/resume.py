"""A form post that resumes after the hub's single sign-on (a launch: ``routes/workspaces.py``; a publish:
``routes/apps.py``).

When the hub does not know the user yet, the post is refused with ``hub-login-needed``. The route then keeps what
was posted in the (server-side) session under a one-time marker and sends the browser through the hub's login back
to a resume page (``<resume path>?<parameter>=<marker>``), which shows the same post as a form with the session's
CSRF token for ``static/resume.js`` to submit: whatever is started is only ever started by a CSRF-checked POST, and
the resume page only shows a post this session made itself. A resumed post still refused asks for a click instead
of a second trip (no loop)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from ..errors import HubLoginNeeded
from ..models import User
from .rendering import render


def to_hub_login(request: Request, *, user: User, needed: HubLoginNeeded, key: str, resume_path: str,
                 parameter: str, posted: dict[str, Any], resumed: object) -> Response:
    """Remember ``posted`` in the session under ``key`` with a new marker, and send the browser through the hub's
    login back to ``resume_path?parameter=<marker>``; a post already resumed gets the error page with that link."""
    marker = secrets.token_urlsafe(16)
    request.session[key] = {"marker": marker, **posted}
    login_url = needed.login_url_to(f"{resume_path}?{parameter}={marker}")
    if resumed:
        return render(request, "error.html", user=user, status_code=needed.status, error=needed, login_url=login_url)
    return RedirectResponse(login_url, status_code=303)


def remembered(request: Request, *, key: str, marker: str | None) -> dict[str, Any] | None:
    """What this session remembered under ``key`` when ``marker`` is its one-time marker; else None."""
    pending = request.session.get(key)
    kept = pending.get("marker") if isinstance(pending, dict) else None
    if not isinstance(kept, str) or not marker or not secrets.compare_digest(kept, marker):
        return None
    return pending
