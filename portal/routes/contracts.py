"""Standard contract pages: an organisation's contracts and the order form with its price estimate (its admins), one
contract with its history and the decision (its admins, platform admins), and every contract for platform admins
(sortable, filterable, CSV). A refused form shows the page again with the problem, its field marked and what was
entered: nothing is stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import func, select
from fastapi.responses import RedirectResponse, Response

from ..api.contracts import ContractDep
from ..deps import CatalogueDep, CsrfForm, CurrentUser, OrganisationDep, SessionDep, SettingsDep
from ..errors import Conflict, Forbidden, InvalidInput, PortalError
from ..models import ContractState, Organisation, User, WorkspaceSession, utcnow
from ..services import contract_overview as overview_service
from ..services import contracts as contract_service
from ..services import metering, spend_chart
from ..services import provisioning
from ..services.admin_scope import require_platform_admin
from ..services.contract_order import Estimate, fields, order_form_values
from ..services.grants import is_admin_of
from .rendering import render

router = APIRouter(include_in_schema=False)
DONE = {"draft", "requested", "approved", "rejected", "ended", "retried", "budget", "reactivated"}
Text = Annotated[str | None, Query(max_length=64)]


@router.get("/organisations/{slug}/contracts", name="organisation_contracts")
def organisation_contracts(request: Request, organisation: OrganisationDep, user: CurrentUser, session: SessionDep):
    rows = contract_service.list_contracts(session, user=user, organisation=organisation)
    return render(request, "contracts.html", user=user, organisation=organisation, contracts=rows,
                  may_order=is_admin_of(user, organisation),
                  spend=overview_service.organisation_spend(session, contracts=rows),
                  notices=overview_service.recent_notices(session, contract_ids=[c.id for c in rows]))


#: Contract states whose page shows spend (the environment exists, or existed).
SPENDING = (ContractState.ACTIVE, ContractState.SUSPENDED, ContractState.ENDED)


def _spend(session, contract) -> dict:
    """What the contract page shows of spend: figures and chart (active, suspended, ended), and its notices."""
    notices = overview_service.recent_notices(session, contract_ids=[contract.id])
    if contract.state not in SPENDING:
        return {"spend": None, "chart": None, "notices": notices}
    view = metering.picture(session, contract=contract)
    return {"spend": view, "chart": spend_chart.chart(view, starts_on=contract.starts_on, ends_on=contract.ends_on),
            "notices": notices, "running": _running(session, contract.id)}


def _running(session, contract_id: int) -> tuple[int, Decimal]:
    """How many of the contract's workspaces run now, and what they cost per hour together (its open sessions)."""
    count, per_hour = session.execute(
        select(func.count(), func.coalesce(func.sum(WorkspaceSession.price_per_hour), 0))
        .where(WorkspaceSession.contract_id == contract_id, WorkspaceSession.stopped_at.is_(None))).one()
    return int(count), Decimal(str(per_hour)).quantize(Decimal("0.0001"))      # prices per hour have 4 decimals


def _require_orderer(user: User, organisation: Organisation) -> None:
    if not is_admin_of(user, organisation):
        raise Forbidden(f"only admins of organisation {organisation.slug!r} may order contracts",
                        reason="not-organisation-admin")


def _form(request: Request, *, user: User, organisation: Organisation, catalogue, entered: dict,
          estimate: Estimate | None = None, problem: PortalError | None = None, status_code: int = 200):
    today = utcnow().date()
    return render(request, "contract_order.html", user=user, organisation=organisation, entered=entered,
                  estimate=estimate, problem=problem, problem_field=getattr(problem, "field", None),
                  status_code=status_code, today=today,
                  partners=sorted(catalogue.partners.values(), key=lambda p: p.name),
                  bundles=[b for b in sorted(catalogue.bundles.values(), key=lambda b: b.id) if b.offered
                           and not b.deprecated])


@router.get("/organisations/{slug}/contracts/new", name="order_contract")
def order_form(request: Request, organisation: OrganisationDep, user: CurrentUser, catalogue: CatalogueDep):
    _require_orderer(user, organisation)
    return _form(request, user=user, organisation=organisation, catalogue=catalogue,
                 entered={"stage": "development", "expected_users": "5", "hours_per_week": "8"})


@router.post("/organisations/{slug}/contracts", name="place_order", dependencies=[CsrfForm])
async def place_order(request: Request, organisation: OrganisationDep, user: CurrentUser, session: SessionDep,
                      catalogue: CatalogueDep, settings: SettingsDep,
                      action: Annotated[Literal["estimate", "draft", "submit"], Form()] = "estimate"):
    _require_orderer(user, organisation)
    form = await request.form()
    data = {name: (form.getlist(name) if name in ("roles", "bundles", "sizes") else form.get(name, ""))
            for name in fields()}
    entered = order_form_values(data)
    try:
        if action == "estimate":
            _, priced = contract_service.price(catalogue=catalogue, data=data)
            return _form(request, user=user, organisation=organisation, catalogue=catalogue, entered=entered,
                         estimate=priced)
        contract = contract_service.order(session, catalogue=catalogue, organisation=organisation, actor=user,
                                          data=data, submit=action == "submit",
                                          provisioner_for=settings.provisioner_for)
    except (InvalidInput, Conflict) as problem:
        session.rollback()
        return _form(request, user=user, organisation=organisation, catalogue=catalogue, entered=entered,
                     problem=problem, status_code=problem.status)
    session.commit()
    return RedirectResponse(f"/contracts/{contract.id}?done={contract.state.value}", status_code=303)


def _page(request: Request, session, contract, user: User, *, done: str | None = None,
          problem: PortalError | None = None, **extra):
    """The contract page: as it is, or again after a refused form (the problem shown, its status; nothing stored)."""
    if problem is not None:
        session.rollback()
        session.refresh(contract)
    return render(request, "contract.html", user=user, contract=contract, estimate=Estimate.from_json(contract.estimate),
                  done=done, problem=problem, status_code=problem.status if problem else 200,
                  **_spend(session, contract),
                  may_decide=user.platform_admin and user.membership(contract.organisation_id) is None,
                  may_request=problem is None and contract.state is ContractState.DRAFT
                  and is_admin_of(user, contract.organisation), **extra)


@router.get("/contracts/{contract_id}", name="contract")
def contract_page(request: Request, contract: ContractDep, user: CurrentUser, session: SessionDep):
    done = request.query_params.get("done")
    return _page(request, session, contract, user, done=done if done in DONE else None)


def _step(request: Request, session, contract, user: User, to: ContractState, reason: str | None):
    try:
        if to is ContractState.REQUESTED:
            contract_service.request(session, contract=contract, actor=user)
        else:
            contract_service.transition(session, contract=contract, to=to, actor=user, reason=reason,
                                        catalogue=request.app.state.portal.catalogue)
            if to is ContractState.APPROVED:       # approval starts provisioning; a first attempt follows at once
                provisioning.start(session, contract=contract)
    except (InvalidInput, Conflict) as problem:
        return _page(request, session, contract, user, problem=problem)
    session.commit()
    if to is ContractState.APPROVED:
        _attempt_now(request, contract.id)
    return RedirectResponse(f"/contracts/{contract.id}?done={to.value}", status_code=303)


def _attempt_now(request: Request, contract_id: int) -> None:
    state = request.app.state.portal
    provisioning.attempt_soon(state.sessions, contract_id=contract_id, settings=state.settings,
                              catalogue=state.catalogue)


@router.post("/contracts/{contract_id}/retry", name="retry_provisioning", dependencies=[CsrfForm])
def retry_provisioning(request: Request, contract: ContractDep, user: CurrentUser, session: SessionDep):
    """A platform admin makes the next provisioning attempt due now, and it runs."""
    require_platform_admin(user)
    try:
        provisioning.retry(session, contract=contract, actor=user)
    except Conflict as problem:
        return _page(request, session, contract, user, problem=problem)
    session.commit()
    _attempt_now(request, contract.id)
    return RedirectResponse(f"/contracts/{contract.id}?done=retried", status_code=303)


@router.post("/contracts/{contract_id}/budget", name="change_budget", dependencies=[CsrfForm])
def change_budget(request: Request, contract: ContractDep, user: CurrentUser, session: SessionDep,
                  budget_eur: Annotated[str, Form(max_length=64)] = "",
                  reason: Annotated[str, Form(max_length=2000)] = ""):
    """A platform admin raises or lowers the budget with a reason (``services/contracts.py`` decides who may); a
    refusal shows the page again with the problem and what was entered."""
    try:
        change = contract_service.change_budget(session, contract=contract, actor=user, budget_eur=budget_eur,
                                                reason=reason)
    except (InvalidInput, Conflict) as problem:
        return _page(request, session, contract, user, problem=problem,
                     budget_entered={"budget_eur": budget_eur, "reason": reason},
                     problem_field=getattr(problem, "field", None) or (
                         "reason" if problem.reason == "contract-reason-required" else None))
    session.commit()
    return RedirectResponse(f"/contracts/{contract.id}?done={'reactivated' if change.reactivated else 'budget'}",
                            status_code=303)


@router.post("/contracts/{contract_id}/request", name="request_contract", dependencies=[CsrfForm])
def request_contract(request: Request, contract: ContractDep, user: CurrentUser, session: SessionDep):
    return _step(request, session, contract, user, ContractState.REQUESTED, None)


@router.post("/contracts/{contract_id}/approve", name="approve_contract", dependencies=[CsrfForm])
def approve_contract(request: Request, contract: ContractDep, user: CurrentUser, session: SessionDep,
                     reason: Annotated[str, Form(max_length=2000)] = ""):
    return _step(request, session, contract, user, ContractState.APPROVED, reason)


@router.post("/contracts/{contract_id}/reject", name="reject_contract", dependencies=[CsrfForm])
def reject_contract(request: Request, contract: ContractDep, user: CurrentUser, session: SessionDep,
                    reason: Annotated[str, Form(max_length=2000)] = ""):
    return _step(request, session, contract, user, ContractState.REJECTED, reason)


@router.post("/contracts/{contract_id}/end", name="end_contract", dependencies=[CsrfForm])
def end_contract(request: Request, contract: ContractDep, user: CurrentUser, session: SessionDep,
                 reason: Annotated[str, Form(max_length=2000)] = ""):
    return _step(request, session, contract, user, ContractState.ENDED, reason)


#: The filter form sends the field empty when nobody typed a share: that is no filter, not a bad request.
UsedMin = Annotated[str | None, Query(max_length=16, description="at least this % of the budget spent (0–10000)")]


def _used_min(value: str | None) -> float | None:
    text = (value or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 10000:
        raise InvalidInput(f"used_min = {value!r}: give a percentage of the budget from 0 to 10000",
                           reason="invalid-filter")
    return share


def _admin_rows(session, user: User, state: str | None, partner: str | None, sort: str, order: str,
                used_min: str | None = None):
    require_platform_admin(user)
    return overview_service.overview(session, user=user, state=state or None, partner=partner or None, sort=sort,
                                     descending=order == "desc", used_min=_used_min(used_min))


@router.get("/admin/contracts", name="admin-contracts")
def admin_contracts(request: Request, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
                    state: Text = None, partner: Text = None, sort: Annotated[str, Query(max_length=32)] = "id",
                    order: Annotated[Literal["asc", "desc"], Query()] = "desc", used_min: UsedMin = None,
                    page: Annotated[int, Query(ge=1, le=100_000, description="page of the overview, from 1")] = 1):
    require_platform_admin(user)
    found = overview_service.overview_page(session, user=user, page=page, per_page=overview_service.PER_PAGE,
                                           state=state or None, partner=partner or None, sort=sort,
                                           descending=order == "desc", used_min=_used_min(used_min))
    rows = found.rows
    return render(request, "admin_contracts.html", user=user, contracts=[c for c, _ in rows],
                  spend={c.id: spent for c, spent in rows}, listing=found, states=list(ContractState),
                  partners=sorted(catalogue.partners),
                  fields={"state": state or "", "partner": partner or "",
                          "used_min": "" if _used_min(used_min) is None else "%g" % _used_min(used_min)},
                  sort=sort, order=order, sorts=[*contract_service.SORTS, *overview_service.SPEND_SORTS])


@router.get("/admin/contracts.csv", name="admin-contracts-csv")
def admin_contracts_csv(user: CurrentUser, session: SessionDep, state: Text = None, partner: Text = None,
                        sort: Annotated[str, Query(max_length=32)] = "id",
                        order: Annotated[Literal["asc", "desc"], Query()] = "desc", used_min: UsedMin = None):
    rows = _admin_rows(session, user, state, partner, sort, order, used_min)
    return Response(overview_service.csv_text(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="contracts.csv"'})
