"""Kafka for streaming environments: the Strimzi operator (Helm) and one KRaft cluster sized by the contract."""

from __future__ import annotations

import json
from typing import Any

from gereedschapskist.core.placement import CORE_POOL, KAFKA_POOL, KAFKA_TAINT, POOL_LABEL
from gereedschapskist.core.streaming import CA_FILE, KafkaAccess
from gereedschapskist.hub.values import ENV_PREFIX

from . import versions
from .config import KafkaSpec
from .manifests import HUB_NAMESPACE, WORKSPACE_POD
from .partners import HOME_STORAGE_CLASS
from .tags import Tags

KAFKA_NAMESPACE = "kafka"
KAFKA_CLUSTER = "workbench"
NODE_POOL = "brokers"
TLS_PORT = 9093
STRIMZI_API = "kafka.strimzi.io/v1beta2"


def _quantity(cpu: float) -> str:
    return f"{cpu:g}" if cpu >= 1 else f"{int(cpu * 1000)}m"


def operator_values() -> dict[str, Any]:
    """Helm values of the Strimzi operator: it watches its own namespace and the hub's (where the workspaces'
    KafkaUser lives, so the User Operator writes its Secret next to the workspaces), and runs on the core pool."""
    return {"watchAnyNamespace": False, "watchNamespaces": [HUB_NAMESPACE], "nodeSelector": {POOL_LABEL: CORE_POOL},
            "resources": {"requests": {"cpu": "200m", "memory": "384Mi"}, "limits": {"memory": "384Mi"}}}


def _placement() -> dict[str, Any]:
    return {
        "tolerations": [KAFKA_TAINT.toleration()],
        "affinity": {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": [KAFKA_POOL]}]}]}},
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"strimzi.io/cluster": KAFKA_CLUSTER,
                                                   "strimzi.io/pool-name": NODE_POOL}},
                 "topologyKey": "kubernetes.io/hostname"}]},
        },
    }


#: Requests = limits for memory of each of the Entity Operator's two containers (Strimzi's documented minimum
#: for small clusters is 256Mi; 512Mi leaves room for a few hundred topics and users).
OPERATOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}


def entity_operator_placement() -> dict[str, Any]:
    """The Topic and User Operators' pod: on the core pool, with neither the kafka pool's toleration nor the
    brokers' anti-affinity."""
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": [CORE_POOL]}]}]}}}}


def manifests(spec: KafkaSpec, tags: Tags) -> list[dict[str, Any]]:
    """The KafkaNodePool (brokers that are also KRaft controllers) and the Kafka cluster."""
    replication = min(3, spec.brokers)
    min_isr = min(2, replication)
    labels = {**tags.kube(), "strimzi.io/cluster": KAFKA_CLUSTER}
    resources = {"cpu": _quantity(spec.cpu), "memory": spec.memory}
    node_pool = {
        "apiVersion": STRIMZI_API, "kind": "KafkaNodePool",
        "metadata": {"name": NODE_POOL, "namespace": KAFKA_NAMESPACE, "labels": labels},
        "spec": {
            "replicas": spec.brokers,
            "roles": ["controller", "broker"],
            "storage": {"type": "jbod", "volumes": [{
                "id": 0, "type": "persistent-claim", "size": spec.storage, "class": HOME_STORAGE_CLASS,
                "deleteClaim": False, "kraftMetadata": "shared"}]},
            "resources": {"requests": dict(resources), "limits": dict(resources)},
            "template": {"pod": _placement()},
        },
    }
    kafka = {
        "apiVersion": STRIMZI_API, "kind": "Kafka",
        "metadata": {"name": KAFKA_CLUSTER, "namespace": KAFKA_NAMESPACE, "labels": tags.kube()},
        "spec": {
            "kafka": {
                "version": versions.KAFKA_VERSION,
                "listeners": [{
                    "name": "tls", "port": TLS_PORT, "type": "internal", "tls": True,
                    "authentication": {"type": "tls"},  # clients present a KafkaUser's certificate (item 11)
                    # Strimzi turns these into the cluster's NetworkPolicy: only workspaces may connect.
                    "networkPolicyPeers": [{
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": HUB_NAMESPACE}},
                        "podSelector": {"matchLabels": WORKSPACE_POD}}],
                }],
                "authorization": {"type": "simple"},  # the KafkaUsers' ACLs
                "config": {
                    "default.replication.factor": replication,
                    "min.insync.replicas": min_isr,
                    "offsets.topic.replication.factor": replication,
                    "transaction.state.log.replication.factor": replication,
                    "transaction.state.log.min.isr": min_isr,
                    "log.retention.hours": spec.retention_hours,
                    "auto.create.topics.enable": False,
                },
            },
            # The Topic and User Operators run on the core pool: the kafka pool has exactly one node per broker,
            # and the brokers' anti-affinity would keep the Entity Operator off every one of them (item 5).
            "entityOperator": {
                "topicOperator": {"resources": dict(OPERATOR_RESOURCES)},
                "userOperator": {"resources": dict(OPERATOR_RESOURCES), "watchedNamespace": HUB_NAMESPACE},
                "template": {"pod": entity_operator_placement()},
            },
        },
    }
    return [node_pool, kafka]


# Workspaces reach Kafka (issue 16, item 11) ---------------------------------------------------------------------
#: The environment's KafkaUser, in the hub's namespace: the User Operator writes its certificate and key into the
#: Secret of the same name there. One user per environment (the workspaces of an environment share its topics).
WORKSPACE_USER = "kafka-workspaces"
#: The cluster CA's certificate, copied from Strimzi's Secret in the kafka namespace into the hub's namespace.
CLUSTER_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"
WORKSPACE_CA_SECRET = "kafka-cluster-ca"
CA_READER = "kafka-ca-reader"
#: What the workspace user may do: produce, consume and create topics, and join consumer groups.
WORKSPACE_ACLS = [
    {"resource": {"type": "topic", "name": "*", "patternType": "literal"},
     "operations": ["Describe", "DescribeConfigs", "Read", "Write", "Create"]},
    {"resource": {"type": "group", "name": "*", "patternType": "literal"}, "operations": ["Describe", "Read"]},
]


def workspace_access() -> KafkaAccess:
    return KafkaAccess(bootstrap=f"{KAFKA_CLUSTER}-kafka-bootstrap.{KAFKA_NAMESPACE}.svc:{TLS_PORT}",
                       ca_secret=WORKSPACE_CA_SECRET, user_secret=WORKSPACE_USER)


def workspace_manifests(tags: Tags) -> list[dict[str, Any]]:
    """The environment's KafkaUser (mutual TLS, ACLs) and the copy of the cluster CA into the hub's namespace:
    an External Secrets store of provider ``kubernetes`` that may read exactly that one Secret of the kafka
    namespace (a ServiceAccount, a Role and its binding), and the ExternalSecret that copies ``ca.crt``."""
    labels = tags.kube()
    user = {
        "apiVersion": STRIMZI_API, "kind": "KafkaUser",
        "metadata": {"name": WORKSPACE_USER, "namespace": HUB_NAMESPACE,
                     "labels": {**labels, "strimzi.io/cluster": KAFKA_CLUSTER}},
        "spec": {"authentication": {"type": "tls"},
                 "authorization": {"type": "simple", "acls": [dict(acl) for acl in WORKSPACE_ACLS]}},
    }
    reader = {"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": CA_READER, "namespace": HUB_NAMESPACE, "labels": labels},
              "automountServiceAccountToken": False}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": CA_READER, "namespace": KAFKA_NAMESPACE, "labels": labels},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [CLUSTER_CA_SECRET],
                       "verbs": ["get"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": CA_READER, "namespace": KAFKA_NAMESPACE, "labels": labels},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": CA_READER},
               "subjects": [{"kind": "ServiceAccount", "name": CA_READER, "namespace": HUB_NAMESPACE}]}
    store = {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
             "metadata": {"name": CA_READER, "namespace": HUB_NAMESPACE, "labels": labels},
             "spec": {"provider": {"kubernetes": {
                 "remoteNamespace": KAFKA_NAMESPACE,
                 "server": {"caProvider": {"type": "ConfigMap", "name": "kube-root-ca.crt", "key": "ca.crt"}},
                 "auth": {"serviceAccount": {"name": CA_READER}}}}}}
    copy = {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": WORKSPACE_CA_SECRET, "namespace": HUB_NAMESPACE, "labels": labels},
            "spec": {"refreshInterval": "1h",
                     "secretStoreRef": {"kind": "SecretStore", "name": CA_READER},
                     "target": {"name": WORKSPACE_CA_SECRET, "creationPolicy": "Owner"},
                     "data": [{"secretKey": CA_FILE,
                               "remoteRef": {"key": CLUSTER_CA_SECRET, "property": CA_FILE}}]}}
    return [user, reader, role, binding, store, copy]


def with_workspace_access(values: dict) -> dict:
    """The hub's values with the Kafka its streaming workspaces reach (the hub setting ``KAFKA``)."""
    hub = values["hub"]
    env = {**hub.get("extraEnv", {}), f"{ENV_PREFIX}KAFKA": json.dumps(workspace_access().as_json())}
    return {**values, "hub": {**hub, "extraEnv": env}}
