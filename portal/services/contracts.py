"""Standard contracts: ordering, and the state machine every change of a contract goes through.

The one way to change a contract's state is :func:`transition`: it refuses what :data:`~..models.TRANSITIONS` does
not allow (``contract-illegal-transition``) and who may not make that change, stores a
:class:`~..models.ContractTransition` (who, when, why) and appends the register entry of the state reached.

Who may:

- create a draft, and request it: an admin of the ordering organisation (``not-organisation-admin``);
- approve and reject (a reason required): a platform admin who is no member of the ordering organisation
  (``contract-own-organisation``); a request that would overlap another contract of the organisation for the same
  partner and stage is refused on request and again on approval (``contract-overlap``);
- provisioning, active, suspended: the portal itself (``actor=None``) or a platform admin;
- ended: a platform admin with a reason, or the portal itself at the end date.

The budget (:func:`change_budget`): a platform admin who is no member of the ordering organisation raises or lowers
it, with a reason, at the organisation's request, while the contract is approved, provisioning, active or suspended
(``contract-budget-fixed`` otherwise); registered as ``contract-budget-changed`` with the old and new budget. A
suspended contract whose spend is now below its budget becomes active at once (the budget watcher would on its next
pass); an active contract whose new budget is already spent is left to the watcher, which suspends it and stops its
workspaces. The 80 % and 100 % notices already given are kept but renamed ``budget-80:before-<id>`` /
``budget-100:before-<id>`` (their own row id: unique however often the budget changes) and ``budget_warned_at`` is
cleared, so the watcher warns again against the new budget and tells again when it is spent.

Keyword-only functions; none of them commits.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue

from ..db import get_or_404
from ..errors import Conflict, Forbidden, InvalidInput
from ..models import (
    HOLDING, TRANSITIONS, Contract, ContractNotice, ContractState, ContractTransition, Organisation, RegisterAction,
    User, utcnow,
)
from . import register
from .admin_scope import NOT_PLATFORM_ADMIN
from .contract_order import MAX_BUDGET, Estimate, Order, OrderRefused, estimate, read_order
from .grants import is_admin_of
from .organisations import administered

REASON_MIN, REASON_MAX = 3, 500
ACTION = {
    ContractState.DRAFT: RegisterAction.CONTRACT_DRAFTED,
    ContractState.REQUESTED: RegisterAction.CONTRACT_REQUESTED,
    ContractState.APPROVED: RegisterAction.CONTRACT_APPROVED,
    ContractState.REJECTED: RegisterAction.CONTRACT_REJECTED,
    ContractState.PROVISIONING: RegisterAction.CONTRACT_PROVISIONING,
    ContractState.ACTIVE: RegisterAction.CONTRACT_ACTIVATED,
    ContractState.SUSPENDED: RegisterAction.CONTRACT_SUSPENDED,
    ContractState.ENDED: RegisterAction.CONTRACT_ENDED,
}
#: Transitions only a platform admin or the portal itself makes.
SYSTEM_STATES = frozenset({ContractState.PROVISIONING, ContractState.ACTIVE, ContractState.SUSPENDED})


def _reason(reason: str | None, *, required: bool) -> str | None:
    text = " ".join((reason or "").split())
    if not text and not required:
        return None
    if not REASON_MIN <= len(text) <= REASON_MAX:
        raise InvalidInput(f"reason = {reason!r}: say in {REASON_MIN}–{REASON_MAX} characters why",
                           reason="contract-reason-required")
    return text


def _require_platform_admin(actor: User, what: str) -> None:
    if not actor.platform_admin:
        raise Forbidden(f"only platform admins may {what}", reason=NOT_PLATFORM_ADMIN)


def _require_outsider(actor: User, contract: Contract) -> None:
    if actor.membership(contract.organisation_id) is not None:
        raise Forbidden(f"you are a member of {contract.organisation.slug!r}, which ordered contract "
                        f"{contract.id}; a platform admin of another organisation decides on it",
                        reason="contract-own-organisation")


def _check_actor(contract: Contract, to: ContractState, actor: User | None) -> None:
    if to is ContractState.REQUESTED:
        if actor is None or not is_admin_of(actor, contract.organisation):
            raise Forbidden(f"only admins of organisation {contract.organisation.slug!r} may request its contracts",
                            reason="not-organisation-admin")
    elif to in (ContractState.APPROVED, ContractState.REJECTED):
        if actor is None:
            raise Forbidden("a platform admin decides on a contract, never the portal itself",
                            reason=NOT_PLATFORM_ADMIN)
        _require_platform_admin(actor, "approve or reject contracts")
        _require_outsider(actor, contract)
    elif actor is not None:
        _require_platform_admin(actor, f"make a contract {to.value}")


def transition(session: Session, *, contract: Contract, to: ContractState, actor: User | None,
               reason: str | None = None, catalogue: Catalogue | None = None) -> ContractTransition:
    """Move ``contract`` to ``to`` (this module's rules); stored with who, when and why, and in the register.
    Approved, the contract document is made from the partner's template and stored with it
    (:mod:`.contract_document`; ``catalogue``: the portal's, else the default catalogue)."""
    if not contract.may_become(to):
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[contract.state])) or "nothing (it is final)"
        raise Conflict(f"contract {contract.id} is {contract.state.value}; it cannot become {to.value} (from "
                       f"{contract.state.value}: {allowed})", reason="contract-illegal-transition")
    _check_actor(contract, to, actor)
    required = to is ContractState.REJECTED or (to is ContractState.ENDED and actor is not None)
    why = _reason(reason, required=required)
    if to is ContractState.APPROVED:
        _refuse_overlap(session, contract=contract)
    step = _record(session, contract=contract, before=contract.state, to=to, actor=actor, reason=why)
    if to is ContractState.APPROVED:
        from .contract_document import make_document   # the one place a contract document is made
        make_document(session, contract=contract, catalogue=catalogue or _default_catalogue(), at=step.at)
    return step


@lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    from gereedschapskist.catalogue import load
    return load()


def _record(session: Session, *, contract: Contract, before: ContractState | None, to: ContractState,
            actor: User | None, reason: str | None) -> ContractTransition:
    contract.state = to
    step = ContractTransition(contract=contract, from_state=before, to_state=to, actor=actor, at=utcnow(),
                              reason=reason)
    session.add(step)
    session.flush()
    register.append(session, action=ACTION[to], actor_id=actor.id if actor else None,
                    organisation_id=contract.organisation_id,
                    subject=f"contract {contract.id} with {contract.partner} ({contract.stage.value}) "
                            f"{before.value if before else 'new'} -> {to.value}",
                    purpose=reason, details={"contract": contract.id, "from": before.value if before else None,
                                             "to": to.value, "budget_eur": str(contract.budget_eur)})
    from .contract_files import publish   # the one place a state change reaches the hub's environment file
    publish(session, contract)
    return step


def _overlapping(session: Session, *, organisation_id: int, partner: str, stage, starts_on: date, ends_on: date,
                 other_than: int | None) -> Contract | None:
    query = select(Contract).where(Contract.organisation_id == organisation_id, Contract.partner == partner,
                                   Contract.stage == stage, Contract.state.in_(HOLDING),
                                   Contract.starts_on <= ends_on, Contract.ends_on >= starts_on)
    if other_than is not None:
        query = query.where(Contract.id != other_than)
    return session.scalars(query.order_by(Contract.id).limit(1)).first()


def _refuse_overlap(session: Session, *, contract: Contract) -> None:
    other = _overlapping(session, organisation_id=contract.organisation_id, partner=contract.partner,
                         stage=contract.stage, starts_on=contract.starts_on, ends_on=contract.ends_on,
                         other_than=contract.id)
    if other is not None:
        raise Conflict(f"organisation {contract.organisation.slug!r} already has contract {other.id} with "
                       f"{contract.partner} for {contract.stage.value} from {other.starts_on.isoformat()} to "
                       f"{other.ends_on.isoformat()} ({other.state.value}); the periods overlap",
                       reason="contract-overlap")


def order(session: Session, *, catalogue: Catalogue, organisation: Organisation, actor: User, data: dict[str, Any],
          submit: bool, today: date | None = None, provisioner_for: Callable[[str], str] | None = None) -> Contract:
    """An organisation admin orders: the order is checked whole first (nothing stored on a refusal), stored as a
    draft with its estimate and, with ``submit``, requested at once. ``provisioner_for`` names the provisioner of a
    partner's contracts (``PortalSettings.provisioner_for``; default ``local``)."""
    if not is_admin_of(actor, organisation):
        raise Forbidden(f"only admins of organisation {organisation.slug!r} may order contracts",
                        reason="not-organisation-admin")
    checked: Order = read_order(data, catalogue=catalogue, today=today or utcnow().date())
    priced = estimate(checked, catalogue=catalogue)
    contract = Contract(organisation=organisation, organisation_id=organisation.id, state=ContractState.DRAFT,
                        partner=checked.partner.id, region=checked.region, stage=checked.stage,
                        provisioner=provisioner_for(checked.partner.id) if provisioner_for else "local", roles=list(checked.roles), bundles=list(checked.bundles),
                        sizes=list(checked.sizes), expected_users=checked.expected_users,
                        hours_per_week=checked.hours_per_week, budget_eur=checked.budget_eur,
                        starts_on=checked.starts_on, ends_on=checked.ends_on, contact=checked.contact,
                        cost_centre=checked.cost_centre, estimate=priced.as_json(), created_by=actor)
    if submit:
        _refuse_overlap(session, contract=contract)
    session.add(contract)
    session.flush()
    _record(session, contract=contract, before=None, to=ContractState.DRAFT, actor=actor, reason=None)
    if submit:
        transition(session, contract=contract, to=ContractState.REQUESTED, actor=actor)
    return contract


def price(*, catalogue: Catalogue, data: dict[str, Any], today: date | None = None) -> tuple[Order, Estimate]:
    """Check an order and estimate it, storing nothing."""
    checked = read_order(data, catalogue=catalogue, today=today or utcnow().date())
    return checked, estimate(checked, catalogue=catalogue)


def request(session: Session, *, contract: Contract, actor: User) -> ContractTransition:
    """Submit a draft for approval (its admins); refused when it would overlap a contract already held."""
    if contract.state is ContractState.DRAFT:
        _check_actor(contract, ContractState.REQUESTED, actor)
        _refuse_overlap(session, contract=contract)
    return transition(session, contract=contract, to=ContractState.REQUESTED, actor=actor)


# -- the budget ------------------------------------------------------------------------------------------------------

BUDGET_MAX = MAX_BUDGET          # the same limit as an order's budget
CENT = Decimal("0.01")
#: States in which a platform admin may change the budget.
BUDGET_STATES = (ContractState.APPROVED, ContractState.PROVISIONING, ContractState.ACTIVE, ContractState.SUSPENDED)
#: The notices that belong to one budget: renamed when it changes, so they can be given again.
BUDGET_NOTICES = ("budget-80", "budget-100")


@dataclass(frozen=True)
class BudgetChange:
    """What :func:`change_budget` did: the budget before and after, the spend it was compared with, and whether the
    contract became active again."""

    before: Decimal
    after: Decimal
    spent: Decimal
    reactivated: bool


def read_budget(value: Any) -> Decimal:
    """A budget as entered: more than 0, at most :data:`BUDGET_MAX` euros, at most 2 decimals (``budget_eur``)."""
    text = "" if value is None or isinstance(value, bool) else str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise OrderRefused("budget_eur", f"{value!r} is not a number; write it like 1500 or 1500.50",
                           reason="invalid-budget")
    if not 0 < number <= BUDGET_MAX or number != number.quantize(CENT):
        raise OrderRefused("budget_eur", f"{value!r}: a budget is more than 0 and at most {BUDGET_MAX} euros, with "
                           "at most 2 decimals", reason="invalid-budget")
    return number.quantize(CENT)


def change_budget(session: Session, *, contract: Contract, actor: User, budget_eur: Any, reason: str | None,
                  now: datetime | None = None) -> BudgetChange:
    """A platform admin raises or lowers the contract's budget, with a reason (this module's documentation). Checked
    whole before anything changes; does not commit."""
    _require_platform_admin(actor, "change a contract's budget")
    _require_outsider(actor, contract)
    if contract.state not in BUDGET_STATES:
        raise Conflict(f"contract {contract.id} is {contract.state.value}; its budget can be changed only while it "
                       f"is {', '.join(s.value for s in BUDGET_STATES)}", reason="contract-budget-fixed")
    after = read_budget(budget_eur)
    why = _reason(reason, required=True)
    before = Decimal(contract.budget_eur).quantize(CENT)
    if after == before:
        raise OrderRefused("budget_eur", f"{budget_eur!r}: the budget of contract {contract.id} is € {before} "
                           "already", reason="budget-unchanged")
    from .metering import contract_spend
    spent = contract_spend(session, contract_id=contract.id, now=now)
    contract.budget_eur = after
    contract.budget_warned_at = None
    for row in session.scalars(select(ContractNotice).where(ContractNotice.contract_id == contract.id,
                                                            ContractNotice.kind.in_(BUDGET_NOTICES))):
        row.kind = f"{row.kind}:before-{row.id}"
    session.flush()
    register.append(session, action=RegisterAction.CONTRACT_BUDGET_CHANGED, actor_id=actor.id,
                    organisation_id=contract.organisation_id,
                    subject=f"contract {contract.id} with {contract.partner}: budget € {before} -> € {after}",
                    purpose=why, details={"contract": contract.id, "from_eur": str(before), "to_eur": str(after),
                                          "spent_eur": str(spent), "state": contract.state.value})
    reactivate = contract.state is ContractState.SUSPENDED and spent < after
    if reactivate:
        transition(session, contract=contract, to=ContractState.ACTIVE, actor=actor, reason=why)
    return BudgetChange(before=before, after=after, spent=spent, reactivated=reactivate)


# -- reading ---------------------------------------------------------------------------------------------------------

def may_see(user: User, contract: Contract) -> bool:
    return user.platform_admin or is_admin_of(user, contract.organisation)


def get_contract(session: Session, *, user: User, contract_id: int) -> Contract:
    """The get-or-404-and-authorise rule: its organisation's admins and platform admins see a contract."""
    contract = get_or_404(session, Contract, contract_id, what="contract", reason="unknown-contract")
    if not may_see(user, contract):
        raise Forbidden(f"contract {contract_id} is for admins of {contract.organisation.slug!r} and platform admins",
                        reason="not-organisation-admin")
    return contract


SORTS = {"id": Contract.id, "state": Contract.state, "partner": Contract.partner, "budget": Contract.budget_eur,
         "start": Contract.starts_on, "end": Contract.ends_on, "organisation": Organisation.name}


def list_contracts(session: Session, *, user: User, organisation: Organisation | None = None,
                   state: str | None = None, partner: str | None = None, sort: str = "id",
                   descending: bool = True) -> list[Contract]:
    """Contracts the user may see: platform admins every one, organisation admins their organisations'; filtered by
    organisation, state and partner (an unknown state or sort is refused, not ignored)."""
    query = select(Contract).join(Contract.organisation)
    if not user.platform_admin:
        mine = [o.id for o in administered(user)]
        if not mine:
            raise Forbidden("only organisation admins and platform admins see contracts",
                            reason="not-organisation-admin")
        query = query.where(Contract.organisation_id.in_(mine))
    if organisation is not None:
        query = query.where(Contract.organisation_id == organisation.id)
    query = filtered(query, state=state, partner=partner)
    column = SORTS.get(sort)
    if column is None:
        raise InvalidInput(f"sort = {sort!r}: choose one of {', '.join(SORTS)}", reason="invalid-filter")
    query = query.order_by(column.desc() if descending else column.asc(), Contract.id.desc())
    return list(session.scalars(query))


def filtered(query, *, state: str | None, partner: str | None):
    """``query`` limited to contracts in ``state`` and with ``partner`` (either may be empty: no filter); an unknown
    state is refused, not ignored. The contract lists and the platform admin's overview share it."""
    if state:
        try:
            query = query.where(Contract.state == ContractState(state))
        except ValueError:
            raise InvalidInput(f"state = {state!r}: choose one of {', '.join(s.value for s in ContractState)}",
                               reason="invalid-filter") from None
    if partner:
        query = query.where(Contract.partner == partner)
    return query


CSV_COLUMNS = ("id", "organisation", "state", "partner", "region", "stage", "budget_eur", "estimate_period_eur",
               "starts_on", "ends_on", "cost_centre", "contact")


def csv_text(contracts: Iterable[Contract]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in contracts:
        writer.writerow([c.id, c.organisation.slug, c.state.value, c.partner, c.region, c.stage.value,
                         f"{c.budget_eur:.2f}", f"{(c.estimate or {}).get('period', 0):.2f}", c.starts_on.isoformat(),
                         c.ends_on.isoformat(), _cell(c.cost_centre), _cell(c.contact)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet never runs a cell as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
