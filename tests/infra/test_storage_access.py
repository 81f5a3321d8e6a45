"""Workspaces use the shared bucket with an identity of their own (issue 16, item 11, storage).

On every partner the cloud stage gives the ServiceAccount ``jupyterhub/workspace`` an identity that may use the shared
bucket and nothing else; the cluster stage creates that ServiceAccount with the identity's annotations, makes it the
workspaces' in the hub's values, lets workspaces reach the node-local token endpoint, and in production allows the
bucket's endpoints through the egress proxy. Recorded by Pulumi's mock engine (no cloud here, see infra_harness.py).
"""

from __future__ import annotations

import json

import pytest

from gereedschapskist.infra.egress import PROXY_NAME
from gereedschapskist.infra.manifests import HUB_NAMESPACE
from gereedschapskist.infra.partners import WORKSPACE_SERVICE_ACCOUNT

from infra_harness import CONTRACT_STACKS

SUBJECT = f"system:serviceaccount:{HUB_NAMESPACE}:{WORKSPACE_SERVICE_ACCOUNT}"


def workspace_account(rec) -> dict:
    (account,) = [o for o in rec.kubernetes_objects() if o["kind"] == "ServiceAccount"
                  and o["metadata"]["name"] == WORKSPACE_SERVICE_ACCOUNT]
    return account


def test_aws_workspaces_get_a_pod_identity_for_the_shared_bucket_only(deployments):
    rec = deployments(CONTRACT_STACKS["aws"])
    (association,) = [r for r in rec.of("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                      if r.inputs["serviceAccount"] == WORKSPACE_SERVICE_ACCOUNT]
    assert association.inputs["namespace"] == HUB_NAMESPACE
    role = next(r for r in rec.of("aws:iam/role:Role") if association.inputs["roleArn"].endswith(r.name))
    policy = next(json.loads(r.inputs["policy"]) for r in rec.of("aws:iam/rolePolicy:RolePolicy")
                  if r.inputs["role"] == f"{role.name}-id")
    bucket = rec.one("aws:s3/bucket:Bucket")
    bucket_arn = f"arn:aws:fake:eu-central-1:123456789012:{bucket.name}"
    resources = {res for statement in policy["Statement"] for res in
                 (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])}
    assert "*" not in resources
    assert {bucket_arn, f"{bucket_arn}/*"} <= resources
    assert all(r.startswith(bucket_arn) or r.endswith("-key") for r in resources), resources
    assert workspace_account(rec)["automountServiceAccountToken"] is False


def test_azure_workspaces_get_a_federated_identity_with_blob_access_to_the_shared_account(deployments):
    rec = deployments(CONTRACT_STACKS["azure"])
    (credential,) = [r for r in rec.of("azure-native:managedidentity:FederatedIdentityCredential")
                     if r.inputs["subject"] == SUBJECT]
    identity = next(r for r in rec.of("azure-native:managedidentity:UserAssignedIdentity")
                    if r.inputs.get("resourceName") == credential.inputs["resourceName"]
                    or credential.inputs["resourceName"] == r.name)
    account = rec.one("azure-native:storage:StorageAccount")
    blob = [r for r in rec.of("azure-native:authorization:RoleAssignment")
            if r.inputs["roleDefinitionId"].endswith("ba92f5b4-2d11-453d-a403-e96b0029c9fe")]
    assert [r.inputs["scope"] for r in blob] == [f"{account.name}-id"]
    assert identity is not None
    sa = workspace_account(rec)
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"]
    values = rec.helm_releases()["jupyterhub"]["values"]["singleuser"]
    assert values["extraLabels"]["azure.workload.identity/use"] == "true"


def test_gke_workspaces_get_a_service_account_with_object_access_to_the_shared_bucket(deployments):
    rec = deployments(CONTRACT_STACKS["google-cloud"])
    member = f"serviceAccount:rws-werkbank-prod.svc.id.goog[{HUB_NAMESPACE}/{WORKSPACE_SERVICE_ACCOUNT}]"
    (binding,) = [r for r in rec.of("gcp:serviceaccount/iAMMember:IAMMember") if r.inputs["member"] == member]
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert rec.waits(binding, rec.one("gcp:container/cluster:Cluster")), "the identity pool exists only with the cluster"
    bucket = rec.one("gcp:storage/bucket:Bucket")
    (grant,) = rec.of("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert grant.inputs["bucket"] == bucket.inputs["name"] and grant.inputs["role"] == "roles/storage.objectUser"
    email = workspace_account(rec)["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert grant.inputs["member"] == f"serviceAccount:{email}"


@pytest.mark.parametrize("partner", sorted(CONTRACT_STACKS))
def test_workspaces_run_as_that_service_account_and_reach_their_token_endpoint(deployments, partner):
    rec = deployments(CONTRACT_STACKS[partner])
    values = rec.helm_releases()["jupyterhub"]["values"]["singleuser"]
    assert values["serviceAccountName"] == WORKSPACE_SERVICE_ACCOUNT
    egress = next(o for o in rec.kubernetes_objects() if o["kind"] == "NetworkPolicy"
                  and o["metadata"]["name"] == "workspaces-egress")
    blocks = {(p["ipBlock"]["cidr"], port["port"]) for rule in egress["spec"]["egress"] for p in rule["to"]
              if "ipBlock" in p and "except" not in p["ipBlock"] for port in rule.get("ports", [])}
    expected = {"aws": ("169.254.170.23/32", 80), "google-cloud": ("169.254.169.254/32", 80)}.get(partner)
    if expected:
        assert expected in blocks
    else:
        assert not any(cidr.startswith("169.254.") for cidr, _ in blocks)  # AKS: a projected token file


@pytest.mark.parametrize("partner", ["aws", "google-cloud"])  # the production examples
def test_production_egress_allows_the_shared_buckets_endpoints(deployments, partner):
    rec = deployments(CONTRACT_STACKS[partner])
    config = next(o for o in rec.kubernetes_objects() if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"] == PROXY_NAME)
    allowed = config["data"]["domains"].split()
    if partner == "aws":
        bucket = rec.one("aws:s3/bucket:Bucket").inputs["bucket"]
        assert f"{bucket}.s3.eu-central-1.amazonaws.com" in allowed
    else:
        assert "storage.googleapis.com" in allowed
