"""Sizes on request, the pages: an organisation's members ask for a size their contract does not offer by default
(a GPU size, or a larger one) and see their requests; its admins also see every request under its contracts and
decide on the open ones, never on their own (``services/size_requests.py`` decides who may). A refused form shows
the page again with the problem, its field marked and what was entered: nothing is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request

from ..db import MAX_ID
from ..deps import CatalogueDep, CsrfForm, CurrentUser, SessionDep
from ..errors import Conflict, InvalidInput, PortalError
from ..models import Contract, Organisation, User
from ..services import size_requests as service
from ..services.grants import is_admin_of
from .rendering import committed, refused, render

router = APIRouter(include_in_schema=False)
DONE = {"requested", "approved", "rejected"}


def organisation_for_member(slug: str, session: SessionDep, user: CurrentUser) -> Organisation:
    return service.member_organisation(session, user=user, slug=slug)


MemberOrganisationDep = Annotated[Organisation, Depends(organisation_for_member)]


def choices(catalogue, contracts: list[Contract]) -> list[dict]:
    """Per open contract, the sizes a member may ask for: of its bundles, not offered by default, fitting the
    partner's machines."""
    out = []
    for contract in contracts:
        partner = catalogue.partners.get(contract.partner)
        for bundle_id in contract.bundles:
            bundle = catalogue.bundles.get(bundle_id)
            for size in (bundle.sizes if bundle and partner else ()):
                key = f"{bundle_id}/{size.id}"
                if key not in contract.sizes and partner.machine_for(size) is not None:
                    out.append({"value": f"{contract.id}:{key}", "contract": contract, "bundle": bundle_id,
                                "size": size})
    return out


def _page(request: Request, session, *, user: User, organisation: Organisation, catalogue, entered: dict | None = None,
          problem: PortalError | None = None, status_code: int = 200):
    contracts = service.open_contracts(session, organisation=organisation)
    rows = service.for_organisation(session, organisation=organisation, user=user)
    done = request.query_params.get("done")
    return render(request, "size_requests.html", user=user, organisation=organisation, contracts=contracts,
                  choices=choices(catalogue, contracts), requests=rows, entered=entered or {},
                  problem=problem, problem_field=getattr(problem, "field", None), status_code=status_code,
                  done=done if done in DONE else None, is_admin=is_admin_of(user, organisation),
                  may_decide=lambda r: service.may_decide(user, r, organisation_contract(contracts, r)))


def organisation_contract(contracts: list[Contract], row) -> Contract | None:
    return next((c for c in contracts if c.id == row.contract_id), None)


@router.get("/organisations/{slug}/sizes", name="size_requests")
def size_requests(request: Request, organisation: MemberOrganisationDep, user: CurrentUser, session: SessionDep,
                  catalogue: CatalogueDep):
    return _page(request, session, user=user, organisation=organisation, catalogue=catalogue)


@router.post("/organisations/{slug}/sizes", name="request_size", dependencies=[CsrfForm])
def request_size(request: Request, organisation: MemberOrganisationDep, user: CurrentUser, session: SessionDep,
                 catalogue: CatalogueDep, choice: Annotated[str, Form(max_length=200)] = "",
                 reason: Annotated[str, Form(max_length=2000)] = "",
                 ends_on: Annotated[str, Form(max_length=32)] = ""):
    entered = {"choice": choice, "reason": reason, "ends_on": ends_on}
    contract_part, _, key = choice.partition(":")
    bundle, _, size = key.partition("/")
    try:
        contract = session.get(Contract, int(contract_part)) if contract_part.isdigit() \
            and int(contract_part) <= MAX_ID else None
        if contract is None or contract.organisation_id != organisation.id:
            raise service.SizeRequestRefused("contract", f"{choice!r}: choose a size under one of "
                                             f"{organisation.slug!r}'s contracts", reason="unknown-contract")
        service.request_size(session, catalogue=catalogue, contract=contract, actor=user,
                             data={"bundle": bundle, "size": size, "reason": reason, "ends_on": ends_on})
    except (InvalidInput, Conflict) as problem:
        return refused(session, problem, _page, request, session, user=user, organisation=organisation,
                       catalogue=catalogue, entered=entered)
    return committed(session, f"/organisations/{organisation.slug}/sizes?done=requested")


def _decide(request: Request, session, catalogue, user: User, request_id: int, approve: bool, reason: str):
    row = service.get_request(session, request_id=request_id)
    contract = session.get(Contract, row.contract_id)
    organisation = contract.organisation
    try:
        service.decide(session, size_request=row, actor=user, approve=approve, reason=reason)
    except (InvalidInput, Conflict) as problem:
        return refused(session, problem, _page, request, session, user=user, organisation=organisation,
                       catalogue=catalogue)
    return committed(session, f"/organisations/{organisation.slug}/sizes?done={row.state.value}")


@router.post("/size-requests/{request_id}/approve", name="approve_size", dependencies=[CsrfForm])
def approve_size(request: Request, request_id: int, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
                 reason: Annotated[str, Form(max_length=2000)] = ""):
    return _decide(request, session, catalogue, user, request_id, True, reason)


@router.post("/size-requests/{request_id}/reject", name="reject_size", dependencies=[CsrfForm])
def reject_size(request: Request, request_id: int, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep,
                reason: Annotated[str, Form(max_length=2000)] = ""):
    return _decide(request, session, catalogue, user, request_id, False, reason)

