"""The portal app as the latency benchmark serves it: the real app, whose hub adapter and requests are timed.

Started by ``latency.PortalProcess`` as ``uvicorn --factory tests.bench.latency_app:create`` in its own process,
configured by the usual ``GEREEDSCHAPSKIST_PORTAL_*`` variables. Every answer carries a ``Server-Timing`` header
(the W3C header browsers show in their developer tools): ``app`` — from the request reaching the app to its
answer starting — and ``hub`` — the time spent in requests to a hub while serving it, with their number as the
description. So the benchmark tells the portal's own time from its waits on the hub. Only here: the portal itself
does not tell clients how long its hub calls take.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from fastapi import FastAPI

from gereedschapskist.portal.jupyterhub import JupyterHubAdapter
from gereedschapskist.portal.main import create_app

#: The hub calls of the request being served: (count, seconds). A list, so the worker thread that runs a
#: route (it gets a copy of the request's context) adds to the same object the middleware reads.
_HUB_CALLS: ContextVar[list[float] | None] = ContextVar("hub_calls", default=None)


class TimedHub(JupyterHubAdapter):
    """The real adapter; each request it sends to the hub is timed for the request being served."""

    def _send(self, method, path, **kwargs):
        began = time.perf_counter()
        try:
            return super()._send(method, path, **kwargs)
        finally:
            calls = _HUB_CALLS.get()
            if calls is not None:
                calls[0] += 1
                calls[1] += time.perf_counter() - began


class ServerTiming:
    """Pure ASGI middleware (no extra task per request): adds ``Server-Timing`` when the answer starts."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began = time.perf_counter()
        calls = [0, 0.0]
        token = _HUB_CALLS.set(calls)

        async def timed_send(message):
            if message["type"] == "http.response.start":
                header = (f'app;dur={(time.perf_counter() - began) * 1000:.1f}, '
                          f'hub;dur={calls[1] * 1000:.1f};desc="{calls[0]}"')
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"server-timing", header.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            _HUB_CALLS.reset(token)


def create() -> FastAPI:
    app = create_app(hub_factory=TimedHub)
    app.add_middleware(ServerTiming)
    return app
