"""The JSON API (``/api/v1``): the same operations as the pages, described by the OpenAPI document."""

from fastapi import APIRouter

from . import apps  # noqa: I001 - published apps (issue 17)
from . import (
    bundle_requests, catalogue, contracts, dataset_grants, datasets, me, organisations, register, size_requests, usage, workspaces,
)

#: The API's routers, in the order requests try them; each carries ``/api/v1`` (``schemas.API_PREFIX``) itself.
ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router for module in (me, catalogue, workspaces, usage, organisations, contracts, size_requests, datasets,
                                 dataset_grants, register, bundle_requests, apps))
