"""Every GPU pool on every partner has an NVIDIA device plugin (issue 16, item 4).

Without the plugin a GPU node never advertises ``nvidia.com/gpu`` and GPU workspaces stay Pending. EKS and AKS
ship the driver but not the plugin, so the program installs NVIDIA's chart there; GKE runs its own. The GPU stack
(cbs-ml-prod, which offers ml-pytorch-gpu) is deployed on each partner under Pulumi's mock engine (no cloud here,
see infra_harness.py), and the plugin's Helm values — merged over the chart's own defaults, as Helm does — are
checked to place its DaemonSet on every node of each GPU pool (labels and taints as the recipe creates them).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gereedschapskist.core.placement import GPU_POOL
from gereedschapskist.infra.gpu import DEVICE_PLUGIN_RELEASE, DEVICE_PLUGIN_VERSION
from gereedschapskist.infra.partners import recipe_class
from gereedschapskist.infra.plan import plan_environment

from infra_harness import INFRA_DIR, deploy, load_stack
from scheduling import Node, fits, helm_merge

# The placement defaults of NVIDIA's chart (deployments/helm/nvidia-device-plugin/values.yaml of
# NVIDIA/k8s-device-plugin, Apache License 2.0): the DaemonSet asks for labels only Node Feature Discovery sets.
CHART_DEFAULTS = {
    "nodeSelector": {},
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "feature.node.kubernetes.io/pci-10de.present", "operator": "In",
                               "values": ["true"]}]},
        {"matchExpressions": [{"key": "feature.node.kubernetes.io/cpu-model.vendor_id", "operator": "In",
                               "values": ["NVIDIA"]}]},
        {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}]}}},
    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "system-node-critical",
}
PLACES = {"aws": ("eu-central-1", "123456789012"), "azure": ("westeurope", "3f0c6a1e-5d7b-4c2a-9e8f-1a2b3c4d5e6f"),
          "google-cloud": ("europe-west4", "cbs-werkbank-prod")}


def gpu_stack(partner: str):
    stack = load_stack("cbs-ml-prod", INFRA_DIR)
    region, account = PLACES[partner]
    return replace(stack, cloud=stack.cloud.model_copy(update={"partner": partner, "region": region,
                                                                "account": account}))


@pytest.fixture(scope="module")
def gpu_deployments(catalogue):
    return {partner: (plan_environment(gpu_stack(partner), catalogue), deploy(gpu_stack(partner), catalogue))
            for partner in PLACES}


def test_the_chart_defaults_alone_would_never_schedule_the_plugin_on_our_gpu_nodes(catalogue):
    plan = plan_environment(gpu_stack("aws"), catalogue)
    pool = next(p for p in plan.pools if p.gpu)
    node = Node("gpu-1", dict(pool.labels), [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints])
    assert fits(CHART_DEFAULTS, node) == ["node affinity"]


@pytest.mark.parametrize("partner", sorted(PLACES))
def test_every_gpu_pool_has_a_device_plugin(gpu_deployments, partner):
    plan, rec = gpu_deployments[partner]
    gpu_pools = [p for p in plan.pools if p.gpu]
    assert [p.name for p in gpu_pools] == [GPU_POOL]
    releases = rec.helm_releases()
    if recipe_class(plan.partner).ships_gpu_device_plugin:
        # GKE: the driver through the node pool's accelerator config; GKE runs its device plugin on those nodes
        assert DEVICE_PLUGIN_RELEASE not in releases, "GKE runs its own plugin; a second one would fight it"
        node_pools = {r.inputs["name"]: r.inputs for r in rec.of("gcp:container/nodePool:NodePool")}
        for pool in gpu_pools:
            accelerators = node_pools[pool.name]["nodeConfig"]["guestAccelerators"]
            assert accelerators[0]["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "LATEST"
            assert accelerators[0]["count"] == pool.machine.gpu
        return
    release = releases[DEVICE_PLUGIN_RELEASE]
    assert release["version"] == DEVICE_PLUGIN_VERSION and release["namespace"] == "kube-system"
    assert release["repositoryOpts"]["repo"] == "https://nvidia.github.io/k8s-device-plugin"
    pod = helm_merge(CHART_DEFAULTS, release["values"])
    for pool in gpu_pools:
        for n in range(pool.max_nodes):
            node = Node(f"{pool.name}-{n}", dict(pool.labels),
                        [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints])
            assert fits(pod, node) == [], f"{partner}: the device plugin would not run on {node.name}"
    for other in (p for p in plan.pools if not p.gpu):
        node = Node(f"{other.name}-0", dict(other.labels),
                    [{"key": t.key, "value": t.value, "effect": t.effect} for t in other.taints])
        assert fits(pod, node), f"{partner}: the device plugin would also run on the {other.name} pool"


@pytest.mark.parametrize("partner", sorted(PLACES))
def test_no_device_plugin_without_a_gpu_pool(deployments, partner):
    from infra_harness import CONTRACT_STACKS

    rec = deployments(CONTRACT_STACKS[partner])
    plan_has_gpu = any(r.inputs.get("amiType", "").endswith("NVIDIA") for r in rec.of("aws:eks/nodeGroup:NodeGroup"))
    assert (DEVICE_PLUGIN_RELEASE in rec.helm_releases()) == plan_has_gpu
