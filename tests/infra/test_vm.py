"""Certified VMs (supply model c, issue 16): one per cloud, recorded by Pulumi's mock engine (no cloud account and
no Pulumi CLI here, see infra_harness.py); the program, the plan and the catalogue are the real ones.

Each example stack is deployed (cloud stage only) with two VMs added to its ``gereedschapskist:cloud`` section.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from dataclasses import replace

import pytest

from gereedschapskist.infra import stages
from gereedschapskist.infra.config import CloudSpec, load_stack
from gereedschapskist.infra.errors import StackInvalid
from gereedschapskist.infra.partners import aws as aws_recipe, azure as azure_recipe, gcp as gcp_recipe
from gereedschapskist.infra.plan import plan_environment
from gereedschapskist.infra.vms import VM_CLOUD_INIT

from infra_harness import CONTRACT_STACKS, INFRA_DIR, deploy

CONTRACT_END = "2027-12-31"
VMS = [{"name": "analyse", "size": "general-4", "ends_on": "2027-06-30"},
       {"name": "etl", "size": "memory-16", "ends_on": CONTRACT_END, "disk_gib": 128}]
PARTNERS = ("aws", "azure", "google-cloud")


def with_vms(name: str, vms=VMS, **extra):
    stack = load_stack(name, INFRA_DIR)
    cloud = CloudSpec.model_validate({**stack.cloud.model_dump(exclude_unset=True), "contract_ends_on": CONTRACT_END,
                                      "vms": vms, **extra})
    return replace(stack, cloud=cloud)


@pytest.fixture(scope="module")
def recs(catalogue):
    return {p: deploy(with_vms(CONTRACT_STACKS[p]), catalogue, stages_to_run=(stages.CLOUD,)) for p in PARTNERS}


@pytest.fixture(scope="module")
def plans(catalogue):
    return {p: plan_environment(with_vms(CONTRACT_STACKS[p]), catalogue) for p in PARTNERS}


def machine_type(plans, partner: str, vm: str) -> str:
    return next(v.machine.machine_type for v in plans[partner].vms if v.name == vm)


# --- configuration ---------------------------------------------------------------------------------------------


def test_an_unknown_size_is_refused_naming_field_and_value(catalogue):
    stack = with_vms("cbs-ml-prod", vms=[{"name": "analyse", "size": "huge-512", "ends_on": "2027-01-01"}])
    with pytest.raises(StackInvalid) as exc:
        plan_environment(stack, catalogue)
    assert "config.gereedschapskist:cloud.vms[0].size = 'huge-512'" in str(exc.value)
    assert "general-4" in str(exc.value)  # the sizes the partner has


def test_an_end_after_the_contracts_end_is_refused(tmp_path):
    source = (INFRA_DIR / "Pulumi.cbs-ml-prod.yaml").read_text()
    extra = ("    contract_ends_on: 2027-12-31\n    vms:\n"
             "      - {name: analyse, size: general-4, ends_on: 2028-01-31}\n"
             "      - {name: analyse, size: general-4, ends_on: 2027-01-31}\n")
    text = source.replace("  gereedschapskist:cloud:\n", "  gereedschapskist:cloud:\n" + extra, 1)
    assert text != source
    (tmp_path / "Pulumi.cbs-ml-prod.yaml").write_text(text)
    with pytest.raises(StackInvalid) as exc:
        load_stack("cbs-ml-prod", tmp_path)
    message = str(exc.value)
    assert "config.gereedschapskist:cloud" in message
    assert "vms[0].ends_on = 2028-01-31: after the contract's end (contract_ends_on = 2027-12-31)" in message
    assert "vms[1].name = 'analyse': another VM has this name" in message


def test_a_vm_needs_the_contracts_end_and_a_valid_name():
    with pytest.raises(ValueError, match=r"vms\[0\].ends_on = 2027-01-01: contract_ends_on \(missing\)"):
        CloudSpec.model_validate({**load_stack("cbs-ml-prod", INFRA_DIR).cloud.model_dump(exclude_unset=True),
                                  "vms": [{"name": "a1", "size": "general-4", "ends_on": "2027-01-01"}]})
    with pytest.raises(ValueError, match=r"vms\.0\.name"):
        with_vms("cbs-ml-prod", vms=[{"name": "Bad_Name", "size": "general-4", "ends_on": "2027-01-01"}])


def test_no_vm_when_none_is_configured(deployments):
    for name in CONTRACT_STACKS.values():
        rec = deployments(name)
        assert not [r for r in rec.of("aws:ec2/instance:Instance") if "-vm-" in r.name]
        assert not [r for r in rec.of("azure-native:compute:VirtualMachine") if "-vm-" in r.name]
        assert not [r for r in rec.of("gcp:compute/instance:Instance") if "-vm-" in r.name]
        assert not rec.of("aws:scheduler/schedule:Schedule") and not rec.of("azure-native:logic:Workflow")
        assert not rec.of("gcp:compute/resourcePolicy:ResourcePolicy")
        assert not rec.of("aws:ec2/subnet:Subnet") or not [r for r in rec.of("aws:ec2/subnet:Subnet")
                                                          if r.name.endswith("-vms")]
        assert rec.outputs[name]["vms"] == {}


# --- AWS ------------------------------------------------------------------------------------------------------


def test_aws_vm(recs, plans):
    rec = recs["aws"]
    vms = {r.name: r.inputs for r in rec.of("aws:ec2/instance:Instance") if "-vm-" in r.name}
    assert set(vms) == {"cbs-ml-prod-vm-analyse", "cbs-ml-prod-vm-etl"}
    vm = vms["cbs-ml-prod-vm-analyse"]
    assert vm["instanceType"] == machine_type(plans, "aws", "analyse")
    assert vm["associatePublicIpAddress"] is False
    disk = vm["rootBlockDevice"]
    runner = rec.one("aws:ec2/instance:Instance", "cbs-ml-prod-runner").inputs
    assert disk["encrypted"] is True and disk["kmsKeyId"] == runner["rootBlockDevice"]["kmsKeyId"]
    assert disk["kmsKeyId"].endswith(":cbs-ml-prod-key")  # the environment's KMS key, not the AWS-managed default
    # the image: Canonical's Ubuntu 24.04 LTS SSM parameter, looked up once for the runner and the VMs
    lookups = [a for token, a in rec.calls if token == "aws:ssm/getParameter:getParameter"]
    assert [a["name"] for a in lookups] == [aws_recipe.UBUNTU_AMI_PARAMETER]
    assert vms["cbs-ml-prod-vm-etl"]["rootBlockDevice"]["volumeSize"] == 128
    assert vm["metadataOptions"]["httpTokens"] == "required"
    assert vm["userData"] == VM_CLOUD_INIT and "unattended-upgrades" in VM_CLOUD_INIT
    for key, value in plans["aws"].tags.cloud().items():
        assert vm["tags"][key] == value
    assert vm["tags"]["ends-on"] == "2027-06-30"
    # access: SSM Session Manager only (the instance profile's role), no inbound rule
    group = rec.one("aws:ec2/securityGroup:SecurityGroup", "cbs-ml-prod-vms").inputs
    assert group["ingress"] == []
    attached = [r.inputs["policyArn"] for r in rec.of("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if r.name.startswith("cbs-ml-prod-vms-")]
    assert attached == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    assert aws_recipe.UBUNTU_AMI_PARAMETER.startswith("/aws/service/canonical/ubuntu/server/24.04/")
    # the end: EventBridge Scheduler stops the instance daily from its end date on
    end = rec.one("aws:scheduler/schedule:Schedule", "cbs-ml-prod-vm-analyse-end").inputs
    assert end["startDate"].startswith("2027-06-30") and end["scheduleExpression"] == "cron(59 23 * * ? *)"
    assert end["scheduleExpressionTimezone"] == "Europe/Amsterdam"
    assert end["target"]["arn"] == "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"
    assert json.loads(end["target"]["input"]) == {"InstanceIds": ["cbs-ml-prod-vm-analyse-id"]}
    stop_policy = json.loads(rec.one("aws:iam/rolePolicy:RolePolicy", "cbs-ml-prod-vms-stop").inputs["policy"])
    assert stop_policy["Statement"][0]["Action"] == ["ec2:StopInstances"]
    assert stop_policy["Statement"][0]["Condition"]["StringEquals"]["aws:ResourceTag/environment"] == "cbs-ml-prod"


# --- Azure ----------------------------------------------------------------------------------------------------


def test_azure_vm(recs, plans):
    rec = recs["azure"]
    vm = rec.one("azure-native:compute:VirtualMachine", "minfin-bi-dev-vm-analyse").inputs
    assert vm["hardwareProfile"]["vmSize"] == machine_type(plans, "azure", "analyse")
    assert vm["storageProfile"]["imageReference"] == {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                      "sku": "server", "version": "latest"}
    runner = rec.one("azure-native:compute:VirtualMachine", "minfin-bi-dev-runner").inputs
    assert runner["storageProfile"]["imageReference"] == vm["storageProfile"]["imageReference"]
    disk = vm["storageProfile"]["osDisk"]["managedDisk"]
    runner_disk = runner["storageProfile"]["osDisk"]["managedDisk"]
    assert disk["diskEncryptionSet"]["id"] == runner_disk["diskEncryptionSet"]["id"]  # the environment's key
    assert vm["securityProfile"]["encryptionAtHost"] is True
    assert base64.b64decode(vm["osProfile"]["customData"]).decode() == VM_CLOUD_INIT
    assert vm["osProfile"]["linuxConfiguration"]["patchSettings"]["patchMode"] == "AutomaticByPlatform"
    for key, value in plans["azure"].tags.cloud().items():
        assert vm["tags"][key] == value
    # no public address: the NIC has only a private configuration, and the subnet denies inbound from the internet
    nic = rec.one("azure-native:network:NetworkInterface", "minfin-bi-dev-vm-analyse").inputs
    assert all("publicIPAddress" not in c for c in nic["ipConfigurations"])
    group = rec.one("azure-native:network:NetworkSecurityGroup", "minfin-bi-dev-vms").inputs
    rule = group["securityRules"][0]
    assert rule["access"] == "Deny" and rule["sourceAddressPrefix"] == "Internet" and rule["direction"] == "Inbound"
    # the end: a Logic App deallocates the VM daily from its end date on, with a role on that VM only
    flow = rec.one("azure-native:logic:Workflow", "minfin-bi-dev-vm-analyse-end").inputs
    trigger = flow["definition"]["triggers"]["end"]["recurrence"]
    assert trigger["startTime"] == "2027-06-30T23:59:00" and trigger["frequency"] == "Day"
    assert trigger["timeZone"] == "W. Europe Standard Time"
    action = flow["definition"]["actions"]["deallocate"]["inputs"]
    assert action["uri"].endswith("/deallocate?api-version=2024-07-01") and action["method"] == "POST"
    role = rec.one("azure-native:authorization:RoleAssignment", "minfin-bi-dev-vm-analyse-end").inputs
    assert role["roleDefinitionId"].endswith(azure_recipe.VIRTUAL_MACHINE_CONTRIBUTOR)


def test_azure_vm_subnet_overlaps_no_other_subnet(recs):
    """The runner takes the second-to-last /24 and the database the last; the VMs get their own."""
    subnets = {r.inputs["subnetName"]: ipaddress.IPv4Network(r.inputs["addressPrefix"])
               for r in recs["azure"].of("azure-native:network:Subnet")}
    assert {"nodes", "runner", "vms"} <= set(subnets)
    # the database's subnet exists on the platform stack only; its /24 (the last) is reserved here too
    subnets.setdefault("postgres", list(ipaddress.IPv4Network("10.20.0.0/16").subnets(new_prefix=24))[-1])
    assert str(subnets["vms"]) == "10.20.253.0/24"
    for a in subnets:
        for b in subnets:
            assert a == b or not subnets[a].overlaps(subnets[b]), (a, b)
    vms = recs["azure"].one("azure-native:network:Subnet", "minfin-bi-dev-vms").inputs
    runner = recs["azure"].one("azure-native:network:Subnet", "minfin-bi-dev-runner").inputs
    assert vms["natGateway"] == runner["natGateway"] and vms["defaultOutboundAccess"] is False


# --- Google Cloud ---------------------------------------------------------------------------------------------


def test_gcp_vm(recs, plans):
    rec = recs["google-cloud"]
    vm = rec.one("gcp:compute/instance:Instance", "rws-streaming-prod-vm-analyse").inputs
    runner = rec.one("gcp:compute/instance:Instance", "rws-streaming-prod-runner").inputs
    assert vm["machineType"] == machine_type(plans, "google-cloud", "analyse")
    image = vm["bootDisk"]["initializeParams"]["image"]
    assert image == gcp_recipe.UBUNTU_IMAGE == "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
    assert runner["bootDisk"]["initializeParams"]["image"] == gcp_recipe.UBUNTU_IMAGE
    assert vm["bootDisk"]["kmsKeySelfLink"] == runner["bootDisk"]["kmsKeySelfLink"] == "rws-streaming-prod-data-id"
    assert all(not i.get("accessConfigs") for i in vm["networkInterfaces"])  # no public address
    assert vm["shieldedInstanceConfig"]["enableSecureBoot"] is True
    assert vm["metadata"]["enable-oslogin"] == "TRUE" and vm["metadata"]["user-data"] == VM_CLOUD_INIT
    for key, value in plans["google-cloud"].tags.gcp().items():
        assert vm["labels"][key] == value
    assert vm["labels"]["ends_on"] == "2027-06-30"
    # access: SSH only from IAP's TCP forwarding range, to the VMs' service account
    wall = rec.one("gcp:compute/firewall:Firewall", "rws-streaming-prod-vms-iap").inputs
    assert wall["sourceRanges"] == ["35.235.240.0/20"] and wall["direction"] == "INGRESS"
    assert wall["allows"] == [{"protocol": "tcp", "ports": ["22"]}]
    # the end: an instance schedule stops it daily from its end date on
    policy = rec.one("gcp:compute/resourcePolicy:ResourcePolicy", "rws-streaming-prod-vm-analyse-end").inputs
    schedule = policy["instanceSchedulePolicy"]
    assert schedule["vmStopSchedule"]["schedule"] == "59 23 * * *" and schedule["timeZone"] == "Europe/Amsterdam"
    assert schedule["startTime"].startswith("2027-06-30")
    assert vm["resourcePolicies"] == "https://www.googleapis.com/fake/rws-streaming-prod-vm-analyse-end"
    grant = rec.one("gcp:projects/iAMMember:IAMMember", "rws-streaming-prod-vms-scheduler").inputs
    assert grant["role"] == "roles/compute.instanceAdmin.v1" and "compute-system" in grant["member"]


@pytest.mark.parametrize("partner", PARTNERS)
def test_vm_subnets_overlap_nothing(recs, partner):
    """Every address range the cloud stage claims (subnets, peering ranges) is disjoint from the VMs'."""
    rec = recs[partner]
    ranges = []
    for typ, key in (("aws:ec2/subnet:Subnet", "cidrBlock"), ("azure-native:network:Subnet", "addressPrefix"),
                     ("gcp:compute/subnetwork:Subnetwork", "ipCidrRange")):
        ranges += [(r.name, ipaddress.IPv4Network(r.inputs[key])) for r in rec.of(typ)]
    ranges += [(r.name, ipaddress.IPv4Network(f"{r.inputs['address']}/{r.inputs['prefixLength']}"))
               for r in rec.of("gcp:compute/globalAddress:GlobalAddress")]
    for r in rec.of("gcp:compute/subnetwork:Subnetwork"):
        ranges += [(s["rangeName"], ipaddress.IPv4Network(s["ipCidrRange"]))
                   for s in r.inputs.get("secondaryIpRanges", [])]
    if partner == "google-cloud":  # the control plane's range, and the last /20 reserved for private service access
        ranges += [("control-plane", ipaddress.IPv4Network(gcp_recipe.CONTROL_PLANE_RANGE)),
                   ("services", list(ipaddress.IPv4Network("10.40.0.0/16").subnets(new_prefix=20))[-1])]
    vms = [net for name, net in ranges if name.endswith("-vms")]
    assert len(vms) == 1
    others = [(name, net) for name, net in ranges if not name.endswith("-vms")]
    assert len(others) >= 2
    assert not [name for name, net in others if net.overlaps(vms[0])]


def test_vms_are_exported_with_access_and_end(recs):
    for partner, rec in recs.items():
        exported = rec.outputs[CONTRACT_STACKS[partner]]["vms"]
        assert set(exported) == {"analyse", "etl"}
        assert "2027-06-30" in exported["analyse"]["stops"]
        assert exported["analyse"]["access"]


def test_the_platform_stack_takes_no_vms(tmp_path):
    source = (INFRA_DIR / "Pulumi.platform.yaml").read_text()
    text = source.replace("  gereedschapskist:cloud:\n", "  gereedschapskist:cloud:\n    vms: []\n", 1)
    (tmp_path / "Pulumi.platform.yaml").write_text(text)
    with pytest.raises(StackInvalid, match=r"cloud.vms: belongs to contract environments"):
        load_stack("platform", tmp_path)


@pytest.mark.parametrize("partner", PARTNERS)
def test_every_taggable_vm_resource_carries_the_environments_tags(recs, plans, partner):
    """The rule of test_tags.py (which types take tags is read from the SDKs) over the resources the VMs add."""
    from test_tags import PACKAGES, tag_argument

    rec, tags = recs[partner], plans[partner].tags
    want = {"organisation": tags.organisation, "contract": tags.contract, "cost-centre": tags.cost_centre}
    added = [r for r in rec.resources if r.custom and r.typ.split(":")[0] in PACKAGES
             and ("-vm-" in r.name or r.name.endswith("-vms") or "-vms-" in r.name)]
    assert len(added) >= 5
    checked = 0
    for r in added:
        if not r.typ.startswith("random:"):  # the region-pinned cloud provider, as test_tags.py checks
            assert r.provider and "$pulumi:providers:" in r.provider, f"{r.typ} {r.name} uses {r.provider}"
        argument = tag_argument(r.typ)
        if argument is None:
            continue
        got = r.inputs.get(argument) or {}
        if partner == "google-cloud":
            got = {k.replace("_", "-"): v for k, v in got.items()}
        assert {k: got.get(k) for k in want} == want, f"{r.typ} {r.name}: {got}"
        checked += 1
    assert checked >= 1


def test_vms_wait_for_their_keys_and_stop_grants(recs):
    """A disk is only encrypted with a key its service may use: the VM waits for that grant (dependency edges as the
    SDK sends them to the engine), and each stop waits for the VM and for the identity allowed to stop it."""
    azure = recs["azure"]
    vm = azure.one("azure-native:compute:VirtualMachine", "minfin-bi-dev-vm-analyse")
    assert azure.waits(vm, azure.one("azure-native:authorization:RoleAssignment", "minfin-bi-dev-disks-key"))
    role = azure.one("azure-native:authorization:RoleAssignment", "minfin-bi-dev-vm-analyse-end")
    assert azure.waits(role, vm) and azure.waits(role, azure.one("azure-native:logic:Workflow",
                                                                  "minfin-bi-dev-vm-analyse-end"))
    google = recs["google-cloud"]
    instance = google.one("gcp:compute/instance:Instance", "rws-streaming-prod-vm-analyse")
    assert google.waits(instance, google.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
                                             "rws-streaming-prod-key-compute-system"))
    policy = google.one("gcp:compute/resourcePolicy:ResourcePolicy", "rws-streaming-prod-vm-analyse-end")
    assert google.waits(policy, google.one("gcp:projects/iAMMember:IAMMember", "rws-streaming-prod-vms-scheduler"))
    assert google.waits(instance, policy)
    aws = recs["aws"]
    schedule = aws.one("aws:scheduler/schedule:Schedule", "cbs-ml-prod-vm-analyse-end")
    assert aws.waits(schedule, aws.one("aws:ec2/instance:Instance", "cbs-ml-prod-vm-analyse"))
    assert aws.waits(schedule, aws.one("aws:iam/role:Role", "cbs-ml-prod-vms-stop"))
