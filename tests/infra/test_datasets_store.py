"""The data store's claim (issue 15): workspace pods mount granted datasets read-only from the PersistentVolumeClaim
``DATASETS_CLAIM`` (one ``subPath`` per file, ``hub/kubernetes_data.py``). The cluster stage creates that claim, on
file storage many nodes mount at once, which the cloud stage provides (EFS, Azure Files, Filestore). Recorded by
Pulumi's mock engine (no cluster here, see infra_harness.py).
"""

from __future__ import annotations

import kubernetes_validate
import pytest

from gereedschapskist.core.data_store import DATASETS_CLAIM
from gereedschapskist.hub.settings import HubSettings
from gereedschapskist.infra import versions
from gereedschapskist.infra.manifests import HUB_NAMESPACE
from gereedschapskist.infra.partners import DATASETS_STORAGE_CLASS

from infra_harness import CONTRACT_STACKS, INFRA_DIR, load_stack

PROVISIONERS = {"aws": "efs.csi.aws.com", "azure": "file.csi.azure.com", "google-cloud": "filestore.csi.storage.gke.io"}


def data_objects(rec) -> dict[str, dict]:
    return {o["kind"]: o for o in rec.kubernetes_objects()
            if o["metadata"]["name"] in (DATASETS_CLAIM, DATASETS_STORAGE_CLASS)
            and o["kind"] in ("PersistentVolumeClaim", "StorageClass")}


@pytest.mark.parametrize("cloud", sorted(CONTRACT_STACKS))
def test_the_hubs_datasets_claim_exists_on_shared_file_storage(deployments, cloud):
    rec = deployments(CONTRACT_STACKS[cloud])
    objects = data_objects(rec)
    claim, storage = objects["PersistentVolumeClaim"], objects["StorageClass"]
    # the very claim the hub's spawner mounts (its setting's default; one constant, imported)
    assert claim["metadata"] == {**claim["metadata"], "name": DATASETS_CLAIM, "namespace": HUB_NAMESPACE}
    assert HubSettings.model_fields["datasets_claim"].default == DATASETS_CLAIM
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]      # many nodes; workspaces mount it readOnly
    assert claim["spec"]["storageClassName"] == DATASETS_STORAGE_CLASS
    assert storage["provisioner"] == PROVISIONERS[cloud]
    assert storage["reclaimPolicy"] == "Retain"                      # deleting the claim keeps the data
    for obj in (claim, storage):
        kubernetes_validate.validate(obj, f"{versions.KUBERNETES_VERSION}.0", strict=True)
    hub = next(r for r in rec.of("kubernetes:helm.sh/v3:Release") if r.inputs.get("name") == "jupyterhub")
    pvc = next(r for r in rec.of("kubernetes:core/v1:PersistentVolumeClaim"))
    assert rec.waits(hub, pvc), "the hub starts workspaces that mount the claim: it must exist first"


def test_aws_file_storage_is_encrypted_with_the_environments_key_and_reachable_from_the_network_only(deployments):
    rec = deployments(CONTRACT_STACKS["aws"])
    files = rec.one("aws:efs/fileSystem:FileSystem")
    key = rec.one("aws:kms/key:Key")
    assert files.inputs["encrypted"] is True and files.inputs["kmsKeyId"].endswith(key.name)
    targets = rec.of("aws:efs/mountTarget:MountTarget")
    assert len(targets) == 3                                        # one per private subnet (zone)
    group = next(r for r in rec.of("aws:ec2/securityGroup:SecurityGroup") if r.name.endswith("-datasets"))
    (rule,) = group.inputs["ingress"]
    network = load_stack(CONTRACT_STACKS["aws"], INFRA_DIR).cloud.network_cidr
    assert (rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) == (2049, 2049, [network])  # NFS, the network only
    addon = next(r for r in rec.of("aws:eks/addon:Addon") if r.inputs["addonName"] == "aws-efs-csi-driver")
    assert addon.inputs["podIdentityAssociations"][0]["serviceAccount"] == "efs-csi-controller-sa"
    sc = data_objects(rec)["StorageClass"]
    assert sc["parameters"]["provisioningMode"] == "efs-ap" and sc["parameters"]["fileSystemId"] == f"{files.name}-id"


def test_google_enables_the_filestore_driver_and_its_api(deployments):
    rec = deployments(CONTRACT_STACKS["google-cloud"])
    cluster = rec.one("gcp:container/cluster:Cluster")
    assert cluster.inputs["addonsConfig"]["gcpFilestoreCsiDriverConfig"] == {"enabled": True}
    assert "file.googleapis.com" in {r.inputs["service"] for r in rec.of("gcp:projects/service:Service")}
