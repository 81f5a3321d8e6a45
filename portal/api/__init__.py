"""The JSON API (``/api/v1``): the same operations as the pages, described by the OpenAPI document."""

from fastapi import APIRouter

from . import catalogue, contracts, me, organisations, usage, workspaces

router = APIRouter(prefix="/api/v1")
for module in (me, catalogue, workspaces, usage, organisations, contracts):
    router.include_router(module.router)
