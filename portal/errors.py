"""The portal's own errors: every error meant for a user carries a ``message`` and a machine ``reason``.

Routes never build error responses themselves: they raise these, and the handlers in
:mod:`.routes.errors` render them as JSON (``/api/…``) or as a page in the user's language.
"""

from __future__ import annotations

from gereedschapskist.core.refusal import Refusal


class PortalError(Refusal):
    """Base class, a :class:`~gereedschapskist.core.refusal.Refusal`. ``status`` is the HTTP status it maps to."""

    status = 400
    reason = "bad-request"

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


class LoginExpired(LoginRequired):
    """The issuer no longer vouches for a session (tokens revoked or expired): the session has ended."""

    reason = "login-expired"
