"""Register Kubernetes manifests (plain dicts) as Pulumi resources, typed where Kubernetes has the type."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

_TYPED: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("scheduling.k8s.io/v1", "PriorityClass"): k8s.scheduling.v1.PriorityClass,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("storage.k8s.io/v1", "StorageClass"): k8s.storage.v1.StorageClass,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("v1", "PersistentVolume"): k8s.core.v1.PersistentVolume,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"):
        k8s.admissionregistration.v1.ValidatingAdmissionPolicy,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"):
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding,
}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def logical_name(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    parts = [meta.get("namespace"), obj["kind"].lower(), meta["name"]]
    return "-".join(p for p in parts if p)


def apply(obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Create ``obj``: a typed resource for built-in kinds, a CustomResource for the rest (e.g. Strimzi)."""
    cls = _TYPED.get((obj["apiVersion"], obj["kind"]))
    if cls is None:
        return k8s.apiextensions.CustomResource(
            logical_name(obj), api_version=obj["apiVersion"], kind=obj["kind"], metadata=obj["metadata"],
            spec=obj.get("spec"), opts=opts)
    kwargs = {_snake(k): v for k, v in obj.items()}
    return cls(logical_name(obj), **kwargs, opts=opts)


def helm_release(name: str, *, chart: str, version: str, namespace: str, values: pulumi.Input[dict],
                 repo: str | None = None, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    """A Helm release managed by Pulumi (helm install/upgrade with these exact values)."""
    return k8s.helm.v3.Release(
        name, name=name, chart=chart, version=version, namespace=namespace, values=values,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo) if repo else None,
        atomic=True, cleanup_on_fail=True, timeout=900, opts=opts)
