"""Spark on Kubernetes (issue 17): the objects the hub generates for client mode — the per-environment roles, a
user's executor namespace with its account, role binding and quota, the driver's headless Service, each size's
``spark-defaults.conf`` and executor pod template, and the workspace pod KubeSpawner builds for a Spark size —
validated against the Kubernetes 1.33 schemas (``kubernetes-validate``; quantities checked here, as it accepts any
string). No API server runs here, so what RBAC allows is read from the rules themselves."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import kubernetes_validate
import pytest
import yaml
from kubernetes_asyncio.client import ApiClient
from traitlets.config import Config

from gereedschapskist.catalogue import load
from gereedschapskist.core.placement import POOL_LABEL, node_pool
from gereedschapskist.hub import spark
from gereedschapskist.hub.kubernetes import BundleKubeSpawner, configure_kubernetes

from .test_kubernetes import HubUser, quantity

CATALOGUE = load()
SPARK_BUNDLES = [b for b in sorted(CATALOGUE.bundles.values(), key=lambda b: b.id) if spark.spark_sizes(b)]
LABELS = {"gereedschapskist.nl/environment": "cbs-ml-prod", "gereedschapskist.nl/organisation": "cbs"}
HUB_NS = "jupyterhub"


def valid(obj: dict) -> dict:
    kubernetes_validate.validate(obj, "1.33", strict=True)
    return obj


def test_the_catalogue_has_a_spark_bundle_with_a_cap_per_size():
    assert SPARK_BUNDLES, "a bundle whose sizes set max_executors"
    for bundle in SPARK_BUNDLES:
        caps = [s.max_executors for s in spark.spark_sizes(bundle)]
        assert caps == sorted(caps) and len(set(caps)) == len(caps), "a larger size scales out further"


def test_environment_roles_let_the_hub_grant_exactly_the_driver_role():
    driver, hub, binding = [valid(o) for o in spark.environment_manifests(HUB_NS, LABELS)]
    assert {r["resources"][0] for r in driver["rules"]} == {"pods", "configmaps"}
    assert not any("secrets" in r["resources"] or "*" in r["verbs"] for r in driver["rules"] + hub["rules"])
    bind = next(r for r in hub["rules"] if r["verbs"] == ["bind"])
    assert bind["resourceNames"] == [spark.DRIVER_ROLE]
    assert not any("escalate" in r["verbs"] for r in hub["rules"])
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub", "namespace": HUB_NS}]
    assert driver["metadata"]["labels"] == LABELS


@pytest.mark.parametrize("bundle", SPARK_BUNDLES, ids=lambda b: b.id)
def test_a_users_objects_confine_the_driver_to_their_own_namespace(bundle):
    namespace, account, binding, quota = [valid(o) for o in spark.user_manifests(
        bundle, user_slug="anna", hub_namespace=HUB_NS, environment_labels=LABELS)]
    assert namespace["metadata"]["name"] == "spark-anna"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["labels"][spark.EXECUTORS_LABEL] == "true"
    assert {k: namespace["metadata"]["labels"][k] for k in LABELS} == LABELS
    assert account["metadata"] == {"name": "spark-anna", "namespace": HUB_NS,
                                   "labels": {**LABELS, spark.OWNER_LABEL: "anna"}}
    # a RoleBinding (not a ClusterRoleBinding) in the user's namespace: the driver role counts there only
    assert binding["kind"] == "RoleBinding" and binding["metadata"]["namespace"] == "spark-anna"
    assert binding["roleRef"]["name"] == spark.DRIVER_ROLE
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spark-anna", "namespace": HUB_NS}]
    largest = max(spark.spark_sizes(bundle), key=lambda s: s.max_executors)
    hard = quota["spec"]["hard"]
    assert int(hard["pods"]) == largest.max_executors
    assert quantity(hard["limits.cpu"]) == Decimal(str(largest.cpu)) * largest.max_executors
    assert quantity(hard["limits.memory"]) == largest.memory_bytes * largest.max_executors


def test_the_driver_service_is_headless_and_selects_the_users_workspace_pod():
    service = valid(spark.driver_service(user_slug="anna", server_slug="spark", hub_namespace=HUB_NS,
                                         environment_labels=LABELS))
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["name"] == "spark-driver-anna--spark"
    assert service["spec"]["selector"] == {"hub.jupyter.org/username": "anna", "hub.jupyter.org/servername": "spark",
                                           "component": "singleuser-server"}
    assert {p["port"] for p in service["spec"]["ports"]} == {spark.DRIVER_PORT, spark.BLOCK_MANAGER_PORT}


@pytest.mark.parametrize(("bundle_id", "size_id"), [(b.id, s.id) for b in SPARK_BUNDLES for s in spark.spark_sizes(b)])
def test_each_size_has_its_defaults_and_a_valid_executor_template(bundle_id, size_id):
    bundle = CATALOGUE.bundles[bundle_id]
    size = bundle.size(size_id)
    files = spark.spark_files(CATALOGUE, [bundle_id], LABELS)
    defaults = next(f for f in files.values() if f["mountPath"].endswith(f"/{size_id}/{spark.DEFAULTS_FILE}"))
    conf = dict(line.split(" ", 1) for line in defaults["stringData"].splitlines() if not line.startswith("#"))
    assert conf["spark.submit.deployMode"] == "client"
    assert conf["spark.master"] == "k8s://https://kubernetes.default.svc"
    assert conf["spark.kubernetes.namespace"] == "${env:SPARK_EXECUTOR_NAMESPACE}"
    assert conf["spark.kubernetes.container.image"] == bundle.image.reference
    assert conf["spark.dynamicAllocation.enabled"] == "true"
    assert int(conf["spark.dynamicAllocation.maxExecutors"]) == size.max_executors
    heap, overhead = (int(conf[k].rstrip("m")) for k in ("spark.executor.memory", "spark.executor.memoryOverhead"))
    assert (heap + overhead) * 2**20 == size.memory_bytes      # an executor's pod is the size's memory, no more
    template_file = next(f for f in files.values() if f["mountPath"] == conf["spark.kubernetes.executor.podTemplateFile"])
    template = valid(template_file["data"])
    assert {k: template["metadata"]["labels"][k] for k in LABELS} == LABELS
    assert template["spec"]["nodeSelector"] == {POOL_LABEL: node_pool(bundle, size)}
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert template["spec"]["automountServiceAccountToken"] is False
    assert bool(template["spec"].get("tolerations")) == bool(size.gpu)
    yaml.safe_dump(template)   # z2jh writes extraFiles' data as YAML


def test_a_size_without_executors_keeps_spark_local():
    from dataclasses import replace
    bundle = SPARK_BUNDLES[0]
    assert spark.profile_override(bundle, replace(bundle.sizes[0], max_executors=0)) == {}
    plain = CATALOGUE.bundles["ml-python"]
    assert spark.spark_files(CATALOGUE, [plain.id], LABELS) == {}
    assert spark.user_manifests(plain, user_slug="anna", hub_namespace=HUB_NS, environment_labels=LABELS) == []


def test_the_workspace_pod_of_a_spark_size_runs_as_the_users_account_with_the_configuration():
    bundle = SPARK_BUNDLES[0]
    size = spark.spark_sizes(bundle)[0]

    async def run() -> dict:
        c = Config()
        configure_kubernetes(c, CATALOGUE)
        spawner = BundleKubeSpawner(_mock=True, user=HubUser("anna", ["org:cbs", "role:ml"]), config=c)
        await spawner._run_apply_user_options({"bundle": bundle.id, "size": size.id})
        await spawner.load_user_options()
        return ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())

    import kubespawner.spawner
    original = kubespawner.spawner.load_config
    kubespawner.spawner.load_config = lambda **kwargs: None
    try:
        pod = valid(asyncio.run(run()))
    finally:
        kubespawner.spawner.load_config = original
    assert pod["spec"]["serviceAccountName"] == "spark-anna"
    assert pod["spec"]["automountServiceAccountToken"] is True
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["GEREEDSCHAPSKIST_BUNDLE"]["value"] == bundle.id         # the profile's own variables are kept
    assert env["SPARK_CONF_DIR"]["value"] == spark.conf_dir(bundle, size)
    assert env["SPARK_EXECUTOR_NAMESPACE"]["value"] == "spark-anna"
    # the headless Service of this workspace has the name the driver announces
    service = spark.driver_service(user_slug="anna", server_slug="", hub_namespace=HUB_NS, environment_labels={})
    assert env["SPARK_DRIVER_HOST"]["value"] == service["metadata"]["name"]
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert json.dumps(pod).count("spark-anna") >= 2


def test_helm_values_carry_the_spark_files_and_network_rules_only_where_spark_is_offered():
    from pathlib import Path

    from gereedschapskist.core.environment import load_environment
    from gereedschapskist.hub.values import render_values

    infra = Path(__file__).parent / "fixtures" / "infra"
    found = {}
    for stack in sorted(infra.glob("Pulumi.*.yaml")):
        name = stack.name.split(".")[1]
        values = render_values(load_environment(name, infra), CATALOGUE)
        offered = json.loads(values["hub"]["extraEnv"]["GEREEDSCHAPSKIST_HUB_BUNDLES"])
        found[name] = any(b.id in offered for b in SPARK_BUNDLES)
        singleuser = values["singleuser"]
        if not found[name]:
            assert "extraFiles" not in singleuser and "ingress" not in singleuser["networkPolicy"]
            continue
        labels = singleuser["extraLabels"]
        for entry in singleuser["extraFiles"].values():
            assert entry["mountPath"].startswith(spark.CONF_ROOT + "/")
            if "data" in entry:
                assert {k: entry["data"]["metadata"]["labels"][k] for k in labels} == labels
        ingress = singleuser["networkPolicy"]["ingress"][0]
        assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {spark.EXECUTORS_LABEL: "true"}}}]
        assert {p["port"] for p in ingress["ports"]} == {spark.DRIVER_PORT, spark.BLOCK_MANAGER_PORT}
    assert any(found.values()), found


class RecordingObjects(spark.SparkObjects):
    """The real adapter with its one API call recorded (no API server runs here)."""

    def __init__(self):
        super().__init__(api_client=None)
        self.created: list[dict] = []

    async def create(self, obj):
        self.created.append(obj)


def test_the_spawner_makes_the_users_spark_objects_before_a_spark_sizes_pod():
    import kubespawner.spawner

    bundle = SPARK_BUNDLES[0]
    recorder = RecordingObjects()

    class Spawner(BundleKubeSpawner):
        def spark_objects(self):
            return recorder

    async def run(size_id):
        c = Config()
        configure_kubernetes(c, CATALOGUE)
        c.KubeSpawner.extra_labels = {"gereedschapskist.nl/environment": "cbs-ml-prod", "other": "x"}
        spawner = Spawner(_mock=True, user=HubUser("anna", ["org:cbs", "role:ml"]), config=c)
        await spawner._run_apply_user_options({"bundle": bundle.id, "size": size_id})
        return await spawner.prepare_spark()

    original = kubespawner.spawner.load_config
    kubespawner.spawner.load_config = lambda **kwargs: None
    try:
        made = asyncio.run(run(spark.spark_sizes(bundle)[0].id))
    finally:
        kubespawner.spawner.load_config = original
    assert [o["kind"] for o in recorder.created] == ["Namespace", "ServiceAccount", "RoleBinding", "ResourceQuota",
                                                     "Service"]
    assert made == recorder.created
    for obj in made:
        valid(obj)
        assert obj["metadata"]["labels"]["gereedschapskist.nl/environment"] == "cbs-ml-prod"
        assert "other" not in obj["metadata"]["labels"]
    assert made[-1]["metadata"]["name"] == "spark-driver-anna" and made[1]["metadata"]["name"] == "spark-anna"
