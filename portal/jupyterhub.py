"""The JupyterHub REST API adapter: the only module that talks HTTP to a hub.

Uses the documented API (``/hub/api``) with the portal service's token. Scopes it has, and nothing
more (``hub/roles.py``): ``read:users`` (is the user known to the hub), ``read:servers``, ``start:servers`` and
``delete:servers`` (start, stop, read and follow the progress of named servers; ``read:servers`` also reads which
interfaces the hub can serve, ``/hub/api/gereedschapskist/interfaces``). It creates no users and sets no
groups: the hub takes both from the issuer when the user logs in there, and re-reads the groups before every
start. A user the hub does not know yet (never logged in to the hub), or whose login there has expired, is
refused with :class:`~gereedschapskist.portal.errors.HubLoginNeeded` (reason ``hub-login-needed``), whose
``login_url_to(path)`` is :meth:`JupyterHubAdapter.login_url`: ``<hub>/hub/oauth_login?next=/hub/spawn?next=<path>``
(single sign-on at the issuer; the hub's ``/hub/spawn`` sends them back to the portal's ``<path>``). User names
are passed through :func:`gereedschapskist.core.identity.hub_username`, the hub's own rule. Every failure becomes
one of the portal's errors with a ``reason``, read from the response's status and headers, never from its text:
``hub-unavailable`` (no answer), the hub's own refusal reason from its reason header (``role``,
``not-in-environment``, … — :data:`~gereedschapskist.core.refusal.REASON_HEADER`), ``hub-refused`` (the hub said
no without a reason, e.g. a server limit), ``hub-token`` (the hub refused the portal's token or its scopes: a
401, or a 403 without a reason header), ``start-failed`` (the start itself failed at once) and ``hub-error``
(anything else).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, AsyncIterator, Iterable
from urllib.parse import quote

import httpx

from gereedschapskist.core.capacity import Capacity
from gereedschapskist.core.identity import HUB_LOGIN_NEEDED, hub_username
from gereedschapskist.core.refusal import REASON_HEADER

from .errors import HubError, HubLoginNeeded, HubRefused, HubStartFailed, HubUnavailable, NotFound, PortalError
from .workspace_hub import InterfaceState, InterfaceStates, ProgressEvent, ServerInfo, WorkspaceHub
from .workspace_hub import HomeHandover, HubSizing, WorkspaceUsage

log = logging.getLogger(__name__)

#: The hub's answer to "which interfaces can you serve?" (the hub's ``hub/api.py``), under its REST API.
INTERFACES_PATH = "/gereedschapskist/interfaces"
#: The hub's home-folder handover (the hub's ``hub/handover.py``), under its REST API.
HANDOVER_PATH = "/gereedschapskist/handover"
#: A server's usage (the hub's ``hub/api.py``): ``/gereedschapskist/usage/<user>/<server>``.
USAGE_PATH = "/gereedschapskist/usage"
#: Published apps (the hub's ``hub/apps.py``): ``/gereedschapskist/apps/<user>/<server>/{audience,logs}``.
APPS_PATH = "/gereedschapskist/apps"
#: Users per page when the background sync lists every user with an active server.
ACTIVE_PAGE = 200


def _path(value: str) -> str:
    return quote(value, safe="")


def _user(username: str) -> str:
    """The hub's name of a user, quoted for a path: ``Anna`` and ``anna`` are one hub user."""
    return _path(hub_username(username))


def _hub_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return json.dumps(body)[:500]


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _server_info(name: str, model: dict[str, Any]) -> ServerInfo:
    return ServerInfo(name=name, ready=bool(model.get("ready")), pending=model.get("pending"),
                      url=model.get("url"), started=_parse_time(model.get("started")),
                      stopped=bool(model.get("stopped")))


class JupyterHubAdapter(WorkspaceHub):
    def __init__(self, *, api_url: str, public_url: str, token: str | None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self.api_url = api_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        headers = {"Authorization": f"token {token}"} if token else {}
        self._headers = headers
        self._client = httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    # -- plumbing ------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, ok: tuple[int, ...], timeout: float | None = None,
                 **kwargs: Any) -> httpx.Response:
        response = self._send(method, path, timeout=timeout, **kwargs)
        if response.status_code in ok:
            return response
        raise self._error(method, path, response)

    def _send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        if not self._token and path != "/":
            raise HubUnavailable(f"the portal has no API token for the hub at {self.api_url}; set "
                                 "GEREEDSCHAPSKIST_PORTAL_HUB_API_TOKEN", reason="hub-not-configured")
        try:
            response = self._client.request(method, path, timeout=timeout or self._timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise HubUnavailable(f"the hub at {self.api_url} did not answer {method} {path} in time") from exc
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"the hub at {self.api_url} cannot be reached: {exc.__class__.__name__}") from exc
        return response

    def _error(self, method: str, path: str, response: httpx.Response) -> PortalError:
        """The portal's error for a hub answer that is not one of the expected ones."""
        status, message = response.status_code, _hub_message(response)
        reason = response.headers.get(REASON_HEADER) or None
        if status in (502, 503, 504):
            return HubUnavailable(f"the hub at {self.api_url} is not ready: {message}")
        if status in (400, 403, 409) and reason == HUB_LOGIN_NEEDED:   # the hub must see the user log in again
            return HubLoginNeeded(message, login_url_to=self.login_url)
        if status in (400, 403, 409) and reason is not None:     # the hub refused the launch, and says why
            return HubRefused(message, reason=reason)
        if status == 401:
            return HubError(f"the hub at {self.api_url} rejected the portal's token: {message}", reason="hub-token")
        if status == 403:   # JupyterHub's own 403 (no reason header): the token or its scopes do not allow this
            return HubError(f"the hub did not allow the portal's token {method} {path}: {message}",
                            reason="hub-token")
        if status in (400, 409):
            return HubRefused(message)
        if status == 404:
            return NotFound(f"the hub has no {path}", reason="hub-not-found")
        return HubError(f"the hub answered {method} {path} with HTTP {status}: {message}")

    # -- interface -------------------------------------------------------------------------------------
    def open_url(self, server_url: str) -> str:
        """The server's own URL (issue 13). The server sends a browser without its cookie through the hub's OAuth
        (``/hub/api/oauth2/authorize``): with the hub's session cookie that passes without a page; without one the
        hub's login comes first (``auto_login``: single sign-on at the issuer, which knows the user from the
        portal's login, so no password either). No token travels in a URL. Sending every open through
        ``/hub/oauth_login`` cost three more hops, the issuer's and the hub's login callback among them."""
        return server_url

    def login_url(self, return_path: str) -> str:
        """Through the hub's single sign-on (``/hub/oauth_login``; the issuer knows the user from the portal's
        login, so no second password) and back to the portal's ``return_path``: the hub's ``/hub/spawn`` sends
        people to the portal (its ``PORTAL_URL`` setting) at the path in its ``next``."""
        spawn = f"/hub/spawn?{httpx.QueryParams({'next': return_path})}"
        return f"{self.public_url}/hub/oauth_login?{httpx.QueryParams({'next': spawn})}"

    def check(self) -> str:
        response = self._request("GET", "/", ok=(200,), timeout=min(self._timeout, 3.0))
        try:
            return str(response.json().get("version", "?"))
        except ValueError as exc:
            raise HubUnavailable(f"{self.api_url} answers, but not like a JupyterHub API") from exc

    def interfaces(self) -> dict[str, InterfaceState] | None:
        """``GET /hub/api/gereedschapskist/interfaces``; None (unknown) when the hub does not have it (404) or
        answers something else than the documented shape."""
        try:
            response = self._request("GET", INTERFACES_PATH, ok=(200,), timeout=min(self._timeout, 3.0))
        except NotFound:
            return None
        try:
            body = response.json()

            def states(document: dict) -> dict[str, InterfaceState]:
                return {str(name): InterfaceState(str(name), available=bool(entry["available"]),
                                                  reason=entry.get("reason"), missing=entry.get("missing"))
                        for name, entry in document.items()}

            by_bundle = {str(bundle): states(document) for bundle, document in body.get("bundles", {}).items()}
            environments = {str(bundle): (str(entry["version"]), str(entry["state"]))   # the hub's preparation
                            for bundle, entry in body.get("environments", {}).items()}
            return InterfaceStates(states(body["interfaces"]), by_bundle, environments)
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("the hub at %s answered %s in an unknown shape", self.api_url, INTERFACES_PATH)
            return None

    def sizing(self) -> HubSizing | None:
        """``capacity`` and ``limits`` of ``GET /hub/api/gereedschapskist/interfaces``; None when the hub has no such
        answer or not in the documented shape. No ``capacity`` there: no single machine (Kubernetes)."""
        try:
            body = self._request("GET", INTERFACES_PATH, ok=(200,), timeout=min(self._timeout, 3.0)).json()
            limits = body.get("limits") or {}
            capacity = Capacity.from_json(body["capacity"]) if body.get("capacity") is not None else None
            enforced = limits.get("enforced")
            return HubSizing(capacity, enforced if isinstance(enforced, bool) else None,
                             str(limits["mechanism"]) if limits.get("mechanism") else None)
        except NotFound:
            return None
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("the hub at %s answered %s without a known capacity shape", self.api_url, INTERFACES_PATH)
            return None

    def usage(self, *, username: str, server_name: str) -> WorkspaceUsage | None:
        """``GET /hub/api/gereedschapskist/usage/<user>/<server>``; None when the hub does not know (404) or
        answers in another shape."""
        path = f"{USAGE_PATH}/{_user(username)}/{_path(server_name)}"
        try:
            body = self._request("GET", path, ok=(200,), timeout=min(self._timeout, 5.0)).json()
        except NotFound:
            return None
        try:
            usage = body.get("usage") or {}

            def number(value: Any, kind: type) -> Any:
                return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

            return WorkspaceUsage(
                running=bool(body["running"]), cpu_percent=number(usage.get("cpu_percent"), float),
                rss_bytes=number(usage.get("rss_bytes"), int),
                peak_cpu_percent=number(usage.get("peak_cpu_percent"), float),
                peak_rss_bytes=number(usage.get("peak_rss_bytes"), int), samples=int(usage.get("samples") or 0),
                started=_parse_time(usage.get("started")), last_activity=_parse_time(body.get("last_activity")),
                idle_cull_at=_parse_time(body.get("idle_cull_at")),
                idle_timeout_seconds=number(body.get("idle_timeout_seconds"), int),
                cull_every_seconds=number(body.get("cull_every_seconds"), int),
                enforced=(body.get("limits") or {}).get("enforced"))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("the hub at %s answered %s in an unknown shape", self.api_url, path)
            return None

    def ensure_user(self, *, username: str, groups: Iterable[str]) -> None:
        """Check the hub knows the user; it never creates users or sets groups (they come from the issuer at hub
        login, re-read before every start, so ``groups`` is not sent)."""
        try:
            self._request("GET", f"/users/{_user(username)}", ok=(200,))
        except NotFound:
            raise HubLoginNeeded(f"{hub_username(username)} has not logged in to the hub yet; log in there once "
                                 "(single sign-on) and start again", login_url_to=self.login_url) from None

    def hand_over_home(self, *, from_username: str, to_username: str) -> HomeHandover:
        """``POST /hub/api/gereedschapskist/handover`` (the hub's ``hub/handover.py``, custom scope
        ``custom:gereedschapskist:handover``): the hub moves the leaving user's home folder into the colleague's.
        Its refusals keep their reason (``workspace-running``, ``handover-unsupported``)."""
        path = HANDOVER_PATH
        response = self._send("POST", path, json={"from": hub_username(from_username),
                                                  "to": hub_username(to_username)})
        if response.status_code == 501:
            raise HubRefused(_hub_message(response), reason=response.headers.get(REASON_HEADER) or
                             "handover-unsupported")
        if response.status_code != 200:
            raise self._error("POST", path, response)
        try:
            body = response.json()
            return HomeHandover(moved=bool(body["moved"]), folder=body.get("folder"))
        except (ValueError, KeyError, TypeError) as exc:
            raise HubError(f"the hub answered {path} in an unknown shape") from exc

    def share_app(self, *, username: str, server_name: str, users: Iterable[str], groups: Iterable[str]) -> dict:
        """``POST /hub/api/gereedschapskist/apps/<user>/<server>/audience`` (custom scope
        ``custom:gereedschapskist:apps``): the hub replaces the app server's shares with these users and groups."""
        path = f"{APPS_PATH}/{_user(username)}/{_path(server_name)}/audience"
        body = {"users": sorted({hub_username(u) for u in users}), "groups": sorted(set(groups))}
        return self._request("POST", path, ok=(200,), json=body).json()

    def app_logs(self, *, username: str, server_name: str) -> list[str] | None:
        path = f"{APPS_PATH}/{_user(username)}/{_path(server_name)}/logs"
        try:
            body = self._request("GET", path, ok=(200,)).json()
        except NotFound:
            return None
        return [str(line) for line in body.get("lines", [])] if body.get("available") else None

    def start(self, *, username: str, server_name: str, options: dict[str, str]) -> ServerInfo:
        path = f"/users/{_user(username)}/servers/{_path(server_name)}"
        response = self._send("POST", path, json={"user_options": options, "display_name": server_name})
        if response.status_code == 500:      # the hub accepted the launch and the spawn itself failed at once
            raise HubStartFailed(_hub_message(response))
        if response.status_code not in (201, 202):
            raise self._error("POST", path, response)
        if response.status_code == 201:
            return self.server(username=username, server_name=server_name) or ServerInfo(server_name, ready=True)
        return ServerInfo(server_name, ready=False, pending="spawn")

    def server(self, *, username: str, server_name: str) -> ServerInfo | None:
        try:
            model = self._request("GET", f"/users/{_user(username)}/servers/{_path(server_name)}", ok=(200,)).json()
        except NotFound:
            return None
        return _server_info(server_name, model)

    def stop(self, *, username: str, server_name: str, remove: bool = True) -> ServerInfo | None:
        path = f"/users/{_user(username)}/servers/{_path(server_name)}"
        try:
            response = self._request("DELETE", path, ok=(202, 204), json={"remove": remove})
        except NotFound:
            return None
        if response.status_code == 204:
            return None
        return ServerInfo(server_name, ready=False, pending="stop")

    def servers(self, *, username: str) -> dict[str, ServerInfo]:
        try:
            model = self._request("GET", f"/users/{_user(username)}", ok=(200,),
                                  params={"include_stopped_servers": "1"}).json()
        except NotFound:
            return {}
        return {name: _server_info(name, server) for name, server in (model.get("servers") or {}).items()}

    def active_servers(self) -> dict[str, dict[str, ServerInfo]]:
        """``GET /users?state=active``, page by page (JupyterHub's pagination; needs ``list:users``)."""
        found: dict[str, dict[str, ServerInfo]] = {}
        offset = 0
        while True:
            page = self._request("GET", "/users", ok=(200,), params={"state": "active", "offset": offset,
                                                                     "limit": ACTIVE_PAGE},
                                 headers={"Accept": "application/jupyterhub-pagination+json"}).json()
            items = page.get("items", []) if isinstance(page, dict) else page
            for user in items:
                found[user["name"]] = {name: _server_info(name, server)
                                       for name, server in (user.get("servers") or {}).items()}
            following = (page.get("_pagination") or {}).get("next") if isinstance(page, dict) else None
            if not following or not items:
                return found
            offset = following.get("offset", offset + len(items))

    async def progress(self, *, username: str, server_name: str) -> AsyncIterator[ProgressEvent]:
        path = f"{self.api_url}/users/{_user(username)}/servers/{_path(server_name)}/progress"
        timeout = httpx.Timeout(self._timeout, read=None)
        try:
            async with httpx.AsyncClient(headers=self._headers, timeout=timeout) as client:
                async with client.stream("GET", path) as response:
                    if response.status_code != 200:
                        await response.aread()
                        message = _hub_message(response)
                        if response.status_code == 404:
                            raise NotFound(f"the hub has no server {server_name!r} for {username}",
                                           reason="hub-not-found")
                        raise HubError(f"the hub refused the progress stream: HTTP {response.status_code}: "
                                       f"{message}")
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        try:
                            data = json.loads(line[5:].strip())
                        except ValueError:
                            log.warning("hub sent a progress line that is not JSON: %r", line[:200])
                            continue
                        event = ProgressEvent(progress=data.get("progress"), message=str(data.get("message", "")),
                                              ready=bool(data.get("ready")), failed=bool(data.get("failed")),
                                              url=data.get("url"))
                        yield event
                        if event.ready or event.failed:
                            return
        except httpx.TimeoutException as exc:
            raise HubUnavailable(f"the hub at {self.api_url} stopped answering the progress stream") from exc
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"the hub at {self.api_url} cannot be reached: {exc.__class__.__name__}") from exc
