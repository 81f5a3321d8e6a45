"""Who may do what at a real hub (issue 11, findings 3, 4, 6, 8 and "any issuer by configuration only").

The shared ``hub_stack`` runs with the demo accounts; the tests that change an account at the issuer, or play
another issuer (user name in ``uid``, groups in ``eduperson_entitlement``, ``client_secret_post``), start a
provider and a hub of their own, configured only through the hub's documented settings.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from gereedschapskist.dev.demo import ACCOUNTS_FILE
from gereedschapskist.dev.devstack import DevSecrets, HubProcess, OidcProvider, free_port, hub_api, hub_client
from tests.devclient import HubRequestFailed, HubUser, follow_progress

TEST_CATALOGUE = Path(__file__).parent / "fixtures" / "catalogue"
COWSAY = {"bundle": "tiny-cowsay", "size": "small"}


# --------------------------------------------------------------------------- finding 3: admins


def test_a_platform_admin_cannot_open_anothers_server_or_make_tokens_for_them(hub_stack, hub_user):
    anna = hub_user("anna")
    femke = hub_user("femke")  # gereedschapskist:admins
    portal = hub_api(hub_stack.hub, hub_stack.portal_api_token)
    assert portal.post("/users/anna/servers/adm", json={"user_options": COWSAY}).status_code in (201, 202)
    try:
        assert follow_progress(portal, "anna", "adm", timeout=600)[-1].get("ready")
        me = femke.model()
        assert me["admin"] is False and "admin" not in me["roles"]
        scopes = set(femke.api.get("/user").json()["scopes"])  # her group's role: gereedschapskist-platform-admin
        assert {"read:users", "read:servers", "delete:servers"} <= scopes
        assert not {"access:servers", "tokens", "admin:users", "servers", "start:servers"} & scopes
        # what an admin may do: see users and servers, stop them
        assert "adm" in femke.api.get("/users/anna").json()["servers"]
        # what not: open the server (with her token, or in her browser), make a token for anna
        headers = {"Authorization": f"token {femke.token}"}
        opened = httpx.get(anna.server_url("adm") + "api/status", headers=headers, trust_env=False)
        assert opened.status_code == 403, opened.text
        xsrf = femke.browser.cookies.get("_xsrf", path="/hub/") or ""
        page = femke.browser.get(anna.server_url("adm"), follow_redirects=True)
        assert page.status_code == 403 or "/user/anna/" not in str(page.url)
        assert femke.api.post("/users/anna/tokens", json={}).status_code == 403
        assert femke.browser.post(f"{hub_stack.api_url}/users/anna/tokens", json={},
                                  headers={"X-XSRFToken": xsrf}).status_code == 403
        assert femke.api.patch("/users/anna", json={"name": "femke2"}).status_code == 403
        assert femke.api.post("/users/anna/servers/fm", json={"user_options": COWSAY}).status_code == 403
        stop = femke.api.request("DELETE", "/users/anna/servers/adm", json={"remove": True})
        assert stop.status_code in (202, 204), stop.text
    finally:
        portal.request("DELETE", "/users/anna/servers/adm", json={"remove": True})


def test_an_organisation_admin_sees_only_their_organisation(hub_stack, hub_user):
    hub_user("anna")   # org:minfin
    hub_user("bram")   # org:cbs
    dana = hub_user("dana")  # org-admin:minfin
    assert dana.model()["admin"] is False
    assert dana.api.get("/users/anna").status_code == 200
    assert dana.api.get("/users/bram").status_code in (403, 404)
    assert dana.api.post("/users/anna/tokens", json={}).status_code == 403
    listed = {u["name"] for u in dana.api.get("/users").json()}
    assert "anna" in listed and "bram" not in listed


# --------------------------------------------------------------------------- finding 6: direct starts


def test_users_cannot_start_servers_at_the_hub_only_through_the_portal(hub_stack, hub_user):
    anna = hub_user("anna")
    # with her own token (REST API)
    direct = anna.api.post(f"/users/{anna.name}/servers/direct", json={"user_options": COWSAY})
    assert direct.status_code == 403, direct.text
    assert anna.api.post(f"/users/{anna.name}/server", json=COWSAY).status_code == 403
    # with her browser: /hub/spawn sends people to the portal (GEREEDSCHAPSKIST_HUB_PORTAL_URL), to a local path only
    portal = f"http://127.0.0.1:{hub_stack.ports.portal}"
    for path, lands in (("/hub/spawn", "/"), ("/hub/spawn/anna/direct", "/"),
                        ("/hub/spawn?next=%2Fworkspaces%2Fresume%3Flaunch%3Dx", "/workspaces/resume?launch=x"),
                        ("/hub/spawn?next=https%3A%2F%2Fevil.example%2F", "/"), ("/hub/spawn?next=%2F%2Fevil", "/")):
        page = anna.browser.get(f"{hub_stack.url}{path}", follow_redirects=False)
        assert page.status_code == 302 and page.headers["location"] == f"{portal}{lands}", (path, page.headers)
    assert "direct" not in anna.model()["servers"]
    # the portal's start works (test_config.py follows it to a running server)


# --------------------------------------------------------------------------- another issuer, changed at run time


@dataclasses.dataclass
class OtherIssuer:
    provider: OidcProvider
    hub: HubProcess
    accounts_file: Path
    portal_token: str

    def set_groups(self, username: str, groups: list[str]) -> None:
        data = json.loads(self.accounts_file.read_text(encoding="utf-8"))
        for account in data["accounts"]:
            if account["username"] == username:
                account["groups"] = groups
        tmp = self.accounts_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.accounts_file)


@pytest.fixture(scope="module")
def other_issuer(tmp_path_factory) -> Iterator[OtherIssuer]:
    """A provider releasing ``uid`` and ``eduperson_entitlement``, with ``client_secret_post``, and a hub
    configured for it only through ``GEREEDSCHAPSKIST_HUB_*`` settings (space-separated lists)."""
    state = tmp_path_factory.mktemp("other-issuer")
    accounts = json.loads(ACCOUNTS_FILE.read_text(encoding="utf-8"))
    accounts["accounts"] = [{"username": "Anna", "password": "anna-demo", "name": "Anna", "email": "a@example.nl",
                             "groups": ["org:minfin", "role:bi"]}]
    accounts_file = state / "accounts.json"
    accounts_file.write_text(json.dumps(accounts), encoding="utf-8")
    secrets = DevSecrets.load_or_create(state)
    port = free_port()
    client = dataclasses.replace(hub_client(port, secrets), token_endpoint_auth_method="client_secret_post")
    provider = OidcProvider.start(state, [client], accounts_file=accounts_file,
                                  claim_names={"username": "uid", "groups": "eduperson_entitlement"})
    try:
        hub = HubProcess.start(state, provider, secrets=secrets, port=port, catalogue_dir=TEST_CATALOGUE,
                               extra_env={
                                   "GEREEDSCHAPSKIST_HUB_OIDC_USERNAME_CLAIM": "uid",
                                   "GEREEDSCHAPSKIST_HUB_OIDC_GROUPS_CLAIM": "eduperson_entitlement",
                                   "GEREEDSCHAPSKIST_HUB_OIDC_SCOPES": "openid profile email groups",
                                   "GEREEDSCHAPSKIST_HUB_OIDC_TOKEN_ENDPOINT_AUTH_METHOD": "client_secret_post",
                                   "GEREEDSCHAPSKIST_HUB_ALLOWED_GROUPS": "org:minfin org:cbs",
                               })
        try:
            yield OtherIssuer(provider, hub, accounts_file, secrets.portal_api_token)
        finally:
            hub.stop()
    finally:
        provider.stop()


def test_another_issuers_claims_and_auth_method_by_settings_only_and_one_user_for_anna_and_Anna(other_issuer):
    """Finding 8: the issuer says ``Anna``; the hub's user is ``anna`` on the login path and on the API path."""
    anna = HubUser.login(other_issuer.hub.url, "Anna", "anna-demo")
    try:
        assert anna.name == "anna"
        portal = hub_api(other_issuer.hub, other_issuer.portal_token)
        assert sorted(portal.get("/users/anna").json()["groups"]) == ["org:minfin", "role:bi"]
        assert portal.get("/users/Anna").status_code == 404  # the API takes the hub's name, as the portal sends it
        again = HubUser.login(other_issuer.hub.url, "Anna", "anna-demo")
        again.close()
        names = [u["name"] for u in hub_api(other_issuer.hub, anna.token).get("/users").json()] \
            if anna.api.get("/users").status_code == 200 else ["anna"]
        assert [n for n in names if n.lower() == "anna"] == ["anna"]
    finally:
        anna.close()


def test_a_role_removed_at_the_issuer_blocks_the_next_start_at_the_hub(other_issuer):
    """Finding 4: groups are re-read from the issuer before every start (auth_state + refresh_pre_spawn)."""
    anna = HubUser.login(other_issuer.hub.url, "Anna", "anna-demo")
    portal = hub_api(other_issuer.hub, other_issuer.portal_token)
    try:
        other_issuer.set_groups("Anna", ["org:minfin"])  # role:bi withdrawn at the issuer
        refused = portal.post("/users/anna/servers/after", json={"user_options": COWSAY})
        assert refused.status_code == 403, refused.text
        assert refused.headers["X-Gereedschapskist-Reason"] == "role"
        assert portal.get("/users/anna").json()["groups"] == ["org:minfin"]

        other_issuer.set_groups("Anna", [])  # no longer in an allowed group: a new login is needed (and refused)
        gone = portal.post("/users/anna/servers/after2", json={"user_options": COWSAY})
        assert gone.status_code == 403, gone.text
        assert gone.headers["X-Gereedschapskist-Reason"] == "hub-login-needed"
    finally:
        other_issuer.set_groups("Anna", ["org:minfin", "role:bi"])
        for name in ("after", "after2"):
            portal.request("DELETE", f"/users/anna/servers/{name}", json={"remove": True})
        anna.close()


def test_at_most_three_servers_run_at_once_but_stopped_ones_do_not_count(hub_stack, hub_user):
    """A stopped workspace keeps its hub server (its home, for a restart), so JupyterHub's named-server limit — which
    counts stopped servers too — is the user's history. What protects the machine is the running limit (3 by
    default, ``RUNNING_SERVER_LIMIT``): a fourth start while three run is refused with its reason; once one is
    stopped (and kept), the fourth starts."""
    anna = hub_user("anna")      # the test catalogue's startable bundle is of anna's role (bi)
    names = [f"limit-{i}" for i in range(4)]
    try:
        for name in names[:3]:
            anna.start_server(name, {"bundle": "tiny-cowsay", "size": "small"})
            anna.wait_until_ready(name, timeout=300)
        with pytest.raises(HubRequestFailed) as refused:
            anna.start_server(names[3], {"bundle": "tiny-cowsay", "size": "small"})
        assert refused.value.status == 409 and refused.value.reason == "running-limit", refused.value
        assert "limit-0, limit-1, limit-2" in str(refused.value)
        anna.stop_server(names[0])                          # stopped, not removed: it stays in the history
        kept = anna.api.get("/users/anna", params={"include_stopped_servers": 1}).json()["servers"]
        assert kept[names[0]]["stopped"] is True
        anna.start_server(names[3], {"bundle": "tiny-cowsay", "size": "small"})
        anna.wait_until_ready(names[3], timeout=300)
    finally:
        for name in names:
            try:
                anna.stop_server(name, remove=True)
            except HubRequestFailed:
                pass
