"""The hub's authenticator: GenericOAuthenticator with the platform's rules on identity and freshness.

- A user is the issuer's subject: a userinfo answer without ``sub`` is refused (403), and the user name is
  :func:`gereedschapskist.core.identity.hub_username` of the configured claim — the rule the portal uses too.
- Nobody becomes a JupyterHub admin (its ``admin`` role can open every server and act as anyone): admins get the
  custom roles of :mod:`.roles` through their groups; ``admin`` is set to ``False`` at every login and refresh.
- Groups are re-read from the issuer (``refresh_user``, with auth_state on) before every start and when older
  than ``auth_refresh_age``; a user no longer in an allowed group must log in again (and is refused there).
  A start the refresh blocks is answered 403 with the reason ``hub-login-needed``.
- ``/hub/spawn`` is not a way to start servers (users have no ``start:servers``): it sends people to the portal.
"""

from __future__ import annotations

from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from traitlets import Unicode

from gereedschapskist.core.identity import HUB_LOGIN_NEEDED, SubjectMissing, hub_username, subject_of

from .launch import LaunchForbidden


class PortalOnlySpawnHandler(web.RequestHandler):
    """``/hub/spawn[/…]``: servers are started from the portal, so this page sends people there."""

    def initialize(self, portal_url: str = "") -> None:
        self.portal_url = portal_url

    def get(self, *args) -> None:
        target = self.get_argument("next", "/")
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/"
        if self.portal_url:
            self.redirect(f"{self.portal_url}{target}")
            return
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("Workspaces are started from the Gereedschapskist portal, not from the hub.\n"
                    "Werkplekken start u vanuit de Gereedschapskist-portal, niet vanuit de hub.\n")

    post = get


def _is_start(handler) -> bool:
    """Whether the hub handles a server start (the REST API's POST …/server[s/…]) in this request."""
    request = getattr(handler, "request", None)
    if request is None or request.method != "POST":
        return False
    path = request.path.rstrip("/")
    return "/api/users/" in path and ("/servers/" in path or path.endswith("/server"))


class GereedschapskistAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator, configured like it (``c.GenericOAuthenticator`` applies), plus the rules above."""

    portal_url = Unicode("", config=True, help="where /hub/spawn sends people (the portal's public URL)")

    def user_info_to_username(self, user_info):
        try:
            subject_of(user_info)
        except SubjectMissing as missing:
            self.log.warning("Login refused: %s (claims %s)", missing, sorted(user_info))
            raise web.HTTPError(403, "The identity provider did not say who you are (no 'sub'); login refused.")
        return super().user_info_to_username(user_info)

    def normalize_username(self, username):
        username = hub_username(username)
        return self.username_map.get(username, username)

    async def update_auth_model(self, auth_model):
        auth_model = await super().update_auth_model(auth_model)
        auth_model["admin"] = False  # admins have roles of their own (hub/roles.py), never JupyterHub's admin
        return auth_model

    def _still_allowed(self, auth_model: dict) -> bool:
        if self.allow_all or not self.allowed_groups:
            return True
        groups = set(auth_model.get("groups") or ())
        return bool(groups & set(self.allowed_groups))

    async def refresh_user(self, user, handler=None, **kwargs):
        refreshed = await super().refresh_user(user, handler, **kwargs)
        if isinstance(refreshed, dict) and not self._still_allowed(refreshed):
            self.log.warning("%s is no longer in an allowed group at the issuer; a new login is needed", user.name)
            refreshed = False
        if refreshed is False and _is_start(handler):
            raise LaunchForbidden(HUB_LOGIN_NEEDED, f"The hub could not confirm {user.name}'s groups with the identity "
                                                "provider; log in to the hub again.")
        return refreshed

    def get_handlers(self, app):
        return [(r"/spawn(?:/.*)?", PortalOnlySpawnHandler, {"portal_url": self.portal_url}),
                *super().get_handlers(app)]

