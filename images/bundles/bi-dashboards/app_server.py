"""The process of a published app's server (:mod:`.apps`): the hub's OAuth in front of the framework's own server.

Started by the spawner instead of JupyterLab, with JupyterHub's usual environment (``JUPYTERHUB_API_TOKEN``,
``JUPYTERHUB_CLIENT_ID``, ``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_OAUTH_ACCESS_SCOPES``, …) and three of ours:

- ``GEREEDSCHAPSKIST_APP_FRAMEWORK``: panel, voila, streamlit, dash or shiny;
- ``GEREEDSCHAPSKIST_APP_ENTRY``: the entry file, relative to the working directory (the app's folder);
- ``GEREEDSCHAPSKIST_APP_PYTHON``: the bundle environment's Python, which runs the framework.

It listens where the hub expects the server (``JUPYTERHUB_SERVICE_URL``) and starts the framework on a free port of
127.0.0.1. Every request — HTTP and WebSocket — must carry the hub's OAuth: :class:`HubOAuthenticated` asks the hub
and lets through only a user whose token holds one of the server's access scopes (the owner, and whom the owner's app
is shared with through JupyterHub's sharing); anyone else gets 403 (JupyterHub's own refusal at its authorize step,
or this server's). Nothing else is served: no Jupyter server, files, terminals or kernels of the owner.

**Standalone on purpose**: this file imports only the standard library, JupyterHub and Tornado — what every bundle
environment and workspace image has (JupyterHub is the single-user server's package). It runs as
``<bundle python> app_server.py``: locally from this folder, and in a bundle image from the copy the image
definition holds (``images/render.py``), so the Kubernetes pod of an app runs exactly this code.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import httpclient, ioloop, web, websocket


HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "host", "cookie"}
#: How often (seconds) the app's last use is reported to the hub when it changed: often enough that the idle culler
#: never stops an app in use (its timeout is at least a minute), cheap because nothing is sent while nobody uses it.
#: ``JUPYTERHUB_ACTIVITY_INTERVAL`` (as JupyterHub's single-user server reads it) overrides it; the hub passes no such
#: variable by default, an operator sets it through the spawner's ``environment``.
_ACTIVITY_EVERY = 10.0


def app_command(framework: str, *, python: str, entry: str, port: int, prefix: str) -> tuple[list[str], dict, bool]:
    """The framework server's command (run from the app's folder), extra environment, and whether the proxy must
    strip the server's URL prefix (the framework serves at ``/``). ``prefix`` ends with ``/``."""
    host = "127.0.0.1"
    if framework == "panel":
        return ([python, "-m", "panel", "serve", entry, "--address", host, "--port", str(port),
                 "--prefix", prefix.rstrip("/"), "--allow-websocket-origin", "*", "--index", Path(entry).stem],
                {}, False)
    if framework == "voila":
        return ([python, "-m", "voila", entry, "--no-browser", f"--port={port}", f"--Voila.ip={host}",
                 f"--Voila.base_url={prefix}", "--Voila.tornado_settings={'allow_origin': '*'}"], {}, False)
    if framework == "streamlit":
        return ([python, "-m", "streamlit", "run", entry, "--server.port", str(port), "--server.address", host,
                 "--server.baseUrlPath", prefix.strip("/"), "--server.headless", "true",
                 "--server.enableCORS", "false", "--server.enableXsrfProtection", "false",
                 "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"], {}, False)
    if framework == "dash":   # the file calls app.run(); Dash reads these
        return ([python, entry], {"HOST": host, "PORT": str(port), "DASH_URL_BASE_PATHNAME": prefix}, False)
    if framework == "shiny":
        return ([python, "-m", "shiny", "run", entry, "--host", host, "--port", str(port)], {}, True)
    raise ValueError(f"unknown framework {framework!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream:
    """Where the framework listens, and whether the prefix is stripped before passing a request on."""

    def __init__(self, port: int, prefix: str, strip: bool):
        self.port, self.prefix, self.strip = port, prefix, strip
        self.last_activity = time.time()

    def path(self, uri: str) -> str:
        if self.strip and uri.startswith(self.prefix):
            return "/" + uri[len(self.prefix):]
        return uri


class _Authenticated(HubOAuthenticated):
    upstream: Upstream

    def initialize(self, upstream: Upstream) -> None:
        self.upstream = upstream

    def _forward_headers(self) -> dict[str, str]:
        headers = {k: v for k, v in self.request.headers.get_all() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-User"] = self.current_user["name"] if isinstance(self.current_user, dict) else ""
        return headers


class ProxyHandler(_Authenticated, web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    def check_xsrf_cookie(self) -> None:   # the framework does its own
        return None

    @web.authenticated
    async def _proxy(self, *args) -> None:
        self.upstream.last_activity = time.time()
        url = f"http://127.0.0.1:{self.upstream.port}{self.upstream.path(self.request.uri)}"
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH", "DELETE") else None
        if self.request.method in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        request = httpclient.HTTPRequest(url, method=self.request.method, headers=self._forward_headers(),
                                         body=body, follow_redirects=False, decompress_response=False,
                                         allow_nonstandard_methods=True, request_timeout=300)
        response = await httpclient.AsyncHTTPClient().fetch(request, raise_error=False)
        if response.code == 599:
            raise web.HTTPError(502, f"the app does not answer ({response.error})")
        self.set_status(response.code, response.reason)
        self._headers.clear()
        for name, value in response.headers.get_all():
            if name.lower() not in HOP_BY_HOP or name.lower() == "content-length":
                if name.lower() == "content-length":
                    continue
                self.add_header(name, value)
        if response.body and self.request.method != "HEAD":
            self.write(response.body)

    get = head = post = put = patch = delete = options = _proxy


class WebSocketProxy(_Authenticated, websocket.WebSocketHandler):
    """A WebSocket to the framework (Bokeh/Panel, Streamlit, Voilà's kernels), after the same OAuth check."""

    _upstream_ws = None
    _pending: list

    def select_subprotocol(self, subprotocols):
        self._subprotocols = list(subprotocols)
        return subprotocols[0] if subprotocols else None

    def check_origin(self, origin: str) -> bool:   # the hub's OAuth cookie decides; it is per server path
        return True

    async def get(self, *args, **kwargs):
        if self.current_user is None:
            raise web.HTTPError(403, "log in through the hub first")
        return await super().get(*args, **kwargs)

    async def open(self, *args) -> None:
        self._pending = []
        self.upstream.last_activity = time.time()
        url = f"ws://127.0.0.1:{self.upstream.port}{self.upstream.path(self.request.uri)}"
        headers = {k: v for k, v in self._forward_headers().items()
                   if not k.lower().startswith("sec-websocket") and k.lower() != "origin"}
        request = httpclient.HTTPRequest(url, headers=headers)
        try:
            self._upstream_ws = await websocket.websocket_connect(
                request, on_message_callback=self._from_upstream,
                subprotocols=getattr(self, "_subprotocols", None) or None, max_message_size=256 * 1024 * 1024)
        except Exception as exc:  # noqa: BLE001 - the browser learns the socket closed; the log says why
            sys.stderr.write(f"app proxy: WebSocket to the app failed: {exc}\n")
            self.close(1011, "the app does not answer")
            return
        for message, binary in self._pending:
            await self._upstream_ws.write_message(message, binary=binary)
        self._pending = []

    def _from_upstream(self, message) -> None:
        if message is None:
            self.close()
            return
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except websocket.WebSocketClosedError:
            pass

    async def on_message(self, message) -> None:
        self.upstream.last_activity = time.time()
        binary = isinstance(message, bytes)
        if self._upstream_ws is None:
            self._pending.append((message, binary))
            return
        await self._upstream_ws.write_message(message, binary=binary)

    def on_close(self) -> None:
        if self._upstream_ws is not None:
            self._upstream_ws.close()


def _is_websocket(request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def make_app(upstream: Upstream, prefix: str) -> web.Application:
    callback = urlsplit(os.environ.get("JUPYTERHUB_OAUTH_CALLBACK_URL", url_path_join(prefix, "oauth_callback"))).path

    class Router(web.Application):
        def find_handler(self, request, **kwargs):
            if request.path == callback:
                return self.get_handler_delegate(request, HubOAuthCallbackHandler)
            handler = WebSocketProxy if _is_websocket(request) else ProxyHandler
            return self.get_handler_delegate(request, handler, target_kwargs={"upstream": upstream})

    return Router([], cookie_secret=os.urandom(32), login_url=url_path_join(prefix, "oauth_login"))


async def _report_activity(upstream: Upstream) -> None:
    """Tell the hub when the app was last used, as a Jupyter server does, whenever that changed: the idle culler stops
    an app nobody used for its timeout (``hub/config.py``), and never one in use."""
    url = os.environ.get("JUPYTERHUB_ACTIVITY_URL")
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    server = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
    if not url or not token:
        return
    try:
        every = max(1.0, float(os.environ.get("JUPYTERHUB_ACTIVITY_INTERVAL") or _ACTIVITY_EVERY))
    except ValueError:
        every = _ACTIVITY_EVERY
    client = httpclient.AsyncHTTPClient()
    reported = upstream.last_activity      # the hub set the server's last activity when it started
    while True:
        await asyncio.sleep(every)
        if upstream.last_activity <= reported:
            continue
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(upstream.last_activity))
        body = json.dumps({"servers": {server: {"last_activity": stamp}}, "last_activity": stamp})
        try:
            response = await client.fetch(url, method="POST", body=body, headers={"Authorization": f"token {token}"},
                                          raise_error=False)
            if response.code < 400:
                reported = upstream.last_activity
        except Exception:  # noqa: BLE001 - next time
            pass


def main() -> None:
    service_url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", service_url.path or "/")
    framework = os.environ["GEREEDSCHAPSKIST_APP_FRAMEWORK"]
    entry = os.environ["GEREEDSCHAPSKIST_APP_ENTRY"]
    python = os.environ["GEREEDSCHAPSKIST_APP_PYTHON"]
    port = _free_port()
    argv, extra, strip = app_command(framework, python=python, entry=entry, port=port, prefix=prefix)
    env = {k: v for k, v in os.environ.items()
           if k not in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "JUPYTERHUB_CLIENT_ID")}   # the app gets no hub token
    env.update(extra)
    print(f"app proxy: starting {framework} app {entry}: {' '.join(argv)}", flush=True)
    child = subprocess.Popen(argv, env=env, cwd=os.environ.get("GEREEDSCHAPSKIST_APP_DIR") or None)

    def stop(*_args) -> None:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    upstream = Upstream(port, prefix, strip)

    async def serve() -> None:
        # listen only once the framework answers, so the hub's "ready" means the app answers
        while True:
            if child.poll() is not None:
                print(f"app proxy: the {framework} app exited with code {child.returncode} before it answered",
                      flush=True)
                os._exit(1)
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        make_app(upstream, prefix).listen(service_url.port, address=service_url.hostname or "127.0.0.1",
                                          xheaders=True)
        print(f"app proxy: listening on {service_url.hostname}:{service_url.port}{prefix}, app on 127.0.0.1:{port}",
              flush=True)
        while child.poll() is None:
            await asyncio.sleep(0.5)
        print(f"app proxy: the {framework} app exited with code {child.returncode}", flush=True)
        os._exit(1)

    loop = ioloop.IOLoop.current()
    loop.spawn_callback(serve)
    loop.spawn_callback(_report_activity, upstream)
    loop.start()


if __name__ == "__main__":
    main()
