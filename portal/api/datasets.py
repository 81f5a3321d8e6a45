"""Datasets and access requests in the JSON API (issue 15): every logged-in user lists and reads datasets; members
ask for access; the dataset's data owner approves or rejects (never their own request) and turns automatic approval
on or off (``services/access.py`` decides who may)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from ..deps import CsrfHeader, CurrentUser, SessionDep
from ..models import AccessRequest, AccessRequestState, Dataset, DatasetCategory, SensitivityLevel
from ..services import access as service
from ..services.access_policy import MAX_GRANT_DAYS
from .schemas import API_PREFIX, ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["access to data"])
CONFLICT = {409: {"model": ERRORS[403]["model"], "description": "an open request for the same dataset, already "
                                                                 "decided, or the requester left"}}


class DatasetOut(BaseModel):
    id: int
    identifier: str = Field(description="the identifier at the source (dct:identifier / CKAN name)")
    title_nl: str
    title_en: str | None
    description_nl: str
    description_en: str | None
    organisation: str = Field(description="the owner organisation's id")
    data_owner: str | None = Field(description="the data owner's user name; null: any data owner of the organisation")
    category: DatasetCategory
    sensitivity: SensitivityLevel
    max_grant_days: int = Field(description="the longest grant the sensitivity level allows")
    keywords: list[str]
    source_url: str | None
    auto_approval: bool
    updated_at: datetime

    @classmethod
    def of(cls, d: Dataset) -> "DatasetOut":
        return cls(id=d.id, identifier=d.identifier, title_nl=d.title_nl, title_en=d.title_en,
                   description_nl=d.description_nl, description_en=d.description_en, organisation=d.organisation.slug,
                   data_owner=d.data_owner.username if d.data_owner else None, category=d.category,
                   sensitivity=d.sensitivity, max_grant_days=MAX_GRANT_DAYS[d.sensitivity], keywords=d.keywords or [],
                   source_url=d.source_url, auto_approval=d.auto_approval, updated_at=d.updated_at)


class AccessRequestIn(BaseModel):
    """A request; every value is checked by the portal, which names the field it refuses (422)."""

    dataset: int = Field(description="the dataset's id")
    organisation: str | None = Field(default=None, max_length=64,
                                     description="the organisation you act for (default: your only one)")
    role: str = Field(max_length=64, description="the workbench role you act in (one of yours)")
    purpose: str = Field(max_length=4000, description="the purpose, in your words (10–2000 characters)")
    purpose_code: str = Field(max_length=64, description="one of the documented purpose codes")
    legal_ground: str = Field(max_length=64, description="one of the documented legal grounds")
    starts_on: str = Field(max_length=32, description="first day (YYYY-MM-DD), today up to 30 days ahead")
    ends_on: str = Field(max_length=32, description="last day (YYYY-MM-DD), within the sensitivity level's maximum")


class DecisionIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000, description="why (required to reject)")


class AutoApprovalIn(BaseModel):
    enabled: bool = Field(description="approve a request automatically on an earlier approval (see the README)")


class AccessRequestOut(BaseModel):
    id: int
    dataset: int
    dataset_identifier: str
    member: str = Field(description="the requesting member's user name")
    organisation: str
    role: str
    purpose: str
    purpose_code: str
    legal_ground: str
    starts_on: date
    ends_on: date
    state: AccessRequestState
    automatic: bool
    relied_on: int | None = Field(description="the earlier approval an automatic approval relied on")
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    grant_expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, r: AccessRequest) -> "AccessRequestOut":
        return cls(id=r.id, dataset=r.dataset_id, dataset_identifier=r.dataset.identifier,
                   member=r.requester.username, organisation=r.organisation.slug, role=r.role, purpose=r.purpose,
                   purpose_code=r.purpose_code, legal_ground=r.legal_ground, starts_on=r.starts_on,
                   ends_on=r.ends_on, state=r.state, automatic=r.automatic, relied_on=r.relied_on_id,
                   decided_by=r.decided_by.username if r.decided_by else None, decided_at=r.decided_at,
                   decision_reason=r.decision_reason, grant_expires_at=r.grant.expires_at if r.grant else None,
                   created_at=r.created_at)


@router.get("/datasets", response_model=list[DatasetOut], responses=ERRORS, summary="Datasets (search and filter)")
def datasets(user: CurrentUser, session: SessionDep,
             q: Annotated[str, Query(max_length=200, description="words in the title or description")] = "",
             category: Annotated[str, Query(max_length=32, description="person, business, location, sensor or "
                                                                       "other")] = "",
             organisation: Annotated[str, Query(max_length=64, description="the owner organisation's id")] = ""
             ) -> list[DatasetOut]:
    return [DatasetOut.of(d) for d in service.search(session, text=q, category=category, organisation=organisation)]


@router.get("/datasets/{dataset_id}", response_model=DatasetOut, responses=ERRORS, summary="One dataset")
def dataset(dataset_id: int, user: CurrentUser, session: SessionDep) -> DatasetOut:
    return DatasetOut.of(service.get_dataset(session, dataset_id=dataset_id))


@router.post("/datasets/{dataset_id}/auto-approval", response_model=DatasetOut, responses=ERRORS,
             dependencies=[CsrfHeader], summary="Turn automatic approval on or off (the dataset's data owner)")
def auto_approval(dataset_id: int, body: AutoApprovalIn, user: CurrentUser, session: SessionDep) -> DatasetOut:
    row = service.get_dataset(session, dataset_id=dataset_id)
    service.set_auto_approval(session, dataset=row, actor=user, enabled=body.enabled)
    session.commit()
    return DatasetOut.of(row)


@router.get("/access-requests", response_model=list[AccessRequestOut], responses=ERRORS,
            summary="Your access requests, or (queue=true) the requests for the datasets you are data owner of")
def access_requests(user: CurrentUser, session: SessionDep,
                    queue: Annotated[bool, Query(description="the data owner's queue")] = False
                    ) -> list[AccessRequestOut]:
    rows = service.queue(session, user=user) if queue else service.mine(session, user=user)
    return [AccessRequestOut.of(r) for r in rows]


@router.post("/access-requests", response_model=AccessRequestOut, status_code=status.HTTP_201_CREATED,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader],
             summary="Ask for access to a dataset (members with a workbench role)")
def request_access(body: AccessRequestIn, user: CurrentUser, session: SessionDep) -> AccessRequestOut:
    row = service.get_dataset(session, dataset_id=body.dataset)
    created = service.request_access(session, dataset=row, actor=user, data=body.model_dump(exclude={"dataset"}))
    session.commit()
    return AccessRequestOut.of(created)


def _decide(session, user, request_id: int, approve: bool, body: DecisionIn | None) -> AccessRequestOut:
    row = service.get_request(session, request_id=request_id)
    service.decide(session, access_request=row, actor=user, approve=approve, reason=body.reason if body else None)
    session.commit()
    return AccessRequestOut.of(row)


@router.post("/access-requests/{request_id}/approve", response_model=AccessRequestOut,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader],
             summary="Approve an access request (the dataset's data owner; never your own)")
def approve(request_id: int, user: CurrentUser, session: SessionDep, body: DecisionIn | None = None
            ) -> AccessRequestOut:
    return _decide(session, user, request_id, True, body)


@router.post("/access-requests/{request_id}/reject", response_model=AccessRequestOut,
             responses={**ERRORS, **CONFLICT}, dependencies=[CsrfHeader],
             summary="Reject an access request, with a reason (the dataset's data owner; never your own)")
def reject(request_id: int, user: CurrentUser, session: SessionDep, body: DecisionIn | None = None
           ) -> AccessRequestOut:
    return _decide(session, user, request_id, False, body)
