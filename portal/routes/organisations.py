"""The organisation page for its admins: members with their roles, and running workspaces."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..deps import CurrentUser, OrganisationDep, SessionDep
from ..services import contract_overview as overview_service
from ..services import organisations as organisation_service
from ..services import size_requests as size_request_service
from ..services import workspaces as workspace_service
from .rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/organisations/{slug}", name="organisation")
def organisation_page(request: Request, organisation: OrganisationDep, user: CurrentUser, session: SessionDep):
    return render(request, "organisation.html", user=user, organisation=organisation,
                  members=organisation_service.members(session, organisation=organisation),
                  workspaces=workspace_service.organisation_workspaces(session, organisation=organisation),
                  size_requests=size_request_service.pending(session, organisation=organisation),
                  notices=overview_service.organisation_notices(session, organisation_id=organisation.id))
