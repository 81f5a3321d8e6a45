"""Dependency edges (issue 16, offline check): role assignments, bindings and secrets come before their readers.

The mocks record, for every registration, the URNs the SDK says it waits for — ``depends_on`` (a component expanded
to its children) and every resource whose outputs its inputs use — exactly what the engine orders by
(infra_harness.RecordingMonitor). Across the two stages the order is the stages' order: what the cluster stage
reads must be in the cloud stage, and the cluster stage's Kubernetes provider waits for the StackReference.
No cloud here; that a cloud's IAM takes effect in time (propagation) is in infra/README.md, "Verified only in a
real deploy".
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from gereedschapskist.infra import stages

from infra_harness import ALL_DEPLOYMENTS, Recorder, Registered, reveal

AZURE = ["minfin-bi-dev", "platform:azure"]
AWS = ["cbs-ml-prod", "platform:aws"]
GCP = ["rws-streaming-prod", "platform:google-cloud"]


def named(rec: Recorder, typ: str, suffix: str) -> Registered:
    (found,) = [r for r in rec.of(typ) if r.name.endswith(suffix)]
    return found


def secret_references(value: Any) -> Iterator[str]:
    """Names of Kubernetes Secrets a manifest or Helm values refer to (env, envFrom, volumes, TLS)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("secretKeyRef", "secretRef") and isinstance(item, dict) and "name" in item:
                yield item["name"]
            elif key == "secretName" and isinstance(item, str):
                yield item
            else:
                yield from secret_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_references(item)


def producers(rec: Recorder) -> dict[str, Registered]:
    """Kubernetes Secrets the program has made for it: by ExternalSecret (the store) or Certificate (ACME)."""
    made: dict[str, Registered] = {}
    for r in rec.resources:
        if r.typ == "kubernetes:external-secrets.io/v1:ExternalSecret":
            made[r.inputs["spec"]["target"]["name"]] = r
        elif r.typ == "kubernetes:cert-manager.io/v1:Certificate":
            made[r.inputs["spec"]["secretName"]] = r
    return made


@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_every_reader_of_a_secret_waits_for_the_secret(deployments, key):
    rec = deployments(key)
    made = producers(rec)
    readers = [r for r in rec.resources if r.typ in ("kubernetes:helm.sh/v3:Release", "kubernetes:batch/v1:Job",
                                                     "kubernetes:apps/v1:Deployment")]
    checked = 0
    for reader in readers:
        for name in set(secret_references(reveal(reader.inputs))) & set(made):
            assert rec.waits(reader, made[name]), f"{reader.typ} {reader.name} reads Secret {name} without waiting"
            checked += 1
    assert checked >= 2  # the hub (OIDC secret, certificate) or the portal (its secrets, the Job's)


@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_external_secrets_wait_for_the_store_which_waits_for_the_operator(deployments, key):
    rec = deployments(key)
    store = rec.one("kubernetes:external-secrets.io/v1:ClusterSecretStore")
    operator = next(r for r in rec.of("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "external-secrets")
    assert rec.waits(store, operator)
    secrets = rec.of("kubernetes:external-secrets.io/v1:ExternalSecret")
    assert secrets and all(rec.waits(s, store) for s in secrets)


@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_the_cluster_stage_waits_for_the_cloud_stage_and_finds_every_grant_there(deployments, key):
    rec = deployments(key)
    reference = rec.one("pulumi:pulumi:StackReference")
    provider = rec.one("pulumi:providers:kubernetes")
    assert provider.stage == stages.CLUSTER and rec.waits(provider, reference)  # its kubeconfig is an export
    # every ExternalSecret of the cloud's store names its keys from the cloud stage's exports: it waits for them
    cloud_store = [r for r in rec.of("kubernetes:external-secrets.io/v1:ExternalSecret")
                   if reveal(r.inputs)["spec"]["secretStoreRef"]["kind"] == "ClusterSecretStore"]
    assert cloud_store and all(rec.waits(r, reference) for r in cloud_store)
    # Secrets, and the grants that let the operator's identity read them, exist before the cluster stage starts.
    grants = ("azure-native:authorization:RoleAssignment", "gcp:secretmanager/secretIamMember:SecretIamMember",
              "gcp:serviceaccount/iAMMember:IAMMember", "aws:iam/rolePolicy:RolePolicy",
              "aws:eks/podIdentityAssociation:PodIdentityAssociation", "azure-native:keyvault:Secret",
              "aws:secretsmanager/secretVersion:SecretVersion", "gcp:secretmanager/secretVersion:SecretVersion")
    found = [r for r in rec.resources if r.typ in grants]
    assert found and {r.stage for r in found} == {stages.CLOUD}


@pytest.mark.parametrize("key", AZURE)
def test_aks_waits_for_its_role_assignments_and_the_runner_for_its_cluster_role(deployments, key):
    rec = deployments(key)
    aks = rec.one("azure-native:containerservice:ManagedCluster")
    role = "azure-native:authorization:RoleAssignment"
    for needed in ("-aks-des-reader", "-aks-subnet", "-disks-key"):
        assert rec.waits(aks, named(rec, role, needed)), f"the cluster does not wait for {needed}"
    for admin in ("-aks-admin-runner", "-aks-admin-deployer"):
        assert rec.waits(named(rec, role, admin), aks)  # scoped to the cluster
    vm = rec.one("azure-native:compute:VirtualMachine")
    assert rec.waits(vm, named(rec, role, "-aks-admin-runner"))
    assert rec.waits(named(rec, role, "-external-secrets-read"), rec.one("azure-native:keyvault:Vault"))


@pytest.mark.parametrize("key", GCP)
def test_every_google_resource_waits_for_the_apis_and_the_identity_binding_for_the_cluster(deployments, key):
    rec = deployments(key)
    apis = rec.of("gcp:projects/service:Service")
    assert apis
    late = [r.name for r in rec.resources
            if r.typ.startswith("gcp:") and r.typ != "gcp:projects/service:Service"
            and not all(rec.waits(r, api) for api in apis)]
    assert late == []
    binding = named(rec, "gcp:serviceaccount/iAMMember:IAMMember", "-external-secrets-wi")
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert rec.waits(binding, rec.one("gcp:container/cluster:Cluster"))
    runner = rec.one("gcp:compute/instance:Instance")
    assert rec.waits(runner, named(rec, "gcp:projects/iAMMember:IAMMember", "-runner-container-admin"))


@pytest.mark.parametrize("key", AWS)
def test_eks_runner_waits_for_its_access_entry_and_policy(deployments, key):
    rec = deployments(key)
    entry = rec.one("aws:eks/accessEntry:AccessEntry")
    association = rec.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert rec.waits(association, entry)
    assert rec.waits(rec.one("aws:ec2/instance:Instance"), association)
    for identity in rec.of("aws:eks/podIdentityAssociation:PodIdentityAssociation"):
        assert rec.waits(identity, rec.one("aws:eks/cluster:Cluster"))


def test_the_graph_sees_a_missing_edge(deployments):
    """The check can fail: a resource never waits for one registered after it that it does not use."""
    rec = deployments("minfin-bi-dev")
    first, last = rec.resources[1], rec.resources[-1]
    assert first.urn and last.urn and not rec.waits(first, last)
