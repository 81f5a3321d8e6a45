"""Amazon Web Services recipe (EKS via pulumi-aws's eks resources), on the example stack cbs-ml-prod.

The resources are recorded by Pulumi's mock engine because no AWS account and no Pulumi CLI are available here;
the program, its plan and the catalogue are real (see infra_harness.py).
"""

from __future__ import annotations

import json

import pytest

from gereedschapskist.infra import versions
from gereedschapskist.infra.partners import HOME_STORAGE_CLASS
from gereedschapskist.infra.plan import plan_environment

from infra_harness import INFRA_DIR, load_stack

NAME = "cbs-ml-prod"


@pytest.fixture(scope="module")
def rec(deployments):
    return deployments(NAME)


@pytest.fixture(scope="module")
def plan(catalogue):
    return plan_environment(load_stack(NAME, INFRA_DIR), catalogue)


def test_provider_is_pinned_to_the_eu_region_and_account(rec, plan):
    provider = rec.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-central-1" == plan.region.id
    assert plan.region in plan.partner.regions
    assert json.loads(provider.inputs["allowedAccountIds"]) == ["123456789012"]
    aws_resources = [r for r in rec.resources if r.typ.startswith("aws:")]
    assert aws_resources and all(r.provider and "pulumi:providers:aws::cbs-ml-prod-aws" in r.provider
                                 for r in aws_resources)


def test_eks_has_a_private_endpoint_and_encrypted_secrets(rec):
    eks = rec.one("aws:eks/cluster:Cluster").inputs
    assert eks["vpcConfig"]["endpointPrivateAccess"] is True
    assert eks["vpcConfig"]["endpointPublicAccess"] is False
    assert eks["encryptionConfig"]["resources"] == ["secrets"]
    assert eks["encryptionConfig"]["provider"]["keyArn"].endswith(f"{NAME}-key")
    assert eks["version"] == versions.KUBERNETES_VERSION
    assert eks["upgradePolicy"] == {"supportType": "STANDARD"}
    assert {"api", "audit"} <= set(eks["enabledClusterLogTypes"])
    private = {f"{NAME}-private-{z}-id" for z in "abc"}
    assert set(eks["vpcConfig"]["subnetIds"]) == private


def test_key_rotates(rec):
    assert rec.one("aws:kms/key:Key").inputs["enableKeyRotation"] is True


def test_one_node_group_per_pool_scaling_from_zero(rec, plan):
    groups = {r.inputs["nodeGroupName"]: r.inputs for r in rec.of("aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == {p.name for p in plan.pools} == {"core", "bi", "ml", "gpu"}
    for pool in plan.pools:
        group = groups[pool.name]
        assert group["instanceTypes"] == [pool.machine.machine_type]
        assert group["labels"] == {"gereedschapskist.nl/pool": pool.name}
        assert group["scalingConfig"]["maxSize"] == pool.max_nodes
        if pool.workspace:
            assert group["scalingConfig"]["minSize"] == 0 == group["scalingConfig"]["desiredSize"]
            assert group["tags"]["k8s.io/cluster-autoscaler/node-template/label/gereedschapskist.nl/pool"] == pool.name
    assert groups["gpu"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert groups["gpu"]["instanceTypes"] == ["g4dn.2xlarge"]  # pools.gpu.machine_size: gpu-t4-8 in the stack file
    assert groups["gpu"]["amiType"] == "AL2023_x86_64_NVIDIA"
    assert all(groups[p]["taints"] == [] for p in ("core", "bi", "ml"))


def test_nodes_have_encrypted_disks_and_no_pod_access_to_instance_metadata(rec):
    template = rec.one("aws:ec2/launchTemplate:LaunchTemplate").inputs
    ebs = template["blockDeviceMappings"][0]["ebs"]
    assert ebs["encrypted"] == "true" and ebs["kmsKeyId"].endswith(f"{NAME}-key")
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1


def test_network_policies_are_enforced_and_node_groups_autoscale(rec):
    cni = next(r for r in rec.of("aws:eks/addon:Addon") if r.inputs["addonName"] == "vpc-cni")
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    ebs = next(r for r in rec.of("aws:eks/addon:Addon") if r.inputs["addonName"] == "aws-ebs-csi-driver")
    assert ebs.inputs["podIdentityAssociations"][0]["serviceAccount"] == "ebs-csi-controller-sa"
    assert "cluster-autoscaler" in rec.helm_releases()


def test_subnets_never_hand_out_public_addresses_and_default_group_is_empty(rec):
    assert all(r.inputs["mapPublicIpOnLaunch"] is False for r in rec.of("aws:ec2/subnet:Subnet"))
    default = rec.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup").inputs
    assert not default.get("ingress") and not default.get("egress")


def test_shared_bucket_is_private_encrypted_versioned_and_tls_only(rec):
    block = rec.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    sse = rec.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs
    default = sse["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms" and default["kmsMasterKeyId"].endswith(f"{NAME}-key")
    assert rec.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    assert rec.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"}
    policy = json.loads(rec.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    statement = policy["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert rec.one("aws:s3/bucket:Bucket").inputs["forceDestroy"] is False


def test_home_directories_use_encrypted_ebs(rec):
    storage = next(o for o in rec.kubernetes_objects()       # the homes' class (the datasets' is another)
                   if o["kind"] == "StorageClass" and o["metadata"]["name"] == HOME_STORAGE_CLASS)
    assert storage["provisioner"] == "ebs.csi.aws.com"
    assert storage["parameters"]["encrypted"] == "true"
    assert storage["parameters"]["kmsKeyId"].endswith(f"{NAME}-key")
