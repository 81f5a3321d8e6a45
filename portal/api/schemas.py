"""Shapes of the JSON API (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gereedschapskist.catalogue import Bundle, Catalogue, Role

from ..models import Member, User, Workspace


class ErrorOut(BaseModel):
    reason: str = Field(description="machine-readable cause, e.g. role, unknown-size, not-in-environment, "
                                    "hub-unavailable; a refusal by the hub carries the hub's own reason")
    title: str = Field(description="the reason in words, in the visitor's language (Dutch or English: the "
                                   "language chosen on the site, else Accept-Language)")
    message: str = Field(description="what went wrong, naming the values involved (never the hub's internal "
                                     "addresses)")
    login_url: str | None = Field(
        default=None, description="only with reason hub-login-needed (a 403): the user has not logged in to the "
                                  "hub yet (or must again). Open this URL in the user's browser: the hub's single "
                                  "sign-on, then back to the portal; then launch again")


#: Where the JSON API lives: each API module's router carries it on its own routes (the app adds those routes
#: directly, ``portal.main``).
API_PREFIX = "/api/v1"

ERRORS = {
    401: {"model": ErrorOut, "description": "not logged in"},
    403: {"model": ErrorOut, "description": "not allowed (role, membership, CSRF token); hub-login-needed comes "
                                            "with a login_url"},
    404: {"model": ErrorOut, "description": "no such thing"},
    422: {"model": ErrorOut, "description": "invalid input"},
}
HUB_ERRORS = {
    409: {"model": ErrorOut, "description": "not possible in the current state"},
    502: {"model": ErrorOut, "description": "the hub answered with an error"},
    503: {"model": ErrorOut, "description": "the hub (or login service) is unavailable"},
}


class Text(BaseModel):
    nl: str
    en: str


class MembershipOut(BaseModel):
    organisation: str = Field(description="organisation id (from org:<id>)")
    name: str
    roles: list[str] = Field(description="data-scientist, organisation-admin, data-owner")

    @classmethod
    def of(cls, member: Member) -> "MembershipOut":
        return cls(organisation=member.organisation.slug, name=member.organisation.name,
                   roles=[r.value for r in member.role_names])


class MeOut(BaseModel):
    username: str
    name: str | None
    email: str | None
    roles: list[str] = Field(description="workbench roles (bi, ml, streaming, dev)")
    organisations: list[MembershipOut]
    platform_admin: bool
    csrf_token: str = Field(description="send as X-CSRF-Token on POST requests")

    @classmethod
    def of(cls, user: User, csrf_token: str) -> "MeOut":
        return cls(username=user.username, name=user.name, email=user.email, roles=user.role_ids,
                   organisations=[MembershipOut.of(m) for m in user.active_memberships()],
                   platform_admin=user.platform_admin, csrf_token=csrf_token)


class RoleOut(BaseModel):
    id: str
    title: Text
    description: Text

    @classmethod
    def of(cls, role: Role) -> "RoleOut":
        return cls(id=role.id, title=Text(nl=role.title.nl, en=role.title.en),
                   description=Text(nl=role.description.nl, en=role.description.en))


class SizeOut(BaseModel):
    id: str
    cpu: float
    memory: str
    gpu: int


class LifecycleOut(BaseModel):
    status: str = Field(description="active, deprecated or retired")
    since: date | None = None
    successor: str | None = None
    retires_on: date | None = None


class BundleOut(BaseModel):
    id: str
    title: Text
    description: Text
    roles: list[str]
    version: str
    lifecycle: LifecycleOut
    interfaces: list[str]
    sizes: list[SizeOut]
    needs_gpu: bool

    @classmethod
    def fields_of(cls, bundle: Bundle) -> dict:
        lc = bundle.lifecycle
        return dict(id=bundle.id, title=Text(nl=bundle.title.nl, en=bundle.title.en),
                    description=Text(nl=bundle.description.nl, en=bundle.description.en), roles=list(bundle.roles),
                    version=bundle.version,
                    lifecycle=LifecycleOut(status=lc.status.value, since=lc.since, successor=lc.successor,
                                           retires_on=lc.retires_on),
                    interfaces=[i.value for i in bundle.interfaces],
                    sizes=[SizeOut(id=s.id, cpu=s.cpu, memory=s.memory, gpu=s.gpu) for s in bundle.sizes],
                    needs_gpu=bundle.needs_gpu)

    @classmethod
    def of(cls, bundle: Bundle) -> "BundleOut":
        return cls(**cls.fields_of(bundle))


class PackageOut(BaseModel):
    ecosystem: str
    name: str
    version: str


class LicenceOut(BaseModel):
    spdx: str
    open_source: bool
    justification: str | None


class ReviewOut(BaseModel):
    reviewer: str
    date: date
    valid_until: date
    expired: bool


class SupplyOut(BaseModel):
    model: str = Field(description="standard-contract, saas-package, iaas-component or custom")
    letter: str = Field(description="a, b, c or d")


class MaintainerOut(BaseModel):
    name: str
    email: str


class RefusalOut(BaseModel):
    reason: str
    message: str


class BundleDetailOut(BundleOut):
    image: str
    packages: list[PackageOut]
    licence: LicenceOut
    security_review: ReviewOut
    supply_model: SupplyOut
    maintainers: list[MaintainerOut]
    may_launch: bool = Field(description="whether you may start it (the hub's role rule)")
    refusal: RefusalOut | None = Field(description="why not, when you may not")

    @classmethod
    def of_bundle(cls, bundle: Bundle, *, refusal: RefusalOut | None) -> "BundleDetailOut":
        review = bundle.security_review
        return cls(**cls.fields_of(bundle), image=bundle.image.reference,
                   packages=[PackageOut(ecosystem=p.ecosystem.value, name=p.name, version=p.version)
                             for p in bundle.packages],
                   licence=LicenceOut(spdx=bundle.licence.spdx, open_source=bundle.licence.open_source,
                                      justification=bundle.licence.justification),
                   security_review=ReviewOut(reviewer=review.reviewer, date=review.date,
                                             valid_until=review.valid_until, expired=bundle.review_expired),
                   supply_model=SupplyOut(model=bundle.supply_model.value, letter=bundle.supply_model.letter),
                   maintainers=[MaintainerOut(name=m.name, email=m.email) for m in bundle.maintainers],
                   may_launch=refusal is None, refusal=refusal)


class LaunchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bundle: str = Field(description="bundle id", examples=["bi-sql-duckdb"])
    size: str | None = Field(default=None, description="size id; the bundle's first size when left out")
    interface: str | None = Field(default=None, description="jupyterlab, rstudio or vscode; the bundle's first "
                                                            "when left out")
    organisation: str | None = Field(default=None, description="organisation id; required when you are a member "
                                                               "of several")


class WorkspaceOut(BaseModel):
    id: int
    bundle: str
    bundle_version: str
    size: str
    interface: str
    status: str = Field(description="starting, running, stopping, stopped, failed or deleted")
    status_message: str | None
    name: str | None = Field(default=None, description="the owner's own name for the workspace")
    stopped_by: str | None = Field(default=None, description="who stopped it, when not its owner (an admin)")
    stop_reason: str | None = Field(default=None, description="why that admin stopped it")
    owner: str
    organisation: str
    environment: str
    server_name: str
    url: str | None = Field(description="where the running workspace answers")
    progress_url: str
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None

    @classmethod
    def _from(cls, w: Any, *, owner: str, organisation: str, environment: str,
              stopped_by: str | None) -> "WorkspaceOut":
        """``w``: a ``Workspace`` or a row with its columns (the same names)."""
        return cls(id=w.id, bundle=w.bundle_id, bundle_version=w.bundle_version, size=w.size_id,
                   interface=w.interface, status=w.status.value, status_message=w.status_message, owner=owner,
                   organisation=organisation, environment=environment, server_name=w.server_name, url=w.url,
                   progress_url=f"/api/v1/workspaces/{w.id}/progress", created_at=w.created_at,
                   started_at=w.started_at, stopped_at=w.stopped_at, name=w.name, stopped_by=stopped_by,
                   stop_reason=w.stop_reason)

    @classmethod
    def of(cls, w: Workspace) -> "WorkspaceOut":
        return cls._from(w, owner=w.user.username, organisation=w.organisation.slug, environment=w.environment.name,
                         stopped_by=w.stopped_by.username if w.stopped_by else None)

    @classmethod
    def of_row(cls, row: Any, *, owner: str) -> "WorkspaceOut":
        """From a row of ``services.workspaces.list_mine_rows`` (no ORM objects: issue 13)."""
        return cls._from(row, owner=owner, organisation=row.organisation_slug, environment=row.environment_name,
                         stopped_by=row.stopper)


class MemberOut(BaseModel):
    username: str
    name: str | None
    email: str | None
    member_roles: list[str]
    workbench_roles: list[str]


class OrganisationOut(BaseModel):
    id: str
    name: str
    members: list[MemberOut]


class EnvironmentOut(BaseModel):
    name: str
    kind: str
    stage: str
    organisation: str | None
    hub_url: str | None = Field(description="the hub's public URL (platform admins only)")
    hub_api_url: str | None = Field(description="the hub's REST API (platform admins only)")
    available: bool
    message: str


def catalogue_roles(catalogue: Catalogue) -> list[RoleOut]:
    return [RoleOut.of(role) for role in catalogue.roles.values()]
