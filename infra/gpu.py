"""GPU nodes need the NVIDIA device plugin to offer ``nvidia.com/gpu`` to pods (issue 16, item 4).

EKS (the ``AL2023_x86_64_NVIDIA`` AMI) and AKS (GPU node pools) ship the driver, but not the device plugin: without
it a GPU node never advertises ``nvidia.com/gpu`` and every GPU workspace stays Pending (the autoscaler would not
help either). GKE installs the driver (``gpu_driver_installation_config``) and runs its own device plugin on GPU
nodes, so a recipe says whether its cloud ships one (:attr:`..partners.Recipe.ships_gpu_device_plugin`).

The plugin is NVIDIA's Helm chart, pinned here. Its default ``affinity`` asks for labels that only Node Feature
Discovery sets (``feature.node.kubernetes.io/pci-10de.present`` …), and NFD is not installed, so the values replace
that affinity with our own pool label (Helm replaces lists, so ``nodeSelectorTerms`` is ours alone) and tolerate
the GPU pool's taint.
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi

from gereedschapskist.core.placement import GPU_TAINT, POOL_LABEL

from .kube import helm_release
from .pools import NodePool

DEVICE_PLUGIN_RELEASE = "nvidia-device-plugin"
DEVICE_PLUGIN_CHART = "nvidia-device-plugin"
DEVICE_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"
DEVICE_PLUGIN_VERSION = "0.17.1"
DEVICE_PLUGIN_NAMESPACE = "kube-system"


def device_plugin_values(pools: Sequence[NodePool]) -> dict[str, Any]:
    """Helm values: run on every node of the GPU pools (our label, not NFD's), tolerating their taints."""
    gpu_pools = sorted(p.name for p in pools if p.gpu)
    taints = {t for p in pools if p.gpu for t in p.taints} | {GPU_TAINT}
    return {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": gpu_pools}]}]}}},
        "tolerations": [t.toleration() for t in sorted(taints, key=str)],
        "priorityClassName": "system-node-critical",
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "gfd": {"enabled": False},
        "nfd": {"enabled": False},
    }


def device_plugin(pools: Sequence[NodePool], *, ships_plugin: bool, kube: pulumi.ProviderResource,
                  parent: pulumi.Resource, after: Sequence[pulumi.Resource] = ()) -> list[pulumi.Resource]:
    """The device plugin's Helm release when a pool has GPUs and the cloud does not ship the plugin; else none."""
    if ships_plugin or not any(p.gpu for p in pools):
        return []
    return [helm_release(DEVICE_PLUGIN_RELEASE, chart=DEVICE_PLUGIN_CHART, version=DEVICE_PLUGIN_VERSION,
                         repo=DEVICE_PLUGIN_REPO, namespace=DEVICE_PLUGIN_NAMESPACE,
                         values=device_plugin_values(pools),
                         opts=pulumi.ResourceOptions(parent=parent, provider=kube, depends_on=list(after)))]
