"""The catalogue as JSON: bundles for your roles, one bundle in full."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue

from ..deps import CatalogueDep, CurrentPrincipal, CurrentUser, RequestDbDep, SessionDep
from ..models import utcnow
from ..services import catalogue as catalogue_service
from ..services.environments import member_offer
from ..sessions import read_alone
from .schemas import API_PREFIX, ERRORS, BundleDetailOut, BundleOut, RefusalOut

router = APIRouter(prefix=API_PREFIX, tags=["catalogue"])


@router.get("/bundles", response_model=list[BundleOut], responses=ERRORS, summary="Bundles offered to you")
async def bundles(user: CurrentPrincipal, catalogue: CatalogueDep, db: RequestDbDep,
                  role: str | None = Query(default=None, description="only this role's bundles")) -> list[BundleOut]:
    """The bundles your roles may start (never retired ones), ordered by id; a member of an organisation under a
    standard contract gets that contract's bundles only."""
    return await db.run(_bundles, user, catalogue, db.session, role)     # one thread hop (RequestDb.run)


def _bundles(user: CurrentPrincipal, catalogue: Catalogue, session: Session, role: str | None) -> Response:
    read_alone(session)     # a read alone: no BEGIN/ROLLBACK round trips, no thread hop to end it (issue 13)
    offer = _offer(session, user)
    session.commit()
    if offer is not None:
        bundles = [b for b in catalogue_service.offered(catalogue, roles=user.role_ids, role=role)
                   if b.id in offer.bundles]
        return Response(_BUNDLE_LIST.dump_json([BundleOut.of(b) for b in bundles]), media_type="application/json")
    return Response(_listing(catalogue, tuple(user.role_ids), role), media_type="application/json")


def _offer(session, user):
    memberships = user.active_memberships()
    return member_offer(session, user=user, organisation=memberships[0].organisation if memberships else None,
                        today=utcnow().date())


_BUNDLE_LIST = TypeAdapter(list[BundleOut])


_CACHE: dict[tuple[int, tuple[str, ...], str | None], tuple[Catalogue, bytes]] = {}


def _listing(catalogue: Catalogue, roles: tuple[str, ...], role: str | None) -> bytes:
    """The encoded listing per role combination: a catalogue never changes while the portal runs."""
    key = (id(catalogue), roles, role)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is catalogue:
        return hit[1]
    bundles = catalogue_service.offered(catalogue, roles=list(roles), role=role)
    body = _BUNDLE_LIST.dump_json([BundleOut.of(b) for b in bundles])
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[key] = (catalogue, body)
    return body


@router.get("/bundles/{bundle_id}", response_model=BundleDetailOut, responses=ERRORS, summary="One bundle in full")
def bundle(bundle_id: str, user: CurrentUser, catalogue: CatalogueDep, session: SessionDep) -> BundleDetailOut:
    """Packages and versions, licence, security review, lifecycle, supply model — and whether you may start it
    (under a standard contract: whether the contract offers it and is active)."""
    found = catalogue_service.get_bundle(catalogue, bundle_id=bundle_id)
    refused = catalogue_service.launch_refusal(catalogue, roles=user.role_ids, bundle=found)
    offer = _offer(session, user) if refused is None else None
    if offer is not None:
        refused = offer.bundle_refusal(found.id)
    refusal = RefusalOut(reason=refused.reason, message=refused.message) if refused else None
    return BundleDetailOut.of_bundle(found, refusal=refusal)
