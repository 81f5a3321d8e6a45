"""A refusal travels from the hub to the user with its own reason: the hub sends it in its reason header, the
portal's hub adapter reads the header (never the message text) and the user reads the reason's headline in
Dutch or English. First the adapter against real HTTP answers, then the real JupyterHub and the real portal."""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from gereedschapskist.catalogue import Catalogue, load
from gereedschapskist.core.refusal import REASON_HEADER
from gereedschapskist.portal.errors import HubError, HubRefused, HubStartFailed, HubUnavailable, PortalError
from gereedschapskist.portal.jupyterhub import JupyterHubAdapter
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.settings import PortalSettings
from tests.devclient import hub_sso_login, oidc_login
from tests.portal.support import PortalServer


class _Answers(BaseHTTPRequestHandler):
    """Answers every request with ``server.answer``: (status, headers, JSON body)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, headers, body = self.server.answer
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_hub() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _start(server: ThreadingHTTPServer, status: int, headers: dict[str, str], message: str) -> PortalError:
    server.answer = (status, headers, {"status": status, "message": message})
    adapter = JupyterHubAdapter(api_url=f"http://127.0.0.1:{server.server_address[1]}/hub/api",
                                public_url="http://127.0.0.1", token="t" * 40, timeout=5)
    try:
        with pytest.raises(PortalError) as caught:
            adapter.start(username="anna", server_name="ws", options={"bundle": "tiny-ml"})
        return caught.value
    finally:
        adapter.close()


@pytest.mark.parametrize("status, headers, message, kind, reason", [
    # the hub refuses and says why: that reason, whatever the message says
    (403, {REASON_HEADER: "role"}, "Bundle 'tiny-ml' is for the role ml; you do not have that role.",
     HubRefused, "role"),
    (403, {REASON_HEADER: "not-in-environment"}, "Bundle 'tiny-ml' is not offered in this environment.",
     HubRefused, "not-in-environment"),
    (409, {REASON_HEADER: "interface-unavailable"}, "RStudio is not installed", HubRefused, "interface-unavailable"),
    (400, {REASON_HEADER: "bad-options"}, "requires any of [servers]", HubRefused, "bad-options"),
    # no reason header: the hub's own answers, told apart by status only
    (400, {}, "User anna already has the maximum of 3 named servers.", HubRefused, "hub-refused"),
    (403, {}, "Action is not authorized with current scopes; requires any of [servers]", HubError, "hub-token"),
    (403, {}, "you do not have that role", HubError, "hub-token"),
    (401, {}, "Unauthorized", HubError, "hub-token"),
    (500, {}, "Could not install cowsay==999", HubStartFailed, "start-failed"),
    (503, {}, "starting up", HubUnavailable, "hub-unavailable"),
    (418, {}, "teapot", HubError, "hub-error"),
])
def test_the_adapter_reads_the_reason_from_the_header_not_the_text(fake_hub, status, headers, message, kind, reason):
    error = _start(fake_hub, status, headers, message)
    assert type(error) is kind and error.reason == reason
    assert message in error.message


def test_a_refusal_keeps_the_hubs_message_for_people(fake_hub):
    error = _start(fake_hub, 403, {REASON_HEADER: "role"}, "Bundle 'tiny-ml' is for the role ml.")
    assert error.message == "Bundle 'tiny-ml' is for the role ml." and error.status == 403


# --------------------------------------------------------------------------------------- the real hub


def test_the_real_hubs_role_refusal_reaches_the_adapter_as_role(hub_stack, hub_user):
    adapter = JupyterHubAdapter(api_url=hub_stack.api_url, public_url=hub_stack.url,
                                token=hub_stack.portal_api_token, timeout=60)
    hub_user("bram")  # org:cbs, role:ml — the hub knows users and their groups from their own login
    try:
        adapter.ensure_user(username="Bram", groups=["org:cbs", "role:ml"])  # the hub's name is lowercased
        with pytest.raises(HubRefused) as role:
            adapter.start(username="bram", server_name="refused-role",
                          options={"bundle": "tiny-cowsay", "size": "small"})
        assert role.value.reason == "role" and "you do not have that role" in role.value.message
        with pytest.raises(HubRefused) as interface:
            adapter.start(username="bram", server_name="refused-interface",
                          options={"bundle": "tiny-ml", "interface": "excel"})
        assert interface.value.reason == "unknown-interface"
        with pytest.raises(HubRefused) as unknown:
            adapter.ensure_user(username="nobody-logged-in", groups=["org:cbs"])
        assert unknown.value.reason == "hub-login-needed"
    finally:
        for name in ("refused-role", "refused-interface"):
            adapter.stop(username="bram", server_name=name)
        adapter.close()


def _final_event(client, url: str) -> tuple[str, dict]:
    """The last event of a workspace's progress stream (server-sent events): its name and data."""
    event, data = None, None
    with client.stream("GET", url) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
    return event, data


@pytest.mark.one_database   # a journey through the real hub: on one of the databases (tests/portal/conftest.py)
def test_a_refusal_by_the_real_hub_reaches_the_user_with_its_reason_and_headline(database, tmp_path, hub_stack,
                                                                                demo_accounts):
    """The portal's catalogue is out of step with the hub's (as during a rollout): it offers ``tiny-ml`` to the
    bi role too, the hub's does not. The portal lets anna (bi) launch it; the hub refuses with ``role``, and
    anna reads that reason — not ``hub-refused`` — on the page and in the API, in her language.

    Since issue 13 (feedback at once) the launch answers before the hub is asked: 202 with the workspace
    ``starting`` (the form: 303 to its page); the hub's refusal then makes it ``failed``, the progress stream ends
    with ``failed`` and the reason ``role``, and the workspace page says why in Dutch or English."""
    hubs_catalogue = load(hub_stack.catalogue_dir)
    tiny_ml = dataclasses.replace(hubs_catalogue.bundles["tiny-ml"], roles=("ml", "bi"))
    portals_catalogue = Catalogue(root=hubs_catalogue.root, roles=hubs_catalogue.roles,
                                  bundles={**hubs_catalogue.bundles, "tiny-ml": tiny_ml},
                                  partners=hubs_catalogue.partners)
    settings = PortalSettings(
        database_url=database.url, state_dir=tmp_path, session_secret="s" * 40,
        public_url=f"http://127.0.0.1:{hub_stack.ports.portal}", oidc_issuer=hub_stack.provider.issuer,
        oidc_client_id="portal", oidc_client_secret=hub_stack.secrets.portal_client_secret,
        organisations="cbs minfin",
        hub_url=hub_stack.url, hub_api_token=hub_stack.portal_api_token, catalogue_dir=hub_stack.catalogue_dir,
        reconcile_interval_seconds=0, hub_status_ttl_seconds=0, hub_timeout_seconds=60)
    with PortalServer(create_app(settings, catalogue_model=portals_catalogue), hub_stack.ports.portal) as server:
        account = demo_accounts["anna"]
        client = oidc_login(f"{server.url}/login", account.username, account.password)
        hub_sso_login(client, hub_stack.url)
        try:
            csrf = client.get(f"{server.url}/api/v1/me").json()["csrf_token"]
            api = client.post(f"{server.url}/api/v1/workspaces", json={"bundle": "tiny-ml"},
                              headers={"X-CSRF-Token": csrf, "Accept-Language": "en"})
            assert api.status_code == 202, api.text
            launched = api.json()
            assert launched["status"] == "starting"
            event, data = _final_event(client, f"{server.url}/api/v1/workspaces/{launched['id']}/progress")
            assert event == "failed" and data["reason"] == "role", (event, data)
            assert "you do not have that role" in data["message"]
            stored = client.get(f"{server.url}/api/v1/workspaces/{launched['id']}").json()
            assert stored["status"] == "failed"
            english = client.get(f"{server.url}/workspaces/{launched['id']}", headers={"Accept-Language": "en"})
            assert 'data-reason="role"' in english.text and "this bundle is meant for another role" in english.text

            page = client.post(f"{server.url}/workspaces", data={"bundle": "tiny-ml", "csrf_token": csrf},
                               headers={"Accept-Language": "nl"}, follow_redirects=False)
            assert page.status_code == 303
            workspace_url = f"{server.url}{page.headers['location']}"
            event, data = _final_event(client, f"{server.url}/api/v1{page.headers['location']}/progress")
            assert event == "failed" and data["reason"] == "role", (event, data)
            dutch = client.get(workspace_url, headers={"Accept-Language": "nl"})
            assert 'data-reason="role"' in dutch.text
            assert "Starten is mislukt: dit pakket is bedoeld voor een andere rol dan de uwe" in dutch.text
            # both are in the register as failed with the hub's reason; the hub keeps no server of them
            assert {w["status"] for w in client.get(f"{server.url}/api/v1/workspaces").json()} == {"failed"}
        finally:
            client.close()
