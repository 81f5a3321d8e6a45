"""Any issuer by configuration only, and access that ends when the issuer says so (issue 11).

A second configuration of the real development provider, as another issuer would be set up: it releases
the user name as ``uid`` and the groups as ``eduperson_entitlement`` (entitlement URNs, not our group
names), and registers the portal with ``client_secret_post``. The portal is configured through its
``GEREEDSCHAPSKIST_PORTAL_*`` variables only. The provider reads its accounts file again when it
changes, so a test takes a role or an organisation away at the issuer while the portal runs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin

import httpx
import pytest
from sqlalchemy import select

from gereedschapskist.dev.devstack import OidcClient, OidcProvider
from gereedschapskist.dev.processes import free_port
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import Organisation, User
from tests.devclient import _login_form_action, oidc_login
from tests.portal.support import PortalServer

URN = "urn:mace:example.nl:gereedschapskist"
ACCOUNTS = [
    {"username": "Wim", "password": "wim-test", "name": "Wim Test", "email": "wim@cbs.example.nl",
     "groups": [f"{URN}:org:cbs", f"{URN}:role:bi"]},
    {"username": "eve", "password": "eve-test", "name": "Eve Test", "email": "eve@example.nl",
     "groups": [f"{URN}:org:evil", f"{URN}:role:bi", "gereedschapskist:admins"]},
]
SECRET = "second-issuer-portal-secret-0123456789"

#: What is tested here is the issuer's configuration and what the issuer says; each test runs on one of the databases
#: (tests/portal/conftest.py, ``one_database``; here two on each): storing, refreshing and ending sessions and
#: recording users are tested on both by test_sessions, test_identity and test_backchannel_logout.
pytestmark = pytest.mark.one_database


class SecondIssuer:
    def __init__(self, provider: OidcProvider, accounts_file: Path, portal_port: int):
        self.provider, self.accounts_file, self.portal_port = provider, accounts_file, portal_port

    def set_groups(self, username: str, groups: list[str]) -> None:
        """Change an account's groups at the issuer (the provider notices the file's new modification time)."""
        data = json.loads(self.accounts_file.read_text(encoding="utf-8"))
        for account in data["accounts"]:
            if account["username"] == username:
                account["groups"] = groups
        before = self.accounts_file.stat().st_mtime
        self.accounts_file.write_text(json.dumps(data), encoding="utf-8")
        os.utime(self.accounts_file, (before + 2, before + 2))


@pytest.fixture(scope="module")
def second_issuer(tmp_path_factory) -> Iterator[SecondIssuer]:
    state = tmp_path_factory.mktemp("second-issuer")
    accounts_file = state / "accounts.json"
    accounts_file.write_text(json.dumps({"accounts": ACCOUNTS}), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = OidcClient("portal-2", SECRET, (f"{base}/auth/callback",), (f"{base}/",),
                        token_endpoint_auth_method="client_secret_post")
    provider = OidcProvider.start(state, [client], accounts_file=accounts_file,
                                  claim_names={"username": "uid", "groups": "eduperson_entitlement"})
    try:
        yield SecondIssuer(provider, accounts_file, port)
    finally:
        provider.stop()


@pytest.fixture
def portal(second_issuer, database, tmp_path, monkeypatch) -> Iterator[PortalServer]:
    """The portal configured through environment variables only, as an operator would."""
    for name in [n for n in os.environ if n.startswith("GEREEDSCHAPSKIST_PORTAL_")]:
        monkeypatch.delenv(name)
    env = {
        "DATABASE_URL": database.url, "STATE_DIR": str(tmp_path), "SESSION_SECRET": "x" * 48,
        "PUBLIC_URL": f"http://127.0.0.1:{second_issuer.portal_port}",
        "OIDC_ISSUER": second_issuer.provider.issuer, "OIDC_CLIENT_ID": "portal-2", "OIDC_CLIENT_SECRET": SECRET,
        "OIDC_TOKEN_ENDPOINT_AUTH_METHOD": "client_secret_post", "OIDC_USERNAME_CLAIM": "uid",
        "OIDC_GROUPS_CLAIM": "eduperson_entitlement", "OIDC_SCOPES": "openid profile email groups",
        "OIDC_GROUP_MAPPING": json.dumps({f"{URN}:org:*": "org:*", f"{URN}:role:*": "role:*"}),
        "ORGANISATIONS": "cbs minfin", "GROUPS_MAX_AGE_SECONDS": "1", "RECONCILE_INTERVAL_SECONDS": "0",
        "OIDC_LOGOUT": "portal",
    }
    for name, value in env.items():
        monkeypatch.setenv(f"GEREEDSCHAPSKIST_PORTAL_{name}", value)
    second_issuer.set_groups("Wim", ACCOUNTS[0]["groups"])
    with PortalServer(create_app(), second_issuer.portal_port) as server:
        yield server


def _login(portal: PortalServer, username: str, password: str) -> httpx.Client:
    return oidc_login(f"{portal.url}/login", username, password)


def _launch(client: httpx.Client, portal: PortalServer) -> httpx.Response:
    csrf = client.get(f"{portal.url}/api/v1/me").json()["csrf_token"]
    return client.post(f"{portal.url}/api/v1/workspaces", json={"bundle": "bi-sql-duckdb"},
                       headers={"X-CSRF-Token": csrf})


def test_renamed_claims_entitlements_and_client_secret_post_by_settings_only(portal):
    client = _login(portal, "Wim", "wim-test")
    try:
        me = client.get(f"{portal.url}/api/v1/me").json()
        assert me["username"] == "wim"                      # lowercased, as the hub derives it
        assert me["roles"] == ["bi"] and [o["organisation"] for o in me["organisations"]] == ["cbs"]
        assert me["platform_admin"] is False
        with portal.app.state.portal.sessions() as session:
            user = session.scalar(select(User))
            assert (user.issuer, user.subject) == (portal.app.state.portal.settings.oidc_issuer, "Wim")
    finally:
        client.close()


def test_an_unknown_organisation_in_the_claim_is_refused_at_login_with_a_page_that_says_why(portal):
    """eve's entitlements name organisation 'evil' (not configured) and the admins group (not mapped)."""
    with httpx.Client(timeout=30, trust_env=False) as client:
        page = client.get(f"{portal.url}/login", follow_redirects=True)
        done = client.post(urljoin(str(page.url), _login_form_action(page.text)),
                           data={"username": "eve", "password": "eve-test"},
                           headers={"Accept-Language": "en"}, follow_redirects=True)
        assert done.status_code == 400 and str(done.url).startswith(f"{portal.url}/auth/callback")
        assert "This portal is not open to you" in done.text and "not a member of any organisation" in done.text
        assert f"{URN}:org:evil" in done.text
        assert client.get(f"{portal.url}/api/v1/me").status_code == 401
    with portal.app.state.portal.sessions() as session:
        assert session.scalars(select(Organisation.slug)).all() == []
        assert session.scalars(select(User)).all() == []


def test_a_role_removed_at_the_issuer_blocks_launches_within_the_groups_max_age(portal, second_issuer):
    client = _login(portal, "Wim", "wim-test")
    try:
        # no hub is configured: a launch the role rule allows gets as far as where to run it — no contract and no
        # shared environment (403, issue 14)
        allowed = _launch(client, portal)
        assert allowed.status_code == 403 and allowed.json()["reason"] == "no-contract", allowed.text
        assert client.get(f"{portal.url}/api/v1/bundles").json()                  # bi's bundles
        second_issuer.set_groups("Wim", [f"{URN}:org:cbs"])          # role bi taken away at the issuer
        time.sleep(1.1)                                               # GROUPS_MAX_AGE_SECONDS = 1
        # the first request after that is a read-only path's (the principal, portal/principal.py): it reads the
        # groups again too
        assert client.get(f"{portal.url}/api/v1/bundles").json() == []
        refused = _launch(client, portal)
        assert refused.status_code == 403 and refused.json()["reason"] == "role", refused.text
        assert client.get(f"{portal.url}/api/v1/me").json()["roles"] == []
        second_issuer.set_groups("Wim", [])                           # and now the organisation too
        time.sleep(1.1)
        ended = client.get(f"{portal.url}/api/v1/workspaces", headers={"Accept-Language": "en"})   # read-only path
        assert ended.status_code == 400 and ended.json()["reason"] == "not-admitted"
        assert client.get(f"{portal.url}/api/v1/me").status_code == 401      # the session has ended
    finally:
        client.close()


def test_a_session_whose_token_the_issuer_no_longer_accepts_ends(portal):
    client = _login(portal, "Wim", "wim-test")
    try:
        store = portal.app.state.portal.session_store
        cookie = client.cookies.get(portal.app.state.portal.settings.session_cookie)
        loaded = store.load(cookie)
        store.save(loaded, {**loaded.data, "groups_at": 0, "tokens": {**loaded.data["tokens"],
                                                                       "access_token": "revoked"}}, touch=False)
        assert client.get(f"{portal.url}/api/v1/me").status_code == 401
        assert store.load(cookie) is None
    finally:
        client.close()
