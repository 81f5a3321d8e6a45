"""The hub's services and their roles, defined once: read by :mod:`.config` (``load_roles`` of the local hub)
and by :mod:`.values` (``hub.loadRoles`` of the Helm values)."""

from __future__ import annotations

from typing import Any

PORTAL_SERVICE = "portal"
PORTAL_ROLE = "gereedschapskist-portal"
PORTAL_DESCRIPTION = "The Gereedschapskist portal: users, groups and their servers"
#: What the portal needs, and no more that JupyterHub lets us leave out:
#: - admin:users — create users (JupyterHub has no narrower scope for creating users);
#: - admin:groups — create organisation/role groups on first use (groups ⊂ admin:groups adds members);
#: - servers — read server models and progress (read:servers), start named servers with user_options
#:   (start:servers) and stop/delete them (delete:servers).
#: Not granted: tokens, access:servers, admin:servers (server state), proxy, shutdown, read:hub.
PORTAL_SCOPES = ("admin:users", "admin:groups", "servers")
CULLER_SERVICE = "idle-culler"
CULLER_SCOPES = ("list:users", "read:users:activity", "read:servers", "delete:servers")


def portal_role() -> dict[str, Any]:
    """The portal's role, as JupyterHub's ``load_roles`` takes it."""
    return {"name": PORTAL_ROLE, "description": PORTAL_DESCRIPTION, "scopes": list(PORTAL_SCOPES),
            "services": [PORTAL_SERVICE]}


def culler_role() -> dict[str, Any]:
    return {"name": CULLER_SERVICE, "description": "Stop idle servers", "scopes": list(CULLER_SCOPES),
            "services": [CULLER_SERVICE]}
