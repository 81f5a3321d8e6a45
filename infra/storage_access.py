"""Workspaces use the shared bucket with a cloud identity of their own (issue 16, item 11).

The cloud stage gives the ServiceAccount ``workspace`` of the hub's namespace an identity that may read and write the
shared bucket and nothing else (EKS Pod Identity, AKS workload identity, GKE workload identity:
:meth:`..partners.Recipe.workspace_identity`). The cluster stage creates that ServiceAccount with the identity's
annotations, makes it the workspaces' (``singleuser.serviceAccountName``, with the pod labels the cloud needs), lets
workspaces reach the node-local token endpoint where the cloud has one, and — in production — adds the bucket's and
the token service's host names to the egress proxy's allow-list (:meth:`..partners.Recipe.storage_endpoints`).
The ServiceAccount's API token is still not mounted (the hub sets ``automount_service_account_token`` off): the
clouds' identity webhooks and metadata servers do not need it.
"""

from __future__ import annotations

from typing import Any

import pulumi

from .manifests import HUB_NAMESPACE
from .partners import WORKSPACE_SERVICE_ACCOUNT
from .tags import Tags


def service_account(annotations: pulumi.Input[dict], tags: Tags) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": WORKSPACE_SERVICE_ACCOUNT, "namespace": HUB_NAMESPACE, "labels": tags.kube(),
                         "annotations": annotations},
            "automountServiceAccountToken": False}


def with_workspace_identity(values: dict, pod_labels: pulumi.Input[dict]) -> dict:
    """The hub's values with the workspaces' ServiceAccount and the labels their identity needs on every pod."""
    singleuser = values["singleuser"]
    labels = pulumi.Output.from_input(pod_labels).apply(
        lambda extra: {**singleuser.get("extraLabels", {}), **(extra or {})})
    return {**values, "singleuser": {**singleuser, "serviceAccountName": WORKSPACE_SERVICE_ACCOUNT,
                                     "extraLabels": labels}}


def identity_rules(endpoint: tuple[str, int] | None) -> list[dict[str, Any]]:
    """The workspaces' egress to the node-local token endpoint (EKS Pod Identity agent, GKE metadata server)."""
    if endpoint is None:
        return []
    cidr, port = endpoint
    return [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"port": port, "protocol": "TCP"}]}]
