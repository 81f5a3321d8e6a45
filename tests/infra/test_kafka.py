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


# Workspaces reach Kafka with TLS and the environment's KafkaUser (issue 16, item 11) ---------------------------

def test_kafka_admits_only_clients_with_a_kafkausers_certificate(strimzi):
    kafka = strimzi["Kafka"]["spec"]["kafka"]
    (listener,) = kafka["listeners"]
    assert listener["tls"] is True and listener["authentication"] == {"type": "tls"}
    assert kafka["authorization"] == {"type": "simple"}


def test_the_environments_kafkauser_lives_beside_the_workspaces_and_may_produce_and_consume(strimzi, deployments):
    from gereedschapskist.infra.kafka import WORKSPACE_USER
    from gereedschapskist.infra.manifests import HUB_NAMESPACE

    user = strimzi["KafkaUser"]
    assert user["metadata"] == {**user["metadata"], "name": WORKSPACE_USER, "namespace": HUB_NAMESPACE}
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA_CLUSTER
    assert user["spec"]["authentication"] == {"type": "tls"}
    acls = {(a["resource"]["type"], a["resource"].get("name")): set(a["operations"])
            for a in user["spec"]["authorization"]["acls"]}
    assert {"Read", "Write", "Describe"} <= acls[("topic", "*")] and "Read" in acls[("group", "*")]
    # the User Operator watches the hub's namespace, and the Cluster Operator may manage it (its RoleBindings)
    assert strimzi["Kafka"]["spec"]["entityOperator"]["userOperator"]["watchedNamespace"] == HUB_NAMESPACE
    assert HUB_NAMESPACE in deployments(NAME).helm_releases()["strimzi"]["values"]["watchNamespaces"]


def test_the_cluster_ca_is_copied_into_the_hub_namespace_by_a_store_that_reads_only_it(deployments):
    from gereedschapskist.infra.kafka import CLUSTER_CA_SECRET, KAFKA_NAMESPACE, WORKSPACE_CA_SECRET
    from gereedschapskist.infra.manifests import HUB_NAMESPACE

    objects = deployments(NAME).kubernetes_objects()
    copy = next(o for o in objects if o["kind"] == "ExternalSecret" and o["metadata"]["name"] == WORKSPACE_CA_SECRET)
    assert copy["metadata"]["namespace"] == HUB_NAMESPACE
    assert copy["spec"]["data"] == [{"secretKey": "ca.crt", "remoteRef": {"key": CLUSTER_CA_SECRET,
                                                                         "property": "ca.crt"}}]
    ref = copy["spec"]["secretStoreRef"]
    store = next(o for o in objects if o["kind"] == ref["kind"] and o["metadata"]["name"] == ref["name"])
    provider = store["spec"]["provider"]["kubernetes"]
    assert provider["remoteNamespace"] == KAFKA_NAMESPACE
    account = provider["auth"]["serviceAccount"]["name"]
    bindings = [o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["namespace"] == KAFKA_NAMESPACE
                and {"kind": "ServiceAccount", "name": account, "namespace": HUB_NAMESPACE} in o["subjects"]]
    assert len(bindings) == 1
    role = next(o for o in objects if o["kind"] == "Role" and o["metadata"]["name"] == bindings[0]["roleRef"]["name"]
                and o["metadata"]["namespace"] == KAFKA_NAMESPACE)
    # exactly one Secret, read only: not the CA's key, not the brokers' or other users' Secrets
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [CLUSTER_CA_SECRET],
                              "verbs": ["get"]}]


def test_the_hub_tells_streaming_workspaces_where_kafka_is(deployments):
    import json

    from gereedschapskist.core.streaming import KafkaAccess
    from gereedschapskist.infra.kafka import KAFKA_NAMESPACE, TLS_PORT, WORKSPACE_CA_SECRET, WORKSPACE_USER

    env = deployments(NAME).helm_releases()["jupyterhub"]["values"]["hub"]["extraEnv"]
    access = KafkaAccess.from_json(json.loads(env["GEREEDSCHAPSKIST_HUB_KAFKA"]))
    # Strimzi's bootstrap Service is <cluster>-kafka-bootstrap in the Kafka's namespace, on the listener's port
    assert access.bootstrap == f"{KAFKA_CLUSTER}-kafka-bootstrap.{KAFKA_NAMESPACE}.svc:{TLS_PORT}"
    assert (access.ca_secret, access.user_secret) == (WORKSPACE_CA_SECRET, WORKSPACE_USER)


def test_an_environment_without_kafka_tells_the_hub_nothing(deployments):
    env = deployments("minfin-bi-dev").helm_releases()["jupyterhub"]["values"]["hub"]["extraEnv"]
    assert "GEREEDSCHAPSKIST_HUB_KAFKA" not in env
    assert not [o for o in deployments("minfin-bi-dev").kubernetes_objects() if o["kind"] == "KafkaUser"]
