"""Server-side enforcement of what a user may start: the one role rule, applied by both backends.

The hub calls :func:`apply_user_options` (``Spawner.apply_user_options``) before anything starts.
It reads ``{"bundle", "size"[, "interface"]}`` (the form, the REST API and KubeSpawner's profile
form alike), asks :meth:`Catalogue.authorise_launch` — the rule the portal uses too — and refuses
with HTTP 403 and a clear message, or stores the :class:`LaunchRequest` on the spawner. On the local backend a
size larger than the machine (:mod:`gereedschapskist.core.capacity`) is refused too (409, ``size-too-large``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from jupyterhub import orm
from tornado import web

from gereedschapskist.catalogue import Bundle, Catalogue, Interface, LaunchRefused, Size

from gereedschapskist.core.capacity import SIZE_TOO_LARGE, Capacity, shortfall
from gereedschapskist.core.groups import roles_of
from gereedschapskist.core.refusal import REASON_HEADER

from .interfaces import InterfaceAvailability
from .roles import PORTAL_SERVICE

#: The option with the workbench roles the portal granted (portal/services/grants.py): accepted from the portal's
#: own token only (:func:`requested_by_portal`), never from anyone else.
GRANTED_ROLES = "granted_roles"
OPTION_KEYS = frozenset({"bundle", "size", "interface", "profile", GRANTED_ROLES})
#: The HTTP status of a refusal the catalogue decides, by reason (403 when not named here).
#: Refused when the user already runs as many servers as the hub allows at once (``running_server_limit``).
RUNNING_LIMIT = "running-limit"
REFUSAL_STATUS = {"unknown-interface": 400, "interface-unavailable": 409, SIZE_TOO_LARGE: 409, RUNNING_LIMIT: 409}


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """An authorised launch: this bundle, in this size, with this interface."""

    bundle: Bundle
    size: Size
    interface: Interface

    def as_user_options(self) -> dict[str, str]:
        return {"bundle": self.bundle.id, "size": self.size.id, "interface": self.interface.value}


class LaunchForbidden(web.HTTPError):
    """A launch the hub refuses. ``reason`` is machine-readable (also sent as a response header)."""

    def __init__(self, reason: str, message: str, status: int = 403):
        super().__init__(status, "%s", message)
        self.refusal = reason
        self.message = message
        self.jupyterhub_message = message
        self.headers = {REASON_HEADER: reason}

    def __str__(self) -> str:
        return self.message


def authorise_request(
    catalogue: Catalogue,
    groups: Iterable[str],
    user_options: Mapping[str, Any] | None,
    *,
    interfaces: InterfaceAvailability,
    environment_bundles: Iterable[str] | None = None,
    capacity: Capacity | None = None,
    from_portal: bool = False,
) -> LaunchRequest:
    """Check a launch request against the catalogue and the user's groups; raise :class:`LaunchForbidden`.

    ``granted_roles`` (roles an organisation admin granted in the portal) count on top of the groups only when the
    request comes from the portal (``from_portal``), and only roles the catalogue has."""
    options = dict(user_options or {})
    unknown = sorted(set(options) - OPTION_KEYS)
    if unknown:
        raise LaunchForbidden("bad-options", f"Unknown launch option(s) {', '.join(unknown)}; "
                                             "send {\"bundle\": ..., \"size\": ...}.", status=400)
    bundle_id = options.get("bundle") or options.get("profile")
    size_id = options.get("size")
    interface_id = options.get("interface")
    for name, value in (("bundle", bundle_id), ("size", size_id), ("interface", interface_id)):
        if value is not None and not isinstance(value, str):
            raise LaunchForbidden("bad-options", f"Launch option {name!r} must be a string, not {value!r}.",
                                  status=400)
    roles = sorted(set(roles_of(groups)) | set(_granted_roles(catalogue, options.get(GRANTED_ROLES), from_portal)))
    if not bundle_id:
        offered = ", ".join(b.id for b in catalogue.offered_for(roles)) or "none for your roles"
        raise LaunchForbidden("no-bundle", f"Choose a bundle to start (offered to you: {offered}).", status=400)
    if environment_bundles is not None and bundle_id not in set(environment_bundles):
        raise LaunchForbidden("not-in-environment", f"Bundle {bundle_id!r} is not offered in this environment.")
    try:
        bundle, size = catalogue.authorise_launch(roles, bundle_id, size_id or None)
        interface = bundle.choose_interface(interface_id, unavailable=lambda i: _unavailable(interfaces, i, bundle))
    except LaunchRefused as refused:
        raise LaunchForbidden(refused.reason, refused.message,
                              status=REFUSAL_STATUS.get(refused.reason, 403)) from None
    short = shortfall(size, capacity)
    if short is not None:
        raise LaunchForbidden(SIZE_TOO_LARGE, short.message, status=REFUSAL_STATUS[SIZE_TOO_LARGE])
    return LaunchRequest(bundle, size, interface)


def _granted_roles(catalogue: Catalogue, value: Any, from_portal: bool) -> list[str]:
    if value is None:
        return []
    if not from_portal:
        raise LaunchForbidden("grants-not-trusted", f"Launch option {GRANTED_ROLES!r} is accepted from the "
                                                    "Gereedschapskist portal only.")
    if not isinstance(value, list) or not all(isinstance(role, str) for role in value):
        raise LaunchForbidden("bad-options", f"Launch option {GRANTED_ROLES!r} must be a list of role ids, not "
                                             f"{value!r}.", status=400)
    unknown = sorted(set(value) - set(catalogue.roles))
    if unknown:
        raise LaunchForbidden("bad-options", f"Launch option {GRANTED_ROLES!r} names roles the catalogue does not "
                                             f"have: {', '.join(unknown)}.", status=400)
    return list(value)


def requested_by_portal(spawner) -> bool:
    """Whether the request that starts this server was made with the portal service's token."""
    requester = getattr(getattr(spawner, "handler", None), "current_user", None)
    return isinstance(requester, orm.Service) and requester.name == PORTAL_SERVICE


def _unavailable(interfaces: InterfaceAvailability, interface: Interface, bundle: Bundle) -> str | None:
    status = interfaces.status(interface, bundle)
    return None if status.available else status.note


def check_running_limit(spawner, limit: int | None) -> None:
    """At most ``limit`` of a user's servers run (or start) at once. JupyterHub's own named-server limit counts
    stopped servers too — and a stopped workspace keeps its server (its home folder, for a restart), so that limit
    is the size of the user's history, and this one protects the machine."""
    if limit is None:
        return
    others = sorted(name for name, other in spawner.user.spawners.items() if other is not spawner and other.active)
    if len(others) >= limit:
        raise LaunchForbidden(RUNNING_LIMIT, f"You already have {len(others)} workspaces running or starting "
                                             f"({', '.join(others)}), the most at once here; stop one first.",
                              status=REFUSAL_STATUS[RUNNING_LIMIT])


def make_apply_user_options(
    catalogue: Catalogue, interfaces: InterfaceAvailability, environment_bundles: Iterable[str] | None = None,
    capacity: Capacity | None = None, running_limit: int | None = None,
):
    """The ``Spawner.apply_user_options`` hook: authorise, then hand the request to the spawner."""
    allowed = None if environment_bundles is None else tuple(environment_bundles)

    def apply_user_options(spawner, user_options) -> None:
        groups = [group.name for group in spawner.user.groups]
        request = authorise_request(catalogue, groups, user_options, interfaces=interfaces,
                                    environment_bundles=allowed, capacity=capacity,
                                    from_portal=requested_by_portal(spawner))
        check_running_limit(spawner, running_limit)
        spawner.log.info("Launch of %s for %s authorised: %s", spawner._log_name, spawner.user.name,
                         request.as_user_options())
        spawner.apply_launch(request)

    return apply_user_options
