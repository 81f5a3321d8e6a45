"""One Zero to JupyterHub release for the chart and the hub image, and a real workspace pod from our configuration
under the hub image's package set (issue 16, items 10 and 11).

* The chart infra deploys and the ``k8s-hub`` image the project's hub image builds on are one release
  (:mod:`gereedschapskist.core.z2jh`), and the chart's values schema the hub tests check against is that release's.
* The hub image installs the lock's ``hub`` extra (``uv export --extra hub``, hash-checked) over that base. This
  test suite runs with exactly those versions installed (checked below), so KubeSpawner, JupyterHub and
  OAuthenticator here are the image's (the interpreter is not: the image's Python is the base's).
* The values' ``hub.extraConfig`` runs as the chart runs it (``exec`` with ``c``), with the values' hub settings as
  environment variables and a real OpenID issuer (the development provider); then the real KubeSpawner builds the
  pod of a streaming workspace, which is validated with kubernetes-validate for the pinned Kubernetes version.

**Not loaded: the chart's own ``jupyterhub_config.py``** (and its ``z2jh.py`` helper). It ships only inside the
chart and the ``k8s-hub`` image, and neither PyPI nor npm carries it, so it cannot be installed here. The one thing
of it our profiles depend on, the home volume it adds to ``KubeSpawner.volumes``/``volume_mounts`` for
``singleuser.storage.type: dynamic`` (a list), is emulated, and infra/README.md lists the full check under "Verified
only in a real deploy". (KubeSpawner also accepts dicts there; the Kafka override handles both, but the datasets
code of hub/kubernetes_data.py assumes lists, so only the chart's list shape is exercised.)
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from traitlets.config import Config

from gereedschapskist.catalogue import load
from gereedschapskist.core.streaming import MOUNT, STREAMING_ROLE
from gereedschapskist.core.z2jh import Z2JH_HUB_IMAGE, Z2JH_VERSION
from gereedschapskist.hub.kubernetes import BundleKubeSpawner
from gereedschapskist.hub.values import CATALOGUE_MOUNT, HOME_MOUNT
from gereedschapskist.images.project_images import HUB_BASE
from gereedschapskist.infra import kafka, versions
from gereedschapskist.infra.plan import plan_environment
from gereedschapskist.infra.workbench import hub_values

from infra_harness import INFRA_DIR, load_stack

ROOT = Path(__file__).resolve().parents[2]


def test_the_chart_and_the_hub_image_are_one_release():
    assert versions.JUPYTERHUB_CHART_VERSION == Z2JH_VERSION
    assert HUB_BASE == Z2JH_HUB_IMAGE == f"quay.io/jupyterhub/k8s-hub:{versions.JUPYTERHUB_CHART_VERSION}"
    dockerfile = (ROOT / "images" / "hub" / "Dockerfile").read_text()
    assert re.findall(r"^FROM (quay\.io/jupyterhub/k8s-hub:\S+)$", dockerfile, re.M) == [Z2JH_HUB_IMAGE]
    # the values schema the rendered values are validated against is the same release's
    assert (ROOT / "tests" / "hub" / "fixtures" / f"z2jh-{Z2JH_VERSION}" / "values.schema.json").is_file()


def hub_image_requirements() -> dict[str, str]:
    """The package set the hub image installs: the lock's ``hub`` extra, as its Dockerfile exports it."""
    uv = Path(sys.executable).parent / "uv"
    result = subprocess.run([str(uv), "export", "--frozen", "--no-dev", "--extra", "hub", "--no-emit-project",
                             "--no-hashes"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    pins = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^ ;]+)(?: ; (.*))?$", line.strip())
        if match and (match.group(3) is None or "sys_platform == 'win32'" not in match.group(3)):
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_this_suite_runs_the_hub_images_package_set():
    pins = hub_image_requirements()
    assert {"jupyterhub", "jupyterhub-kubespawner", "oauthenticator", "kubernetes-asyncio"} <= set(pins)
    differ = {}
    for name, version in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific wheel of another system
        if installed != version:
            differ[name] = (installed, version)
    assert not differ, f"installed here vs the hub image: {differ}"


class _Group:
    def __init__(self, name: str):
        self.name = name


class _User:
    def __init__(self, name: str, groups: list[str]):
        self.name, self.id, self.url = name, 7, f"/user/{name}/"
        self.groups = [_Group(g) for g in groups]


def z2jh_home_storage(c: Config, shape: str) -> None:
    """What the chart's jupyterhub_config.py sets for ``singleuser.storage`` of type dynamic (see the module)."""
    volume = {"name": "volume-{user_server}", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
    mount = {"name": "volume-{user_server}", "mountPath": HOME_MOUNT}
    c.KubeSpawner.storage_pvc_ensure = True
    c.KubeSpawner.storage_capacity = "10Gi"
    c.KubeSpawner.pvc_name_template = "claim-{user_server}"
    c.KubeSpawner.volumes = [volume] if shape == "list" else {"01-home": volume}
    c.KubeSpawner.volume_mounts = [mount] if shape == "list" else {"01-home": mount}


@pytest.mark.parametrize("shape", ["list"])
def test_extra_config_and_a_streaming_profile_build_a_valid_pod_with_kafka_and_home(
        shape, oidc_provider, tmp_path, monkeypatch, catalogue):
    stack = load_stack("rws-streaming-prod", INFRA_DIR)
    stack = type(stack)(**{**stack.__dict__, "environment": stack.environment.model_copy(update={
        "oidc": stack.environment.oidc.model_copy(update={"issuer": oidc_provider.issuer})})})
    plan = plan_environment(stack, catalogue)
    values = kafka.with_workspace_access(hub_values(plan, catalogue))   # as the cluster stage hands them to Helm
    catalogue_dir = tmp_path / "catalogue"
    for item in values["hub"]["extraFiles"].values():
        target = catalogue_dir / item["mountPath"][len(CATALOGUE_MOUNT) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item["stringData"], encoding="utf-8")
    for name, value in values["hub"]["extraEnv"].items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "secret-from-kubernetes-".ljust(48, "0"))
    monkeypatch.setenv("GEREEDSCHAPSKIST_HUB_CATALOGUE_DIR", str(catalogue_dir))
    monkeypatch.setattr("kubespawner.spawner.load_config", lambda **kwargs: None)  # no API server here

    c = Config()
    z2jh_home_storage(c, shape)
    for snippet in values["hub"]["extraConfig"].values():
        exec(snippet, {"c": c})
    assert c.JupyterHub.spawner_class is BundleKubeSpawner

    bundle = next(b for b in plan.bundles if STREAMING_ROLE in b.roles)

    async def build() -> dict:
        spawner = BundleKubeSpawner(_mock=True, user=_User("anna", ["org:rws", f"role:{STREAMING_ROLE}"]), config=c)
        await spawner._run_apply_user_options({"bundle": bundle.id, "size": bundle.sizes[0].id})
        await spawner.load_user_options()
        return ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())

    pod = asyncio.run(build())
    kubernetes_validate.validate(pod, stack.cloud.kubernetes_version + ".0", strict=True)
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    access = json.loads(values["hub"]["extraEnv"]["GEREEDSCHAPSKIST_HUB_KAFKA"])
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == access["bootstrap"] and env["KAFKA_SECURITY_PROTOCOL"] == "SSL"
    for variable in ("KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION"):
        assert env[variable].startswith(MOUNT + "/")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["kafka-cluster-ca"]["secret"]["secretName"] == access["ca_secret"]
    assert volumes["kafka-user"]["secret"]["secretName"] == access["user_secret"]
    assert any("persistentVolumeClaim" in v for v in volumes.values()), "the home volume was replaced"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert HOME_MOUNT in mounts
    assert mounts[f"{MOUNT}/ca"]["readOnly"] is True and mounts[f"{MOUNT}/user"]["readOnly"] is True
    # every mounted file exists at the path the variables name
    for variable in ("KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION"):
        folder, file = env[variable].rsplit("/", 1)
        volume = volumes[mounts[folder]["name"]]
        assert file in [i["path"] for i in volume["secret"]["items"]], variable
    # requests = limits, the node pool and the security context of the profile are there too
    assert container["resources"]["requests"]["memory"] == container["resources"]["limits"]["memory"]
    assert pod["spec"]["nodeSelector"] == {"gereedschapskist.nl/pool": STREAMING_ROLE}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_a_bundle_without_the_streaming_role_gets_no_kafka(catalogue):
    from gereedschapskist.core.streaming import KafkaAccess
    from gereedschapskist.hub.kubernetes import bundle_profile

    access = KafkaAccess("b.kafka.svc:9093", "ca", "user")
    for bundle in catalogue.bundles.values():
        override = bundle_profile(bundle, catalogue, access)["kubespawner_override"]
        assert ("KAFKA_BOOTSTRAP_SERVERS" in override["environment"]) == (STREAMING_ROLE in bundle.roles), bundle.id
        assert ("volumes" in override) == (STREAMING_ROLE in bundle.roles)
        assert "KAFKA_BOOTSTRAP_SERVERS" not in bundle_profile(bundle, catalogue)["kubespawner_override"]["environment"]
