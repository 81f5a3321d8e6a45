"""Microsoft Azure recipe (AKS via pulumi-azure-native), on the example stack minfin-bi-dev (development).

Recorded by Pulumi's mock engine: there is no Azure subscription and no Pulumi CLI here (see infra_harness.py).
"""

from __future__ import annotations

import pytest

from gereedschapskist.infra import versions
from gereedschapskist.infra.partners import HOME_STORAGE_CLASS
from gereedschapskist.infra.plan import plan_environment

from infra_harness import INFRA_DIR, load_stack

NAME = "minfin-bi-dev"


@pytest.fixture(scope="module")
def rec(deployments):
    return deployments(NAME)


@pytest.fixture(scope="module")
def plan(catalogue):
    return plan_environment(load_stack(NAME, INFRA_DIR), catalogue)


def test_provider_is_pinned_to_the_eu_region_and_subscription(rec, plan):
    provider = rec.one("pulumi:providers:azure-native").inputs
    assert provider["location"] == "westeurope" and plan.region.country == "NL"
    assert provider["subscriptionId"] == plan.stack.cloud.account
    located = [r.inputs["location"] for r in rec.resources if r.typ.startswith("azure-native:") and "location" in r.inputs]
    assert located and set(located) <= {"westeurope", "Global"}


def test_aks_is_private_with_network_policies_and_customer_key_disks(rec):
    aks = rec.one("azure-native:containerservice:ManagedCluster").inputs
    assert aks["apiServerAccessProfile"]["enablePrivateCluster"] is True
    assert aks["networkProfile"]["networkPolicy"] == "cilium"
    assert aks["diskEncryptionSetID"] == f"{NAME}-disks-id"
    assert aks["disableLocalAccounts"] is True and aks["aadProfile"]["enableAzureRBAC"] is True
    assert aks["kubernetesVersion"] == versions.KUBERNETES_VERSION
    assert aks["securityProfile"]["workloadIdentity"]["enabled"] is True
    core = aks["agentPoolProfiles"][0]
    assert core["mode"] == "System" and core["name"] == "core" and core["minCount"] >= 1
    assert core["nodeLabels"] == {"gereedschapskist.nl/pool": "core"}


def test_user_pools_per_role_scale_from_zero_without_gpu(rec, plan):
    pools = {r.inputs["agentPoolName"]: r.inputs for r in rec.of("azure-native:containerservice:AgentPool")}
    assert set(pools) == {p.name for p in plan.workspace_pools} == {"bi", "dev", "streaming"}
    assert "gpu" not in pools  # no GPU bundle is offered to bi and dev
    for pool in plan.workspace_pools:
        inputs = pools[pool.name]
        assert inputs["minCount"] == 0 == inputs["count"] and inputs["enableAutoScaling"] is True
        assert inputs["maxCount"] == pool.max_nodes and inputs["mode"] == "User"
        assert inputs["vmSize"] == pool.machine.machine_type
        assert inputs["nodeLabels"] == {"gereedschapskist.nl/pool": pool.name}
        assert inputs.get("nodeTaints", []) == []
        assert inputs["enableEncryptionAtHost"] is True
    assert pools["bi"]["maxCount"] == 4  # pools.bi.max_nodes in the stack file


def test_disks_are_encrypted_with_the_contracts_own_key(rec):
    vault = rec.one("azure-native:keyvault:Vault").inputs["properties"]
    assert vault["enablePurgeProtection"] is True and vault["enableRbacAuthorization"] is True
    assert vault["networkAcls"]["defaultAction"] == "Deny"
    des = rec.one("azure-native:compute:DiskEncryptionSet").inputs
    assert des["encryptionType"] == "EncryptionAtRestWithCustomerKey"
    storage = next(o for o in rec.kubernetes_objects() if o["kind"] == "StorageClass"
                   and o["metadata"]["name"] == HOME_STORAGE_CLASS)
    assert storage["provisioner"] == "disk.csi.azure.com"
    assert storage["parameters"]["diskEncryptionSetID"] == f"{NAME}-disks-id"
    assert storage["parameters"]["networkAccessPolicy"] == "DenyAll"


def test_shared_storage_is_private_encrypted_and_versioned(rec):
    account = rec.one("azure-native:storage:StorageAccount").inputs
    assert account["allowBlobPublicAccess"] is False and account["allowSharedKeyAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2" and account["enableHttpsTrafficOnly"] is True
    assert account["encryption"]["requireInfrastructureEncryption"] is True
    assert account["encryption"]["services"]["blob"]["enabled"] is True
    assert account["networkRuleSet"]["defaultAction"] == "Deny"
    assert rec.one("azure-native:storage:BlobServiceProperties").inputs["isVersioningEnabled"] is True
    assert rec.one("azure-native:storage:BlobContainer").inputs["publicAccess"] == "None"


def test_development_has_no_image_restriction(rec):
    kinds = {o["kind"] for o in rec.kubernetes_objects()}
    assert "ValidatingAdmissionPolicy" not in kinds
    assert "Kafka" not in kinds  # bi and dev only: not a streaming environment
