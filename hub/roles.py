"""Every hub role and its scopes, defined once: read by :mod:`.config` (``load_roles`` of the local hub)
and by :mod:`.values` (``hub.loadRoles`` of the Helm values).

Nobody gets JupyterHub's built-in ``admin`` role (it includes ``access:servers`` and ``tokens``: open anyone's
server, act as anyone). Who may do what:

- **users** (JupyterHub's default ``user`` role, redefined): read themselves, open and stop their own servers,
  make tokens for themselves. Not ``start:servers``: only the portal starts servers, so every start passes the
  portal's checks and is written to its register (``/hub/spawn`` sends people to the portal);
- **platform admins** (the admin group, e.g. ``gereedschapskist:admins``): see users, groups and servers, stop
  servers — never open them, never make tokens for others;
- **organisation admins** (``org-admin:<org>``): the same, only for members of ``org:<org>``;
- **the portal** service: read users and servers, start and stop servers. Users and their groups come from the
  issuer at hub login (``manage_groups``), never from the portal;
- **the idle culler**: list users, read activity and servers, stop servers.
"""

from __future__ import annotations

from typing import Any, Iterable

from gereedschapskist.core.groups import org_admin_group, organisation_group

PORTAL_SERVICE = "portal"
PORTAL_ROLE = "gereedschapskist-portal"
PORTAL_DESCRIPTION = "The Gereedschapskist portal: start, stop and follow users' servers"
#: What the portal needs, and no more:
#: - list:users — one request lists every user with an active server (the portal's background sync);
#: - read:users — is the user known to the hub (logged in there at least once), which groups and servers;
#: - read:servers — server models and the progress stream, which interfaces the hub can serve, its capacity and
#:   whether it enforces sizes, and each server's CPU and memory use (:mod:`.api`: the usage endpoint filters on the
#:   server, so a user's own ``read:servers!user`` reads only their own servers' usage);
#: - start:servers — start named servers with user_options (the hub still applies the launch rule to the
#:   *user's* groups from the issuer, refreshed before every start);
#: - delete:servers — stop and remove them;
#: - HANDOVER_SCOPE (a custom scope) — move a leaving user's home folder into a colleague's (:mod:`.handover`).
#: Not granted: admin:users (create, rename, delete users), admin:groups (put anyone in any group), tokens,
#: access:servers, admin:servers (server state), proxy, shutdown, read:hub.
#: The custom scope of the handover endpoint (``JupyterHub.custom_scopes``, defined in :mod:`.handover`).
HANDOVER_SCOPE = "custom:gereedschapskist:handover"
#: APPS_SCOPE (a custom scope) — set who may open a published app (JupyterHub's sharing, app servers only) and read
#: its log (:mod:`.apps`); never ``shares``, which would let the token share anyone's workspace.
APPS_SCOPE = "custom:gereedschapskist:apps"
PORTAL_SCOPES = ("list:users", "read:users", "read:servers", "start:servers", "delete:servers", HANDOVER_SCOPE,
                 APPS_SCOPE)
CULLER_SERVICE = "idle-culler"
CULLER_SCOPES = ("list:users", "read:users:activity", "read:servers", "delete:servers")

#: JupyterHub's default role of every user, redefined: ``self`` without ``start:servers`` (and without
#: ``admin:auth_state`` and shares). ``tokens!user``: a user's tokens can never do more than the user.
USER_ROLE = "user"
USER_SCOPES = ("read:users!user", "users:activity!user", "read:servers!user", "delete:servers!user",
               "access:servers!user", "tokens!user")

PLATFORM_ADMIN_ROLE = "gereedschapskist-platform-admin"
#: Platform admins look after the hub: who is there, what runs, stop what must stop.
PLATFORM_ADMIN_SCOPES = ("admin-ui", "list:users", "read:users", "list:groups", "read:groups", "read:servers",
                         "delete:servers", "read:hub", "list:services", "read:services")
ORG_ADMIN_ROLE_PREFIX = "gereedschapskist-org-admin-"
#: Organisation admins: the same, filtered to their organisation's group (``!group=org:<org>``).
ORG_ADMIN_SCOPES = ("list:users", "read:users", "read:servers", "delete:servers")
#: Scopes no admin role may hold (checked by the tests): opening servers, acting as someone, changing users.
NEVER_FOR_ADMINS = frozenset({"access:servers", "tokens", "admin:users", "admin:groups", "admin:servers",
                              "admin:auth_state", "servers", "start:servers", "users", "groups", "shutdown",
                              "proxy", "admin:services"})


def portal_role() -> dict[str, Any]:
    """The portal's role, as JupyterHub's ``load_roles`` takes it."""
    return {"name": PORTAL_ROLE, "description": PORTAL_DESCRIPTION, "scopes": list(PORTAL_SCOPES),
            "services": [PORTAL_SERVICE]}


def culler_role() -> dict[str, Any]:
    return {"name": CULLER_SERVICE, "description": "Stop idle servers", "scopes": list(CULLER_SCOPES),
            "services": [CULLER_SERVICE]}


def user_role() -> dict[str, Any]:
    return {"name": USER_ROLE, "description": "Users: open and stop their own servers; the portal starts them",
            "scopes": list(USER_SCOPES)}


def platform_admin_role(admin_group: str) -> dict[str, Any]:
    return {"name": PLATFORM_ADMIN_ROLE, "description": "Platform admins: see users and servers, stop servers",
            "scopes": list(PLATFORM_ADMIN_SCOPES), "groups": [admin_group]}


def org_admin_role(organisation: str) -> dict[str, Any]:
    members = organisation_group(organisation)
    return {"name": f"{ORG_ADMIN_ROLE_PREFIX}{organisation.lower()}",
            "description": f"Admins of {organisation}: see its members and their servers, stop them",
            "scopes": ["admin-ui", f"read:groups!group={members}",
                       *(f"{scope}!group={members}" for scope in ORG_ADMIN_SCOPES)],
            "groups": [org_admin_group(organisation)]}


def hub_roles(*, admin_group: str, organisations: Iterable[str], portal: bool) -> list[dict[str, Any]]:
    """Every role a hub loads except the culler's (on Kubernetes the chart defines its own culler)."""
    roles = [user_role(), platform_admin_role(admin_group)]
    roles += [org_admin_role(org) for org in sorted(set(organisations))]
    if portal:
        roles.append(portal_role())
    return roles
