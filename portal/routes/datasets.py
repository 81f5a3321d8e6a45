"""Datasets and access requests, the pages (issue 15): a searchable list, a dataset's page with "request access",
the member's requests and the data owner's queue (approve or reject; automatic approval on or off per dataset).
``services/access.py`` decides who may; a refused form shows the page again with the problem, its field marked and
what was entered: nothing is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from ..deps import CsrfForm, CurrentUser, SessionDep
from ..errors import Conflict, InvalidInput, PortalError
from ..models import DatasetCategory, Organisation, User, utcnow
from ..services import access as service
from ..services import dataset_grants as grant_service
from ..services.access_policy import LEGAL_GROUNDS, MAX_GRANT_DAYS, PURPOSE_CODES, label
from .rendering import committed, refused, render

router = APIRouter(include_in_schema=False)
DONE = {"requested", "approved", "rejected", "auto-approval", "revoked"}


def _policy(lang: str) -> dict:
    return {"purposes": [(code, label(PURPOSE_CODES, code, lang)) for code in PURPOSE_CODES],
            "grounds": [(code, label(LEGAL_GROUNDS, code, lang)) for code in LEGAL_GROUNDS],
            "purpose_label": lambda code: label(PURPOSE_CODES, code, lang),
            "ground_label": lambda code: label(LEGAL_GROUNDS, code, lang), "max_days": MAX_GRANT_DAYS}


@router.get("/datasets", name="datasets")
def datasets(request: Request, user: CurrentUser, session: SessionDep, q: str = "", category: str = "",
             organisation: str = ""):
    q, category, organisation = q[:200], category[:32], organisation[:64]
    if category not in {c.value for c in DatasetCategory}:
        category = ""
    from sqlalchemy import select
    rows = service.search(session, text=q, category=category, organisation=organisation)
    organisations = list(session.scalars(select(Organisation).order_by(Organisation.slug)))
    return render(request, "datasets.html", user=user, datasets=rows, q=q, category=category,
                  organisation=organisation, organisations=organisations, categories=[c.value for c in DatasetCategory],
                  max_days=MAX_GRANT_DAYS)


def _dataset_page(request: Request, session, *, user: User, dataset_id: int, entered: dict | None = None,
                  problem: PortalError | None = None, status_code: int = 200):
    from .rendering import language
    dataset = service.get_dataset(session, dataset_id=dataset_id)
    done = request.query_params.get("done")
    is_owner = service.is_data_owner_of(user, dataset)
    # the data owner and platform admins see who has access now, and may revoke it (issue 15)
    grants = grant_service.grants_of_dataset(session, dataset=dataset) if is_owner or user.platform_admin else None
    return render(request, "dataset.html", user=user, dataset=dataset, entered=entered or {}, problem=problem,
                  problem_field=getattr(problem, "field", None), status_code=status_code,
                  done=done if done in DONE else None, is_owner=is_owner, grants=grants,
                  memberships=user.active_memberships(), **_policy(language(request)))


@router.get("/datasets/{dataset_id}", name="dataset")
def dataset(request: Request, dataset_id: int, user: CurrentUser, session: SessionDep):
    return _dataset_page(request, session, user=user, dataset_id=dataset_id)


@router.post("/datasets/{dataset_id}/requests", name="request_access", dependencies=[CsrfForm])
def request_access(request: Request, dataset_id: int, user: CurrentUser, session: SessionDep,
                   organisation: Annotated[str, Form(max_length=64)] = "",
                   role: Annotated[str, Form(max_length=64)] = "",
                   purpose: Annotated[str, Form(max_length=4000)] = "",
                   purpose_code: Annotated[str, Form(max_length=64)] = "",
                   legal_ground: Annotated[str, Form(max_length=64)] = "",
                   starts_on: Annotated[str, Form(max_length=32)] = "",
                   ends_on: Annotated[str, Form(max_length=32)] = ""):
    entered = {"organisation": organisation, "role": role, "purpose": purpose, "purpose_code": purpose_code,
               "legal_ground": legal_ground, "starts_on": starts_on, "ends_on": ends_on}
    row = service.get_dataset(session, dataset_id=dataset_id)
    try:
        created = service.request_access(session, dataset=row, actor=user, data=entered)
    except (InvalidInput, Conflict) as problem:
        return refused(session, problem, _dataset_page, request, session, user=user, dataset_id=dataset_id,
                       entered=entered)
    return committed(session, f"/access-requests?done={created.state.value}")


@router.post("/datasets/{dataset_id}/auto-approval", name="dataset_auto_approval", dependencies=[CsrfForm])
def auto_approval(dataset_id: int, user: CurrentUser, session: SessionDep,
                  enabled: Annotated[str, Form(max_length=8)] = ""):
    row = service.get_dataset(session, dataset_id=dataset_id)
    service.set_auto_approval(session, dataset=row, actor=user, enabled=enabled == "on")
    return committed(session, f"/datasets/{row.id}?done=auto-approval")


def _requests_page(request: Request, session, *, user: User, problem: PortalError | None = None,
                   status_code: int = 200):
    from .rendering import language
    done = request.query_params.get("done")
    queue = service.queue(session, user=user)
    return render(request, "access_requests.html", user=user, mine=service.mine(session, user=user), queue=queue,
                  problem=problem, status_code=status_code, done=done if done in DONE else None,
                  may_decide=lambda r: service.may_decide(user, r), now=utcnow(), **_policy(language(request)))


@router.get("/access-requests", name="access_requests")
def access_requests(request: Request, user: CurrentUser, session: SessionDep):
    return _requests_page(request, session, user=user)


def _decide(request: Request, session, user: User, request_id: int, approve: bool, reason: str):
    row = service.get_request(session, request_id=request_id)
    try:
        service.decide(session, access_request=row, actor=user, approve=approve, reason=reason)
    except (InvalidInput, Conflict) as problem:
        return refused(session, problem, _requests_page, request, session, user=user)
    return committed(session, f"/access-requests?done={row.state.value}")


@router.post("/access-requests/{request_id}/approve", name="approve_access", dependencies=[CsrfForm])
def approve_access(request: Request, request_id: int, user: CurrentUser, session: SessionDep,
                   reason: Annotated[str, Form(max_length=2000)] = ""):
    return _decide(request, session, user, request_id, True, reason)


@router.post("/access-requests/{request_id}/reject", name="reject_access", dependencies=[CsrfForm])
def reject_access(request: Request, request_id: int, user: CurrentUser, session: SessionDep,
                  reason: Annotated[str, Form(max_length=2000)] = ""):
    return _decide(request, session, user, request_id, False, reason)


@router.post("/grants/{grant_id}/revoke", name="revoke_grant", dependencies=[CsrfForm])
def revoke_grant(request: Request, grant_id: int, user: CurrentUser, session: SessionDep,
                 reason: Annotated[str, Form(max_length=2000)] = ""):
    """The data owner or a platform admin revokes a grant from the dataset's page (``services/dataset_grants.py``)."""
    grant = grant_service.get_grant(session, grant_id=grant_id)
    dataset_id = grant.dataset_id
    try:
        grant_service.revoke(session, grant=grant, actor=user, reason=reason)
    except (InvalidInput, Conflict) as problem:
        return refused(session, problem, _dataset_page, request, session, user=user, dataset_id=dataset_id)
    return committed(session, f"/datasets/{dataset_id}?done=revoked")
