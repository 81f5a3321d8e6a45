"""The workbench inside each contract's cluster: the hub release, isolation of workspaces, production rules.

Recorded by Pulumi's mock engine (no cluster and no Pulumi CLI here, see infra_harness.py); the hub values are the
real output of ``gereedschapskist.hub.values.render_values`` and the admission policy's CEL is evaluated with a
real CEL interpreter.
"""

from __future__ import annotations

import json
import types

import celpy
import pytest
from traitlets.config import Config

from gereedschapskist.core.placement import POOL_LABEL
from gereedschapskist.core.registry import mirrored
from gereedschapskist.hub.kubernetes import configure_kubernetes
from gereedschapskist.hub.values import render_values
from gereedschapskist.infra import egress, kafka, versions
from gereedschapskist.infra.partners import WORKSPACE_SERVICE_ACCOUNT
from gereedschapskist.infra.plan import plan_environment
from gereedschapskist.infra.workbench import registry_cache

from infra_harness import CONTRACT_STACKS, INFRA_DIR, load_stack, portal_token

STACKS = sorted(CONTRACT_STACKS.values())


def policies(rec) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rec.kubernetes_objects() if o["kind"] == "NetworkPolicy"}


@pytest.mark.parametrize("name", STACKS)
def test_hub_release_values_are_exactly_what_the_hub_renders(deployments, catalogue, name):
    release = deployments(name).helm_releases()["jupyterhub"]
    spec = load_stack(name, INFRA_DIR).environment
    # every image through the environment's registry cache (item 1, test_registry_cache.py)
    expected = render_values(spec, catalogue, image_mirror=registry_cache(plan_environment(load_stack(name, INFRA_DIR),
                                                                                           catalogue)))
    expected["hub"]["services"]["portal"]["apiToken"] = portal_token(name)  # issue 16, item 8 (test_stages.py)
    cloud = load_stack(name, INFRA_DIR).cloud
    expected = egress.with_proxy(expected, spec.stage == "production" and bool(cloud.egress_domains))  # item 12
    # item 11: streaming environments tell the hub where Kafka is; production always has the proxy (the shared
    # bucket's endpoints); workspaces run as the ServiceAccount with the bucket's identity
    if plan_environment(load_stack(name, INFRA_DIR), catalogue).kafka is not None:
        expected = kafka.with_workspace_access(expected)
    expected = egress.with_proxy(expected, spec.stage == "production")
    identity_labels = {"azure.workload.identity/use": "true"} if cloud.partner == "azure" else {}
    expected["singleuser"] = {**expected["singleuser"], "serviceAccountName": WORKSPACE_SERVICE_ACCOUNT,
                              "extraLabels": {**expected["singleuser"]["extraLabels"], **identity_labels}}
    assert release["values"] == expected
    assert release["chart"] == "jupyterhub" and release["version"] == versions.JUPYTERHUB_CHART_VERSION
    assert release["repositoryOpts"]["repo"] == versions.JUPYTERHUB_CHART_REPO
    assert release["namespace"] == "jupyterhub"


@pytest.mark.parametrize("name", STACKS)
def test_hub_gets_its_tls_certificate_and_oidc_secret(deployments, name):
    rec = deployments(name)
    values = rec.helm_releases()["jupyterhub"]["values"]
    spec = load_stack(name, INFRA_DIR).environment
    objects = {(o["kind"], o["metadata"]["name"]): o for o in rec.kubernetes_objects()}
    certificate = objects[("Certificate", "hub")]
    assert certificate["spec"]["secretName"] == values["ingress"]["tls"][0]["secretName"]
    assert certificate["spec"]["dnsNames"] == [spec.public_url.host] == values["ingress"]["hosts"]
    assert certificate["spec"]["issuerRef"] == {"kind": "ClusterIssuer", "name": "letsencrypt"}
    secret = objects[("ExternalSecret", spec.oidc.client_secret_name)]
    assert secret["metadata"]["namespace"] == "jupyterhub"
    assert set(secret["spec"]["target"]["template"]["data"]) == {"client-secret", "crypt-key"}
    assert secret["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "cloud-secret-store"}


@pytest.mark.parametrize("name", STACKS)
def test_workspaces_only_accept_traffic_from_hub_and_proxy(deployments, name):
    ingress = policies(deployments(name))["workspaces-ingress"]["spec"]
    assert ingress["podSelector"] == {"matchLabels": {"component": "singleuser-server"}}
    assert ingress["ingress"] == [{"from": [{"podSelector": {"matchLabels": {
        "hub.jupyter.org/network-access-singleuser": "true"}}}], "ports": [{"port": 8888, "protocol": "TCP"}]}]


@pytest.mark.parametrize("name", ["cbs-ml-prod", "rws-streaming-prod"])
def test_production_egress_is_the_allow_list_only(deployments, name):
    stack = load_stack(name, INFRA_DIR)
    egress = policies(deployments(name))["workspaces-egress"]["spec"]["egress"]
    blocks = [peer["ipBlock"] for rule in egress for peer in rule["to"] if "ipBlock" in peer]
    # the allow-list, and the node-local endpoint of the workspaces' bucket identity (item 11: port 80 only)
    identity = {"cbs-ml-prod": "169.254.170.23/32", "rws-streaming-prod": "169.254.169.254/32"}[name]
    assert sorted(b["cidr"] for b in blocks) == sorted([*(r.cidr for r in stack.cloud.egress_allow_list), identity])
    assert next(r for r in egress if r["to"] == [{"ipBlock": {"cidr": identity}}])["ports"] == [
        {"port": 80, "protocol": "TCP"}]
    assert all("0.0.0.0/0" != b["cidr"] for b in blocks)
    for rule in stack.cloud.egress_allow_list:
        match = next(r for r in egress if r["to"] == [{"ipBlock": {"cidr": rule.cidr}}])
        assert match["ports"] == [{"port": p, "protocol": rule.protocol} for p in rule.ports]
    # The hub's own workspace policy must not open the internet either (policies add up).
    values = deployments(name).helm_releases()["jupyterhub"]["values"]
    assert values["singleuser"]["networkPolicy"]["egressAllowRules"]["nonPrivateIPs"] is False


def test_development_egress_is_open_except_metadata_and_private_network(deployments):
    stack = load_stack("minfin-bi-dev", INFRA_DIR)
    egress = policies(deployments("minfin-bi-dev"))["workspaces-egress"]["spec"]["egress"]
    open_rule = next(r for r in egress if any("ipBlock" in p for p in r["to"]))
    assert open_rule["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0",
                                            "except": ["169.254.169.254/32", stack.cloud.network_cidr]}}]


def test_streaming_workspaces_may_reach_kafka_and_others_may_not(deployments):
    streaming = policies(deployments("rws-streaming-prod"))["workspaces-egress"]["spec"]["egress"]
    kafka_rules = [r for r in streaming if any("namespaceSelector" in p and p["namespaceSelector"]["matchLabels"].get(
        "kubernetes.io/metadata.name") == "kafka" for p in r["to"])]
    assert kafka_rules and kafka_rules[0]["ports"] == [{"port": 9093, "protocol": "TCP"}]
    other = policies(deployments("cbs-ml-prod"))["workspaces-egress"]["spec"]["egress"]
    assert not any("kafka" in str(r) for r in other)


def _admission(policy: dict):
    env = celpy.Environment()
    programs = [env.program(env.compile(v["expression"])) for v in policy["spec"]["validations"]]

    def admit(pod: dict) -> bool:
        activation = {"object": celpy.json_to_cel(pod)}
        return all(bool(p.evaluate(activation)) for p in programs)
    return admit


@pytest.mark.parametrize("name", ["cbs-ml-prod", "rws-streaming-prod"])
def test_production_admits_catalogue_images_only(deployments, catalogue, name):
    rec = deployments(name)
    objects = {o["kind"]: o for o in rec.kubernetes_objects()}
    policy, binding = objects["ValidatingAdmissionPolicy"], objects["ValidatingAdmissionPolicyBinding"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"] and policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"]["objectSelector"] == {"matchLabels": {"component": "singleuser-server"}}
    admit = _admission(policy)
    plan = plan_environment(load_stack(name, INFRA_DIR), catalogue)
    cache = registry_cache(plan)  # pods name their images through the registry cache (item 1)
    for bundle in plan.bundles:
        assert admit({"spec": {"containers": [{"name": "notebook", "image": mirrored(bundle.image.reference, cache)}]}})
        assert not admit({"spec": {"containers": [{"name": "notebook", "image": bundle.image.reference}]}})
    other = next(b for b in catalogue.bundles.values() if b not in plan.bundles)
    for image in ["docker.io/library/python:3.12", "quay.io/jupyter/scipy-notebook:latest",
                  mirrored(other.image.reference, cache), mirrored(plan.bundles[0].image.reference, cache) + "-evil"]:
        assert not admit({"spec": {"containers": [{"name": "notebook", "image": image}]}}), image
    good = {"name": "notebook", "image": mirrored(plan.bundles[0].image.reference, cache)}
    assert admit({"spec": {"containers": [good], "initContainers": [
        {"name": "tools", "image": mirrored("quay.io/jupyterhub/k8s-network-tools:4.3.3", cache)}]}})
    assert not admit({"spec": {"containers": [good], "initContainers": [{"name": "x", "image": "busybox"}]}})
    assert not admit({"spec": {"containers": [good], "ephemeralContainers": [{"name": "debug", "image": "busybox"}]}})


def test_namespaces_enforce_pod_security(deployments):
    for name in STACKS:
        for ns in (o for o in deployments(name).kubernetes_objects() if o["kind"] == "Namespace"):
            labels = ns["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] in {"baseline", "restricted"}
            assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_home_directories_default_to_the_encrypted_class(deployments):
    for name in STACKS:
        classes = [o for o in deployments(name).kubernetes_objects() if o["kind"] == "StorageClass"
                   and o["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class")]
        assert len(classes) == 1  # the home class is the one default (the data store's class is not)
        home = classes[0]
        assert home["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        assert home["reclaimPolicy"] == "Retain"
        values = deployments(name).helm_releases()["jupyterhub"]["values"]
        assert values["singleuser"]["storage"]["type"] == "dynamic"
        assert values["singleuser"]["storage"].get("dynamic", {}).get("storageClass") in (None, "gereedschapskist-home")


@pytest.mark.parametrize("name", STACKS)
def test_every_pool_the_hub_selects_exists_with_matching_gpu_taint(deployments, catalogue, name):
    """The hub's profiles (rendered by the hub from the release's settings) select node pools and tolerate
    taints; the cluster must have them."""
    plan = plan_environment(load_stack(name, INFRA_DIR), catalogue)
    pools = {p.name: p for p in plan.pools}
    env = deployments(name).helm_releases()["jupyterhub"]["values"]["hub"]["extraEnv"]
    roles, bundles = json.loads(env["GEREEDSCHAPSKIST_HUB_ROLES"]), json.loads(env["GEREEDSCHAPSKIST_HUB_BUNDLES"])
    assert sorted(bundles) == sorted(b.id for b in plan.bundles)
    hub = Config()
    configure_kubernetes(hub, catalogue, roles=roles, bundles=bundles)
    everyone = types.SimpleNamespace(user=types.SimpleNamespace(groups=[
        types.SimpleNamespace(name=f"role:{role}") for role in roles]))
    selected = set()
    for profile in hub.KubeSpawner.profile_list(everyone):
        assert profile["kubespawner_override"]["image"] in plan.images
        for choice in profile["profile_options"]["size"]["choices"].values():
            pool = choice["kubespawner_override"]["node_selector"][POOL_LABEL]
            selected.add(pool)
            assert pool in pools and pools[pool].workspace, pool
            tolerations = choice["kubespawner_override"].get("tolerations", [])
            for taint in pools[pool].taints:
                assert any(t.get("key") == taint.key and t.get("effect") == taint.effect for t in tolerations)
    assert selected == {p.name for p in plan.workspace_pools}
