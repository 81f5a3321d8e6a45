"""Against the real development stack: OIDC login through the provider, launch/progress/open/stop through
the real JupyterHub (local backend, the hub's tiny test bundles), the hub going down and coming back."""

from __future__ import annotations

import json
import time
from typing import Callable, Iterator

import httpx
import pytest
from sqlalchemy import select

from tests.devclient import hub_sso_login, oidc_login
from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import RegisterAction, RegisterEntry, User
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.support import PortalServer, TcpRelay

from gereedschapskist.dev.processes import free_port


def stack_settings(database, tmp_path, hub_stack, *, hub_url: str | None = None) -> PortalSettings:
    return PortalSettings(
        database_url=database.url, state_dir=tmp_path, session_secret="s" * 40,
        public_url=f"http://127.0.0.1:{hub_stack.ports.portal}", oidc_issuer=hub_stack.provider.issuer,
        oidc_client_id="portal", oidc_client_secret=hub_stack.secrets.portal_client_secret,
        organisations="cbs minfin",
        hub_url=hub_url or hub_stack.url, hub_api_token=hub_stack.portal_api_token,
        catalogue_dir=hub_stack.catalogue_dir, reconcile_interval_seconds=0, hub_status_ttl_seconds=0,
        hub_timeout_seconds=60)


@pytest.fixture
def portal(database, tmp_path, hub_stack) -> Iterator[PortalServer]:
    """The portal on the port the provider's ``portal`` client redirects to, against the real hub."""
    with PortalServer(create_app(stack_settings(database, tmp_path, hub_stack)), hub_stack.ports.portal) as server:
        yield server


class PortalUser:
    """A browser-less user logged in to the portal through the real OIDC redirect flow."""

    def __init__(self, base: str, client: httpx.Client):
        self.base, self.http = base, client
        self.me = client.get(f"{base}/api/v1/me").json()

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(f"{self.base}{path}", **kwargs)

    def post(self, path: str, body: dict | None = None) -> httpx.Response:
        return self.http.post(f"{self.base}{path}", json=body, headers={"X-CSRF-Token": self.me["csrf_token"]})

    def progress(self, workspace_id: int) -> list[tuple[str, dict]]:
        events = []
        with self.http.stream("GET", f"{self.base}/api/v1/workspaces/{workspace_id}/progress",
                              timeout=httpx.Timeout(900, connect=10)) as response:
            assert response.status_code == 200
            name = None
            for line in response.iter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    events.append((name, json.loads(line[5:])))
        return events


@pytest.fixture
def portal_user(request, demo_accounts) -> Iterator[Callable[..., PortalUser]]:
    """``portal_user("anna")``: logged in through the provider to the ``portal`` fixture (or to ``server``)."""
    made: list[httpx.Client] = []

    def login(username: str, server: PortalServer | None = None) -> PortalUser:
        target = server or request.getfixturevalue("portal")
        account = demo_accounts[username]
        client = oidc_login(f"{target.url}/login", account.username, account.password)
        made.append(client)
        hub_sso_login(client, request.getfixturevalue("hub_stack").url)  # the hub knows users from its own login
        return PortalUser(target.url, client)

    yield login
    for client in made:
        client.close()


@pytest.fixture
def hub(hub_stack) -> Iterator[httpx.Client]:
    """The hub's REST API with the portal's own token (to check what the hub really did)."""
    with hub_api(hub_stack.hub, hub_stack.portal_api_token) as client:
        yield client


def _entries(app, workspace_id: int) -> list[RegisterAction]:
    with app.state.portal.sessions() as session:
        return list(session.scalars(select(RegisterEntry.action).where(RegisterEntry.workspace_id == workspace_id)
                                    .order_by(RegisterEntry.id)))


def test_login_through_the_provider_records_roles_and_memberships(portal, portal_user):
    anna = portal_user("anna")
    assert anna.me["username"] == "anna" and anna.me["roles"] == ["bi"]
    assert anna.me["organisations"] == [{"organisation": "minfin", "name": "minfin", "roles": ["data-scientist"]}]
    with portal.app.state.portal.sessions() as session:
        user = session.scalar(select(User).where(User.username == "anna"))
        assert user.name == "Anna de Vries" and user.issuer == portal.app.state.portal.settings.oidc_issuer
    dana = portal_user("dana")
    members = {m["username"]: m for m in dana.get("/api/v1/organisations/minfin").json()["members"]}
    assert members["anna"]["workbench_roles"] == ["bi"] and "organisation-admin" in members["dana"]["member_roles"]
    page = dana.get("/organisations/minfin", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Anna de Vries" in page.text


def test_login_keeps_the_page_asked_for_and_logout_ends_the_session(portal, demo_accounts):
    account = demo_accounts["bram"]
    client = oidc_login(f"{portal.url}/login?next=/catalogue", account.username, account.password)
    try:
        assert str(client.last_login_response.url) == f"{portal.url}/catalogue"
        me = client.get(f"{portal.url}/api/v1/me").json()
        logout = client.post(f"{portal.url}/logout", data={"csrf_token": me["csrf_token"]}, follow_redirects=False)
        assert logout.status_code == 303
        end_session = httpx.URL(logout.headers["location"])
        assert str(end_session).startswith(portal.app.state.portal.settings.oidc_issuer)
        assert end_session.params["post_logout_redirect_uri"] == f"{portal.url}/"
        assert end_session.params["id_token_hint"]
        assert client.get(f"{portal.url}/api/v1/me").status_code == 401
    finally:
        client.close()


def test_a_login_callback_without_a_started_login_is_refused(portal):
    response = httpx.get(f"{portal.url}/auth/callback?code=forged&state=forged", trust_env=False,
                         headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "Login failed" in response.text and "mismatching_state" in response.text


def test_launch_progress_open_stop_with_the_real_hub(portal, portal_user, hub):
    anna = portal_user("anna")
    launched = anna.post("/api/v1/workspaces", {"bundle": "tiny-cowsay", "size": "small"})
    assert launched.status_code == 202, launched.text
    workspace = launched.json()
    assert workspace["bundle"] == "tiny-cowsay" and workspace["status"] in ("starting", "running")
    assert workspace["organisation"] == "minfin" and workspace["environment"] == "local"

    # the hub got exactly the launch options and the user's groups
    model = hub.get("/users/anna").json()
    assert {"org:minfin", "role:bi"} <= set(model["groups"])
    assert model["servers"][workspace["server_name"]]["user_options"] == {
        "bundle": "tiny-cowsay", "size": "small", "interface": "jupyterlab"}

    events = anna.progress(workspace["id"])
    names = [name for name, _ in events]
    assert names[-1] == "ready", events
    assert all(name == "progress" for name in names[:-1])
    assert events[-1][1]["open_url"] == f"/workspaces/{workspace['id']}/open"
    now = anna.get(f"/api/v1/workspaces/{workspace['id']}").json()
    assert now["status"] == "running" and now["url"].endswith(f"/user/anna/{workspace['server_name']}/")

    # open: the portal sends the browser to the hub, which logs anna in through the same provider (SSO)
    opened = anna.get(f"/workspaces/{workspace['id']}/open", follow_redirects=True)
    assert opened.status_code == 200 and str(opened.url).startswith(now["url"]), opened.url
    assert "JupyterLab" in opened.text or "jupyter" in opened.text.lower()

    # an organisation admin sees it among the organisation's running workspaces
    dana = portal_user("dana")
    assert [w["id"] for w in dana.get("/api/v1/organisations/minfin/workspaces").json()] == [workspace["id"]]

    stopped = anna.post(f"/api/v1/workspaces/{workspace['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] in ("stopped", "stopping")
    final = anna.get(f"/api/v1/workspaces/{workspace['id']}").json()
    assert final["status"] == "stopped"
    assert workspace["server_name"] not in hub.get("/users/anna").json()["servers"]
    assert _entries(portal.app, workspace["id"]) == [RegisterAction.WORKSPACE_LAUNCHED,
                                                      RegisterAction.WORKSPACE_STARTED,
                                                      RegisterAction.WORKSPACE_STOPPED]


def test_a_bundle_of_another_role_never_reaches_the_hub(portal, portal_user, hub):
    bram = portal_user("bram")                           # ml, the bundle is bi
    response = bram.post("/api/v1/workspaces", {"bundle": "tiny-cowsay"})
    assert response.status_code == 403 and response.json()["reason"] == "role"
    user = hub.get("/users/bram")
    assert user.status_code == 404 or not user.json()["servers"]


def test_a_failing_build_ends_in_failed_with_the_hubs_message(portal, portal_user, hub):
    """The build fails (an unresolvable pin): the hub reports it at once or through progress, the portal
    records the failed workspace with the hub's message naming the failing package."""
    anna = portal_user("anna")
    launched = anna.post("/api/v1/workspaces", {"bundle": "tiny-broken"})
    assert launched.status_code == 202, launched.text
    workspace = launched.json()
    name, data = anna.progress(workspace["id"])[-1]
    assert name == "failed"
    now = anna.get(f"/api/v1/workspaces/{workspace['id']}").json()
    assert now["status"] == "failed" and "cowsay==999" in now["status_message"]
    assert "cowsay==999" in data["message"]
    assert _entries(portal.app, workspace["id"]) == [RegisterAction.WORKSPACE_LAUNCHED,
                                                      RegisterAction.WORKSPACE_FAILED]
    page = anna.get(f"/workspaces/{workspace['id']}", headers={"Accept-Language": "en"})
    assert "Starting failed" in page.text and "cowsay==999" in page.text
    # the failed server does not linger at the hub (it would count against the named-server limit)
    servers = hub.get("/users/anna", params={"include_stopped_servers": 1}).json()["servers"]
    assert workspace["server_name"] not in servers


def test_a_server_the_hub_stops_by_itself_is_seen_as_stopped(database, tmp_path, hub_stack, portal_user, hub):
    """The idle culler (or an admin) stops a server at the hub: the portal's background sync notices."""
    settings = stack_settings(database, tmp_path, hub_stack).model_copy(update={"reconcile_interval_seconds": 0.5})
    with PortalServer(create_app(settings), hub_stack.ports.portal) as server:
        anna = portal_user("anna", server)
        workspace = anna.post("/api/v1/workspaces", {"bundle": "tiny-cowsay"}).json()
        assert anna.progress(workspace["id"])[-1][0] == "ready"
        deleted = hub.request("DELETE", f"/users/anna/servers/{workspace['server_name']}", json={"remove": True})
        assert deleted.status_code in (202, 204)
        deadline = time.monotonic() + 60
        while anna.get(f"/api/v1/workspaces/{workspace['id']}").json()["status"] != "stopped":
            assert time.monotonic() < deadline, "the background sync did not notice the stopped server"
            time.sleep(0.2)
        assert _entries(server.app, workspace["id"])[-1] is RegisterAction.WORKSPACE_STOPPED


def test_hub_down_then_back_launching_works_without_restart(database, tmp_path, hub_stack, demo_accounts, hub):
    """The hub's network goes down (a relay port closes), then comes back; the portal is not restarted."""
    relay = TcpRelay(int(hub_stack.url.rsplit(":", 1)[1]), free_port())
    settings = stack_settings(database, tmp_path, hub_stack, hub_url=f"http://127.0.0.1:{relay.port}")
    with PortalServer(create_app(settings), hub_stack.ports.portal) as server:
        account = demo_accounts["anna"]
        client = oidc_login(f"{server.url}/login", account.username, account.password)
        hub_sso_login(client, hub_stack.url)
        try:
            anna = PortalUser(server.url, client)
            down = anna.post("/api/v1/workspaces", {"bundle": "tiny-cowsay"})
            assert down.status_code == 503 and down.json()["reason"] == "hub-unavailable"
            assert anna.get("/api/v1/workspaces").json() == []
            page = anna.get("/workspaces", headers={"Accept-Language": "en"})
            assert page.status_code == 200 and "Workspaces are unavailable right now" in page.text
            assert anna.get("/catalogue").status_code == 200

            relay.up()
            try:
                back = anna.post("/api/v1/workspaces", {"bundle": "tiny-cowsay"})
                assert back.status_code == 202, back.text
                assert anna.progress(back.json()["id"])[-1][0] == "ready"
                mine = anna.get("/workspaces", headers={"Accept-Language": "en"})
                assert "Workspaces are unavailable" not in mine.text
                assert anna.post(f"/api/v1/workspaces/{back.json()['id']}/stop").status_code == 200
            finally:
                relay.down()
        finally:
            client.close()
