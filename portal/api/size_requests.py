"""Sizes on request in the JSON API: a member of a contract's organisation asks for a size; an admin of that
organisation approves or rejects (never their own request); members list their own requests, admins every one
under their organisation's contracts (``services/size_requests.py`` decides who may)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from ..db import get_or_404
from ..deps import CatalogueDep, CsrfHeader, CurrentUser, SessionDep
from ..models import Contract, SizeRequest, SizeRequestState
from ..services import size_requests as service
from .schemas import API_PREFIX, ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["sizes on request"])
CONFLICT = {409: {"model": ERRORS[403]["model"], "description": "already decided, an open request for the same "
                                                                 "size, or not possible in the contract's state"}}


class SizeRequestIn(BaseModel):
    """A request; every value is checked by the portal, which names the field it refuses (422)."""

    contract: int = Field(description="the contract's id (of an organisation you are a member of)")
    bundle: str = Field(description="one of the contract's bundles")
    size: str = Field(description="a size of that bundle the contract does not offer by default, fitting the "
                                  "partner's machines")
    reason: str = Field(description="why you need it (3–500 characters)")
    ends_on: str = Field(description="the last day you need it (YYYY-MM-DD), today or later and not after the "
                                     "contract's last day")


class DecisionIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000, description="why (required to reject)")


class SizeRequestOut(BaseModel):
    id: int
    contract: int
    member: str = Field(description="the requesting member's user name")
    bundle: str
    size: str
    reason: str
    ends_on: date
    state: SizeRequestState
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, r: SizeRequest) -> "SizeRequestOut":
        return cls(id=r.id, contract=r.contract_id, member=r.requester.username, bundle=r.bundle, size=r.size,
                   reason=r.reason, ends_on=r.ends_on, state=r.state,
                   decided_by=r.decided_by.username if r.decided_by else None, decided_at=r.decided_at,
                   decision_reason=r.decision_reason, created_at=r.created_at)


@router.get("/size-requests", response_model=list[SizeRequestOut], responses=ERRORS,
            summary="Size requests under an organisation's contracts (members: their own; admins: all)")
def size_requests(user: CurrentUser, session: SessionDep,
                  organisation: Annotated[str, Query(max_length=64, description="the organisation's id")]
                  ) -> list[SizeRequestOut]:
    org = service.member_organisation(session, user=user, slug=organisation)
    return [SizeRequestOut.of(r) for r in service.for_organisation(session, organisation=org, user=user)]


@router.post("/size-requests", response_model=SizeRequestOut, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader],
             summary="Ask for a size your contract does not offer by default (members)")
def request_size(body: SizeRequestIn, user: CurrentUser, session: SessionDep, catalogue: CatalogueDep
                 ) -> SizeRequestOut:
    contract = get_or_404(session, Contract, body.contract, what="contract", reason="unknown-contract")
    row = service.request_size(session, catalogue=catalogue, contract=contract, actor=user,
                               data=body.model_dump(exclude={"contract"}))
    session.commit()
    return SizeRequestOut.of(row)


def _decide(session, user, request_id: int, approve: bool, body: DecisionIn | None) -> SizeRequestOut:
    row = service.get_request(session, request_id=request_id)
    service.decide(session, size_request=row, actor=user, approve=approve, reason=body.reason if body else None)
    session.commit()
    return SizeRequestOut.of(row)


@router.post("/size-requests/{request_id}/approve", response_model=SizeRequestOut,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader],
             summary="Approve a member's size request (admins of the organisation; never your own)")
def approve(request_id: int, user: CurrentUser, session: SessionDep, body: DecisionIn | None = None
            ) -> SizeRequestOut:
    return _decide(session, user, request_id, True, body)


@router.post("/size-requests/{request_id}/reject", response_model=SizeRequestOut,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader],
             summary="Reject a member's size request, with a reason (admins of the organisation; never your own)")
def reject(request_id: int, user: CurrentUser, session: SessionDep, body: DecisionIn | None = None
           ) -> SizeRequestOut:
    return _decide(session, user, request_id, False, body)
