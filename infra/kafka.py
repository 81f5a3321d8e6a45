"""Kafka for streaming environments: the Strimzi operator (Helm) and one KRaft cluster sized by the contract."""

from __future__ import annotations

from typing import Any

from gereedschapskist.core.placement import CORE_POOL, KAFKA_POOL, KAFKA_TAINT, POOL_LABEL

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
    """Helm values of the Strimzi operator: it watches its own namespace and runs on the core pool."""
    return {"watchAnyNamespace": False, "nodeSelector": {POOL_LABEL: CORE_POOL},
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
                    # Strimzi turns these into the cluster's NetworkPolicy: only workspaces may connect.
                    "networkPolicyPeers": [{
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": HUB_NAMESPACE}},
                        "podSelector": {"matchLabels": WORKSPACE_POD}}],
                }],
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
                "userOperator": {"resources": dict(OPERATOR_RESOURCES)},
                "template": {"pod": entity_operator_placement()},
            },
        },
    }
    return [node_pool, kafka]
