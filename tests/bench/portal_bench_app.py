"""The portal app as the benchmark serves it: the real portal, and beside it a bare FastAPI app as the reference.

Started by ``test_portal_throughput.py`` as ``uvicorn --factory portal_bench_app:create`` in its own
process, configured by the usual ``GEREEDSCHAPSKIST_PORTAL_*`` variables. Paths under ``/_bench/`` go to the bare
app — plain FastAPI, none of the portal's middleware, no session lookup — everything else to the portal, so both
run in the same process, the same server and the same event loop.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from gereedschapskist.portal.main import create_app

BARE_PREFIX = "/_bench/"


def bare_app() -> FastAPI:
    bare = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @bare.get("/_bench/bare")
    def bare_def() -> dict[str, str]:
        """A bare endpoint run the same way as most of the portal's (a plain ``def``: FastAPI's thread pool)."""
        return {"status": "ok"}

    @bare.get("/_bench/bare-async")
    async def bare_async() -> dict[str, str]:
        """The cheapest FastAPI endpoint there is: ``async def``, no thread hop."""
        return {"status": "ok"}

    return bare


def create() -> ASGIApp:
    portal, bare = create_app(), bare_app()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        target = bare if scope.get("path", "").startswith(BARE_PREFIX) else portal  # lifespan: the portal's
        await target(scope, receive, send)

    return app
