"""Kubernetes objects of a contract environment, as plain manifests (camelCase, as the API server reads them).

Pure functions: the program hands them to :func:`.kube.apply`, and the tests validate the very objects the
program registered against the Kubernetes schemas.
"""

from __future__ import annotations

from typing import Any, Iterable

from gereedschapskist.core.placement import LABEL_PREFIX
from gereedschapskist.core.z2jh import HELPER_IMAGE_PREFIX

from .config import EgressRule
from gereedschapskist.core.data_store import DATASETS_CLAIM

from .partners import DATASETS_STORAGE_CLASS, HOME_STORAGE_CLASS, StorageClass
from .tags import Tags

HUB_NAMESPACE = "jupyterhub"
# Labels set by Zero-to-JupyterHub / KubeSpawner: every workspace pod carries the first; the hub and the
# proxy carry the second, which is what lets them reach workspaces.
WORKSPACE_POD = {"component": "singleuser-server"}
SINGLEUSER_ACCESS = {"hub.jupyter.org/network-access-singleuser": "true"}
HUB_POD = {"component": "hub"}
WORKSPACE_PORT = 8888
HUB_API_PORT = 8081
CLOUD_METADATA = "169.254.169.254/32"
# Helper images of the Zero-to-JupyterHub chart that may appear as init containers of a workspace pod.
Z2JH_HELPER_PREFIX = HELPER_IMAGE_PREFIX
#: Placeholder pods (issue 13): their priority class and value. Below the user pods' (z2jh's default priority, 0), so
#: a user's pod preempts one at once; not below the cluster autoscaler's cut-off (-10, its
#: ``expendable-pods-priority-cutoff``), so a placeholder that has no room makes it add a node. z2jh's own
#: placeholders use the same value; theirs are one set per release in one pool (``scheduling.userPlaceholder``, off).
PLACEHOLDER_PRIORITY_CLASS = "gereedschapskist-user-placeholder"
PLACEHOLDER_PRIORITY = -10
PLACEHOLDER_POD = {"app.kubernetes.io/component": "user-placeholder"}


def namespace(name: str, tags: Tags, *, enforce: str = "baseline") -> dict[str, Any]:
    """A namespace with Pod Security admission: ``enforce`` as given, warnings and audit at ``restricted``."""
    return {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {
            **tags.kube(),
            "pod-security.kubernetes.io/enforce": enforce,
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }},
    }


def storage_class(storage: StorageClass, tags: Tags) -> dict[str, Any]:
    """Encrypted disks for home directories; kept (Retain) when a claim is deleted, so no work is lost.

    It is the cluster's default class, so the hub's dynamic home volumes (and its own database volume) use it.
    """
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": HOME_STORAGE_CLASS, "labels": tags.kube(),
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": storage.provisioner,
        "parameters": storage.parameters,
        "reclaimPolicy": "Retain",
        "allowVolumeExpansion": True,
        "volumeBindingMode": "WaitForFirstConsumer",
    }


#: The data store's claim: its size (a file share; EFS grows by itself, Azure Files and Filestore are this size).
DATASETS_CAPACITY = "1Ti"


def datasets_store(storage: StorageClass, tags: Tags) -> list[dict[str, Any]]:
    """The data store (issue 15): a file-storage class and the claim ``DATASETS_CLAIM`` in the hub's namespace that
    workspace pods mount read-only, one ``subPath`` per granted file (``hub/kubernetes_data.py``). The claim is
    ReadWriteMany so the operator's copy step can fill it; every workspace mounts it ``readOnly``."""
    return [
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {"name": DATASETS_STORAGE_CLASS, "labels": tags.kube()},
         "provisioner": storage.provisioner, "parameters": storage.parameters,
         "reclaimPolicy": "Retain", "allowVolumeExpansion": True, "volumeBindingMode": "Immediate"},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": DATASETS_CLAIM, "namespace": HUB_NAMESPACE, "labels": tags.kube()},
         "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": DATASETS_STORAGE_CLASS,
                  "resources": {"requests": {"storage": DATASETS_CAPACITY}}}},
    ]


def _peer(namespace_name: str, pods: dict[str, str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace_name}},
            "podSelector": {"matchLabels": pods}}


def workspace_network_policies(tags: Tags, *, production: bool, allow_list: Iterable[EgressRule],
                               private_network: str, kafka: tuple[str, str, int] | None,
                               extra_egress: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Isolate workspaces: no traffic between users' pods; egress to DNS, the hub API and, in production, the
    allow-list only (development: the internet, but not the private network or the cloud's metadata service).

    ``kafka`` is (namespace, cluster name, port) in streaming environments.
    """
    ingress = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "workspaces-ingress", "namespace": HUB_NAMESPACE, "labels": tags.kube()},
        "spec": {
            "podSelector": {"matchLabels": WORKSPACE_POD},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": SINGLEUSER_ACCESS}}],
                         "ports": [{"port": WORKSPACE_PORT, "protocol": "TCP"}]}],
        },
    }
    egress_rules: list[dict[str, Any]] = [
        {"to": [_peer("kube-system", {"k8s-app": "kube-dns"})],
         "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
        {"to": [{"podSelector": {"matchLabels": HUB_POD}}], "ports": [{"port": HUB_API_PORT, "protocol": "TCP"}]},
    ]
    if kafka is not None:
        kafka_namespace, cluster, port = kafka
        egress_rules.append({"to": [_peer(kafka_namespace, {"strimzi.io/cluster": cluster})],
                             "ports": [{"port": port, "protocol": "TCP"}]})
    egress_rules.extend(extra_egress)  # e.g. the egress proxy (egress.py)
    if production:
        for rule in allow_list:
            egress_rules.append({"to": [{"ipBlock": {"cidr": rule.cidr}}],
                                 "ports": [{"port": p, "protocol": rule.protocol} for p in rule.ports]})
    else:
        egress_rules.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [CLOUD_METADATA, private_network]}}]})
    egress = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "workspaces-egress", "namespace": HUB_NAMESPACE, "labels": tags.kube()},
        "spec": {"podSelector": {"matchLabels": WORKSPACE_POD}, "policyTypes": ["Egress"], "egress": egress_rules},
    }
    return [ingress, egress]


def _cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


IMAGE_POLICY = "gereedschapskist-catalogue-images"


def image_policy(images: Iterable[str], tags: Tags, *, helper_prefix: str = Z2JH_HELPER_PREFIX
                 ) -> list[dict[str, Any]]:
    """Production: workspace pods may run catalogue images only (a ValidatingAdmissionPolicy, built into
    Kubernetes — no extra controller). Init containers may also use the chart's own helper images
    (``helper_prefix``). Both as the pods name them: through the registry cache."""
    allowed = _cel_list(sorted(images))
    containers = f"object.spec.containers.all(c, c.image in {allowed})"
    init = (f"!has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image in {allowed} || "
            f"c.image.startsWith('{helper_prefix}'))")
    ephemeral = (f"!has(object.spec.ephemeralContainers) || "
                 f"object.spec.ephemeralContainers.all(c, c.image in {allowed})")
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": IMAGE_POLICY, "labels": tags.kube()},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                                   "resources": ["pods", "pods/ephemeralcontainers"]}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": HUB_NAMESPACE}},
                "objectSelector": {"matchLabels": WORKSPACE_POD},
            },
            "validations": [
                {"expression": containers, "reason": "Forbidden",
                 "message": "production environments run catalogue images only / productieomgevingen draaien "
                            "alleen images uit de catalogus"},
                {"expression": init, "reason": "Forbidden",
                 "message": "init containers must use catalogue images or the hub chart's helper images"},
                {"expression": ephemeral, "reason": "Forbidden",
                 "message": "debug containers must use catalogue images"},
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": IMAGE_POLICY, "labels": tags.kube()},
        "spec": {"policyName": IMAGE_POLICY, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": HUB_NAMESPACE}}}},
    }
    return [policy, binding]


def user_placeholders(placeholders: dict[str, dict[str, Any]], tags: Tags, *, image: str) -> list[dict[str, Any]]:
    """The placeholder pods of each role pool (issue 13: node scale-up hidden from the user), from the hub values'
    ``custom.gereedschapskist.userPlaceholders`` (:func:`gereedschapskist.hub.values.user_placeholders`: per pool its
    replicas, node selector and the requests of the largest default size starting there): their priority class and
    one StatefulSet of pause pods per pool. A user's pod preempts a placeholder and starts on its room; the
    placeholder, pending now, makes the cluster autoscaler add a node for the next user. The pods hold nothing: no
    service account token, no privileges, a read-only root file system, nothing to reach."""
    objects: list[dict[str, Any]] = [{
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": PLACEHOLDER_PRIORITY_CLASS, "labels": tags.kube()},
        "value": PLACEHOLDER_PRIORITY, "globalDefault": False, "preemptionPolicy": "Never",
        "description": "Gereedschapskist placeholder pods: room kept per node pool; every user pod preempts them.",
    }]
    for pool, spec in sorted(placeholders.items()):
        selector = {**PLACEHOLDER_POD, f"{LABEL_PREFIX}/pool": pool}
        requests = spec["resources"]["requests"]
        objects.append({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": f"user-placeholder-{pool}", "namespace": HUB_NAMESPACE,
                         "labels": {**tags.kube(), **selector}},
            "spec": {
                "replicas": int(spec["replicas"]), "podManagementPolicy": "Parallel",
                "serviceName": f"user-placeholder-{pool}", "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": selector},
                    "spec": {
                        "priorityClassName": PLACEHOLDER_PRIORITY_CLASS,
                        "nodeSelector": dict(spec["nodeSelector"]),
                        "terminationGracePeriodSeconds": 0,
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": "pause", "image": image,
                            "resources": {"requests": {"cpu": f"{float(requests['cpu']):g}",
                                                       "memory": str(int(requests["memory"]))}},
                            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "capabilities": {"drop": ["ALL"]}},
                        }],
                    },
                },
            },
        })
    return objects
