"""The hub's authenticator: GenericOAuthenticator with the platform's rules on identity and freshness.

- A user is the issuer's subject: a userinfo answer without ``sub`` is refused (403), and the user name is
  :func:`gereedschapskist.core.identity.hub_username` of the configured claim — the rule the portal uses too.
- Nobody becomes a JupyterHub admin (its ``admin`` role can open every server and act as anyone): admins get the
  custom roles of :mod:`.roles` through their groups; ``admin`` is set to ``False`` at every login and refresh.
- Groups are re-read from the issuer (``refresh_user``, with auth_state on) before every start and when older
  than ``auth_refresh_age``; a user no longer in an allowed group must log in again (and is refused there).
  A start the refresh blocks is answered 403 with the reason ``hub-login-needed``.
- Groups from the issuer pass :func:`gereedschapskist.core.groups.accept_groups`, the rule the portal applies
  too: mapped (``group_mapping``), then only the managed groups of the configured ``organisations``, roles the
  catalogue knows and the admin group; anything else is dropped with a log line and never becomes a hub group.
  A user with no accepted organisation who is not in the admin group is refused at login (and at a refresh).
- ``/hub/spawn`` is not a way to start servers (users have no ``start:servers``): it sends people to the portal.
- ``/hub/admin`` is not offered either: it sends people to the portal's admin screens.
"""

from __future__ import annotations

from oauthenticator.generic import GenericOAuthenticator
from jupyterhub.utils import maybe_future
from tornado import web
from traitlets import Dict, List, Unicode

from gereedschapskist.core.groups import PLATFORM_ADMINS, GroupPolicy, accept_groups
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


class PortalAdminPageHandler(web.RequestHandler):
    """``/hub/admin[/…]``: the hub's own admin page is not offered (it showed users and servers without their
    organisations, usage or register). Everyone is sent to the portal's admin screens, which decide who may see
    what (platform admins everything, organisation admins their own organisation, anyone else 403); a hub with no
    portal configured answers 404."""

    def initialize(self, portal_url: str = "") -> None:
        self.portal_url = portal_url

    def get(self, *args) -> None:
        if self.portal_url:
            self.redirect(f"{self.portal_url}/admin")
            return
        self.set_status(404)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("The hub has no admin page: use the Gereedschapskist portal's admin screens.\n"
                    "De hub heeft geen beheerpagina: gebruik de beheerschermen van de Gereedschapskist-portal.\n")


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
    organisations = List(Unicode(), config=True,
                         help="organisations whose org:, org-admin: and data-owner: groups are accepted")
    workbench_roles = List(Unicode(), config=True, help="the roles whose role: groups are accepted (the catalogue's)")
    group_mapping = Dict(config=True, help="the issuer's groups → ours (OIDC_GROUP_MAPPING); empty: ours as they are")
    platform_admin_group = Unicode(PLATFORM_ADMINS, config=True, help="the platform admins' group")

    @property
    def group_policy(self) -> GroupPolicy:
        return GroupPolicy(admin_group=self.platform_admin_group, organisations=frozenset(self.organisations),
                           roles=frozenset(self.workbench_roles), mapping=dict(self.group_mapping))

    async def get_user_groups(self, auth_state):
        """The issuer's groups through the platform's rule: what is not accepted is dropped (and logged)."""
        claimed = await super().get_user_groups(auth_state)
        found = accept_groups(sorted(claimed), policy=self.group_policy)
        dropped = found.dropped()
        if dropped:
            user = (auth_state or {}).get(self.user_auth_state_key) or {}
            self.log.warning("groups from the issuer dropped for %s (sub %s): %s",
                             user.get(self.username_claim) if isinstance(self.username_claim, str) else "?",
                             user.get("sub"), dropped)
        return set(found.groups)

    def _admitted(self, auth_model: dict) -> bool:
        """A member of an accepted organisation, or a platform admin (``groups`` are already accepted ones)."""
        groups = list(auth_model.get("groups") or ())
        return accept_groups(groups, policy=GroupPolicy(
            admin_group=self.platform_admin_group, organisations=frozenset(self.organisations),
            roles=frozenset(self.workbench_roles))).admitted

    async def check_blocked_users(self, username, authentication=None):
        """Refuse a login with no accepted organisation (and not a platform admin). Here, not in ``check_allowed``:
        JupyterHub skips that one when ``allow_all`` is on (no ``allowed_groups``); this check always runs."""
        if isinstance(authentication, dict) and not self._admitted(authentication):
            self.log.warning("Login of %s refused: no organisation this hub serves (%s) and not in %s", username,
                             " ".join(self.organisations) or "none configured", self.platform_admin_group)
            return False
        return await maybe_future(super().check_blocked_users(username, authentication))

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
        if not self._admitted(auth_model):
            return False
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
                (r"/admin(?:/.*)?", PortalAdminPageHandler, {"portal_url": self.portal_url}),
                *super().get_handlers(app)]

