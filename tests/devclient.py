"""A browser-less user of the development stack: log in through OIDC, start servers, run code.

For the tests and benchmarks (``from tests.devclient import …``)::

    client = oidc_login(f"{hub.url}/hub/oauth_login", "anna", "anna-demo")   # real redirect flow
    user = HubUser.login(hub.url, "anna", "anna-demo")
    user.start_server("work", {"bundle": "bi-sql-duckdb", "size": "small"})
    user.wait_until_ready("work")                    # follows GET .../progress (server-sent events)
    user.run_code("work", "import duckdb; print(duckdb.__version__)")
    user.stop_server("work")

``oidc_login`` works for any client of the development provider (hub, portal): it follows the
redirects to the provider's login form, posts the demo account's password and follows the
redirects back, so the returned client carries the application's session cookie.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx
import websocket


class LoginFailed(Exception):
    """The OIDC login did not complete; the message says at which step."""

    reason = "login-failed"


class HubRequestFailed(Exception):
    """The hub answered a request with an error; ``status`` and ``message`` are the hub's."""

    def __init__(self, status: int, message: str, reason: str | None = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.reason = reason


class _LoginForm(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = dict(attrs)
        if tag == "form" and data.get("id") == "login":
            self.action = data.get("action") or ""


def _login_form_action(html: str) -> str | None:
    parser = _LoginForm()
    parser.feed(html)
    return parser.action


def oidc_login(start_url: str, username: str, password: str, *, client: httpx.Client | None = None,
               timeout: float = 30.0) -> httpx.Client:
    """Log in through the development provider's form, starting at an application's login URL."""
    client = client or httpx.Client(timeout=timeout, trust_env=False)
    page = client.get(start_url, follow_redirects=True)
    action = _login_form_action(page.text)
    if action is None:
        raise LoginFailed(f"no login form at {page.url} (status {page.status_code}) after GET {start_url}")
    done = client.post(urljoin(str(page.url), action), data={"username": username, "password": password},
                       follow_redirects=True)
    if _login_form_action(done.text) is not None:
        raise LoginFailed(f"the provider refused {username!r} (status {done.status_code})")
    if done.status_code >= 400:
        raise LoginFailed(f"login of {username!r} ended at {done.url} with status {done.status_code}: "
                          f"{done.text[:300]}")
    client.last_login_response = done  # type: ignore[attr-defined]
    return client


def hub_sso_login(client: httpx.Client, hub_url: str) -> httpx.Client:
    """Log ``client`` (already logged in at the provider, e.g. through the portal) in to the hub by single
    sign-on, as a browser does when the portal sends it there: the hub then knows the user and their groups."""
    done = client.get(f"{hub_url}/hub/oauth_login?next=/hub/home", follow_redirects=True)
    if _login_form_action(done.text) is not None or done.status_code >= 400:
        raise LoginFailed(f"single sign-on at the hub ended at {done.url} with status {done.status_code}")
    return client


def _error(response: httpx.Response) -> HubRequestFailed:
    try:
        message = response.json().get("message", response.text)
    except ValueError:
        message = response.text
    return HubRequestFailed(response.status_code, message, response.headers.get("X-Gereedschapskist-Reason"))


def follow_progress(api: httpx.Client, user: str, server: str, timeout: float = 900.0) -> list[dict]:
    """Read ``GET /users/{user}/servers/{server}/progress`` (server-sent events) until ready or failed.

    ``api`` is an httpx client whose base URL is the hub's API (``…/hub/api``) and which carries a
    token allowed to read the server (the user's own, or the portal's with ``read:servers``).
    """
    events: list[dict] = []
    url = f"/users/{user}/servers/{server}/progress"
    with api.stream("GET", url, timeout=httpx.Timeout(timeout, connect=10.0)) as response:
        if response.status_code != 200:
            response.read()
            raise _error(response)
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            event = json.loads(line[len("data:"):])
            events.append(event)
            if event.get("ready") or event.get("failed"):
                break
    return events


@dataclass
class HubUser:
    """A logged-in hub user with an API token of their own."""

    hub_url: str
    name: str
    token: str
    browser: httpx.Client
    #: The API client that starts servers: users cannot start their own (only the portal does, with its token),
    #: so the tests' ``hub_user`` fixture passes the portal service's client; ``None``: the user's own token.
    starter: httpx.Client | None = None
    api: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.api = httpx.Client(base_url=f"{self.hub_url}/hub/api", timeout=60.0, trust_env=False,
                                headers={"Authorization": f"token {self.token}"})

    @classmethod
    def login(cls, hub_url: str, username: str, password: str,
              starter: httpx.Client | None = None) -> "HubUser":
        """Log in through OIDC like a browser, then create an API token with the session (and its XSRF token)."""
        browser = oidc_login(f"{hub_url}/hub/oauth_login?next=/hub/home", username, password)
        home = browser.get(f"{hub_url}/hub/home")
        if home.status_code != 200:
            raise LoginFailed(f"after login, /hub/home answered {home.status_code}")
        xsrf = browser.cookies.get("_xsrf", path="/hub/")
        who = browser.get(f"{hub_url}/hub/api/user", headers={"X-XSRFToken": xsrf or ""})
        if who.status_code != 200:
            raise LoginFailed(f"after login, /hub/api/user answered {who.status_code}: {who.text[:200]}")
        name = who.json()["name"]
        made = browser.post(f"{hub_url}/hub/api/users/{name}/tokens", headers={"X-XSRFToken": xsrf or ""},
                            json={"note": "devclient", "expires_in": 3600})
        if made.status_code != 201:
            raise LoginFailed(f"creating a token for {name} answered {made.status_code}: {made.text[:200]}")
        return cls(hub_url, name, made.json()["token"], browser, starter)

    def close(self) -> None:
        self.api.close()
        self.browser.close()

    # -- hub REST API ------------------------------------------------------------------------------

    def model(self) -> dict:
        response = self.api.get(f"/users/{self.name}")
        if response.status_code != 200:
            raise _error(response)
        return response.json()

    def groups(self) -> list[str]:
        return sorted(self.model()["groups"])

    def start_server(self, server: str, user_options: dict) -> int:
        """``POST /users/{name}/servers/{server}`` (with ``starter``); returns 201 (started) or 202 (pending)."""
        response = (self.starter or self.api).post(f"/users/{self.name}/servers/{server}",
                                                   json={"user_options": user_options})
        if response.status_code not in (201, 202):
            raise _error(response)
        return response.status_code

    def progress(self, server: str, timeout: float = 900.0) -> list[dict]:
        """Follow the server's progress events until ready or failed; returns them all."""
        return follow_progress(self.api, self.name, server, timeout)

    def wait_until_ready(self, server: str, timeout: float = 900.0) -> list[dict]:
        events = self.progress(server, timeout)
        if not events or not events[-1].get("ready"):
            last = events[-1].get("message") if events else "no progress events"
            raise HubRequestFailed(500, f"server {server} did not become ready: {last}")
        return events

    def server_url(self, server: str) -> str:
        return f"{self.hub_url}/user/{self.name}/{server}/"

    def stop_server(self, server: str, remove: bool = False, timeout: float = 60.0) -> None:
        response = self.api.request("DELETE", f"/users/{self.name}/servers/{server}",
                                    json={"remove": remove} if remove else None)
        if response.status_code not in (202, 204):
            raise _error(response)
        deadline = time.monotonic() + timeout
        while response.status_code == 202:  # stopping: ask the hub until it reports the server gone
            servers = self.model().get("servers", {})
            if server not in servers or not servers[server].get("pending"):
                return
            if time.monotonic() > deadline:
                raise HubRequestFailed(500, f"server {server} did not stop within {timeout} s")
            time.sleep(0.1)

    # -- the single-user server: kernels ------------------------------------------------------------

    def run_code(self, server: str, code: str, timeout: float = 120.0) -> str:
        """Start a kernel on the server, execute ``code``, return its stdout; raise on an error."""
        base = self.server_url(server)
        headers = {"Authorization": f"token {self.token}"}
        with httpx.Client(timeout=60.0, trust_env=False, headers=headers) as http:
            made = http.post(f"{base}api/kernels", json={"name": "python3"})
            if made.status_code != 201:
                raise _error(made)
            kernel = made.json()["id"]
            try:
                return _execute(base.replace("http", "ws", 1) + f"api/kernels/{kernel}/channels", headers, code,
                                timeout)
            finally:
                http.delete(f"{base}api/kernels/{kernel}")


def _execute(url: str, headers: dict, code: str, timeout: float) -> str:
    session = uuid.uuid4().hex
    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "username": "devclient", "session": session, "msg_type": "execute_request",
                   "version": "5.3", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }
    ws = websocket.create_connection(url, header=[f"{k}: {v}" for k, v in headers.items()], timeout=timeout)
    try:
        ws.send(json.dumps(request))
        output: list[str] = []
        error: str | None = None
        reply: dict | None = None
        idle = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (reply is not None and idle):
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            content = message["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True  # iopub: every output of the request has been sent
            elif kind == "execute_reply":
                reply = content
        if reply is not None and idle:
            if reply.get("status") != "ok":
                raise RuntimeError(error or f"execution failed: {reply}")
            return "".join(output)
        raise TimeoutError(f"no execute_reply within {timeout} s")
    finally:
        ws.close()


def end_servers_started_ahead(state_dir) -> int:
    """End the hub's waiting server processes (``hub/server_waiter.py``) of environments under ``state_dir``, so the
    next start is a new process whose every progress step the test can see (a start a waiting process takes is over
    before a progress stream opens). The hub notices (the process has exited) and starts a new one. Returns how many."""
    import os
    import signal
    from pathlib import Path

    ended = 0
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "server_waiter.py" in cmdline and str(state_dir) in cmdline:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
                ended += 1
            except (OSError, ValueError):
                pass
    return ended
