"""The hub's side of issue 12, item 10: roles granted in the portal count for the portal's launches only, and the
handover endpoint moves a leaving user's home folder into a colleague's.

The first tests check the pieces directly (the launch rule, the folder move, who counts as the portal); the last ones
run against the real development stack (provider + JupyterHub, the session's ``hub_stack``) with fresh accounts.
"""

from __future__ import annotations

import secrets
from datetime import date
from types import SimpleNamespace

import pytest
from jupyterhub import orm

from gereedschapskist.catalogue import load
from gereedschapskist.core.refusal import REASON_HEADER
from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.hub.handover import HANDOVER_PATH, HandoverRefused, HomeFolders, LocalHomeFolders
from gereedschapskist.hub.interfaces import InterfaceAvailability
from gereedschapskist.hub.launch import LaunchForbidden, authorise_request, requested_by_portal
from gereedschapskist.hub.roles import HANDOVER_SCOPE, PORTAL_SCOPES
from tests.conftest import HUB_TEST_CATALOGUE
from tests.devclient import HubUser

CATALOGUE = load(HUB_TEST_CATALOGUE)
ALL = InterfaceAvailability()
ML_BUNDLE = "tiny-ml"


# ------------------------------------------------------------------------------------------ the launch rule

def test_granted_roles_count_only_when_the_portal_sends_them():
    groups = ["org:minfin", "role:bi"]
    with pytest.raises(LaunchForbidden) as refused:
        authorise_request(CATALOGUE, groups, {"bundle": ML_BUNDLE}, interfaces=ALL, from_portal=True)
    assert refused.value.refusal == "role"
    request = authorise_request(CATALOGUE, groups, {"bundle": ML_BUNDLE, "granted_roles": ["ml"]}, interfaces=ALL,
                                from_portal=True)
    assert request.bundle.id == ML_BUNDLE
    assert "granted_roles" not in request.as_user_options()       # not kept with the server: asked at every start
    with pytest.raises(LaunchForbidden) as untrusted:
        authorise_request(CATALOGUE, groups, {"bundle": ML_BUNDLE, "granted_roles": ["ml"]}, interfaces=ALL)
    assert (untrusted.value.status_code, untrusted.value.refusal) == (403, "grants-not-trusted")


@pytest.mark.parametrize("value", ["ml", [1], ["ml", "astrology"], {"ml": True}])
def test_granted_roles_must_be_a_list_of_catalogue_roles(value):
    with pytest.raises(LaunchForbidden) as refused:
        authorise_request(CATALOGUE, ["org:minfin"], {"bundle": ML_BUNDLE, "granted_roles": value}, interfaces=ALL,
                          from_portal=True)
    assert (refused.value.status_code, refused.value.refusal) == (400, "bad-options")
    assert "granted_roles" in refused.value.message


def test_only_the_portal_service_counts_as_the_portal():
    def spawner(requester):
        return SimpleNamespace(handler=SimpleNamespace(current_user=requester))

    assert requested_by_portal(spawner(orm.Service(name="portal")))
    assert not requested_by_portal(spawner(orm.Service(name="idle-culler")))
    assert not requested_by_portal(spawner(orm.User(name="portal")))     # a user called "portal" is no service
    assert not requested_by_portal(SimpleNamespace(handler=None))
    assert not requested_by_portal(SimpleNamespace())


# ------------------------------------------------------------------------------------------ moving home folders

def test_a_home_folder_moves_into_the_colleagues_home(tmp_path):
    homes = LocalHomeFolders(tmp_path)
    (tmp_path / "anna" / "project").mkdir(parents=True)
    (tmp_path / "anna" / "project" / "analyse.py").write_text("print(42)\n")
    day = date(2026, 12, 1)
    assert homes.transfer(from_user="anna", to_user="carla", on=day) == "overgedragen-van-anna-2026-12-01"
    assert not (tmp_path / "anna").exists()
    assert (tmp_path / "carla" / "overgedragen-van-anna-2026-12-01" / "project" / "analyse.py").read_text() == \
        "print(42)\n"
    (tmp_path / "anna").mkdir()                                   # a second handover on the same day
    assert homes.transfer(from_user="anna", to_user="carla", on=day) == "overgedragen-van-anna-2026-12-01-2"
    assert homes.transfer(from_user="nobody", to_user="carla", on=day) is None


def test_a_backend_without_movable_homes_refuses_with_its_reason():
    with pytest.raises(HandoverRefused) as refused:
        HomeFolders().transfer(from_user="anna", to_user="carla", on=date.today())
    assert refused.value.status_code == 501 and refused.value.headers == {REASON_HEADER: "handover-unsupported"}


def test_the_portal_holds_the_handover_scope():
    assert HANDOVER_SCOPE in PORTAL_SCOPES


# ------------------------------------------------------------------------------------------ the real hub

@pytest.fixture
def portal(hub_stack):
    client = hub_api(hub_stack.hub, hub_stack.portal_api_token)
    yield client
    client.close()


def _login(hub_stack, account, portal) -> HubUser:
    return HubUser.login(hub_stack.url, account.username, account.password, starter=portal)


def test_the_real_hub_starts_a_granted_role_bundle_for_the_portal_only(hub_stack, new_account, portal):
    anna = _login(hub_stack, new_account("anna"), portal)           # role bi from the issuer, not ml
    try:
        server = f"ml-{secrets.token_hex(3)}"
        refused = portal.post(f"/users/{anna.name}/servers/{server}", json={"user_options": {"bundle": ML_BUNDLE}})
        assert refused.status_code == 403 and refused.headers[REASON_HEADER] == "role"
        started = portal.post(f"/users/{anna.name}/servers/{server}",
                              json={"user_options": {"bundle": ML_BUNDLE, "granted_roles": ["ml"]}})
        assert started.status_code in (201, 202), started.text
        anna.wait_until_ready(server)
        anna.stop_server(server, remove=True)
    finally:
        anna.close()


def test_the_real_hub_moves_the_home_folder_for_the_portal_only_and_never_while_a_server_runs(
        hub_stack, new_account, portal):
    leaving, colleague = new_account("anna"), new_account("anna")
    anna = _login(hub_stack, leaving, portal)
    homes = hub_stack.state_dir / "users"
    try:
        server = f"bi-{secrets.token_hex(3)}"
        assert anna.start_server(server, {"bundle": "tiny-cowsay"}) in (201, 202)
        anna.wait_until_ready(server)
        (homes / anna.name / "notes.md").write_text("# bevindingen\n", encoding="utf-8")
        body = {"from": anna.name, "to": colleague.username}
        running = portal.post(HANDOVER_PATH.removeprefix("/api"), json=body)
        assert running.status_code == 409 and running.headers[REASON_HEADER] == "workspace-running"
        assert (homes / anna.name / "notes.md").exists()

        own = anna.api.post(HANDOVER_PATH.removeprefix("/api"), json=body)   # a user's own token: not allowed
        assert own.status_code == 403
        anna.stop_server(server, remove=True)

        bad = portal.post(HANDOVER_PATH.removeprefix("/api"), json={"from": "../etc", "to": colleague.username})
        assert bad.status_code == 400 and "'from'" in bad.json()["message"]

        moved = portal.post(HANDOVER_PATH.removeprefix("/api"), json=body)
        assert moved.status_code == 200, moved.text
        folder = moved.json()["folder"]
        assert moved.json() == {"from": anna.name, "to": colleague.username, "moved": True, "folder": folder}
        assert (homes / colleague.username / folder / "notes.md").read_text(encoding="utf-8") == "# bevindingen\n"
        assert not (homes / anna.name).exists()
        again = portal.post(HANDOVER_PATH.removeprefix("/api"), json=body)
        assert again.status_code == 200 and again.json()["moved"] is False
    finally:
        anna.close()


def test_the_portal_adapter_speaks_the_handover_endpoint(hub_stack, new_account, portal):
    """The portal's JupyterHub adapter against the real endpoint: the move, and a refusal keeping its reason."""
    from gereedschapskist.portal.errors import HubRefused
    from gereedschapskist.portal.jupyterhub import JupyterHubAdapter

    leaving, colleague = new_account("anna"), new_account("anna")
    homes = hub_stack.state_dir / "users"
    (homes / leaving.username).mkdir(parents=True)
    (homes / leaving.username / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    adapter = JupyterHubAdapter(api_url=hub_stack.hub.api_url, public_url=hub_stack.url,
                                token=hub_stack.portal_api_token)
    try:
        result = adapter.hand_over_home(from_username=leaving.username, to_username=colleague.username)
        assert result.moved and (homes / colleague.username / result.folder / "data.csv").exists()
        with pytest.raises(HubRefused) as refused:
            adapter.hand_over_home(from_username=leaving.username, to_username=leaving.username)
        assert refused.value.reason == "bad-request"
    finally:
        adapter.close()
