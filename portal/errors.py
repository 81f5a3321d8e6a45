"""The portal's own errors: every error meant for a user carries a ``message`` and a machine ``reason``.

Routes never build error responses themselves: they raise these, and the handlers in
:mod:`.routes.errors` render them as JSON (``/api/…``) or as a page in the user's language.
"""

from __future__ import annotations

import re
from typing import Callable

from gereedschapskist.core.identity import HUB_LOGIN_NEEDED
from gereedschapskist.core.refusal import Refusal

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


def without_urls(text: str) -> str:
    """``text`` with every URL replaced by ``…``: hub messages can name the hub's internal API address."""
    return _URL.sub("…", text)


class PortalError(Refusal):
    """Base class, a :class:`~gereedschapskist.core.refusal.Refusal`. ``status`` is the HTTP status it maps to.

    ``public_message``: whether pages may show ``message`` as it is. Errors about a hub say where the portal
    reached it (its internal API address) and relay the hub's own texts, which can name internal URLs: pages
    show the reason's text instead, the JSON API the message without URLs, and the log keeps it whole."""

    status = 400
    reason = "bad-request"
    public_message = True

    def __init__(self, message: str, *, reason: str | None = None, status: int | None = None):
        super().__init__(reason, message)
        if status is not None:
            self.status = status


class NotFound(PortalError):
    status = 404
    reason = "not-found"


class Forbidden(PortalError):
    status = 403
    reason = "forbidden"


class LoginRequired(PortalError):
    status = 401
    reason = "login-required"


class CsrfFailed(PortalError):
    status = 403
    reason = "csrf"


class Conflict(PortalError):
    status = 409
    reason = "conflict"


class LaunchNotAllowed(Forbidden):
    """The catalogue's role rule (or the user's membership) refuses a launch; nothing was started."""


class InvalidInput(PortalError):
    status = 422
    reason = "invalid-input"


class LoginFailed(PortalError):
    status = 400
    reason = "login-failed"


class LoginUnavailable(PortalError):
    status = 503
    reason = "login-unavailable"


class HubError(PortalError):
    """A hub (JupyterHub) answered with an error the portal could not turn into something more specific."""

    status = 502
    reason = "hub-error"
    public_message = False


class HubUnavailable(HubError):
    """The hub does not answer (down, unreachable, timing out). Workspaces are unavailable; pages still work."""

    status = 503
    reason = "hub-unavailable"


class HubStartFailed(HubError):
    """The hub tried to start the server and failed (e.g. a bundle's environment did not build)."""

    reason = "start-failed"


class HubRefused(HubError):
    """The hub refused the request; nothing was started. ``reason`` is the hub's own (its refusal reason header,
    e.g. ``role`` or ``not-in-environment``), ``hub-refused`` only when the hub sent none (e.g. a server limit)."""

    status = 403
    reason = "hub-refused"
    public_message = True       # the hub's launch rule and JupyterHub's limits, written for people


class HubLoginNeeded(HubRefused):
    """The hub does not know the user yet (never logged in there), or could not re-read their groups at the issuer:
    they must pass the hub's single sign-on first. ``login_url(return_path)`` is where to send a browser: through
    the hub's login and back to the portal's ``return_path``; :attr:`login_url` returns to "my workspaces"."""

    reason = HUB_LOGIN_NEEDED

    def __init__(self, message: str, *, login_url_to: Callable[[str], str]):
        super().__init__(message, reason=HUB_LOGIN_NEEDED)
        self.login_url_to = login_url_to

    @property
    def login_url(self) -> str:
        return self.login_url_to("/workspaces")


class LoginExpired(LoginRequired):
    """The issuer no longer vouches for a session (tokens revoked or expired): the session has ended."""

    reason = "login-expired"
