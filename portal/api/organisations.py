"""An organisation as its admins see it."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import OrganisationDep, SessionDep
from ..services import organisations as organisation_service
from ..services import workspaces as workspace_service
from .schemas import API_PREFIX, ERRORS, MemberOut, OrganisationOut, WorkspaceOut

router = APIRouter(prefix=API_PREFIX, tags=["organisations"])


@router.get("/organisations/{slug}", response_model=OrganisationOut, responses=ERRORS,
            summary="Members and their roles (organisation admins)")
def organisation(organisation: OrganisationDep, session: SessionDep) -> OrganisationOut:
    rows = organisation_service.members(session, organisation=organisation)
    return OrganisationOut(id=organisation.slug, name=organisation.name, members=[
        MemberOut(username=r.user.username, name=r.user.name, email=r.user.email,
                  member_roles=[x.value for x in r.member.role_names], workbench_roles=r.user.role_ids)
        for r in rows])


@router.get("/organisations/{slug}/workspaces", response_model=list[WorkspaceOut], responses=ERRORS,
            summary="The organisation's running workspaces (organisation admins)")
def organisation_workspaces(organisation: OrganisationDep, session: SessionDep) -> list[WorkspaceOut]:
    return [WorkspaceOut.of(w) for w in workspace_service.organisation_workspaces(session, organisation=organisation)]
