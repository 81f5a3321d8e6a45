"""The central platform stack on each partner: portal replicas, migrations before rollout, a private managed
PostgreSQL with backups and point-in-time restore, TLS ingress, OIDC settings, secrets from the secret store.

Recorded by Pulumi's mock engine: no cloud account, no cluster and no Pulumi CLI exist here (see infra_harness.py).
"""

from __future__ import annotations

import json

import pytest

from gereedschapskist import __version__

from infra_harness import PLATFORM_PLACES, platform_on

PARTNERS = sorted(PLATFORM_PLACES)
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker for a secret value on the wire


@pytest.fixture(params=PARTNERS)
def partner(request):
    return request.param


@pytest.fixture
def rec(deployments, partner):
    return deployments(f"platform:{partner}")


def objects(rec) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in rec.kubernetes_objects()}


def test_portal_runs_several_replicas_of_the_project_image(rec):
    deployment = objects(rec)[("Deployment", "portal")]
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/gereedschapskist/portal:{__version__}"
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert objects(rec)[("PodDisruptionBudget", "portal")]["spec"]["maxUnavailable"] == 1


def test_migrations_run_as_a_job_before_the_new_version_takes_traffic(rec):
    job_rec = next(r for r in rec.resources if r.typ == "kubernetes:batch/v1:Job")
    deployment_rec = next(r for r in rec.resources if r.typ == "kubernetes:apps/v1:Deployment")
    job = job_rec.inputs
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["gereedschapskist", "db", "upgrade"]
    assert container["image"] == deployment_rec.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    assert job["metadata"]["name"] == f"portal-migrate-{__version__.replace('.', '-')}"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # The Deployment is registered only once the Job exists (and, with a real provider, has completed): it takes
    # the Job's name as an input, so Pulumi cannot roll out the new version earlier.
    assert job_rec.order < deployment_rec.order
    annotation = "gereedschapskist.nl/migrated-by"
    assert deployment_rec.inputs["metadata"]["annotations"][annotation] == job["metadata"]["name"]
    assert deployment_rec.inputs["spec"]["template"]["metadata"]["annotations"][annotation] == job["metadata"]["name"]
    assert "pulumi.com/skipAwait" not in job["metadata"].get("annotations", {})


def test_database_is_private_with_backups_and_point_in_time_restore(rec, partner):
    if partner == "azure":
        server = rec.one("azure-native:dbforpostgresql:Server").inputs
        assert server["network"]["publicNetworkAccess"] == "Disabled"
        assert server["network"]["delegatedSubnetResourceId"] == "platform-db-id"
        assert server["backup"]["backupRetentionDays"] == 14  # restore to any point in this window
        assert server["highAvailability"]["mode"] == "ZoneRedundant"
        assert server["version"] == "17"
    elif partner == "aws":
        instance = rec.one("aws:rds/instance:Instance").inputs
        assert instance["publiclyAccessible"] is False and instance["storageEncrypted"] is True
        assert instance["backupRetentionPeriod"] == 14  # RDS point-in-time restore covers the retention period
        assert instance["deletionProtection"] is True and instance["multiAz"] is True
        group = rec.one("aws:ec2/securityGroup:SecurityGroup", "platform-db").inputs
        assert group["ingress"] == [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432,
                                     "cidrBlocks": ["10.10.0.0/16"]}]
        params = rec.one("aws:rds/parameterGroup:ParameterGroup").inputs["parameters"]
        assert {"name": "rds.force_ssl", "value": "1"} in params
    else:
        settings = rec.one("gcp:sql/databaseInstance:DatabaseInstance").inputs["settings"]
        assert settings["ipConfiguration"]["ipv4Enabled"] is False
        assert settings["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
        backups = settings["backupConfiguration"]
        assert backups["enabled"] is True and backups["pointInTimeRecoveryEnabled"] is True
        assert backups["location"] == "europe-west1" and backups["backupRetentionSettings"]["retainedBackups"] == 14


def test_database_passwords_are_generated_kept_secret_and_only_in_the_secret_store(rec, partner):
    store_types = {"azure": "azure-native:keyvault:Secret", "aws": "aws:secretsmanager/secretVersion:SecretVersion",
                   "gcp": "gcp:secretmanager/secretVersion:SecretVersion"}
    store_type = store_types["gcp" if partner == "google-cloud" else partner]
    stored = json.dumps([r.inputs for r in rec.of(store_type)])
    assert SECRET_SIG in stored
    # The managed server's admin, the owner role and the runtime role (README: the three database identities).
    for name in ("platform-db-password", "platform-db-owner-password", "platform-db-runtime-password"):
        assert rec.one("random:index/randomPassword:RandomPassword", name).inputs["length"] >= 32
        assert f"fake-password-{name}" in stored
    manifests = json.dumps(rec.kubernetes_objects())
    assert "fake-password" not in manifests


def test_portal_secrets_come_from_the_cloud_secret_store(rec, partner):
    objs = objects(rec)
    store = objs[("ClusterSecretStore", "cloud-secret-store")]["spec"]
    provider = {"azure": "azurekv", "aws": "aws", "google-cloud": "gcpsm"}[partner]
    assert list(store["provider"]) == [provider]
    assert store["conditions"] == [{"namespaces": ["portal"]}]
    external = objs[("ExternalSecret", "portal-secrets")]["spec"]
    keys = set(external["target"]["template"]["data"])
    assert keys == {"GEREEDSCHAPSKIST_PORTAL_DATABASE_URL", "GEREEDSCHAPSKIST_PORTAL_SESSION_SECRET",
                    "GEREEDSCHAPSKIST_PORTAL_OIDC_CLIENT_SECRET", "GEREEDSCHAPSKIST_PORTAL_HUB_TOKENS"}
    url = external["target"]["template"]["data"]["GEREEDSCHAPSKIST_PORTAL_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://gereedschapskist_portal:{{ .runtime_password }}@")
    assert url.endswith("sslmode=require")
    assert {d["secretKey"] for d in external["data"]} == {"runtime_password", "session_secret", "oidc_client_secret",
                                                          "hub_tokens"}
    eso = rec.helm_releases()["external-secrets"]["values"]
    assert eso["serviceAccount"]["name"] == "external-secrets"
    if partner == "azure":
        assert eso["serviceAccount"]["annotations"] == {"azure.workload.identity/client-id":
                                                        "00000000-0000-0000-0000-0000000000c1"}
    if partner == "google-cloud":
        assert eso["serviceAccount"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    if partner == "aws":
        association = rec.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "platform-external-secrets")
        assert association.inputs["serviceAccount"] == "external-secrets"


def test_oidc_settings_and_tls_ingress(rec):
    objs = objects(rec)
    stack = platform_on("azure").platform
    settings = objs[("ConfigMap", "portal-settings")]["data"]
    assert settings["GEREEDSCHAPSKIST_PORTAL_OIDC_ISSUER"] == str(stack.oidc.issuer).rstrip("/")
    assert settings["GEREEDSCHAPSKIST_PORTAL_OIDC_CLIENT_ID"] == stack.oidc.client_id
    assert settings["GEREEDSCHAPSKIST_PORTAL_PUBLIC_URL"] == "https://portaal.gereedschapskist.nl"
    assert not any("SECRET" in key for key in settings)
    ingress = objs[("Ingress", "portal")]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    assert ingress["spec"]["tls"] == [{"hosts": ["portaal.gereedschapskist.nl"], "secretName": "portal-tls"}]
    issuer = objs[("ClusterIssuer", "letsencrypt")]["spec"]["acme"]
    assert issuer["email"] == "beheer@gereedschapskist.nl"
    assert issuer["server"].startswith("https://acme-v02.api.letsencrypt.org/")
    releases = rec.helm_releases()
    assert {"cert-manager", "traefik", "external-secrets"} <= set(releases)
    assert releases["cert-manager"]["values"]["crds"] == {"enabled": True}


def test_portal_pods_are_reachable_only_through_the_ingress(rec):
    policy = objects(rec)[("NetworkPolicy", "portal")]["spec"]
    assert policy["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress"}}}], "ports": [{"port": 8000, "protocol": "TCP"}]}]
    internet = next(r for r in policy["egress"] if r["to"][0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0")
    assert "169.254.169.254/32" in internet["to"][0]["ipBlock"]["except"]
    assert internet["ports"] == [{"port": 443, "protocol": "TCP"}]
    namespace = objects(rec)[("Namespace", "portal")]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_cluster_is_private_on_every_partner(rec, partner):
    if partner == "azure":
        assert rec.one("azure-native:containerservice:ManagedCluster").inputs["apiServerAccessProfile"][
            "enablePrivateCluster"] is True
    elif partner == "aws":
        assert rec.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]["endpointPublicAccess"] is False
    else:
        assert rec.one("gcp:container/cluster:Cluster").inputs["privateClusterConfig"]["enablePrivateEndpoint"] is True
