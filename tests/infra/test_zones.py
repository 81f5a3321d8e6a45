"""Home volumes and user pools (issue 16, item 7): a user's next node can always attach their home volume.

Home directories are disks. A zonal disk (EBS, a GCE persistent disk) attaches only to a node in its own zone, and
workspace pools scale from zero: if a pool spans three zones, the node the autoscaler brings up for a user's next
start can be in another zone than their volume ("volume node affinity conflict", the pod stays Pending). Each
environment therefore either pins its workspace pools to one zone (EKS, GKE, as 2i2c does) or uses a storage class
whose disks attach in every zone (AKS: zone-redundant Premium_ZRS). The program runs under Pulumi's mock engine
(no cloud here, see infra_harness.py); the zones are read from the node groups and subnets it registered.
"""

from __future__ import annotations

import pytest

from gereedschapskist.core.placement import CORE_POOL
from gereedschapskist.infra.partners import HOME_STORAGE_CLASS

from infra_harness import CONTRACT_STACKS

MULTI_ZONE_DISKS = {"disk.csi.azure.com": lambda p: p.get("skuName", "").endswith("_ZRS"),
                    "pd.csi.storage.gke.io": lambda p: p.get("replication-type") == "regional-pd",
                    "ebs.csi.aws.com": lambda p: False}


def home_class(rec) -> dict:
    return next(o for o in rec.kubernetes_objects() if o["kind"] == "StorageClass"
                and o["metadata"]["name"] == HOME_STORAGE_CLASS)  # the home volumes' (not the data store's)


def pool_zones(rec, partner: str) -> dict[str, set[str]]:
    """Pool name -> the zones its nodes can come up in ({"*"}: every zone of the region)."""
    if partner == "aws":
        subnets = {f"{r.name}-id": r.inputs["availabilityZone"] for r in rec.of("aws:ec2/subnet:Subnet")}
        return {r.inputs["nodeGroupName"]: {subnets[s] for s in r.inputs["subnetIds"]}
                for r in rec.of("aws:eks/nodeGroup:NodeGroup")}
    if partner == "google-cloud":
        return {r.inputs["name"]: set(r.inputs.get("nodeLocations") or ["*"])
                for r in rec.of("gcp:container/nodePool:NodePool")}
    cluster = rec.one("azure-native:containerservice:ManagedCluster").inputs
    zones = {p["name"]: set(p.get("availabilityZones") or ["*"]) for p in cluster["agentPoolProfiles"]}
    zones |= {r.inputs["agentPoolName"]: set(r.inputs.get("availabilityZones") or ["*"])
              for r in rec.of("azure-native:containerservice:AgentPool")}
    return zones


@pytest.mark.parametrize("partner", sorted(CONTRACT_STACKS))
def test_a_users_next_node_can_always_attach_their_home_volume(deployments, partner):
    rec = deployments(CONTRACT_STACKS[partner])
    storage = home_class(rec)
    assert storage["volumeBindingMode"] == "WaitForFirstConsumer"  # the volume is made where the first pod runs
    multi_zone = MULTI_ZONE_DISKS[storage["provisioner"]](storage["parameters"])
    zones = pool_zones(rec, partner)
    workspace = {name: z for name, z in zones.items() if name not in (CORE_POOL, "kafka")}
    assert workspace, zones
    if multi_zone:
        return  # the disk attaches in every zone: the pools may span them
    assert all(len(z) == 1 and "*" not in z for z in workspace.values()), (
        f"{partner}: zonal home disks, but workspace pools span zones: {workspace}")
    assert len(set().union(*workspace.values())) == 1, f"{partner}: workspace pools in different zones: {workspace}"


def test_the_core_pool_keeps_every_zone(deployments):
    for partner in ("aws", "google-cloud"):
        zones = pool_zones(deployments(CONTRACT_STACKS[partner]), partner)
        assert len(zones[CORE_POOL]) > 1 or zones[CORE_POOL] == {"*"}, (partner, zones[CORE_POOL])


def test_the_eks_autoscaler_knows_the_workspace_zone_of_an_empty_group(deployments):
    """Scaling from zero: the autoscaler reads the zone label of a group with no node from its tags."""
    rec = deployments(CONTRACT_STACKS["aws"])
    for group in rec.of("aws:eks/nodeGroup:NodeGroup"):
        tag = group.inputs["tags"].get("k8s.io/cluster-autoscaler/node-template/label/topology.kubernetes.io/zone")
        assert (tag is not None) == (group.inputs["nodeGroupName"] != CORE_POOL)


def test_gke_workspace_zone_exists_in_every_region_the_partner_offers(catalogue):
    from gereedschapskist.infra.partners.gcp import WORKSPACE_ZONE_SUFFIX

    # Google's zones per region (cloud.google.com, "Regions and zones"): europe-west1 has b, c and d.
    known = {"europe-west1": "bcd", "europe-west3": "abc", "europe-west4": "abc"}
    for region in catalogue.partners["google-cloud"].regions:
        assert WORKSPACE_ZONE_SUFFIX in known[region.id], region.id
