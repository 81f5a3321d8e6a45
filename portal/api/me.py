"""Who am I, which roles exist, and which environments (hubs) answer."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..deps import CatalogueDep, CurrentUser, HubsDep, SessionDep, csrf_token
from ..services.environments import visible_environments
from .schemas import API_PREFIX, ERRORS, EnvironmentOut, MeOut, RoleOut, catalogue_roles

router = APIRouter(prefix=API_PREFIX, tags=["me"])


@router.get("/me", response_model=MeOut, responses=ERRORS, summary="The logged-in user")
def me(request: Request, user: CurrentUser) -> MeOut:
    """Your workbench roles and organisation memberships, as recognised at your last login, and the CSRF token
    that POST requests must send in the ``X-CSRF-Token`` header."""
    return MeOut.of(user, csrf_token(request))


@router.get("/roles", response_model=list[RoleOut], responses=ERRORS, tags=["catalogue"], summary="All roles")
def roles(user: CurrentUser, catalogue: CatalogueDep) -> list[RoleOut]:
    return catalogue_roles(catalogue)


@router.get("/environments", response_model=list[EnvironmentOut], responses=ERRORS, tags=["workspaces"],
            summary="Environments and whether their hubs answer")
def environments(user: CurrentUser, session: SessionDep, hubs: HubsDep) -> list[EnvironmentOut]:
    """The shared environments and those of your organisations (platform admins: all). Hub addresses are shown
    to platform admins only."""
    out = []
    for env in visible_environments(session, user=user):
        status = hubs.status(env)
        admin = user.platform_admin
        message = status.message if admin else status.message.replace(env.hub_api_url, f"of {env.name}")
        out.append(EnvironmentOut(name=env.name, kind=env.kind.value, stage=env.stage.value,
                                  organisation=env.organisation.slug if env.organisation else None,
                                  hub_url=env.hub_url if admin else None,
                                  hub_api_url=env.hub_api_url if admin else None,
                                  available=status.available, message=message))
    return out
