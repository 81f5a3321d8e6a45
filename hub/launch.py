"""Server-side enforcement of what a user may start: the one role rule, applied by both backends, and the offer of a
standard contract's environment.

The hub calls :func:`apply_user_options` (``Spawner.apply_user_options``) before anything starts.
It reads ``{"bundle", "size"[, "interface"]}`` (the form, the REST API and KubeSpawner's profile
form alike), asks :meth:`Catalogue.authorise_launch` — the rule the portal uses too — and refuses
with HTTP 403 and a clear message, or stores the :class:`LaunchRequest` on the spawner. On the local backend a
size larger than the machine (:mod:`gereedschapskist.core.capacity`) is refused too (409, ``size-too-large``).

Standard contracts (issue 14). On the local backend one hub serves the shared environment and every contract
environment the portal's ``local`` provisioner made; each contract environment is a file in the hub's contract
environments folder (:mod:`gereedschapskist.core.contract_environment`, setting ``contract_environments_dir``,
default ``<hub state>/environments``), read before every launch (cached by the files' modification times). Two more
launch options say where a launch is for:

- ``environment``: the contract environment's name. The launch is held to that file, whoever sends it (the portal
  or anyone with the REST API): an unknown name is refused (403 ``unknown-environment``); the user must be in the
  group ``org:<organisation>`` of the environment (403 ``not-a-member``); its state must be ``active`` (409
  ``contract-not-active`` while provisioning, ``contract-suspended``, ``contract-ended``, with the file's reason);
  the bundle must be one of the contract's (403 ``bundle-not-in-contract``) and the size offered to this user today,
  the contract's sizes or theirs on request (403 ``size-not-in-contract``; :meth:`ContractEnvironment.offers`).
- ``organisation``: the organisation the launch is for (the portal always sends it). The user must be a member
  of it (a group ``org:``, ``org-admin:`` or ``data-owner:`` of it; 403 ``not-a-member``); with ``environment`` it
  must be that environment's organisation (400 ``bad-options``).

**The shared environment rule.** A launch without ``environment`` runs in the shared environment, and only for
organisations that do not work under a contract: an organisation that has a contract environment file (in any
state) launches in it or not at all. The organisations a shared launch may be for are the one named in
``organisation``, or — when none is named — every organisation the user's groups make them a member of; if any
of them has a contract environment the launch is refused (403 ``contract-environment-required``, naming the
environment). So leaving ``organisation`` out never escapes a contract, and a member of two organisations, one under
contract, names the other to use the shared environment. Users in no organisation (demo accounts, platform admins)
keep the shared environment.

Fail closed: a contract environments folder with a file that cannot be read or is invalid refuses every launch
(503 ``invalid-contract-environment``, naming the file) until it is fixed. Without a folder (the Kubernetes backend,
where a contract's environment is a hub of its own) the option ``environment`` is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from jupyterhub import orm

from gereedschapskist.catalogue import Bundle, Catalogue, Interface, LaunchRefused, Size

from gereedschapskist.core.capacity import SIZE_TOO_LARGE, Capacity, shortfall
from gereedschapskist.core.contract_environment import (
    ContractEnvironment, ContractEnvironmentInvalid, load_environments,
)
from gereedschapskist.core.groups import (
    MEMBER_PREFIXES, ORG_PREFIX, organisations_of, roles_of, with_prefix,
)
from gereedschapskist.core.refusal import REASON_HEADER  # noqa: F401  (re-exported for the hub's callers)

from .apps import APP_OPTION, APP_SERVER_NAME, AppRefused, AppSpec, check_framework, parse_app
from .interfaces import InterfaceAvailability
from .refused import HubRefused
from .roles import PORTAL_SERVICE

#: The option with the workbench roles the portal granted (portal/services/grants.py): accepted from the portal's
#: own token only (:func:`requested_by_portal`), never from anyone else.
GRANTED_ROLES = "granted_roles"
#: Where a launch is for (standard contracts, see the module's docstring): a contract environment's name, and the
#: organisation.
ENVIRONMENT, ORGANISATION = "environment", "organisation"
OPTION_KEYS = frozenset({"bundle", "size", "interface", "profile", GRANTED_ROLES, ENVIRONMENT, ORGANISATION,
                         APP_OPTION})
#: The HTTP status of a refusal the catalogue decides, by reason (403 when not named here).
#: Refused when the user already runs as many servers as the hub allows at once (``running_server_limit``).
RUNNING_LIMIT = "running-limit"
REFUSAL_STATUS = {"unknown-interface": 400, "interface-unavailable": 409, SIZE_TOO_LARGE: 409, RUNNING_LIMIT: 409}
#: Refusal reasons of the contract rule (the portal has a text for each, in Dutch and English).
UNKNOWN_ENVIRONMENT = "unknown-environment"
NOT_A_MEMBER = "not-a-member"
CONTRACT_NOT_ACTIVE, CONTRACT_SUSPENDED, CONTRACT_ENDED = "contract-not-active", "contract-suspended", "contract-ended"
BUNDLE_NOT_IN_CONTRACT, SIZE_NOT_IN_CONTRACT = "bundle-not-in-contract", "size-not-in-contract"
CONTRACT_ENVIRONMENT_REQUIRED = "contract-environment-required"
#: A contract environment's state → the refusal of a launch in it (``active`` launches).
STATE_REFUSALS = {"provisioning": CONTRACT_NOT_ACTIVE, "suspended": CONTRACT_SUSPENDED, "ended": CONTRACT_ENDED}


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """An authorised launch: this bundle, in this size, with this interface."""

    bundle: Bundle
    size: Size
    interface: Interface
    contract: ContractEnvironment | None = None     # the contract environment it runs in; None: the shared one
    app: AppSpec | None = None      # a published app (issue 17, :mod:`.apps`); None: a workspace

    def as_user_options(self) -> dict:
        options: dict = {"bundle": self.bundle.id, "size": self.size.id, "interface": self.interface.value}
        if self.app is not None:
            options[APP_OPTION] = self.app.as_option()
        if self.contract is not None:
            options[ENVIRONMENT] = self.contract.name
            options[ORGANISATION] = self.contract.organisation
        return options


class LaunchForbidden(HubRefused):
    """A launch the hub refuses. ``reason`` is machine-readable (also sent as a response header)."""

    def __init__(self, reason: str, message: str, status: int = 403):
        super().__init__(status, reason, message)


class ContractEnvironments:
    """The hub's contract environments folder, read before every launch: one ``stat`` per file, and the files read
    again only when one of them changed (added, removed, rewritten). A bad file raises :class:`LaunchForbidden`
    (503 ``invalid-contract-environment``): launches are refused until it is fixed (fail closed)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._seen: tuple | None = None
        self._environments: dict[str, ContractEnvironment] = {}

    def _signature(self) -> tuple:
        if not self.folder.is_dir():
            return ()
        found = []
        for file in sorted(self.folder.glob("*.json")):
            try:
                stat = file.stat()
            except OSError:          # removed between the listing and the stat: read again next time
                return (object(),)
            found.append((file.name, stat.st_mtime_ns, stat.st_size, stat.st_ino))
        return tuple(found)

    def load(self) -> dict[str, ContractEnvironment]:
        signature = self._signature()
        if signature != self._seen:
            try:
                self._environments = load_environments(self.folder)
            except ContractEnvironmentInvalid as exc:
                self._seen = None
                raise LaunchForbidden(exc.reason, f"The hub cannot read its contract environments, so it starts "
                                                  f"nothing until this is fixed: {exc.message}", status=503) from None
            self._seen = signature
        return self._environments


def _string_option(options: Mapping[str, Any], name: str) -> str | None:
    value = options.get(name)
    if value is not None and not isinstance(value, str):
        raise LaunchForbidden("bad-options", f"Launch option {name!r} must be a string, not {value!r}.", status=400)
    return value


def choose_contract_environment(
    environments: Mapping[str, ContractEnvironment] | None, groups: Iterable[str], options: Mapping[str, Any],
) -> ContractEnvironment | None:
    """Where a launch is for (the rules of the module's docstring): the contract environment it names, open to this
    user, or None for the shared environment when that is allowed; :class:`LaunchForbidden` otherwise. The offer
    (bundle, size) is checked after the catalogue's rule, by :func:`check_contract_offer`."""
    name = _string_option(options, ENVIRONMENT)
    organisation = _string_option(options, ORGANISATION)
    mine = organisations_of(groups)         # where the user works (org:<id>): the only way into a contract
    member_of = sorted({org for prefix in MEMBER_PREFIXES.values() for org in with_prefix(groups, prefix)})
    if organisation is not None and organisation not in member_of:
        raise LaunchForbidden(NOT_A_MEMBER, f"You are not a member of organisation {organisation!r} (no group "
                                            f"{ORG_PREFIX}{organisation}); yours: {', '.join(member_of) or 'none'}.")
    if name is not None:
        if environments is None:
            raise LaunchForbidden(UNKNOWN_ENVIRONMENT, f"This hub has no contract environments; leave out the "
                                                       f"launch option {ENVIRONMENT!r} (got {name!r}).")
        environment = environments.get(name)
        if environment is None:
            raise LaunchForbidden(UNKNOWN_ENVIRONMENT, f"There is no contract environment {name!r} on this hub.")
        if organisation is not None and organisation != environment.organisation:
            raise LaunchForbidden("bad-options", f"Launch option {ORGANISATION!r} = {organisation!r}: environment "
                                                 f"{name!r} is of organisation {environment.organisation!r}.",
                                  status=400)
        if environment.organisation not in mine:
            raise LaunchForbidden(NOT_A_MEMBER, f"Environment {name!r} is organisation "
                                                f"{environment.organisation!r}'s; you are not a member of it (no "
                                                f"group {ORG_PREFIX}{environment.organisation}).")
        refusal = STATE_REFUSALS.get(environment.state)
        if refusal is not None:
            why = f" {environment.reason}" if environment.reason else ""
            raise LaunchForbidden(refusal, f"Contract {environment.contract} ({name}) is {environment.state}: no "
                                           f"workspaces start in its environment.{why}", status=409)
        return environment
    under_contract = {env.organisation: env.name for env in sorted((environments or {}).values(),
                                                                   key=lambda env: env.name)}
    candidates = [organisation] if organisation is not None else member_of
    bound = [org for org in candidates if org in under_contract]
    if bound:
        names = ", ".join(f"{org}: {under_contract[org]}" for org in bound)
        raise LaunchForbidden(CONTRACT_ENVIRONMENT_REQUIRED, f"Organisation(s) {', '.join(bound)} work under a "
                                                             f"standard contract: start workspaces in its environment "
                                                             f"(launch option {ENVIRONMENT!r}; {names}), not in the "
                                                             "shared one.")
    return None


def check_contract_offer(environment: ContractEnvironment, request: "LaunchRequest", *, username: str,
                         today: date) -> None:
    """The bundle must be the contract's and the size offered to ``username`` today."""
    bundle, size = request.bundle.id, request.size.id
    if bundle not in environment.bundles:
        raise LaunchForbidden(BUNDLE_NOT_IN_CONTRACT, f"Bundle {bundle!r} is not in contract {environment.contract} "
                                                      f"({environment.name}); it offers "
                                                      f"{', '.join(environment.bundles) or 'none'}.")
    if not environment.offers(bundle, size, username=username, today=today):
        offered = sorted({s.split("/", 1)[1] for s in environment.sizes if s.startswith(f"{bundle}/")}
                         | {e.size.split("/", 1)[1] for e in environment.extra_sizes
                            if e.username == username and e.size.startswith(f"{bundle}/") and today <= e.ends_on})
        raise LaunchForbidden(SIZE_NOT_IN_CONTRACT, f"Size {size!r} of bundle {bundle!r} is not offered to you in "
                                                    f"contract {environment.contract} ({environment.name}) today; "
                                                    f"offered: {', '.join(offered) or 'none'} (a larger size can be "
                                                    "requested in the portal).")


def authorise_request(
    catalogue: Catalogue,
    groups: Iterable[str],
    user_options: Mapping[str, Any] | None,
    *,
    interfaces: InterfaceAvailability,
    environment_bundles: Iterable[str] | None = None,
    capacity: Capacity | None = None,
    from_portal: bool = False,
    contract_environments: Mapping[str, ContractEnvironment] | None = None,
    username: str = "",
    today: date | None = None,
    server_name: str = "",
) -> LaunchRequest:
    """Check a launch request against the catalogue and the user's groups; raise :class:`LaunchForbidden`.

    ``granted_roles`` (roles an organisation admin granted in the portal) count on top of the groups only when the
    request comes from the portal (``from_portal``), and only roles the catalogue has. ``contract_environments``
    (None: this hub has none) and ``username``/``today`` apply the contract rule of the module's docstring."""
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
    groups = list(groups)
    contract = choose_contract_environment(contract_environments, groups, options)
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
    app = None
    if options.get(APP_OPTION) is not None:     # a published app: only the portal starts one (it checked the owner)
        if not from_portal:
            raise LaunchForbidden("apps-from-portal-only", f"Launch option {APP_OPTION!r} is accepted from the "
                                                           "Gereedschapskist portal only (publish apps there).")
        try:
            app = parse_app(options[APP_OPTION], server_name=server_name)
            check_framework(bundle, app)
        except AppRefused as refused:
            raise LaunchForbidden(refused.refusal, refused.message, status=refused.status_code) from None
    elif APP_SERVER_NAME.fullmatch(server_name or ""):
        # an app-<slug> server is shared with the app's audience (hub/apps.py): it must never run JupyterLab
        raise LaunchForbidden("app-server-without-app", f"Server {server_name!r} is a published app's (app-<slug>): it "
                                                        f"starts only with the launch option {APP_OPTION!r}, from the "
                                                        "portal; name a workspace otherwise.")
    request = LaunchRequest(bundle, size, interface, contract, app)
    if contract is not None:
        check_contract_offer(contract, request, username=username, today=today or date.today())
    short = shortfall(size, capacity)
    if short is not None:
        raise LaunchForbidden(SIZE_TOO_LARGE, short.message, status=REFUSAL_STATUS[SIZE_TOO_LARGE])
    return request


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
    contract_environments: ContractEnvironments | None = None, today: Callable[[], date] = date.today,
):
    """The ``Spawner.apply_user_options`` hook: authorise, then hand the request to the spawner."""
    allowed = None if environment_bundles is None else tuple(environment_bundles)

    def apply_user_options(spawner, user_options) -> None:
        groups = [group.name for group in spawner.user.groups]
        contracts = None if contract_environments is None else contract_environments.load()
        request = authorise_request(catalogue, groups, user_options, interfaces=interfaces,
                                    environment_bundles=allowed, capacity=capacity,
                                    from_portal=requested_by_portal(spawner), contract_environments=contracts,
                                    username=spawner.user.name, today=today(),
                                    server_name=getattr(spawner, "name", "") or "")
        check_running_limit(spawner, running_limit)
        spawner.log.info("Launch of %s for %s authorised: %s", spawner._log_name, spawner.user.name,
                         request.as_user_options())
        spawner.apply_launch(request)

    return apply_user_options
