"""Spark's environment-wide objects (issue 17), shared by the hub (``gereedschapskist.hub.spark``, which makes the
per-user and per-workspace objects) and infra (which applies these with the hub, where an offered bundle scales
out): the driver's ClusterRole and what the hub may do for Spark. Plain data from the catalogue."""

from __future__ import annotations

from typing import Any

from gereedschapskist.catalogue import Bundle, Size

DRIVER_ROLE = "gereedschapskist-spark-driver"
HUB_ROLE = "gereedschapskist-hub-spark"
#: The z2jh hub's service account (``fullnameOverride: ""``).
HUB_SERVICE_ACCOUNT = "hub"


def spark_sizes(bundle: Bundle) -> tuple[Size, ...]:
    """The bundle's sizes that may scale out (``max_executors``)."""
    return tuple(size for size in bundle.sizes if size.max_executors)


def environment_manifests(hub_namespace: str, environment_labels: dict[str, str]) -> list[dict[str, Any]]:
    """The cluster-wide part, once per environment: the driver's role and what the hub may do for Spark."""
    meta = {"labels": dict(environment_labels)}
    driver_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": DRIVER_ROLE, **meta},
        # bound per user, in that user's namespace only (RoleBinding): a driver manages its own executors
        "rules": [
            {"apiGroups": [""], "resources": ["pods"],
             "verbs": ["create", "get", "list", "watch", "delete", "deletecollection"]},
            {"apiGroups": [""], "resources": ["configmaps"],
             "verbs": ["create", "get", "list", "watch", "delete", "deletecollection"]},
        ],
    }
    hub_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": HUB_ROLE, **meta},
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create", "get"]},
            {"apiGroups": [""], "resources": ["serviceaccounts", "services", "resourcequotas"],
             "verbs": ["create", "get", "update", "delete"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "get"]},
            # may grant exactly the driver role, nothing more (RBAC's escalation check)
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"],
             "resourceNames": [DRIVER_ROLE]},
        ],
    }
    hub_binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": HUB_ROLE, **meta},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": HUB_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": HUB_SERVICE_ACCOUNT, "namespace": hub_namespace}],
    }
    return [driver_role, hub_role, hub_binding]
