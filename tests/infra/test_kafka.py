"""Kafka of a streaming environment becomes Ready (issue 16, item 5): every Strimzi pod can be scheduled.

The Kafka resource is Ready only when its Entity Operator (Topic and User Operator) runs. The kafka pool has
exactly one node per broker, so a pod that needs the kafka pool *and* keeps away from brokers never schedules.
The brokers and the Entity Operator are placed with the scheduler's rules (tests/infra/scheduling.py) on the nodes
the plan creates; the manifests are the ones the program registered under Pulumi's mock engine.
"""

from __future__ import annotations

import pytest

from gereedschapskist.core.placement import CORE_POOL, KAFKA_POOL
from gereedschapskist.infra.kafka import KAFKA_CLUSTER, NODE_POOL
from gereedschapskist.infra.plan import plan_environment

from infra_harness import INFRA_DIR, load_stack
from scheduling import Node, fits

NAME = "rws-streaming-prod"


@pytest.fixture(scope="module")
def strimzi(deployments):
    return {o["kind"]: o for o in deployments(NAME).kubernetes_objects()
            if o["apiVersion"].startswith("kafka.strimzi.io/")}


@pytest.fixture(scope="module")
def plan(catalogue):
    return plan_environment(load_stack(NAME, INFRA_DIR), catalogue)


@pytest.fixture
def nodes(plan):
    """Empty nodes, one per node of each pool at its minimum (the core pool) or its fixed size (the kafka pool)."""
    found = []
    for pool in plan.pools:
        if pool.name not in (CORE_POOL, KAFKA_POOL):
            continue  # workspace pools scale from zero: nothing of Kafka may rely on them
        for n in range(pool.min_nodes):
            found.append(Node(f"{pool.name}-{n}", dict(pool.labels),
                              [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints]))
    assert sum(KAFKA_POOL in n.labels.values() for n in found) == plan.kafka.brokers
    return found


def place(pod: dict, labels: dict, nodes: list[Node]) -> Node | None:
    for node in nodes:
        if not fits(pod, node):
            node.pods.append(labels)
            return node
    return None


def test_every_broker_and_the_entity_operator_find_a_node(strimzi, nodes):
    pool, kafka = strimzi["KafkaNodePool"], strimzi["Kafka"]
    broker_labels = {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/pool-name": NODE_POOL,
                     "strimzi.io/kind": "Kafka", "strimzi.io/name": f"{KAFKA_CLUSTER}-kafka"}
    brokers = [place(pool["spec"]["template"]["pod"], broker_labels, nodes) for _ in range(int(pool["spec"]["replicas"]))]
    assert all(brokers), "a broker found no node"
    assert {n.labels["gereedschapskist.nl/pool"] for n in brokers} == {KAFKA_POOL}
    assert len({n.name for n in brokers}) == len(brokers), "two brokers on one node"
    operator = place(kafka["spec"]["entityOperator"]["template"]["pod"],
                     {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/name": f"{KAFKA_CLUSTER}-entity-operator"},
                     nodes)
    assert operator is not None, "the Entity Operator fits no node: the Kafka resource would never become Ready"
    assert operator.labels["gereedschapskist.nl/pool"] == CORE_POOL


def test_the_old_placement_would_have_left_the_entity_operator_pending(strimzi, nodes):
    """The check above can fail: the brokers' own placement (kafka pool, anti-affinity) finds no node once the
    brokers are placed."""
    pool = strimzi["KafkaNodePool"]
    broker_labels = {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/pool-name": NODE_POOL}
    for _ in range(int(pool["spec"]["replicas"])):
        assert place(pool["spec"]["template"]["pod"], broker_labels, nodes)
    assert place(pool["spec"]["template"]["pod"], {"strimzi.io/cluster": KAFKA_CLUSTER}, nodes) is None


def test_both_entity_operators_run(strimzi):
    entity = strimzi["Kafka"]["spec"]["entityOperator"]
    assert "topicOperator" in entity and "userOperator" in entity
    for name in ("topicOperator", "userOperator"):
        resources = entity[name]["resources"]
        assert resources["requests"]["memory"] == resources["limits"]["memory"]
