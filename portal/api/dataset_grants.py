"""Grants where the data is used (issue 15), in the JSON API.

- ``GET /api/v1/hub/grants/{username}`` and ``POST /api/v1/hub/grants/{username}/start``: **for hubs only**. A hub
  asks for a user's active grants at a workspace start (``…/start``, which registers ``dataset-mounted`` per dataset)
  and while the workspace runs (the GET, its reconciliation). Authenticated by the hub's service token, not by a login:
  ``Authorization: token <token>`` (or ``Bearer``) equal to the token the portal holds for that hub
  (``HUB_API_TOKEN``, or one of ``HUB_TOKENS``), compared in constant time. Fail closed: refused (401) without a
  token, with another one, and when the portal's own token is unset, a placeholder or shorter than 32 characters. A
  hub of an organisation's environment (its token in ``HUB_TOKENS``) gets that organisation's grants only
  (``services/dataset_grants.organisations_served``); the default hub's token and a shared environment's, every one.
- ``POST /api/v1/grants/{id}/revoke``: the dataset's data owner or a platform admin revokes a grant, with a reason
  (``services/dataset_grants.py`` decides who may).
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field, field_validator

from ..deps import CsrfHeader, CurrentUser, SessionDep, SettingsDep
from ..errors import LoginRequired, NotFound
from ..models import DatasetGrant, utcnow
from ..services import dataset_grants as service
from ..services.access_policy import LEGAL_GROUNDS, PURPOSE_CODES
from ..settings import PortalSettings
from .schemas import API_PREFIX, ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["access to data"])
CONFLICT = {409: {"model": ERRORS[403]["model"], "description": "the grant was already revoked or has expired"}}
#: Tokens a hub may never be trusted with (as the hub's own settings refuse them).
PLACEHOLDERS = frozenset({"", "change-me", "changeme", "secret", "placeholder", "development"})
MIN_TOKEN = 32


def _usable(token: str) -> bool:
    return len(token) >= MIN_TOKEN and token.lower() not in PLACEHOLDERS


def hub_tokens(settings: PortalSettings) -> list[tuple[str, tuple[str, ...] | None]]:
    """The tokens hubs may present, each with the environments it speaks for (None: the default hub's, any)."""
    tokens: list[tuple[str, tuple[str, ...] | None]] = []
    if settings.hub_api_token is not None and _usable(settings.hub_api_token.get_secret_value()):
        tokens.append((settings.hub_api_token.get_secret_value(), None))
    for name, secret in sorted(settings.hub_tokens.items()):
        if _usable(secret.get_secret_value()):
            tokens.append((secret.get_secret_value(), (name,)))
    return tokens


def hub_service(settings: SettingsDep,
                authorization: Annotated[str | None, Header(description="token <the hub's service token>")] = None
                ) -> tuple[str, ...] | None:
    """The asking hub's environments, when its token is one the portal holds; else 401 (fail closed)."""
    scheme, _, given = (authorization or "").partition(" ")
    given = given.strip()
    found, environments = False, None
    if scheme.lower() in ("token", "bearer") and given:
        for token, names in hub_tokens(settings):      # every token compared, in constant time each
            if hmac.compare_digest(given.encode(), token.encode()):
                found, environments = True, names
    if not found:
        raise LoginRequired("only a hub asks for grants, with the service token the portal holds for it "
                            "(Authorization: token ...)", reason="hub-token-refused")
    return environments


HubService = Annotated[tuple[str, ...] | None, Depends(hub_service)]


class HubGrantOut(BaseModel):
    grant: int = Field(description="the grant's id")
    dataset: int = Field(description="the dataset's id")
    identifier: str = Field(description="the dataset's identifier: the folder name in the workspace")
    title_nl: str
    title_en: str | None
    files: list[str] = Field(description="the data files, relative to the data store")
    starts_at: datetime
    expires_at: datetime = Field(description="the access ends at this moment (UTC)")
    purpose_code: str = Field(description=f"one of {', '.join(PURPOSE_CODES)}")
    legal_ground: str = Field(description=f"one of {', '.join(LEGAL_GROUNDS)}")
    organisation: str = Field(description="the organisation the access was asked for")


class HubGrantsOut(BaseModel):
    user: str
    checked_at: datetime = Field(description="when the portal answered (UTC)")
    grants: list[HubGrantOut]


class WorkspaceStartIn(BaseModel):
    server: str = Field(default="", max_length=255, description="the named server that starts ('' = default)")

    @field_validator("server")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:       # no server is named so (and PostgreSQL refuses it in a query: a 500, not a 422)
            raise ValueError("a server name has no NUL character")
        return value


def _known_name(username: str) -> str:
    """A name with a NUL character is no user's (PostgreSQL refuses it in a query: answered 404, not 500)."""
    if "\x00" in username:
        raise NotFound(f"there is no user {username!r} at the portal", reason="unknown-user")
    return username


def _out(username: str, grants: list[service.HubGrant]) -> HubGrantsOut:
    return HubGrantsOut(user=username, checked_at=utcnow(), grants=[
        HubGrantOut(grant=g.grant, dataset=g.dataset, identifier=g.identifier, title_nl=g.title_nl,
                    title_en=g.title_en, files=list(g.files), starts_at=g.starts_at, expires_at=g.expires_at,
                    purpose_code=g.purpose_code, legal_ground=g.legal_ground, organisation=g.organisation)
        for g in grants])


@router.get("/hub/grants/{username}", response_model=HubGrantsOut, responses=ERRORS,
            summary="Hubs: a user's active grants (the hub's service token, no login)")
def hub_grants(username: str, environments: HubService, session: SessionDep) -> HubGrantsOut:
    username = _known_name(username)
    return _out(username, service.grants_for_hub(session, username=username, environments=environments))


@router.post("/hub/grants/{username}/start", response_model=HubGrantsOut, responses=ERRORS,
             summary="Hubs: a workspace starts; its active grants, each registered as dataset-mounted (the hub's "
                     "service token, no login)")
def hub_workspace_start(username: str, environments: HubService, session: SessionDep,
                        body: WorkspaceStartIn | None = None) -> HubGrantsOut:
    username = _known_name(username)
    grants = service.grants_for_hub(session, username=username, server=body.server if body else "",
                                    record_start=True, environments=environments)
    session.commit()
    return _out(username, grants)


class RevokeIn(BaseModel):
    reason: str | None = Field(default=None, max_length=4000, description="why the access ends (3–2000 characters)")


class GrantOut(BaseModel):
    id: int
    dataset: int
    member: str
    starts_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, g: DatasetGrant) -> "GrantOut":
        return cls(id=g.id, dataset=g.dataset_id, member=g.access_request.requester.username,
                   starts_at=g.starts_at, expires_at=g.expires_at, revoked_at=g.revoked_at)


@router.post("/grants/{grant_id}/revoke", response_model=GrantOut, responses={**ERRORS, **CONFLICT},
             dependencies=[CsrfHeader], summary="Revoke a grant, with a reason (the dataset's data owner or a platform "
                                                "admin); running workspaces lose the data within a minute")
def revoke(grant_id: int, user: CurrentUser, session: SessionDep, body: RevokeIn | None = None) -> GrantOut:
    grant = service.get_grant(session, grant_id=grant_id)
    service.revoke(session, grant=grant, actor=user, reason=body.reason if body else None)
    session.commit()
    return GrantOut.of(grant)
