"""The catalogue as JSON: bundles for your roles, one bundle in full."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import TypeAdapter

from gereedschapskist.catalogue import Catalogue

from ..deps import CatalogueDep, CurrentUser
from ..services import catalogue as catalogue_service
from .schemas import ERRORS, BundleDetailOut, BundleOut, RefusalOut

router = APIRouter(tags=["catalogue"])


@router.get("/bundles", response_model=list[BundleOut], responses=ERRORS, summary="Bundles offered to you")
def bundles(user: CurrentUser, catalogue: CatalogueDep,
            role: str | None = Query(default=None, description="only this role's bundles")) -> list[BundleOut]:
    """The bundles your roles may start (never retired ones), ordered by id."""
    return Response(_listing(catalogue, tuple(user.role_ids), role), media_type="application/json")


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
def bundle(bundle_id: str, user: CurrentUser, catalogue: CatalogueDep) -> BundleDetailOut:
    """Packages and versions, licence, security review, lifecycle, supply model — and whether you may start it."""
    found = catalogue_service.get_bundle(catalogue, bundle_id=bundle_id)
    refused = catalogue_service.launch_refusal(catalogue, roles=user.role_ids, bundle=found)
    refusal = RefusalOut(reason=refused.reason, message=refused.message) if refused else None
    return BundleDetailOut.of_bundle(found, refusal=refusal)
