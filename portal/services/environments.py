"""Environments: where an organisation's workspaces run — and, under a standard contract, what may run there.

**Only an active contract lets members work** (issue 14). An organisation *works under contracts* once it has a
contract that was requested (states requested, approved, provisioning, active, suspended, ended; drafts and rejected
orders do not count). Its members then launch in the environment of its current contract (:func:`current_contract`:
active before suspended before provisioning … before ended, newest first) and only while that contract is active,
with exactly that contract's bundles and sizes, plus the sizes on request an organisation admin approved for the
member (``SizeRequest`` approved, ``ends_on`` today or later). Refusals (:func:`launch_place`,
:func:`check_offer`), each with a Dutch and English text in ``portal/texts.py``:

- ``no-contract`` (403): the organisation has no contract and there is nothing to fall back on — no environment
  without a contract that is shared (organisation NULL) or the organisation's own — or the portal's setting
  ``require_contract`` is on;
- ``contract-not-active`` (409): requested, approved or provisioning (or active without its environment yet);
- ``contract-suspended`` (409) and ``contract-ended`` (409);
- ``bundle-not-in-contract`` and ``size-not-in-contract`` (403).

Organisations that never ordered a contract keep the shared environment of the embedded default (demos). The hub
enforces the same rule itself for its contract environments (``hub/launch.py``): the portal tells it where a launch
is for with the launch options ``organisation`` (always) and ``environment`` (the contract environment's name, for a
contract environment on a local hub — :func:`hub_place_options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.base import NO_VALUE

from ..errors import Conflict, HubUnavailable, LaunchNotAllowed, PortalError
from ..models import Environment, EnvironmentKind, EnvironmentStage, EnvironmentStatus, Organisation, User
from ..models.contract import WORKING_STATES, Contract, ContractState
from ..models.size_request import SizeRequest, SizeRequestState
from ..principal import OrganisationView

S = ContractState
#: A contract's state → the refusal of a launch under it (``active`` launches).
STATE_REFUSALS = {S.REQUESTED: "contract-not-active", S.APPROVED: "contract-not-active",
                  S.PROVISIONING: "contract-not-active", S.SUSPENDED: "contract-suspended",
                  S.ENDED: "contract-ended"}


def register_environment(session: Session, *, name: str, kind: EnvironmentKind, stage: EnvironmentStage,
                         hub_url: str, hub_api_url: str, organisation: Organisation | None = None) -> Environment:
    """Create or update the record of a deployed hub (idempotent; the embedded default calls it at start)."""
    environment = session.scalar(select(Environment).where(Environment.name == name))
    if environment is None:
        environment = Environment(name=name, kind=kind, stage=stage, hub_url=hub_url, hub_api_url=hub_api_url,
                                  organisation=organisation, status=EnvironmentStatus.ACTIVE)
        session.add(environment)
    else:
        environment.kind, environment.stage = kind, stage
        environment.hub_url, environment.hub_api_url = hub_url, hub_api_url
        environment.organisation = organisation
        environment.status = EnvironmentStatus.ACTIVE
    session.flush()
    return environment


def list_environments(session: Session) -> list[Environment]:
    return list(session.scalars(select(Environment).order_by(Environment.name)))


def visible_environments(session: Session, *, user: User) -> list[Environment]:
    """The environments a user may know of: platform admins all; anyone else the shared ones and those of
    their own (active) organisations."""
    statement = select(Environment).order_by(Environment.name)
    if not user.platform_admin:
        mine = [m.organisation_id for m in user.active_memberships()]
        statement = statement.where(Environment.organisation_id.is_(None) | Environment.organisation_id.in_(mine))
    return list(session.scalars(statement))


#: An organisation's contracts in a working state; built once (every catalogue read asks it: issue 13).
_WORKING_CONTRACTS = select(Contract).where(Contract.organisation_id == bindparam("organisation"),
                                            Contract.state.in_(WORKING_STATES))


def homes_per_workspace(environment: Environment) -> bool:
    """Whether each workspace in ``environment`` has a home folder of its own: in a cloud environment each named
    server has its own volume (a delete removes it; a folder app names the workspace that holds it); on the local
    backend every workspace of a user shares the user's home folder."""
    return environment.kind is EnvironmentKind.CLOUD


def current_contract(session: Session, *, organisation: Organisation) -> Contract | None:
    """The contract an organisation works under now (see the module's docstring); None when it never had one."""
    contracts = session.scalars(_WORKING_CONTRACTS, {"organisation": organisation.id}).all()
    if not contracts:
        return None
    return min(contracts, key=lambda c: (WORKING_STATES.index(c.state), -c.id))


def _contract_as_read(session: Session, organisation: Organisation) -> Contract | None:
    """:func:`current_contract`, from the organisation's ``current_contract_id`` where the request read it with its
    user (one query for session, user and memberships: issue 13), else asked now. Only for reads that have written
    nothing in this request: a contract changed earlier in the same database session is not in that column."""
    if isinstance(organisation, OrganisationView):      # the request's principal (portal/principal.py)
        read = organisation.current_contract_id
    else:
        read = inspect(organisation).attrs.current_contract_id.loaded_value
    if read is NO_VALUE:
        return current_contract(session, organisation=organisation)
    return None if read is None else session.get(Contract, read)


def _fallback(session: Session, *, organisation: Organisation) -> Environment | None:
    """The organisation's own active environment without a contract (production before development), else the
    shared one; None when there is neither."""
    candidates = session.scalars(
        select(Environment).where(Environment.status == EnvironmentStatus.ACTIVE, Environment.contract_id.is_(None),
                                  (Environment.organisation_id == organisation.id)
                                  | Environment.organisation_id.is_(None))).all()
    if not candidates:
        return None

    def rank(env: Environment) -> tuple[int, int, str]:
        return (0 if env.organisation_id == organisation.id else 1,
                0 if env.stage is EnvironmentStage.PRODUCTION else 1, env.name)

    return sorted(candidates, key=rank)[0]


def environment_for(session: Session, *, organisation: Organisation) -> Environment:
    """Where the organisation's workspaces are: its current contract's environment when it has one (in any state:
    pages list its servers there), else its own active environment (production before development), else the
    shared one. Launching asks :func:`launch_place`, which also decides whether anything may start."""
    contract = current_contract(session, organisation=organisation)
    if contract is not None and contract.environment is not None:
        return contract.environment
    environment = _fallback(session, organisation=organisation)
    if environment is None:
        raise HubUnavailable(f"no environment is registered for organisation {organisation.slug!r}: there is no "
                             "hub to start workspaces in", reason="no-environment")
    return environment


@dataclass(frozen=True)
class LaunchPlace:
    """Where a member's launch goes: the environment, and the contract it runs under (None: no contract)."""

    environment: Environment
    contract: Contract | None = None


def launch_place(session: Session, *, organisation: Organisation, require_contract: bool = False) -> LaunchPlace:
    """Where a member of ``organisation`` may launch now, or the refusal of the module's docstring."""
    contract = current_contract(session, organisation=organisation)
    if contract is None:
        environment = None if require_contract else _fallback(session, organisation=organisation)
        if environment is None:
            why = ("members work only under a standard contract here" if require_contract else
                   "there is no shared environment to work in")
            raise LaunchNotAllowed(f"organisation {organisation.slug!r} has no standard contract and {why}; an "
                                   "organisation admin can order one", reason="no-contract")
        return LaunchPlace(environment)
    refusal = STATE_REFUSALS.get(contract.state)
    environment = contract.environment
    if refusal is None and (environment is None or environment.status is not EnvironmentStatus.ACTIVE):
        refusal = "contract-not-active"
    if refusal is not None:
        raise Conflict(f"contract {contract.id} of organisation {organisation.slug!r} is {contract.state.value}: "
                       f"workspaces start only under an active contract", reason=refusal)
    return LaunchPlace(environment, contract)


def offered_sizes(session: Session, *, contract: Contract, user: User, today: date) -> frozenset[str]:
    """The ``bundle/size`` the contract offers ``user`` today: the contract's, and theirs on request (approved,
    ``ends_on`` today or later)."""
    extra = session.execute(select(SizeRequest.bundle, SizeRequest.size).where(
        SizeRequest.contract_id == contract.id, SizeRequest.requester_id == user.id,
        SizeRequest.state == SizeRequestState.APPROVED, SizeRequest.ends_on >= today)).all()
    return frozenset(contract.sizes) | {f"{bundle}/{size}" for bundle, size in extra}


def check_offer(session: Session, *, contract: Contract, user: User, bundle: str, size: str, today: date) -> None:
    """The bundle must be the contract's and the size offered to ``user`` today."""
    if bundle not in contract.bundles:
        raise LaunchNotAllowed(f"bundle {bundle!r} is not in contract {contract.id}; it offers "
                               f"{', '.join(contract.bundles) or 'none'}", reason="bundle-not-in-contract")
    offered = offered_sizes(session, contract=contract, user=user, today=today)
    if f"{bundle}/{size}" not in offered:
        mine = sorted(s.split("/", 1)[1] for s in offered if s.startswith(f"{bundle}/"))
        raise LaunchNotAllowed(f"size {size!r} of bundle {bundle!r} is not offered to you in contract "
                               f"{contract.id}; offered: {', '.join(mine) or 'none'} (a larger size can be "
                               "requested)", reason="size-not-in-contract")


def hub_place_options(place: LaunchPlace, *, organisation: Organisation) -> dict[str, str]:
    """The launch options that tell the hub where a launch is for (``hub/launch.py``): ``organisation`` always,
    ``environment`` for a contract environment on a local hub (one hub serves the shared and every contract
    environment there; a cloud contract environment is a hub of its own)."""
    options = {"organisation": organisation.slug}
    if place.contract is not None and place.environment.kind is EnvironmentKind.LOCAL:
        options["environment"] = place.environment.name
    return options


def restart_options(session: Session, *, workspace, user: User, today: date) -> dict[str, str]:
    """A restart runs where the workspace ran, under the rule as it stands now: a contract's workspace only while
    that contract is active and still offers its bundle and size to ``user``; a workspace from before its
    organisation worked under contracts not at all (``contract-environment-required``: start a new one). Returns the
    launch options that tell the hub where it is for (:func:`hub_place_options`)."""
    organisation = workspace.organisation
    if workspace.contract_id is None:
        if current_contract(session, organisation=organisation) is not None:
            raise Conflict(f"workspace {workspace.id} ran in the shared environment; organisation "
                           f"{organisation.slug!r} now works under a standard contract: start a new workspace in "
                           "its environment", reason="contract-environment-required")
        return {"organisation": organisation.slug}
    contract = session.get(Contract, workspace.contract_id)
    refusal = STATE_REFUSALS.get(contract.state) if contract is not None else "contract-ended"
    if refusal is not None:
        raise Conflict(f"contract {workspace.contract_id} of organisation {organisation.slug!r} is "
                       f"{contract.state.value if contract else 'gone'}: workspaces start only under an active "
                       "contract", reason=refusal)
    check_offer(session, contract=contract, user=user, bundle=workspace.bundle_id, size=workspace.size_id,
                today=today)
    return hub_place_options(LaunchPlace(workspace.environment, contract), organisation=organisation)


@dataclass(frozen=True)
class MemberOffer:
    """What a member of an organisation under a standard contract is offered (catalogue and launch pages, the JSON
    API): the current contract's bundles, its sizes plus the member's approved sizes on request, and — when the
    contract is not active — why nothing starts."""

    contract: Contract
    bundles: frozenset[str]
    sizes: frozenset[str]

    @property
    def refusal(self) -> Conflict | None:
        reason = STATE_REFUSALS.get(self.contract.state)
        if reason is None:
            return None
        return Conflict(f"contract {self.contract.id} is {self.contract.state.value}: workspaces start only under an "
                        "active contract", reason=reason)

    def bundle_refusal(self, bundle: str) -> PortalError | None:
        """Why this bundle cannot start under the contract (its state first); None when it can."""
        if self.refusal is not None:
            return self.refusal
        if bundle not in self.bundles:
            return LaunchNotAllowed(f"bundle {bundle!r} is not in contract {self.contract.id}; it offers "
                                    f"{', '.join(sorted(self.bundles)) or 'none'}", reason="bundle-not-in-contract")
        return None

    def offers_size(self, bundle: str, size: str) -> bool:
        return f"{bundle}/{size}" in self.sizes


def member_offer(session: Session, *, user: User, organisation: Organisation | None,
                 today: date) -> MemberOffer | None:
    """The contract offer of ``user`` as a member of ``organisation``; None when it works under no contract (the
    catalogue's offer for their roles holds)."""
    if organisation is None:
        return None
    contract = _contract_as_read(session, organisation)
    if contract is None:
        return None
    return MemberOffer(contract, frozenset(contract.bundles),
                       offered_sizes(session, contract=contract, user=user, today=today))
