"""Google Cloud recipe (GKE via pulumi-gcp), on the example stack rws-streaming-prod (production, Kafka).

Recorded by Pulumi's mock engine: there is no Google Cloud project and no Pulumi CLI here (see infra_harness.py).
"""

from __future__ import annotations

import json

import pytest

from gereedschapskist.infra import versions
from gereedschapskist.infra.partners import HOME_STORAGE_CLASS
from gereedschapskist.infra.plan import plan_environment

from infra_harness import INFRA_DIR, load_stack

NAME = "rws-streaming-prod"
KEY = f"{NAME}-data-id"


@pytest.fixture(scope="module")
def rec(deployments):
    return deployments(NAME)


@pytest.fixture(scope="module")
def plan(catalogue):
    return plan_environment(load_stack(NAME, INFRA_DIR), catalogue)


def test_provider_is_pinned_to_the_eu_region_and_project(rec, plan):
    provider = rec.one("pulumi:providers:gcp").inputs
    assert provider["region"] == "europe-west4" and provider["project"] == "rws-werkbank-prod"
    assert plan.region.country == "NL"
    assert rec.one("gcp:storage/bucket:Bucket").inputs["location"] == "EUROPE-WEST4"
    assert rec.one("gcp:kms/keyRing:KeyRing").inputs["location"] == "europe-west4"


def test_gke_is_private_enforces_network_policies_and_encrypts_secrets(rec):
    gke = rec.one("gcp:container/cluster:Cluster").inputs
    private = gke["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True and private["enablePrivateEndpoint"] is True
    assert gke["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False
    assert gke["datapathProvider"] == "ADVANCED_DATAPATH"
    assert gke["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": KEY}
    assert gke["workloadIdentityConfig"]["workloadPool"] == "rws-werkbank-prod.svc.id.goog"
    assert gke["minMasterVersion"] == versions.KUBERNETES_VERSION and gke["removeDefaultNodePool"] is True
    assert gke["location"] == "europe-west4"


def test_node_pools_per_role_scale_from_zero_with_encrypted_boot_disks(rec, plan):
    pools = {r.inputs["name"]: r.inputs for r in rec.of("gcp:container/nodePool:NodePool")}
    assert set(pools) == {p.name for p in plan.pools} == {"core", "bi", "dev", "streaming", "kafka"}
    assert "gpu" not in pools
    for pool in plan.pools:
        inputs = pools[pool.name]
        assert inputs["autoscaling"]["totalMinNodeCount"] == pool.min_nodes
        assert inputs["autoscaling"]["totalMaxNodeCount"] == pool.max_nodes
        config = inputs["nodeConfig"]
        assert config["machineType"] == pool.machine.machine_type
        assert config["labels"] == {"gereedschapskist.nl/pool": pool.name}
        assert config["bootDiskKmsKey"] == KEY
        assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        assert config["resourceLabels"]["cost_centre"] == "rws-ivs-17"
        assert "guestAccelerators" not in config
    for name in ("bi", "dev", "streaming"):
        assert pools[name]["autoscaling"]["totalMinNodeCount"] == 0
    assert pools["kafka"]["nodeConfig"]["taints"] == [
        {"key": "gereedschapskist.nl/pool", "value": "kafka", "effect": "NO_SCHEDULE"}]


def test_service_agents_may_use_the_key(rec):
    members = {r.inputs["member"] for r in rec.of("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")}
    assert members == {f"serviceAccount:service-123456789@{agent}.iam.gserviceaccount.com"
                       for agent in ("container-engine-robot", "compute-system", "gs-project-accounts")}
    assert rec.one("gcp:kms/cryptoKey:CryptoKey").inputs["rotationPeriod"] == "7776000s"


def test_shared_bucket_is_private_encrypted_and_versioned(rec):
    bucket = rec.one("gcp:storage/bucket:Bucket").inputs
    assert bucket["publicAccessPrevention"] == "enforced" and bucket["uniformBucketLevelAccess"] is True
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["encryption"] == {"defaultKmsKeyName": KEY}
    assert bucket["forceDestroy"] is False


def test_home_directories_use_customer_key_disks(rec):
    storage = next(o for o in rec.kubernetes_objects()       # the homes' class (the datasets' is another)
                   if o["kind"] == "StorageClass" and o["metadata"]["name"] == HOME_STORAGE_CLASS)
    assert storage["provisioner"] == "pd.csi.storage.gke.io"
    assert storage["parameters"]["disk-encryption-kms-key"] == KEY


def test_kafka_cluster_sized_by_the_contract(rec, plan):
    assert rec.helm_releases()["strimzi"]["version"] == versions.STRIMZI_CHART_VERSION
    objects = {o["kind"]: o for o in rec.kubernetes_objects() if o["apiVersion"].startswith("kafka.strimzi.io/")}
    pool, kafka = objects["KafkaNodePool"], objects["Kafka"]
    assert pool["spec"]["replicas"] == 3 and sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    volume = pool["spec"]["storage"]["volumes"][0]
    assert volume["size"] == "200Gi" and volume["class"] == "gereedschapskist-home" and volume["deleteClaim"] is False
    assert pool["spec"]["resources"]["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert kafka["spec"]["kafka"]["version"] == versions.KAFKA_VERSION
    assert kafka["spec"]["kafka"]["config"]["log.retention.hours"] == 72
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    listener = kafka["spec"]["kafka"]["listeners"][0]
    assert listener["tls"] is True
    assert listener["networkPolicyPeers"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jupyterhub"}},
        "podSelector": {"matchLabels": {"component": "singleuser-server"}}}]
    tolerations = pool["spec"]["template"]["pod"]["tolerations"]
    assert tolerations == [{"key": "gereedschapskist.nl/pool", "operator": "Equal", "value": "kafka",
                            "effect": "NoSchedule"}]


def test_kubeconfig_uses_the_private_endpoint(rec):
    provider = rec.one("pulumi:providers:kubernetes").inputs
    config = json.loads(provider["kubeconfig"])
    assert config["clusters"][0]["cluster"]["server"] == "https://10.0.0.2"
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
