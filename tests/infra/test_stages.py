"""Issue 16: the first `pulumi up` — two stages, unattended cluster login, secrets from the stack's configuration,
the portal's hub token on both sides, Google APIs, EKS add-ons, hub placement and egress by domain.

Recorded by Pulumi's mock engine (no cloud, no cluster and no Pulumi CLI here, see infra_harness.py), running both
stages as the CLI would: the cloud stack, then the cluster stack reading its exports through a StackReference.
Dependency edges are in test_dependencies.py. What only a real cloud can show is listed in infra/README.md
("Verified only in a real deploy").
"""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml

from gereedschapskist.core.placement import CORE_POOL, POOL_LABEL
from gereedschapskist.infra import egress, stages
from gereedschapskist.infra.config import load_stack
from gereedschapskist.infra.errors import StackInvalid
from gereedschapskist.infra.partners.azure import AKS_RBAC_CLUSTER_ADMIN, AKS_SERVER_ID, NETWORK_CONTRIBUTOR
from gereedschapskist.infra.partners.gcp import REQUIRED_APIS
from gereedschapskist.infra.platform import HUB_TOKENS_SECRET
from gereedschapskist.infra.services import SECRET_STORE
from gereedschapskist.infra.workbench import HUB_OIDC_SECRET, HUB_PORTAL_TOKEN
from gereedschapskist.portal.settings import load_settings

from infra_harness import (
    ALL_DEPLOYMENTS, CONTRACT_STACKS, INFRA_DIR, Recorder, deploy, platform_on, portal_token, reveal, secrets_config,
)

CLOUD_PREFIXES = ("azure-native:", "aws:", "gcp:", "random:")


def stored(rec: Recorder) -> dict[str, str]:
    """What the cloud stage wrote into the secret store: remote key -> value."""
    values: dict[str, str] = {}
    for r in rec.of("azure-native:keyvault:Secret"):
        values[r.inputs["secretName"]] = reveal(r.inputs["properties"])["value"]
    for secret_type, version_type, key_field, name_field, value_field in (
            ("aws:secretsmanager/secret:Secret", "aws:secretsmanager/secretVersion:SecretVersion", "secretId",
             "name", "secretString"),
            ("gcp:secretmanager/secret:Secret", "gcp:secretmanager/secretVersion:SecretVersion", "secret",
             "secretId", "secretData")):
        names = {f"{r.name}-id": r.inputs[name_field] for r in rec.of(secret_type)}
        for version in rec.of(version_type):
            values[names[version.inputs[key_field]]] = reveal(version.inputs[value_field])
    return values


def external_secrets(rec: Recorder) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rec.kubernetes_objects() if o["kind"] == "ExternalSecret"}


# Item 1: two stages, and a runner inside the network ------------------------------------------------------------

@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_the_cloud_stage_creates_no_kubernetes_object_and_the_cluster_stage_no_cloud_resource(deployments, key):
    rec = deployments(key)
    cloud = [r for r in rec.resources if r.stage == stages.CLOUD]
    cluster = [r for r in rec.resources if r.stage == stages.CLUSTER]
    assert cloud and cluster
    assert [r.typ for r in cloud if r.typ.startswith(("kubernetes:", "pulumi:providers:kubernetes"))] == []
    assert [r.typ for r in cluster if r.typ.startswith(CLOUD_PREFIXES)
            or (r.typ.startswith("pulumi:providers:") and not r.typ.endswith(":kubernetes"))] == []
    reference = rec.one("pulumi:pulumi:StackReference")
    base = key.split(":")[0]
    assert reference.stage == stages.CLUSTER and reference.inputs["name"].endswith(f"/gereedschapskist/{base}")
    exported = rec.outputs[base]
    assert {"kubeconfig", "secret_store", "runner", "services"} <= set(exported)


def runner_of(rec: Recorder, partner: str):
    types = {"azure": "azure-native:compute:VirtualMachine", "aws": "aws:ec2/instance:Instance",
             "google-cloud": "gcp:compute/instance:Instance"}
    return rec.one(types[partner])


@pytest.mark.parametrize("partner,key", [*CONTRACT_STACKS.items(), *(("azure", "platform:azure"),
                                                                        ("aws", "platform:aws"),
                                                                        ("google-cloud", "platform:google-cloud"))])
def test_a_runner_without_public_address_inside_the_network_may_administer_the_cluster(deployments, partner, key):
    rec = deployments(key)
    vm = runner_of(rec, partner)
    assert vm.stage == stages.CLOUD
    if partner == "azure":
        nic = rec.one("azure-native:network:NetworkInterface").inputs
        assert all("publicIPAddress" not in c for c in nic["ipConfigurations"])
        identity = rec.one("azure-native:managedidentity:UserAssignedIdentity", f"{key.split(':')[0]}-runner")
        assert vm.inputs["identity"]["userAssignedIdentities"] == [f"{identity.name}-id"]
        aks = rec.one("azure-native:containerservice:ManagedCluster")
        admins = [r.inputs for r in rec.of("azure-native:authorization:RoleAssignment")
                  if r.inputs["roleDefinitionId"].endswith(AKS_RBAC_CLUSTER_ADMIN)]
        assert {a["scope"] for a in admins} == {f"{aks.name}-id"}
        assert "00000000-0000-0000-0000-0000000000p1" in {a["principalId"] for a in admins}  # the runner's identity
        assert "o" in {a["principalId"] for a in admins}  # the identity that deploys (client config objectId)
    elif partner == "aws":
        assert vm.inputs["associatePublicIpAddress"] is False
        private = {f"{r.name}-id" for r in rec.of("aws:ec2/subnet:Subnet") if "private" in r.name}
        assert vm.inputs["subnetId"] in private
        association = rec.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation").inputs
        assert association["policyArn"].endswith("AmazonEKSClusterAdminPolicy")
        assert association["principalArn"].endswith(f"{key.split(':')[0]}-runner")
        # the private endpoint admits the runner on 443 (EKS had no such rule)
        eks = rec.one("aws:eks/cluster:Cluster").inputs
        api = rec.one("aws:ec2/securityGroup:SecurityGroup", f"{key.split(':')[0]}-api")
        assert eks["vpcConfig"]["securityGroupIds"] == [f"{api.name}-id"]
        assert api.inputs["ingress"][0]["securityGroups"] == vm.inputs["vpcSecurityGroupIds"]
        assert api.inputs["ingress"][0]["fromPort"] == 443 == api.inputs["ingress"][0]["toPort"]
    else:
        assert all("accessConfigs" not in n for n in vm.inputs["networkInterfaces"])
        subnet = rec.one("gcp:compute/subnetwork:Subnetwork")
        assert vm.inputs["networkInterfaces"][0]["subnetwork"] == f"{subnet.name}-id"
        authorised = rec.one("gcp:container/cluster:Cluster").inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]
        assert any(ipaddress.ip_network(subnet.inputs["ipCidrRange"]).subnet_of(ipaddress.ip_network(b["cidrBlock"]))
                   for b in authorised)
        admins = [r.inputs for r in rec.of("gcp:projects/iAMMember:IAMMember") if r.inputs["role"] ==
                  "roles/container.admin"]
        assert [a["member"] for a in admins] == [f"serviceAccount:{vm.inputs['serviceAccount']['email']}"]
        firewall = rec.one("gcp:compute/firewall:Firewall").inputs
        assert firewall["sourceRanges"] == ["35.235.240.0/20"]  # only Google's IAP reaches it


# Item 2: AKS login without a person -----------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["minfin-bi-dev", "platform:azure"])
def test_aks_kubeconfig_logs_in_unattended_as_the_runner(deployments, key):
    rec = deployments(key)
    kubeconfig = yaml.safe_load(rec.outputs[key.split(":")[0]]["kubeconfig"])
    for user in kubeconfig["users"]:
        args = user["user"]["exec"]["args"]
        assert "devicecode" not in args and "interactive" not in args
        assert args[args.index("--login") + 1] == "msi"
        assert args[args.index("--client-id") + 1] == "00000000-0000-0000-0000-0000000000c1"  # the runner's
        assert args[args.index("--server-id") + 1] == AKS_SERVER_ID
        assert user["user"]["exec"]["interactiveMode"] == "Never"


@pytest.mark.parametrize("key", ["minfin-bi-dev", "platform:azure"])
def test_aks_identity_may_join_the_nodes_subnet(deployments, key):
    rec = deployments(key)
    subnet = rec.one("azure-native:network:Subnet", f"{key.split(':')[0]}-nodes")
    control = rec.one("azure-native:managedidentity:UserAssignedIdentity", f"{key.split(':')[0]}-aks")
    aks = rec.one("azure-native:containerservice:ManagedCluster").inputs
    assert aks["identity"]["userAssignedIdentities"] == [f"{control.name}-id"]
    grants = [r.inputs for r in rec.of("azure-native:authorization:RoleAssignment")
              if r.inputs["roleDefinitionId"].endswith(NETWORK_CONTRIBUTOR)]
    assert [(g["scope"], g["principalId"]) for g in grants] == [(f"{subnet.name}-id",
                                                                "00000000-0000-0000-0000-0000000000p1")]


# Item 3: secrets from `pulumi config set --secret`, written before anything reads them ---------------------------

@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_every_secret_the_cluster_reads_was_written_by_the_cloud_stage(deployments, key):
    rec = deployments(key)
    values = stored(rec)
    read = {d["remoteRef"]["key"] for o in external_secrets(rec).values() for d in o["spec"]["data"]
            if o["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": SECRET_STORE}}  # the cloud's
    assert read and read <= set(values), f"read but never written: {sorted(read - set(values))}"
    assert all(values[k] for k in read)


@pytest.mark.parametrize("key", CONTRACT_STACKS.values())
def test_the_hub_oidc_secret_is_the_stack_configs_value(deployments, key):
    values = {k.rsplit("/", 1)[-1].removeprefix(f"{key}-"): v for k, v in stored(deployments(key)).items()}
    assert values[HUB_OIDC_SECRET] == f"oidc-secret-of-{key}"  # secrets_config()


def test_a_missing_secret_is_refused_before_anything_is_created(catalogue):
    stack = load_stack("minfin-bi-dev", INFRA_DIR)
    config = secrets_config(stack)
    del config[f"gereedschapskist:{stages.HUB_OIDC_CLIENT_SECRET}"]
    recorder = Recorder()
    with pytest.raises(StackInvalid) as err:
        deploy(stack, catalogue, recorder, config=config)
    assert recorder.resources == []
    assert "pulumi config set --secret gereedschapskist:hub_oidc_client_secret" in err.value.message


def test_a_short_portal_token_is_refused(catalogue):
    stack = load_stack("minfin-bi-dev", INFRA_DIR)
    config = {**secrets_config(stack), f"gereedschapskist:{stages.PORTAL_HUB_TOKEN}": "short"}
    with pytest.raises(StackInvalid, match="at least 32 characters"):
        deploy(stack, catalogue, Recorder(), config=config)


def test_a_secret_in_plain_text_in_the_stack_file_is_refused(tmp_path):
    text = (INFRA_DIR / "Pulumi.minfin-bi-dev.yaml").read_text(encoding="utf-8")
    text = text.replace("config:\n", "config:\n  gereedschapskist:hub_oidc_client_secret: plain-text\n", 1)
    (tmp_path / "Pulumi.minfin-bi-dev.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(StackInvalid, match="pulumi config set --secret gereedschapskist:hub_oidc_client_secret"):
        load_stack("minfin-bi-dev", tmp_path)
    encrypted = text.replace("hub_oidc_client_secret: plain-text", "hub_oidc_client_secret: {secure: AAABAJ==}")
    (tmp_path / "Pulumi.minfin-bi-dev.yaml").write_text(encrypted, encoding="utf-8")
    assert load_stack("minfin-bi-dev", tmp_path).name == "minfin-bi-dev"


# Item 8: one token per environment, from the stack config to both sides ------------------------------------------

@pytest.mark.parametrize("key", CONTRACT_STACKS.values())
def test_the_portal_token_reaches_the_hub_service_and_the_platforms_portal(deployments, key, monkeypatch):
    token = portal_token(key)
    contract = deployments(key)
    hub = next(r for r in contract.of("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "jupyterhub")
    assert reveal(hub.inputs)["values"]["hub"]["services"]["portal"]["apiToken"] == token
    assert any(path.startswith("values") for path in hub.secrets)  # encrypted in the state, never in plain text
    contract_store = {k.rsplit("/", 1)[-1].removeprefix(f"{key}-"): v for k, v in stored(contract).items()}
    assert contract_store[HUB_PORTAL_TOKEN] == token
    for partner in ("azure", "aws", "google-cloud"):
        platform = deployments(f"platform:{partner}")
        platform_store = {k.rsplit("/", 1)[-1].removeprefix("platform-"): v for k, v in stored(platform).items()}
        assert json.loads(platform_store[HUB_TOKENS_SECRET])[key] == token
        portal = external_secrets(platform)["portal-secrets"]["spec"]
        variable = portal["target"]["template"]["data"]["GEREEDSCHAPSKIST_PORTAL_HUB_TOKENS"]
        (remote,) = [d["remoteRef"]["key"] for d in portal["data"] if variable == "{{ ." + d["secretKey"] + " }}"]
        # What the External Secrets Operator puts into the portal's environment, read by the portal's own settings.
        monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_HUB_TOKENS", stored(platform)[remote])
        assert load_settings().hub_token(key) == token


def test_a_platform_without_tokens_deploys_and_its_portal_drives_no_hub(catalogue):
    stack = platform_on("azure")
    config = {k: v for k, v in secrets_config(stack).items() if not k.endswith(stages.HUB_TOKENS)}
    rec = deploy(stack, catalogue, Recorder(), config=config, stages_to_run=(stages.CLOUD,))
    assert json.loads(stored(rec)[HUB_TOKENS_SECRET]) == {}


# Item 9: Google APIs on a fresh project ----------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["rws-streaming-prod", "platform:google-cloud"])
def test_the_required_google_apis_are_enabled(deployments, key):
    services = {r.inputs["service"]: r.inputs for r in deployments(key).of("gcp:projects/service:Service")}
    assert set(services) == set(REQUIRED_APIS)
    assert {"container.googleapis.com", "compute.googleapis.com", "cloudkms.googleapis.com",
            "secretmanager.googleapis.com", "servicenetworking.googleapis.com", "iam.googleapis.com"} <= set(services)
    assert all(s["disableOnDestroy"] is False for s in services.values())


# Item 12 ------------------------------------------------------------------------------------------------------------

def test_vpc_cni_overwrites_the_preinstalled_configuration(deployments):
    for key in ("cbs-ml-prod", "platform:aws"):
        addon = deployments(key).one("aws:eks/addon:Addon", f"{key.split(':')[0]}-vpc-cni").inputs
        assert addon["resolveConflictsOnCreate"] == "OVERWRITE"


@pytest.mark.parametrize("key", CONTRACT_STACKS.values())
def test_hub_and_proxy_run_on_the_core_pool(deployments, key):
    values = deployments(key).helm_releases()["jupyterhub"]["values"]
    assert values["hub"]["nodeSelector"] == {POOL_LABEL: CORE_POOL}
    assert values["proxy"]["chp"]["nodeSelector"] == {POOL_LABEL: CORE_POOL}


def test_production_egress_names_domains_through_the_proxy_not_a_cdn_range(deployments):
    rec = deployments("cbs-ml-prod")
    stack = load_stack("cbs-ml-prod", INFRA_DIR)
    assert stack.cloud.egress_domains == ("files.pythonhosted.org", "pypi.org")
    assert all(ipaddress.ip_network(r.cidr).prefixlen >= 16 and not r.cidr.startswith("151.101.")
               for r in stack.cloud.egress_allow_list)
    objects = {(o["kind"], o["metadata"]["name"]): o for o in rec.kubernetes_objects()}
    conf = objects[("ConfigMap", egress.PROXY_NAME)]["data"]["squid.conf"]
    # the stack's domains, and the shared bucket's endpoints that the workspaces' identity uses (item 11)
    allowed = next(line for line in conf.splitlines() if line.startswith("acl allowed_domains dstdomain ")).split()[3:]
    bucket = rec.one("aws:s3/bucket:Bucket").inputs["bucket"]
    assert sorted(allowed) == sorted(["files.pythonhosted.org", "pypi.org", f"{bucket}.s3.eu-central-1.amazonaws.com",
                                      "s3.eu-central-1.amazonaws.com"])
    assert conf.index("http_access allow allowed_domains") < conf.index("http_access deny all")
    assert "http_access deny !CONNECT" in conf and "http_access deny private_networks" in conf
    workspaces = objects[("NetworkPolicy", "workspaces-egress")]["spec"]["egress"]
    assert egress.workspace_rule() in workspaces
    cidrs = {b["ipBlock"]["cidr"] for rule in workspaces for b in rule["to"] if "ipBlock" in b}
    assert "0.0.0.0/0" not in cidrs and not any(c.startswith("151.101.") for c in cidrs)
    proxy_out = objects[("NetworkPolicy", egress.PROXY_NAME)]["spec"]["egress"]
    assert [p["port"] for rule in proxy_out for p in rule["ports"] if "ipBlock" in rule["to"][0]] == [443]
    env = rec.helm_releases()["jupyterhub"]["values"]["singleuser"]["extraEnv"]
    assert env["HTTPS_PROXY"] == env["https_proxy"] == egress.PROXY_URL
    deployment = objects[("Deployment", egress.PROXY_NAME)]["spec"]["template"]["spec"]
    assert deployment["nodeSelector"] == {POOL_LABEL: CORE_POOL}


def test_development_gets_no_proxy_and_production_without_domains_only_the_shared_buckets(deployments):
    rec = deployments("minfin-bi-dev")
    assert egress.PROXY_NAME not in {o["metadata"]["name"] for o in rec.kubernetes_objects()}
    assert "extraEnv" not in rec.helm_releases()["jupyterhub"]["values"]["singleuser"]
    # production without egress_domains: the proxy allows only the shared bucket's endpoint (item 11)
    rec = deployments("rws-streaming-prod")
    config = next(o for o in rec.kubernetes_objects() if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"] == egress.PROXY_NAME)
    assert config["data"]["domains"].split() == ["storage.googleapis.com"]


def test_bad_egress_domain_is_refused_naming_it(stack_file):
    stack = stack_file("cbs-ml-prod")
    with pytest.raises(ValueError, match="pypi org"):
        stack.cloud.model_validate({**stack.cloud.model_dump(mode="json"), "egress_domains": ["pypi org"]})


def test_hub_tokens_must_be_an_object_of_long_tokens_naming_the_environment(catalogue):
    stack = platform_on("azure")
    base = secrets_config(stack)
    key = f"gereedschapskist:{stages.HUB_TOKENS}"
    for bad, expected in (('["a"]', "an object of environment name -> token"),
                          ('{"cbs-ml-prod": "short"}', "hub_tokens.cbs-ml-prod: at least 32 characters")):
        recorder = Recorder()
        with pytest.raises(StackInvalid, match=expected):
            deploy(stack, catalogue, recorder, config={**base, key: bad}, stages_to_run=(stages.CLOUD,))
        assert recorder.resources == []


def test_the_cluster_stage_cannot_write_or_read_what_the_cloud_stage_did_not_store():
    import pulumi

    from gereedschapskist.infra.partners import ReferencedStore

    store = ReferencedStore(pulumi.Output.from_input({"remote_keys": {}}), keys=("hub-oidc-client-secret",))
    with pytest.raises(StackInvalid, match="'hub-crypt-key' is not in the cloud stage's secret store"):
        store.remote_key("hub-crypt-key")
    with pytest.raises(RuntimeError, match="cannot write"):
        store.put("hub-oidc-client-secret", "x")


@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_the_cluster_stage_says_which_dns_record_certificates_need(deployments, key):
    """Nothing here owns the DNS zone: the cluster stage exports the record cert-manager's HTTP-01 challenge needs
    (the host -> the ingress's load balancer), the README says to create it (item 12)."""
    rec = deployments(key)
    base = key.split(":")[0]
    record = rec.outputs[f"{base}{stages.CLUSTER_SUFFIX}"]["dns_record"]
    url = rec.outputs[f"{base}{stages.CLUSTER_SUFFIX}"].get("public_url") or \
        rec.outputs[f"{base}{stages.CLUSTER_SUFFIX}"]["portal_url"]
    assert record == {"name": url.split("/")[2], "type": "A", "target": "20.61.0.10"}
    assert all(o.get("kind") for o in rec.kubernetes_objects())  # the read Service is not an object we create

