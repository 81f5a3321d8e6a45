"""The processing register page for every logged-in user (issue 15): ``/register`` shows the entries the user may see
(``services/register_export.py``: a platform admin everything, an organisation admin their organisations', a data
owner their datasets', every member their own), newest first, narrowed to one organisation, dataset or person, with
the export as CSV or JSON (the JSON API's ``GET /api/v1/register/export``, which records the export first). A
selection without a ground is refused as in the API (403), never shown as an empty register."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from ..deps import CurrentUser, SessionDep
from ..models import Organisation
from ..services import register_export as service
from .rendering import render

router = APIRouter(include_in_schema=False)
Name = Annotated[str | None, Query(max_length=255)]


@router.get("/register", name="register")
def register_page(request: Request, user: CurrentUser, session: SessionDep, organisation: Name = None,
                  dataset: Name = None, person: Name = None,
                  page: Annotated[int, Query(ge=1, le=1_000_000)] = 1):
    chosen = service.selection(session, user=user, organisation=organisation, dataset=dataset, person=person)
    result = service.page(session, chosen=chosen, page=page)
    seen = chosen.visibility
    organisations = sorted(session.get(Organisation, i).name for i in seen.organisation_ids)
    fields = {"organisation": organisation or "", "dataset": dataset or "", "person": person or ""}
    query = {k: v for k, v in fields.items() if v}

    def page_url(number: int) -> str:
        return "/register?" + urlencode({**query, "page": number})

    def export_url(fmt: str) -> str:
        return "/api/v1/register/export?" + urlencode({**query, "format": fmt})

    pages = max(1, -(-result.total // result.per_page))
    return render(request, "register.html", user=user, result=result, pages=pages, seen=seen,
                  organisations=organisations, fields=fields, page_url=page_url, export_url=export_url)
