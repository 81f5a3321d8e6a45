"""Standard contracts in the JSON API: estimate and order (organisation admins), list and read (organisation admins
their own, platform admins all), request, approve, reject and end, and the budget (``services/contracts.py`` decides
who may)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, status
from pydantic import BaseModel, Field

from ..db import get_or_404
from ..deps import CatalogueDep, CsrfHeader, CurrentUser, SessionDep, SettingsDep, StateDep
from ..errors import LoginRequired
from ..models import Contract, ContractState
from ..services import contracts as contract_service
from ..services import metering
from ..services import gitops, provisioning
from ..services import organisations as organisation_service
from ..services.contract_order import Estimate
from .schemas import API_PREFIX, ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["contracts"])
CONFLICT = {409: {"model": ERRORS[403]["model"], "description": "not possible in the contract's state, or it "
                                                                 "overlaps another contract"}}
Value = str | int | float | None


def contract_for_user(contract_id: int, session: SessionDep, user: CurrentUser) -> Contract:
    """The get-or-404-and-authorise dependency of one contract (pages and API)."""
    return contract_service.get_contract(session, user=user, contract_id=contract_id)


ContractDep = Annotated[Contract, Depends(contract_for_user)]


class OrderIn(BaseModel):
    """An order; every value is checked by the portal, which names the field it refuses (422, or 409 on overlap)."""

    partner: str = Field(description="catalogue partner id, e.g. aws")
    region: str = Field(description="one of the partner's EU regions, e.g. eu-central-1")
    stage: str = Field(description="development or production")
    roles: list[str] = Field(description="workbench roles, e.g. [\"bi\"]")
    bundles: list[str] = Field(description="active bundles of those roles")
    sizes: list[str] = Field(default_factory=list, description="allowed sizes as bundle/size; a bundle with none "
                                                                "listed allows every size that fits the partner")
    expected_users: Value = Field(description="expected number of users (1–10000)")
    hours_per_week: Value = Field(description="hours per week per user (more than 0, at most 168)")
    budget_eur: Value = Field(description="budget in euros excluding VAT, more than 0")
    starts_on: str = Field(description="first day, today or later (YYYY-MM-DD)")
    ends_on: str = Field(description="last day, on or after the start (YYYY-MM-DD)")
    contact: str = Field(description="contact person")
    cost_centre: str = Field(description="cost centre")


class NewContractIn(OrderIn):
    organisation: str = Field(description="the ordering organisation's id (you are its admin)")
    submit: bool = Field(default=True, description="request approval at once (else: stored as a draft)")


class EstimateLineOut(BaseModel):
    bundle: str
    size: str
    label: str
    eur_per_hour: float = Field(description="the catalogue's price rule: explicit, or the share of the machine")
    explicit: bool
    machine: str
    hours_per_month: float
    per_month: float
    period: float


class EstimateOut(BaseModel):
    lines: list[EstimateLineOut]
    per_month: float
    period: float = Field(description="for the whole period, start and end day included")
    days: int
    budget_eur: float
    over_budget: bool

    @classmethod
    def of(cls, estimate: Estimate) -> "EstimateOut":
        return cls(**{k: v for k, v in estimate.as_json().items() if k != "rule"})


class TransitionOut(BaseModel):
    from_state: ContractState | None
    to_state: ContractState
    by: str | None = Field(description="user name; null: the portal itself")
    at: datetime
    reason: str | None


class ProvisioningOut(BaseModel):
    """Where provisioning is (platform admins and the organisation's admins see it)."""

    status: str | None = Field(description="pending, running, failed, waiting (for CI's deploy), done; null before "
                                           "approval")
    attempts: int
    error: str | None = Field(description="the last failed attempt's error")
    next_at: datetime | None = Field(description="when the next attempt is due")
    environment: str | None = Field(description="the environment it made")
    detail: dict[str, Any] = Field(description="what the provisioner made: environment file, stack file, branch, "
                                               "pull request")

    @classmethod
    def of(cls, c: Contract) -> "ProvisioningOut":
        return cls(status=c.provisioning_status.value if c.provisioning_status else None,
                   attempts=c.provisioning_attempts or 0, error=c.provisioning_error,
                   next_at=c.provisioning_next_at, environment=c.environment.name if c.environment else None,
                   detail=c.provisioning_detail or {})


class SpendDayOut(BaseModel):
    day: date
    cumulative_eur: float = Field(description="spend from the start up to the end of this day")


class SpendOut(BaseModel):
    """Spend under a contract: running time of its workspaces × the price per hour of their sizes (the catalogue's
    price rule), summed in the database; workspaces still running count up to now."""

    spent_eur: float = Field(description="spent so far")
    budget_eur: float
    used: float = Field(description="share of the budget spent (1.0 = all of it)")
    warned_at: datetime | None = Field(default=None, description="when the 80 % warning went out")
    rate_per_day_eur: float | None = Field(default=None, description="the current rate: the average day of the "
                                                                     "last seven (one contract only)")
    forecast_eur: float | None = Field(default=None, description="spend at the end date at the current rate (one "
                                                                 "contract only)")
    days: list[SpendDayOut] | None = Field(default=None, description="cumulative spend per day from the start to "
                                                                     "today (one contract only)")

    @classmethod
    def of(cls, c: Contract, spent: Decimal, view: metering.SpendPicture | None = None) -> "SpendOut":
        budget = float(c.budget_eur)
        out = cls(spent_eur=float(spent), budget_eur=budget, used=round(float(spent) / budget, 4) if budget else 0.0,
                  warned_at=c.budget_warned_at)
        if view is not None:
            out.rate_per_day_eur, out.forecast_eur = float(view.rate_per_day), float(view.forecast)
            out.days = [SpendDayOut(day=d, cumulative_eur=float(v)) for d, v in view.days]
        return out


class ContractOut(BaseModel):
    id: int
    organisation: str
    state: ContractState
    partner: str
    region: str
    stage: str
    provisioner: str
    roles: list[str]
    bundles: list[str]
    sizes: list[str]
    expected_users: int
    hours_per_week: float
    budget_eur: float
    starts_on: date
    ends_on: date
    contact: str
    cost_centre: str
    estimate: EstimateOut | None
    transitions: list[TransitionOut]
    provisioning: ProvisioningOut | None = None
    spend: SpendOut | None = Field(default=None, description="spend against the budget (in GET responses)")

    @classmethod
    def of(cls, c: Contract) -> "ContractOut":
        estimate = Estimate.from_json(c.estimate)
        return cls(id=c.id, organisation=c.organisation.slug, state=c.state, partner=c.partner, region=c.region,
                   stage=c.stage.value, provisioner=c.provisioner, roles=c.roles, bundles=c.bundles, sizes=c.sizes,
                   expected_users=c.expected_users, hours_per_week=float(c.hours_per_week),
                   budget_eur=float(c.budget_eur), starts_on=c.starts_on, ends_on=c.ends_on, contact=c.contact,
                   cost_centre=c.cost_centre, estimate=EstimateOut.of(estimate) if estimate else None,
                   transitions=[TransitionOut(from_state=t.from_state, to_state=t.to_state,
                                              by=t.actor.username if t.actor else None, at=t.at, reason=t.reason)
                                for t in c.transitions],
                   provisioning=ProvisioningOut.of(c))


class ReasonIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000, description="why (required to reject and to end)")


class BudgetIn(BaseModel):
    budget_eur: Value = Field(description="the new budget in euros excluding VAT: more than 0, at most 10000000, at "
                                          "most 2 decimals, other than the current one")
    reason: str | None = Field(default=None, max_length=2000, description="why, e.g. the organisation's request "
                                                                          "(3–500 characters)")


def _order_data(body: OrderIn) -> dict[str, Any]:
    return body.model_dump(exclude={"organisation", "submit"})


@router.post("/contracts/estimate", response_model=EstimateOut, responses=ERRORS, dependencies=[CsrfHeader],
             summary="Price estimate of an order (stores nothing)")
def estimate(body: OrderIn, user: CurrentUser, catalogue: CatalogueDep) -> EstimateOut:
    _, priced = contract_service.price(catalogue=catalogue, data=_order_data(body))
    return EstimateOut.of(priced)


@router.post("/contracts", response_model=ContractOut, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader], summary="Order a standard contract")
def order(body: NewContractIn, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
          settings: SettingsDep) -> ContractOut:
    """As an admin of ``organisation``: checked whole first (nothing is stored on a refusal), then stored as a draft
    and, with ``submit``, requested for approval by a platform admin."""
    organisation = organisation_service.get_organisation(session, user=user, slug=body.organisation)
    contract = contract_service.order(session, catalogue=catalogue, organisation=organisation, actor=user,
                                      data=_order_data(body), submit=body.submit,
                                      provisioner_for=settings.provisioner_for)
    session.commit()
    return ContractOut.of(contract)


@router.get("/contracts", response_model=list[ContractOut], responses=ERRORS,
            summary="Contracts you may see (organisation admins: their own; platform admins: all)")
def contracts(user: CurrentUser, session: SessionDep,
              state: Annotated[str | None, Query(max_length=32)] = None,
              partner: Annotated[str | None, Query(max_length=64)] = None,
              organisation: Annotated[str | None, Query(max_length=64)] = None,
              sort: Annotated[str, Query(max_length=32)] = "id",
              order: Annotated[Literal["asc", "desc"], Query()] = "desc") -> list[ContractOut]:
    org = organisation_service.get_organisation(session, user=user, slug=organisation) if organisation else None
    rows = contract_service.list_contracts(session, user=user, organisation=org, state=state, partner=partner,
                                           sort=sort, descending=order == "desc")
    spent = metering.spend_by_contract(session, contract_ids=[c.id for c in rows])
    return [ContractOut.of(c).model_copy(update={"spend": SpendOut.of(c, spent.get(c.id, Decimal(0)))})
            for c in rows]


@router.get("/contracts/{contract_id}", response_model=ContractOut, responses=ERRORS, summary="One contract")
def contract(contract: ContractDep, session: SessionDep) -> ContractOut:
    view = metering.picture(session, contract=contract)
    return ContractOut.of(contract).model_copy(update={"spend": SpendOut.of(contract, view.spent, view)})


def _step(session, contract: Contract, to: ContractState, user, reason: str | None) -> ContractOut:
    if to is ContractState.REQUESTED:
        contract_service.request(session, contract=contract, actor=user)
    else:
        contract_service.transition(session, contract=contract, to=to, actor=user, reason=reason)
    session.commit()
    return ContractOut.of(contract)


@router.post("/contracts/{contract_id}/request", response_model=ContractOut, responses={**ERRORS, **CONFLICT},
             dependencies=[CsrfHeader], summary="Submit a draft for approval (organisation admins)")
def request(contract: ContractDep, user: CurrentUser, session: SessionDep) -> ContractOut:
    return _step(session, contract, ContractState.REQUESTED, user, None)


@router.post("/contracts/{contract_id}/approve", response_model=ContractOut, responses={**ERRORS, **CONFLICT},
             dependencies=[CsrfHeader], summary="Approve a requested contract (platform admins of another "
                                                "organisation)")
def approve(contract: ContractDep, user: CurrentUser, session: SessionDep, state: StateDep,
            body: ReasonIn | None = None) -> ContractOut:
    """Approval starts provisioning at once: the answer shows the contract after the first attempt (``active``
    when the local provisioner made its environment, else ``provisioning`` with its status)."""
    contract_service.transition(session, contract=contract, to=ContractState.APPROVED, actor=user,
                                reason=body.reason if body else None, catalogue=state.catalogue)
    provisioning.start(session, contract=contract)
    session.commit()
    return _attempted(session, contract, state)


def _attempted(session, contract: Contract, state) -> ContractOut:
    provisioning.attempt_soon(state.sessions, contract_id=contract.id, settings=state.settings,
                              catalogue=state.catalogue)
    session.expire_all()
    return ContractOut.of(session.get(Contract, contract.id))


class ActivateIn(BaseModel):
    hub_url: str = Field(max_length=500, description="the deployed hub's public URL (the stack's public_url)")
    hub_api_url: str | None = Field(default=None, max_length=500, description="its REST API; default hub_url + "
                                                                              "/hub/api")


def activation_token(settings: SettingsDep,
                     authorization: Annotated[str | None, Header(description="Bearer <the activation token>")] = None
                     ) -> None:
    """The callback's own authentication (no login): ``Authorization: Bearer <token>`` whose sha256 is
    ``CONTRACT_ACTIVATION_TOKEN_SHA256``, compared in constant time; refused (401) without it, with another, or
    when that setting is unset. A dependency, so it is decided before the body is read."""
    expected = settings.contract_activation_token_sha256
    scheme, _, token = (authorization or "").partition(" ")
    given = hashlib.sha256(token.strip().encode()).hexdigest()
    if not (expected and scheme.lower() == "bearer" and token.strip() and hmac.compare_digest(given, expected)):
        raise LoginRequired("activating a contract needs the deploy's activation token (Authorization: Bearer ...)",
                            reason="activation-refused")


@router.post("/contracts/{contract_id}/activate", response_model=ContractOut, dependencies=[Depends(activation_token)],
             responses={**ERRORS, **CONFLICT}, summary="CI: the contract's environment is deployed; make it active "
                                                       "(the deploy's own token, no login)")
def activate(contract_id: int, body: ActivateIn, session: SessionDep) -> ContractOut:
    """Called by CI's deploy job (``.github/workflows/deploy-contract.yml``) after ``pulumi up``: registers the
    contract's cloud Environment and makes the contract active. Authenticated only by the deploy's token
    (:func:`activation_token`)."""
    contract = get_or_404(session, Contract, contract_id, what="contract", reason="unknown-contract")
    gitops.activate(session, contract=contract, hub_url=body.hub_url, hub_api_url=body.hub_api_url)
    session.commit()
    return ContractOut.of(contract)


@router.post("/contracts/{contract_id}/retry", response_model=ContractOut, responses={**ERRORS, **CONFLICT},
             dependencies=[CsrfHeader], summary="Retry provisioning now (platform admins)")
def retry(contract: ContractDep, user: CurrentUser, session: SessionDep, state: StateDep) -> ContractOut:
    """Makes the next provisioning attempt due now and runs it; refused (409) unless the contract is still
    provisioning."""
    provisioning.retry(session, contract=contract, actor=user)
    session.commit()
    return _attempted(session, contract, state)


@router.post("/contracts/{contract_id}/reject", response_model=ContractOut, responses={**ERRORS, **CONFLICT},
             dependencies=[CsrfHeader], summary="Reject a requested contract, with a reason (platform admins)")
def reject(contract: ContractDep, user: CurrentUser, session: SessionDep, body: ReasonIn | None = None
           ) -> ContractOut:
    return _step(session, contract, ContractState.REJECTED, user, body.reason if body else None)


@router.post("/contracts/{contract_id}/end", response_model=ContractOut, responses={**ERRORS, **CONFLICT},
             dependencies=[CsrfHeader], summary="End a contract, with a reason (platform admins)")
def end(contract: ContractDep, user: CurrentUser, session: SessionDep, body: ReasonIn | None = None) -> ContractOut:
    return _step(session, contract, ContractState.ENDED, user, body.reason if body else None)


@router.post("/contracts/{contract_id}/budget", response_model=ContractOut, responses={**ERRORS, **CONFLICT},
             dependencies=[CsrfHeader], summary="Raise or lower a contract's budget, with a reason (platform admins "
                                                "of another organisation)")
def change_budget(contract: ContractDep, user: CurrentUser, session: SessionDep, body: BudgetIn) -> ContractOut:
    """At the organisation's request, while the contract is approved, provisioning, active or suspended (409
    otherwise); registered as ``contract-budget-changed``. A suspended contract whose spend is below the new budget
    is active again in the answer; an active one whose new budget is already spent is suspended by the budget
    watcher's next pass."""
    contract_service.change_budget(session, contract=contract, actor=user, budget_eur=body.budget_eur,
                                   reason=body.reason)
    session.commit()
    view = metering.picture(session, contract=contract)
    return ContractOut.of(contract).model_copy(update={"spend": SpendOut.of(contract, view.spent, view)})
