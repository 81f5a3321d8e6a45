"""Published apps on Kubernetes (issue 17 §1, ``hub/kubernetes_apps.py``): the pod of an ``app-<slug>`` server.

The Kubernetes API is mocked: there is no API server here, so KubeSpawner runs with ``_mock=True`` and its kubeconfig
loader patched out (no request is made), as in ``test_kubernetes.py``. The pods are the real ``V1Pod`` objects
KubeSpawner would create for the hub's own configuration (:func:`configure_kubernetes`, the Helm values' offer), from
the launch the portal sends (its service's token, launch option ``app``), validated against the Kubernetes 1.33
schemas with ``kubernetes-validate`` (strict). The app server itself runs in ``tests/hub/test_apps.py`` (local hub).
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
from datetime import datetime, timedelta, timezone

import kubernetes_validate
import pytest
from jupyterhub import orm
from kubernetes_asyncio.client import ApiClient
from tornado import web
from traitlets.config import Config

from gereedschapskist.catalogue import Ecosystem, Package
from gereedschapskist.core.image_layout import IMAGE_APP_SERVER, VENV_PYTHON
from gereedschapskist.core.registry import mirrored
from gereedschapskist.hub.datasets import Grant
from gereedschapskist.hub.kubernetes import USER_GID, USER_UID, BundleKubeSpawner, configure_data, configure_kubernetes
from gereedschapskist.hub.kubernetes_apps import APP_MOUNT, APP_VOLUME, CHECK_CONTAINER, CHECKOUT_CONTAINER
from gereedschapskist.hub.roles import PORTAL_SERVICE
from gereedschapskist.hub.values import render_values
from gereedschapskist.core.environment import load_environment
from gereedschapskist.core.streaming import KafkaAccess
from tests.hub.test_kubernetes import CATALOGUE, INFRA, OFFERED, HubUser
from tests.hub.test_kubernetes_data import ScriptedPortal

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT_APP = {"framework": "panel", "entry": "dashboards/sales.py", "git": "https://forge.example/anna/sales.git",
           "commit": COMMIT}
FOLDER_APP = {"framework": "panel", "entry": "dashboards/sales/app.py", "workspace": "bi-dashboards-1a2b3c"}
MIRROR = "cache.registry.example:5000"
NOW = datetime.now(timezone.utc)
GRANTS = [Grant(grant=1, dataset=10, identifier="cbs-83625NED", title="WOZ", files=("cbs/cbs-83625NED.csv",),
                expires_at=NOW + timedelta(days=3), purpose_code="statistics", legal_ground="avg-6-1-e-cbs-wet",
                organisation="minfin")]
GROUPS = ["org:minfin", "role:bi", "role:ml", "role:streaming"]


def _with_panel(*bundle_ids: str):
    """The catalogue with Panel pinned in more bundles: a streaming one (Kafka) and one whose sizes scale out on Spark."""
    bundles = dict(CATALOGUE.bundles)
    for bundle_id in bundle_ids:
        bundle = bundles[bundle_id]
        bundles[bundle_id] = dataclasses.replace(bundle, packages=(*bundle.packages,
                                                                   Package(Ecosystem.PYPI, "panel", "1.8.5")))
    return dataclasses.replace(CATALOGUE, bundles=bundles)


APP_CATALOGUE = _with_panel("streaming-kafka", "ml-spark")


class Owner(HubUser):
    """The owner, with the named servers the hub's database holds (their recorded state)."""

    def __init__(self, name: str, groups: list[str], servers: dict[str, dict]):
        super().__init__(name, groups)
        self.orm_spawners = {server: types.SimpleNamespace(name=server, state=state) for server, state in
                             servers.items()}


@pytest.fixture(autouse=True)
def _no_kubernetes_api(monkeypatch):
    monkeypatch.setattr("kubespawner.spawner.load_config", lambda **kwargs: None)
    monkeypatch.setattr("kubespawner.KubeSpawner.start", _kubespawner_start_until_the_api)


def _config(*, stage: str = "development", kafka: bool = False, data: bool = False) -> Config:
    c = Config()
    configure_kubernetes(c, APP_CATALOGUE, **OFFERED, image_mirror=MIRROR, stage=stage,
                         kafka=KafkaAccess("kafka-bootstrap.kafka:9093", "kafka-ca", "workspaces") if kafka else None)
    # what the chart and the hub's settings add to every pod: the forge's git helper and token, the egress proxy
    c.Spawner.environment = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "credential.https://forge.example.helper",
                             "GIT_CONFIG_VALUE_0": "!helper", "GEREEDSCHAPSKIST_FORGE_TOKEN": "forge-secret",
                             "HTTPS_PROXY": "http://egress-proxy.egress.svc.cluster.local:3128"}
    # z2jh's home folder: a claim per server (pvcNameTemplate unset: KubeSpawner's claim-{user_server})
    c.KubeSpawner.storage_pvc_ensure = True
    c.KubeSpawner.volumes = [{"name": "volume-{user_server}", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
    c.KubeSpawner.volume_mounts = [{"name": "volume-{user_server}", "mountPath": "/home/jovyan"}]
    if data:
        configure_data(c, portal_api_url="https://portal.example", token="t" * 40, claim="datasets-store")
        c.BundleKubeSpawner.data_portal = ScriptedPortal([GRANTS, GRANTS])
    return c


def _spawner(c: Config, server: str, servers: dict[str, dict] | None = None) -> BundleKubeSpawner:
    owner = Owner("anna", GROUPS, servers if servers is not None else {"bi-dashboards-1a2b3c": {}})
    named = types.SimpleNamespace(name=server, server=None, state={}, user_options={})    # its row at the hub
    spawner = BundleKubeSpawner(_mock=True, user=owner, orm_spawner=named, config=c)
    spawner.handler = types.SimpleNamespace(current_user=orm.Service(name=PORTAL_SERVICE))   # the portal's token
    return spawner


async def _kubespawner_start_until_the_api(self):
    """KubeSpawner's ``start`` up to its first API request: it loads the profile again and makes the pod."""
    await self.load_user_options()
    self.made_pod = await self.get_pod_manifest()
    return "http://pod.example:8888"


def build(options: dict, *, server: str = "app-sales", c: Config | None = None,
          servers: dict[str, dict] | None = None) -> tuple[dict, BundleKubeSpawner]:
    """The pod our ``start`` makes (data and Spark for a workspace first, then KubeSpawner's start, which stops here
    before the API: see :func:`_kubespawner_start_until_the_api`)."""
    async def run():
        spawner = _spawner(c or _config(), server, servers)
        await spawner._run_apply_user_options(options)     # JupyterHub's runner of the authorising hook
        await spawner.load_user_options()                  # as JupyterHub does before start
        spawner.prepare_spark = _no_spark_api.__get__(spawner)
        await spawner.start()
        return ApiClient().sanitize_for_serialization(spawner.made_pod), spawner

    return asyncio.run(run())


async def _no_spark_api(self):
    """A Spark size's objects are made through the API (tests/hub/test_spark.py): recorded here, not made."""
    self.spark_prepared = True
    return []


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def _assert_secure(container: dict) -> None:
    security = container["securityContext"]
    assert security["runAsUser"] == USER_UID and security["runAsGroup"] == USER_GID
    assert security["runAsNonRoot"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def _assert_app_pod(pod: dict, bundle_id: str = "bi-dashboards") -> dict:
    kubernetes_validate.validate(pod, "1.33", strict=True)
    spec = pod["spec"]
    assert len(spec["containers"]) == 1
    container = spec["containers"][0]
    # the app server, nothing after it — not the image's default command, jupyterhub-singleuser (JupyterLab)
    assert container.get("args") == [VENV_PYTHON, IMAGE_APP_SERVER], container.get("args")
    assert "jupyterhub-singleuser" not in " ".join(container["args"] + (container.get("command") or []))
    assert container["image"] == mirrored(CATALOGUE.bundles[bundle_id].image.reference, MIRROR)
    assert container["image"].startswith(MIRROR + "/")
    _assert_secure(container)
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["fsGroup"] == USER_GID
    assert spec["automountServiceAccountToken"] is False and not spec.get("serviceAccountName")
    assert [v["name"] for v in spec["volumes"]] == [APP_VOLUME]          # no home, no data, no Kafka, no Spark files
    assert [(m["name"], m["mountPath"], m["readOnly"]) for m in container["volumeMounts"]] == [
        (APP_VOLUME, APP_MOUNT, True)]
    for init in spec["initContainers"]:
        assert init["image"] == container["image"]
        _assert_secure(init)
    env = _env(container)
    assert env["GEREEDSCHAPSKIST_APP_FRAMEWORK"] == "panel" and env["GEREEDSCHAPSKIST_APP_PYTHON"] == VENV_PYTHON
    assert env["GEREEDSCHAPSKIST_BUNDLE"] == bundle_id
    assert env["HTTPS_PROXY"].startswith("http://egress-proxy")
    assert "GEREEDSCHAPSKIST_FORGE_TOKEN" not in env and not any(k.startswith("GIT_CONFIG") for k in env)
    assert not any(k.startswith(("KAFKA_", "SPARK_", "GEREEDSCHAPSKIST_DATA")) for k in env)
    assert env["JUPYTERHUB_SERVER_NAME"] == "app-sales" and env["JUPYTERHUB_SERVICE_URL"]
    assert pod["metadata"]["labels"]["gereedschapskist.nl/app"] == "true"
    return container


def test_an_app_launch_gives_the_app_server_pod_not_a_jupyterlab_shared_with_viewers():
    """The old code started a JupyterLab pod for an app launch, which the portal then shared with the viewers."""
    pod, spawner = build({"bundle": "bi-dashboards", "size": "small", "app": GIT_APP})
    _assert_app_pod(pod)
    assert spawner.storage_pvc_ensure is False          # no home claim is made for the app server


def test_a_git_app_is_checked_out_by_an_init_container_into_a_read_only_volume():
    pod, _ = build({"bundle": "bi-dashboards", "size": "small", "app": GIT_APP})
    container = _assert_app_pod(pod)
    env = _env(container)
    assert env["GEREEDSCHAPSKIST_APP_DIR"] == f"{APP_MOUNT}/dashboards" and env["GEREEDSCHAPSKIST_APP_ENTRY"] == \
        "sales.py"
    assert pod["spec"]["volumes"] == [{"name": APP_VOLUME, "emptyDir": {"sizeLimit": "1Gi"}}]
    [init] = pod["spec"]["initContainers"]
    assert init["name"] == CHECKOUT_CONTAINER and init["command"][:2] == ["/bin/sh", "-c"]
    script = init["command"][2]
    assert "git fetch -q --depth 1 \"$GEREEDSCHAPSKIST_APP_GIT\" \"$GEREEDSCHAPSKIST_APP_COMMIT\"" in script
    assert COMMIT not in script and "forge.example" not in script          # values only as variables
    assert "rm -rf .git" in script and "chmod -R a-w ." in script
    assert init["volumeMounts"] == [{"name": APP_VOLUME, "mountPath": APP_MOUNT}]     # writable for the checkout only
    init_env = _env(init)
    assert init_env["GEREEDSCHAPSKIST_APP_GIT"] == GIT_APP["git"] and init_env["GEREEDSCHAPSKIST_APP_COMMIT"] == COMMIT
    assert init_env["GEREEDSCHAPSKIST_FORGE_TOKEN"] == "forge-secret"          # the checkout alone reads the forge
    assert init_env["GIT_CONFIG_KEY_0"].startswith("credential.https://forge.example")
    assert init_env["HTTPS_PROXY"].startswith("http://egress-proxy") and init_env["GIT_TERMINAL_PROMPT"] == "0"


def test_a_folder_app_mounts_its_workspace_claim_read_only_at_the_entry_folder():
    pod, _ = build({"bundle": "bi-dashboards", "size": "small", "app": FOLDER_APP})
    container = _assert_app_pod(pod)
    # z2jh's claim of the named workspace (claim-{user_server}), not the default server's claim-anna
    assert pod["spec"]["volumes"] == [{"name": APP_VOLUME, "persistentVolumeClaim": {
        "claimName": "claim-anna--bi-dashboards-1a2b3c", "readOnly": True}}]
    assert container["volumeMounts"] == [{"name": APP_VOLUME, "mountPath": APP_MOUNT, "subPath": "dashboards/sales",
                                          "readOnly": True}]
    env = _env(container)
    assert env["GEREEDSCHAPSKIST_APP_DIR"] == APP_MOUNT and env["GEREEDSCHAPSKIST_APP_ENTRY"] == "app.py"
    [init] = pod["spec"]["initContainers"]
    assert init["name"] == CHECK_CONTAINER and all(m["readOnly"] for m in init["volumeMounts"])
    assert _env(init)["GEREEDSCHAPSKIST_APP_ENTRY"] == FOLDER_APP["entry"] and "FORGE" not in str(init)
    affinity = pod["spec"]["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert affinity["podAffinityTerm"]["labelSelector"]["matchLabels"] == {
        "hub.jupyter.org/username": "anna", "hub.jupyter.org/servername": "bi-dashboards-1a2b3c"}


def test_a_folder_app_uses_the_claim_its_workspace_recorded():
    pod, _ = build({"bundle": "bi-dashboards", "size": "small", "app": FOLDER_APP},
                   servers={"bi-dashboards-1a2b3c": {"pvc_name": "claim-anna-before-the-upgrade"}})
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "claim-anna-before-the-upgrade"


@pytest.mark.parametrize(("bundle_id", "size_id", "workspace_has"), [
    ("bi-dashboards", "small", {"gk-data-store", "volume-anna--ws-1a2b3c"}),
    ("streaming-kafka", "small", {"gk-data-store", "kafka-user", "kafka-cluster-ca"}),
])
def test_an_app_gets_no_granted_data_no_home_and_no_kafka_even_when_a_workspace_has_them(bundle_id, size_id,
                                                                                        workspace_has):
    c = _config(kafka=True, data=True)
    # a workspace of the same owner, bundle and configuration does get the data, the home and Kafka
    workspace, _ = build({"bundle": bundle_id, "size": size_id}, server="ws-1a2b3c", c=c)
    kubernetes_validate.validate(workspace, "1.33", strict=True)
    assert workspace_has <= {v["name"] for v in workspace["spec"]["volumes"]}
    pod, spawner = build({"bundle": bundle_id, "size": size_id, "app": GIT_APP}, c=c)
    _assert_app_pod(pod, bundle_id)
    assert spawner.data_portal.answers == [GRANTS, GRANTS]   # the app's start never asked the portal for grants
    assert not (pod["metadata"].get("annotations") or {}).get("gereedschapskist.nl/grants")


def test_an_app_of_a_size_that_scales_out_gets_no_spark_account_or_token():
    workspace, spawner = build({"bundle": "ml-spark", "size": "medium"}, server="ws-1a2b3c")
    assert spawner.spark_prepared
    assert workspace["spec"]["serviceAccountName"] == "spark-anna" and workspace["spec"][
        "automountServiceAccountToken"] is True
    pod, spawner = build({"bundle": "ml-spark", "size": "medium", "app": GIT_APP})
    _assert_app_pod(pod, "ml-spark")
    assert not getattr(spawner, "spark_prepared", False)     # no executor namespace, account or driver Service


def test_the_old_jupyterlab_pod_is_refused_even_if_the_traits_are_reset():
    """Fail closed: a pod of an app server that would run anything but the app server is not built."""
    async def run():
        spawner = _spawner(_config(), "app-sales")
        await spawner._run_apply_user_options({"bundle": "bi-dashboards", "size": "small", "app": GIT_APP})
        await spawner.load_user_options()
        spawner._apply_app = lambda: None                    # as if the app's parts were lost
        spawner.cmd = ["jupyterhub-singleuser"]
        await spawner.get_pod_manifest()

    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(run())
    assert refused.value.status_code == 500 and refused.value.refusal == "app-pod-invalid"
    assert "jupyterhub-singleuser" in refused.value.message


@pytest.mark.parametrize(("options", "stage", "reason"), [
    ({"framework": "panel", "entry": "app.py", "workspace": "bi-dashboards-1a2b3c"}, "production", "commit-required"),
    ({"framework": "panel", "entry": "app.py"}, "development", "app-workspace-required"),
    ({**GIT_APP, "git": "file:///home/jovyan/sales"}, "development", "bad-options"),
    ({"framework": "panel", "entry": "app.py", "workspace": "ml-python-9f9f9f"}, "development",
     "app-workspace-not-found"),
    ({"framework": "panel", "entry": "app.py", "workspace": "app-other"}, "development", "bad-options"),
])
def test_the_stage_and_the_source_rules_hold_on_kubernetes(options, stage, reason):
    with pytest.raises(web.HTTPError) as refused:
        build({"bundle": "bi-dashboards", "size": "small", "app": options}, c=_config(stage=stage))
    assert refused.value.refusal == reason, refused.value


def test_a_production_git_app_starts():
    pod, _ = build({"bundle": "bi-dashboards", "size": "small", "app": GIT_APP}, c=_config(stage="production"))
    _assert_app_pod(pod)


def test_an_app_server_name_never_starts_a_workspace():
    with pytest.raises(web.HTTPError) as refused:
        build({"bundle": "bi-dashboards", "size": "small"})
    assert refused.value.status_code == 403 and refused.value.refusal == "app-server-without-app"


def test_only_the_portal_starts_an_app():
    async def run():
        spawner = _spawner(_config(), "app-sales")
        spawner.handler = types.SimpleNamespace(current_user=None)
        await spawner._run_apply_user_options({"bundle": "bi-dashboards", "size": "small", "app": GIT_APP})

    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(run())
    assert refused.value.status_code == 403


def test_idle_apps_are_stopped_by_the_culler_and_kept():
    """Apps are named servers: z2jh's culler stops idle servers (the app server reports its use to the hub) and,
    with removeNamedServers false, keeps them, so the next open wakes the same app."""
    spec = load_environment("minfin-dev", INFRA)
    cull = render_values(spec, CATALOGUE)["cull"]
    assert cull["enabled"] is True and cull["timeout"] == spec.idle_timeout_seconds
    assert cull["removeNamedServers"] is False and cull["users"] is False
