"""The catalogue of tools: one schema, one loader, one typed model.

Every other component reads the catalogue through this package::

    from gereedschapskist.catalogue import load
    catalogue = load()                       # strict: raises CatalogueInvalid
    catalogue.offered_for(["bi", "ml"])      # the bundles a user may start
    catalogue.authorise_launch(roles, "bi-sql-duckdb", "small")   # the one role rule
"""

from .loader import CatalogueInvalid, LoadResult, default_root, load, load_catalogue
from .model import (
    Bundle, Catalogue, ContractTemplate, Ecosystem, ExplicitPrice, Image, Interface, LaunchRefused, Licence, Lifecycle,
    LocalText, MachineSize, Maintainer, Package, Partner, Region, Role, SecurityReview, Size, Status,
    SupplyModel, memory_bytes,
)
from .pricing import SizePrice, price_per_hour
from .problems import Problem, Severity

__all__ = [
    "Bundle", "Catalogue", "CatalogueInvalid", "ContractTemplate", "Ecosystem", "ExplicitPrice", "Image", "Interface",
    "LaunchRefused", "Licence", "Lifecycle", "LoadResult", "LocalText", "MachineSize", "Maintainer", "Package",
    "Partner", "Problem", "Region", "Role", "SecurityReview", "Severity", "Size", "Status", "SizePrice", "SupplyModel",
    "default_root", "load", "load_catalogue", "memory_bytes", "price_per_hour",
]
