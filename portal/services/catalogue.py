"""Catalogue browsing: what a user with these roles sees, read from the catalogue model only."""

from __future__ import annotations

from dataclasses import dataclass

from gereedschapskist.catalogue import Bundle, Catalogue, Ecosystem, LaunchRefused, Package, Role

from ..errors import NotFound


@dataclass(frozen=True)
class Shelf:
    """The bundles offered for one of the user's roles."""

    role: Role
    bundles: tuple[Bundle, ...]


def shelves(catalogue: Catalogue, *, roles: list[str]) -> list[Shelf]:
    """One shelf per role the user has and the catalogue knows, in the catalogue's role order."""
    return [Shelf(role=catalogue.roles[r], bundles=catalogue.offered_for([r])) for r in catalogue.roles if r in roles]


def offered(catalogue: Catalogue, *, roles: list[str], role: str | None = None) -> tuple[Bundle, ...]:
    if role is not None:
        if role not in catalogue.roles:
            raise NotFound(f"there is no role {role!r} in the catalogue; known: {', '.join(catalogue.roles)}",
                           reason="unknown-role")
        return catalogue.offered_for([role]) if role in roles else ()
    return catalogue.offered_for(roles)


def get_bundle(catalogue: Catalogue, *, bundle_id: str) -> Bundle:
    bundle = catalogue.bundles.get(bundle_id)
    if bundle is None:
        raise NotFound(f"there is no bundle {bundle_id!r} in the catalogue", reason="unknown-bundle")
    return bundle


def successor(catalogue: Catalogue, bundle: Bundle) -> Bundle | None:
    if bundle.lifecycle.successor:
        return catalogue.bundles.get(bundle.lifecycle.successor)
    return None


def packages_by_ecosystem(bundle: Bundle) -> dict[Ecosystem, tuple[Package, ...]]:
    return {eco: bundle.packages_of(eco) for eco in Ecosystem if bundle.packages_of(eco)}


def launch_refusal(catalogue: Catalogue, *, roles: list[str], bundle: Bundle) -> LaunchRefused | None:
    """Why this user may not start this bundle (None if they may): the hub's own rule, asked in advance."""
    try:
        catalogue.authorise_launch(roles, bundle.id)
    except LaunchRefused as refused:
        return refused
    return None
