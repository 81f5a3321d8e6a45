"""The portal app as the benchmark serves it: the real app plus two bare FastAPI reference endpoints.

Started by ``test_portal_throughput.py`` as ``uvicorn --factory portal_bench_app:create`` in its own
process, configured by the usual ``GEREEDSCHAPSKIST_PORTAL_*`` variables.
"""

from __future__ import annotations

from fastapi import FastAPI

from gereedschapskist.portal.main import create_app


def create() -> FastAPI:
    app = create_app()

    @app.get("/_bench/bare", include_in_schema=False)
    def bare() -> dict[str, str]:
        """A bare endpoint run the same way as the portal's (a plain ``def``: FastAPI's thread pool)."""
        return {"status": "ok"}

    @app.get("/_bench/bare-async", include_in_schema=False)
    async def bare_async() -> dict[str, str]:
        """The cheapest FastAPI endpoint there is: ``async def``, no thread hop."""
        return {"status": "ok"}

    return app
