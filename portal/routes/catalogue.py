"""Catalogue pages: the bundles of the user's roles, per role, and one bundle in full."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue

from ..deps import CatalogueDep, CurrentPrincipal, CurrentUser, HubsDep, RequestDbDep, SessionDep
from ..errors import HubUnavailable
from ..services import catalogue as catalogue_service
from ..services import usage_view
from ..models import utcnow
from ..services.environments import environment_for, member_offer
from ..sessions import read_alone
from .rendering import language, render

router = APIRouter(include_in_schema=False)


def _offer(session, user):
    """The contract offer of the user's (first) organisation, as the launch will hold it (issue 14); None: none."""
    memberships = user.active_memberships()
    return member_offer(session, user=user, organisation=memberships[0].organisation if memberships else None,
                        today=utcnow().date())


def shelves_html(request: Request, shelves: list[catalogue_service.Shelf]):
    """The shelves' sections, kept per language and shelves (their cards show the catalogue's words only)."""
    key = tuple((shelf.role.id, tuple(b.id for b in shelf.bundles)) for shelf in shelves)
    return request.app.state.portal.fragments.render("_shelves.html", key, lang=language(request), shelves=shelves)


@router.get("/catalogue", name="catalogue")
async def catalogue_page(request: Request, user: CurrentPrincipal, catalogue: CatalogueDep, db: RequestDbDep,
                         role: str | None = None):
    return await db.run(_catalogue_page, request, user, catalogue, db.session, role)   # one hop (RequestDb.run)


def _catalogue_page(request: Request, user: CurrentPrincipal, catalogue: Catalogue, session: Session,
                    role: str | None):
    if role is not None:
        bundles = catalogue_service.offered(catalogue, roles=user.role_ids, role=role)
        shelves = [catalogue_service.Shelf(role=catalogue.roles[role], bundles=bundles)]
    else:
        shelves = catalogue_service.shelves(catalogue, roles=user.role_ids)
    read_alone(session)     # a read alone: no BEGIN/ROLLBACK round trips, no thread hop to end it (issue 13)
    offer = _offer(session, user)
    if offer is not None:       # under a standard contract: that contract's bundles only
        shelves = [catalogue_service.Shelf(role=s.role, bundles=tuple(b for b in s.bundles if b.id in offer.bundles))
                   for s in shelves]
    page = render(request, "catalogue.html", user=user, shelves=shelves, selected_role=role, offer=offer,
                  shelves_html=shelves_html(request, shelves))
    session.commit()
    return page


@router.get("/catalogue/{bundle_id}", name="bundle")
def bundle_page(request: Request, bundle_id: str, user: CurrentUser, catalogue: CatalogueDep,
                session: SessionDep, hubs: HubsDep):
    bundle = catalogue_service.get_bundle(catalogue, bundle_id=bundle_id)
    refusal = catalogue_service.launch_refusal(catalogue, roles=user.role_ids, bundle=bundle)
    hub_problem = None
    interface_states = None     # which interfaces the hub can serve; None: unknown (the hub does not say)
    sizing = None               # the hub's machine capacity and whether it enforces sizes; None: it does not say
    preparing = False           # the hub is building this bundle version's environment before anyone asked
    memberships = user.active_memberships()
    offer = _offer(session, user)
    if refusal is None and offer is not None:
        refusal = offer.bundle_refusal(bundle.id)
    if refusal is None and memberships:
        try:
            environment = environment_for(session, organisation=memberships[0].organisation)
            status = hubs.status(environment)
            hub_problem = None if status.available else (status.reason or "hub-unavailable")
            interface_states = hubs.interfaces(environment, bundle.id) if status.available else None
            sizing = hubs.sizing(environment) if status.available else None
            preparing = status.available and hubs.preparing(environment, bundle.id, bundle.version)
        except HubUnavailable as exc:
            hub_problem = exc.reason        # pages show the reason's text: the message names internal addresses
    launchable = interface_states is None or any(
        (state := interface_states.get(i.value)) is None or state.available for i in bundle.interfaces)
    size_options = usage_view.size_options(bundle, sizing)
    if offer is not None:       # the contract's sizes and the member's on request
        size_options = [o for o in size_options if offer.offers_size(bundle.id, o.size.id)]
    launchable = launchable and any(option.available for option in size_options)
    return render(request, "bundle.html", user=user, bundle=bundle, refusal=refusal,
                  successor=catalogue_service.successor(catalogue, bundle),
                  packages=catalogue_service.packages_by_ecosystem(bundle), memberships=memberships,
                  hub_problem=hub_problem, interface_states=interface_states, launchable=launchable,
                  size_options=size_options, sizing=sizing, preparing=preparing, offer=offer)
