"""``configure(c)``: the local hub's services and roles, and the same function inside the z2jh hub pod."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from tornado import web
from traitlets.config import Config

from gereedschapskist.catalogue import Interface, load
from gereedschapskist.hub.api import INTERFACES_PATH, USAGE_PATH, InterfacesHandler, availability_document
from gereedschapskist.hub.config import configure
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.lab_static import LabStaticHandler
from gereedschapskist.hub.limits import machine_capacity
from tests.devclient import follow_progress
from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.core.environment import load_environment
from gereedschapskist.hub.kubernetes import BundleKubeSpawner
from gereedschapskist.hub.roles import CULLER_SCOPES, PORTAL_ROLE, PORTAL_SCOPES
from gereedschapskist.hub.settings import HubSettings, HubSettingsInvalid
from gereedschapskist.hub.spawner import BundleSpawner
from gereedschapskist.hub.values import CATALOGUE_MOUNT, render_values

INFRA = Path(__file__).parent / "fixtures" / "infra"
TEST_CATALOGUE = Path(__file__).parent / "fixtures" / "catalogue"


# --------------------------------------------------------------------------- the portal service


def _ok(response: httpx.Response, *codes: int) -> httpx.Response:
    assert response.status_code in codes, (response.status_code, response.text)
    return response


def test_the_portal_starts_named_servers_for_users_the_hub_knows_from_their_login(hub_stack, hub_user):
    """The portal creates no users and sets no groups: anna logged in to the hub, which took her groups from the
    issuer; the portal's token starts her server, and the hub applies the launch rule to those groups."""
    anna = hub_user("anna")  # org:minfin, role:bi
    api = hub_api(hub_stack.hub, hub_stack.portal_api_token)
    assert sorted(_ok(api.get("/users/anna"), 200).json()["groups"]) == ["org:minfin", "role:bi"]

    _ok(api.post("/users/anna/servers/ws1", json={"user_options": {"bundle": "tiny-cowsay", "size": "small"}}),
        201, 202)
    events = follow_progress(api, "anna", "ws1", timeout=600)
    assert events[-1].get("ready"), events
    server = _ok(api.get("/users/anna/servers/ws1"), 200).json()
    assert server["ready"] is True and server["user_options"]["bundle"] == "tiny-cowsay"
    mine = httpx.get(anna.server_url("ws1") + "api/status", headers={"Authorization": f"token {anna.token}"},
                     trust_env=False)
    assert mine.status_code == 200, mine.text  # she opens her own (access:servers!user)

    refused = api.post("/users/anna/servers/ws2", json={"user_options": {"bundle": "tiny-ml", "size": "small"}})
    assert refused.status_code == 403
    assert refused.headers["X-Gereedschapskist-Reason"] == "role"
    assert "you do not have that role" in refused.json()["message"]

    anna.stop_server("ws1", remove=True)  # users stop their own servers
    _ok(api.request("DELETE", "/users/anna/servers/ws2", json={"remove": True}), 202, 204, 404)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PATCH", "/users/anna", {"name": "mallory"}),              # finding 5: no renames (no admin:users)
    ("POST", "/users/mallory", None),                           # no creating users past allowed_groups
    ("DELETE", "/users/anna", None),
    ("POST", "/groups/role:ml/users", {"users": ["anna"]}),     # no admin:groups: groups come from the issuer
    ("POST", "/groups/role:new", None),
    ("POST", "/users/anna/tokens", {}),                         # no `tokens`
    ("GET", "/users/anna/tokens", None),                        # no `read:tokens`
    ("GET", "/proxy", None),                                    # no `proxy`
    ("POST", "/shutdown", None),                                # no `shutdown`
])
def test_a_stolen_portal_token_cannot_change_users_groups_or_act_as_them(hub_stack, hub_user, method, path, body):
    hub_user("anna")
    api = hub_api(hub_stack.hub, hub_stack.portal_api_token)
    response = api.request(method, path, json=body)
    assert response.status_code == 403, (response.status_code, response.text)
    assert _ok(api.get("/users/anna"), 200).json()["name"] == "anna"


def test_the_portal_cannot_open_a_users_server(hub_stack):
    """No ``access:servers``: the portal's token is refused at /user/<name>/ (it is not a browser login)."""
    response = httpx.get(f"{hub_stack.url}/user/anna/ws1/api/status", trust_env=False,
                         headers={"Authorization": f"token {hub_stack.portal_api_token}"})
    assert response.status_code in (302, 403, 404, 424, 503)
    assert response.status_code != 200


def test_portal_role_scopes_are_the_documented_ones(hub_stack):
    portal = hub_api(hub_stack.hub, hub_stack.portal_api_token)
    me = _ok(portal.get("/user"), 200).json()
    assert me["kind"] == "service" and me["name"] == "portal"
    scopes = set(me["scopes"])
    assert {"read:users", "start:servers", "delete:servers", "read:servers"} <= scopes
    assert not {"admin:users", "admin:groups", "groups", "users", "tokens", "access:servers", "admin:servers",
                "admin:server_state", "proxy", "shutdown"} & scopes
    # exactly these, besides the custom handover and apps scopes (tested with the handover and tests/hub/test_apps.py)
    assert set(PORTAL_SCOPES) - {"custom:gereedschapskist:handover", "custom:gereedschapskist:apps"} == {
        "list:users", "read:users", "read:servers", "start:servers", "delete:servers"}
    assert "list:users" in scopes       # the background sync lists the users with active servers in one request


# --------------------------------------------------------------------------- local configuration


def test_local_configure_sets_services_roles_named_servers_and_the_spawner(oidc_provider, tmp_path):
    settings = HubSettings(state_dir=tmp_path, oidc_issuer=oidc_provider.issuer, oidc_client_secret="x" * 20,
                           portal_api_token=SecretStr("p" * 40), allowed_groups=("org:cbs",),
                           catalogue_dir=TEST_CATALOGUE)
    c = Config()
    configure(c, settings)
    assert c.JupyterHub.spawner_class is BundleSpawner
    assert c.JupyterHub.allow_named_servers is True and c.JupyterHub.named_server_limit_per_user == 10
    assert c.GenericOAuthenticator.authorize_url == f"{oidc_provider.issuer}/auth"
    assert c.GenericOAuthenticator.allow_all is False
    assert c.GenericOAuthenticator.admin_groups == []
    assert c.GenericOAuthenticator.allowed_groups == ["gereedschapskist:admins", "org:cbs"]
    assert c.Authenticator.enable_auth_state is True and c.Authenticator.refresh_pre_spawn is True
    assert c.Authenticator.auth_refresh_age == 600 and c.JupyterHub.cookie_max_age_days == 0.5
    assert len(c.CryptKeeper["keys"][0]) == 64
    assert (tmp_path / "hub" / "jupyterhub_crypt_key").stat().st_mode & 0o077 == 0
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert services["portal"]["api_token"] == "p" * 40
    assert "--timeout=3600" in services["idle-culler"]["command"]
    assert services["idle-culler"]["command"][1:4] == ["-m", "gereedschapskist.hub.parent_guard",  # ends with the hub
                                                       "jupyterhub_idle_culler"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles[PORTAL_ROLE]["scopes"] == list(PORTAL_SCOPES) and roles[PORTAL_ROLE]["services"] == ["portal"]
    assert roles["idle-culler"]["scopes"] == list(CULLER_SCOPES)
    assert set(roles) == {PORTAL_ROLE, "idle-culler", "user", "gereedschapskist-platform-admin"}
    assert c.JupyterHub.tornado_settings == {"slow_spawn_timeout": 0.5}    # 202 soon, refusals still within
    # the portal learns which interfaces this hub can serve from the hub's API (hub/api.py)
    handlers = {path: (handler, kwargs) for path, handler, kwargs in c.JupyterHub.extra_handlers}
    # JupyterLab's files of each environment, for servers to load from one URL per environment (hub/lab_static.py)
    lab_static = next(kw for path, (h, kw) in handlers.items() if h is LabStaticHandler)
    assert lab_static["envs_dir"] == str(c.BundleSpawner.envs_dir)
    handler, kwargs = handlers[INTERFACES_PATH]
    assert handler is InterfacesHandler
    assert isinstance(kwargs["interfaces"], LocalInterfaces)
    # with this machine's capacity and how sizes are enforced here (hub/limits.py), and the usage endpoint
    assert kwargs["capacity"] == machine_capacity() and kwargs["limits"] is c.BundleSpawner.limits
    assert handlers[USAGE_PATH][1]["book"] is c.BundleSpawner.usage_book


def test_local_configure_refuses_settings_that_cannot_work(tmp_path):
    with pytest.raises(HubSettingsInvalid, match="GEREEDSCHAPSKIST_HUB_OIDC_ISSUER"):
        configure(Config(), HubSettings(state_dir=tmp_path))
    with pytest.raises(HubSettingsInvalid, match="PORTAL_API_TOKEN"):
        configure(Config(), HubSettings(state_dir=tmp_path, oidc_issuer="http://127.0.0.1:1",
                                        oidc_client_secret="s" * 20, portal_api_token="short"))


# --------------------------------------------------------------------------- inside the z2jh hub pod


class _Group:
    def __init__(self, name: str):
        self.name = name


class _User:
    def __init__(self, groups: list[str]):
        self.name = "bram"
        self.groups = [_Group(g) for g in groups]


class _Spawner:
    """What the profile_list callable and apply_user_options hook read from a spawner."""

    def __init__(self, groups: list[str]):
        self.user = _User(groups)
        self.user_options: dict = {}
        self._log_name = "bram:"
        self.log = types.SimpleNamespace(info=lambda *a: None)

    def apply_launch(self, request) -> None:
        self.launched = request


#: What a secretKeyRef in the values stands for here: long enough for the hub's token checks (≥ 32 characters).
FROM_KUBERNETES = "secret-from-kubernetes-7f3a9c1e5b2d8f4a"


def test_the_hub_pod_runs_the_same_configure_from_the_rendered_values(oidc_provider, tmp_path, monkeypatch):
    """No Kubernetes here: the values' extraConfig runs against a real issuer with the mounted catalogue and
    the values' hub settings; the hub renders the profiles itself (the values carry none)."""
    spec = load_environment("minfin-dev", INFRA)
    spec = spec.model_copy(update={"oidc": spec.oidc.model_copy(update={"issuer": oidc_provider.issuer})})
    values = render_values(spec, load())
    catalogue_dir = tmp_path / "catalogue"
    for item in values["hub"]["extraFiles"].values():
        target = catalogue_dir / item["mountPath"][len(CATALOGUE_MOUNT) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["stringData"], encoding="utf-8")
    for name, value in values["hub"]["extraEnv"].items():
        monkeypatch.setenv(name, value if isinstance(value, str) else FROM_KUBERNETES)
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_CATALOGUE_DIR", str(catalogue_dir))
    monkeypatch.setitem(sys.modules, "z2jh", None)  # the chart's helper (reads the values) is not needed

    c = Config()
    exec(values["hub"]["extraConfig"]["gereedschapskist"], {"c": c})

    assert c.JupyterHub.spawner_class is BundleKubeSpawner
    assert c.GenericOAuthenticator.client_secret == FROM_KUBERNETES
    assert c.GenericOAuthenticator.token_url == f"{oidc_provider.issuer}/token"
    assert c.KubeSpawner.uid == 1000 and c.KubeSpawner.allow_privilege_escalation is False
    profiles = c.KubeSpawner.profile_list(_Spawner(["org:minfin", "role:ml"]))
    assert [p["slug"] for p in profiles] == [b.id for b in load().offered_for(["ml"])]

    allowed = _Spawner(["role:ml"])
    c.Spawner.apply_user_options(allowed, {"bundle": "ml-pytorch-gpu", "size": "gpu-small"})
    assert allowed.launched.size.gpu == 1
    with pytest.raises(web.HTTPError) as refused:
        c.Spawner.apply_user_options(_Spawner(["role:bi"]), {"bundle": "ml-pytorch-gpu"})
    assert refused.value.status_code == 403
    # on Kubernetes the bundle images bring every interface: the hub says so to the portal
    handlers = {path: (handler, kwargs) for path, handler, kwargs in c.JupyterHub.extra_handlers}
    kwargs = handlers[INTERFACES_PATH][1]
    assert availability_document(kwargs["interfaces"])["interfaces"] == {
        i.value: {"available": True} for i in Interface}
    # no single machine: no capacity (node pools decide), sizes enforced by Kubernetes; no usage endpoint
    assert kwargs["capacity"] is None and kwargs["limits"].as_json() == {"enforced": True, "mechanism": "kubernetes"}
    assert USAGE_PATH not in handlers
