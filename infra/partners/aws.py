"""Amazon Web Services: EKS with managed node groups, S3, RDS for PostgreSQL, Secrets Manager, KMS."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from typing import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gereedschapskist.core.placement import CORE_POOL, POOL_LABEL
from gereedschapskist.core.registry import UPSTREAM_URLS, UPSTREAMS

from .. import versions
from ..config import DatabaseSpec
from ..pools import NodePool
from ..vms import STOP_TIMEZONE, VM_CLOUD_INIT, Vm, VmPlan
from . import (
    ESO_NAMESPACE, ESO_SERVICE_ACCOUNT, WORKSPACE_SERVICE_ACCOUNT, Cluster, Database, Recipe, Runner, SecretStore,
    StorageClass, WorkspaceIdentity,
)

ZONES = ("a", "b", "c")
#: Workspace node groups live in this one zone (issue 16, item 7): home volumes are EBS volumes, which exist in one
#: zone, and a group that spans three zones and scales from zero can bring a user's next node up in another zone
#: ("volume node affinity conflict"). The core pool keeps all three zones.
WORKSPACE_ZONE = ZONES[0]
AUTOSCALER_CHART = ("cluster-autoscaler", "https://kubernetes.github.io/autoscaler", "9.50.1")
_MANAGED = "arn:aws:iam::aws:policy/"
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
RUNNER_INSTANCE_TYPE = "t3.medium"
# Ubuntu 24.04 LTS: Canonical's public SSM parameter names the current image in every region.
RUNNER_AMI_PARAMETER = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
UBUNTU_AMI_PARAMETER = RUNNER_AMI_PARAMETER  # the runner's and the VMs' image (vms.py)
#: VMs get a /24 of their own: the first of the /19 after the public subnets' (see network()).
VM_BLOCK_INDEX = len(ZONES) + 1
RUNNER_USER_DATA = """#cloud-config
package_update: true
packages: [unattended-upgrades, ca-certificates, curl, git, unzip, python3-venv]
runcmd:
  - snap install amazon-ssm-agent --classic || true
  - curl -fsSL https://awscli.amazonaws.com/awscli-exe-linux-x86_64.zip -o /tmp/awscli.zip && unzip -q /tmp/awscli.zip -d /tmp && /tmp/aws/install
  - curl -fsSL https://get.pulumi.com | sh -s -- --install-root /usr/local
"""


def _assume(service: str, *actions: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions or ("sts:AssumeRole",))}]})


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


class AwsSecretStore(SecretStore):
    def __init__(self, recipe: "AwsRecipe"):
        self.recipe = recipe
        self.prefix = f"gereedschapskist/{recipe.name}/"
        arn_prefix = f"arn:aws:secretsmanager:{recipe.region.id}:{recipe.cloud.account}:secret:{self.prefix}*"
        role = aws.iam.Role(recipe.resource_name("external-secrets"), tags=recipe.tags.cloud(), opts=recipe.opts(),
                            assume_role_policy=_assume("pods.eks.amazonaws.com", "sts:AssumeRole", "sts:TagSession"))
        aws.iam.RolePolicy(recipe.resource_name("external-secrets-read"), role=role.id, opts=recipe.opts(),
                           policy=recipe.key.arn.apply(lambda key: _policy(
                               {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue",
                                                              "secretsmanager:DescribeSecret"],
                                "Resource": arn_prefix},
                               {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key})))
        aws.eks.PodIdentityAssociation(recipe.resource_name("external-secrets"), cluster_name=recipe.eks.name,
                                       namespace=ESO_NAMESPACE, service_account=ESO_SERVICE_ACCOUNT,
                                       role_arn=role.arn, tags=recipe.tags.cloud(), opts=recipe.opts())

    def _secret(self, key: str) -> aws.secretsmanager.Secret:
        return aws.secretsmanager.Secret(self.recipe.resource_name(f"secret-{key}"), name=self.prefix + key,
                                         kms_key_id=self.recipe.key.arn, recovery_window_in_days=30,
                                         tags=self.recipe.tags.cloud(), opts=self.recipe.opts())

    def put(self, key: str, value: pulumi.Input[str]) -> pulumi.Resource:
        secret = self._secret(key)
        return aws.secretsmanager.SecretVersion(self.recipe.resource_name(f"secret-{key}"), secret_id=secret.id,
                                                secret_string=pulumi.Output.secret(value), opts=self.recipe.opts())

    def declare(self, key: str) -> None:
        self._secret(key)  # the operator sets its value (aws secretsmanager put-secret-value)

    def remote_key(self, key: str) -> str:
        return self.prefix + key

    @property
    def eso_provider(self) -> dict:
        return {"aws": {"service": "SecretsManager", "region": self.recipe.region.id}}


class AwsRecipe(Recipe):
    provider = "aws"
    account_pattern = r"[0-9]{12}"
    account_help = "an AWS account id is 12 digits, e.g. 123456789012"

    def make_provider(self) -> pulumi.ProviderResource:
        return aws.Provider(self.resource_name("aws"), region=self.region.id, allowed_account_ids=[self.cloud.account],
                            default_tags={"tags": self.tags.cloud()}, opts=pulumi.ResourceOptions(parent=self.parent))

    def _tags(self, name: str, **extra: str) -> dict[str, str]:
        return {**self.tags.cloud(), "Name": self.resource_name(name), **extra}

    def network(self) -> None:
        cidr = ipaddress.IPv4Network(self.cloud.network_cidr)
        blocks = list(cidr.subnets(new_prefix=19))
        public_blocks = list(blocks[len(ZONES)].subnets(new_prefix=24))
        self.vpc = aws.ec2.Vpc(self.resource_name("vpc"), cidr_block=str(cidr), enable_dns_hostnames=True,
                               enable_dns_support=True, tags=self._tags("vpc"), opts=self.opts())
        # The default security group of a VPC allows all traffic between its members: empty it.
        aws.ec2.DefaultSecurityGroup(self.resource_name("default-sg"), vpc_id=self.vpc.id, tags=self._tags("default"),
                                     opts=self.opts())
        igw = aws.ec2.InternetGateway(self.resource_name("igw"), vpc_id=self.vpc.id, tags=self._tags("igw"),
                                      opts=self.opts())
        public_rt = aws.ec2.RouteTable(self.resource_name("public"), vpc_id=self.vpc.id, tags=self._tags("public"),
                                       routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}], opts=self.opts())
        self.public_subnets, self.private_subnets = [], []
        for zone, block, public_block in zip(ZONES, blocks, public_blocks):
            az = f"{self.region.id}{zone}"
            public = aws.ec2.Subnet(self.resource_name(f"public-{zone}"), vpc_id=self.vpc.id, availability_zone=az,
                                    cidr_block=str(public_block), map_public_ip_on_launch=False, opts=self.opts(),
                                    tags=self._tags(f"public-{zone}", **{"kubernetes.io/role/elb": "1"}))
            aws.ec2.RouteTableAssociation(self.resource_name(f"public-{zone}"), subnet_id=public.id,
                                          route_table_id=public_rt.id, opts=self.opts())
            self.public_subnets.append(public)
            private = aws.ec2.Subnet(self.resource_name(f"private-{zone}"), vpc_id=self.vpc.id, availability_zone=az,
                                     cidr_block=str(block), map_public_ip_on_launch=False, opts=self.opts(),
                                     tags=self._tags(f"private-{zone}", **{"kubernetes.io/role/internal-elb": "1"}))
            self.private_subnets.append(private)
        eip = aws.ec2.Eip(self.resource_name("nat"), domain="vpc", tags=self._tags("nat"), opts=self.opts())
        nat = aws.ec2.NatGateway(self.resource_name("nat"), subnet_id=self.public_subnets[0].id, allocation_id=eip.id,
                                 tags=self._tags("nat"), opts=self.opts())
        private_rt = aws.ec2.RouteTable(self.resource_name("private"), vpc_id=self.vpc.id, tags=self._tags("private"),
                                        routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                                        opts=self.opts())
        self.private_route_table = private_rt
        for zone, subnet in zip(ZONES, self.private_subnets):
            aws.ec2.RouteTableAssociation(self.resource_name(f"private-{zone}"), subnet_id=subnet.id,
                                          route_table_id=private_rt.id, opts=self.opts())
        self.key = aws.kms.Key(self.resource_name("key"), description=f"gereedschapskist {self.name}: data at rest",
                               enable_key_rotation=True, deletion_window_in_days=30, tags=self.tags.cloud(),
                               opts=self.opts())
        aws.kms.Alias(self.resource_name("key"), name=f"alias/gereedschapskist-{self.name}", target_key_id=self.key.id,
                      opts=self.opts())

    def _role(self, name: str, service: str, managed: Sequence[str], *actions: str) -> aws.iam.Role:
        role = aws.iam.Role(self.resource_name(name), assume_role_policy=_assume(service, *actions),
                            tags=self.tags.cloud(), opts=self.opts())
        for policy in managed:
            aws.iam.RolePolicyAttachment(self.resource_name(f"{name}-{policy.lower()}"), role=role.name,
                                         policy_arn=_MANAGED + policy, opts=self.opts())
        return role

    def cluster(self, pools: Sequence[NodePool]) -> Cluster:
        cluster_role = self._role("cluster", "eks.amazonaws.com", ["AmazonEKSClusterPolicy"],
                                  "sts:AssumeRole", "sts:TagSession")
        # The private API endpoint answers on 443 only to what its security groups admit: the runner (item 1).
        self.runner_group = aws.ec2.SecurityGroup(
            self.resource_name("runner"), vpc_id=self.vpc.id, description="the runner: no inbound, outbound HTTP(S)",
            egress=[{"protocol": "tcp", "from_port": port, "to_port": port, "cidr_blocks": ["0.0.0.0/0"]}
                    for port in (443, 80)],  # HTTPS; HTTP for Ubuntu's package mirrors (signed packages)
            ingress=[], tags=self._tags("runner"), opts=self.opts())
        api_group = aws.ec2.SecurityGroup(
            self.resource_name("api"), vpc_id=self.vpc.id, description="the EKS API from the runner",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443,
                      "security_groups": [self.runner_group.id], "description": "runner -> Kubernetes API"}],
            tags=self._tags("api"), opts=self.opts())
        self.eks = aws.eks.Cluster(
            self.resource_name("eks"), name=self.resource_name("eks"), role_arn=cluster_role.arn,
            version=self.cloud.kubernetes_version, tags=self.tags.cloud(), opts=self.opts(),
            vpc_config={"subnet_ids": [s.id for s in self.private_subnets], "security_group_ids": [api_group.id],
                        "endpoint_private_access": True, "endpoint_public_access": False},
            encryption_config={"provider": {"key_arn": self.key.arn}, "resources": ["secrets"]},
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            upgrade_policy={"support_type": "STANDARD"}, deletion_protection=True)
        # ECR read (also what EKS's own add-on images need, from AWS's registries); the registry cache adds the right
        # to fill its own repositories (registry_cache).
        node_role = self._role("nodes", "ec2.amazonaws.com", ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy",
                                                              "AmazonEC2ContainerRegistryReadOnly"])
        self.node_role = node_role
        template = aws.ec2.LaunchTemplate(
            self.resource_name("nodes"), tags=self.tags.cloud(), opts=self.opts(),
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "volume_size": 100, "volume_type": "gp3", "encrypted": "true", "kms_key_id": self.key.arn,
                "delete_on_termination": "true"}}],
            # IMDSv2 only, and one hop: pods cannot borrow the node's cloud identity.
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            tag_specifications=[{"resource_type": kind, "tags": self.tags.cloud()} for kind in ("instance", "volume")])
        self.addons(pools)
        for pool in pools:
            autoscaler_tags = {
                "k8s.io/cluster-autoscaler/enabled": "true",
                f"k8s.io/cluster-autoscaler/node-template/label/{POOL_LABEL}": pool.name,
                **{f"k8s.io/cluster-autoscaler/node-template/taint/{t.key}": f"{t.value}:{t.effect}" for t in pool.taints},
                **({"k8s.io/cluster-autoscaler/node-template/label/topology.kubernetes.io/zone":
                    f"{self.region.id}{WORKSPACE_ZONE}"} if pool.workspace else {}),
            }
            aws.eks.NodeGroup(
                self.resource_name(f"pool-{pool.name}"), cluster_name=self.eks.name, node_group_name=pool.name,
                node_role_arn=node_role.arn, subnet_ids=[s.id for s in self.pool_subnets(pool)],
                instance_types=[pool.machine.machine_type], capacity_type="ON_DEMAND",
                ami_type="AL2023_x86_64_NVIDIA" if pool.gpu else "AL2023_x86_64_STANDARD",
                scaling_config={"min_size": pool.min_nodes, "max_size": pool.max_nodes, "desired_size": pool.min_nodes},
                labels=pool.labels, launch_template={"id": template.id, "version": template.latest_version.apply(str)},
                taints=[{"key": t.key, "value": t.value, "effect": "NO_SCHEDULE"} for t in pool.taints],
                tags={**self.tags.cloud(), **autoscaler_tags},
                opts=self.opts(ignore_changes=["scalingConfig.desiredSize"]))
        self.cluster_name = self.eks.name
        # The runner's role administers the cluster through an EKS access entry (authentication mode API).
        self.runner_role = self._role("runner", "ec2.amazonaws.com", ["AmazonSSMManagedInstanceCore"])
        entry = aws.eks.AccessEntry(self.resource_name("runner"), cluster_name=self.eks.name,
                                    principal_arn=self.runner_role.arn, type="STANDARD", tags=self.tags.cloud(),
                                    opts=self.opts())
        self.runner_access = aws.eks.AccessPolicyAssociation(
            self.resource_name("runner"), cluster_name=self.eks.name, principal_arn=self.runner_role.arn,
            policy_arn=CLUSTER_ADMIN_POLICY, access_scope={"type": "cluster"}, opts=self.opts(depends_on=[entry]))
        kubeconfig = pulumi.Output.all(self.eks.name, self.eks.endpoint, self.eks.certificate_authority).apply(
            lambda args: self._kubeconfig(*args))
        return Cluster(name=self.eks.name, kubeconfig=kubeconfig)

    def runner(self) -> Runner:
        """An instance in a private subnet (outbound through the NAT gateway, no public address), reached with
        SSM Session Manager; its instance profile is the role the access entry admits."""
        profile = aws.iam.InstanceProfile(self.resource_name("runner"), role=self.runner_role.name,
                                          tags=self.tags.cloud(), opts=self.opts())
        ami = self.ubuntu_ami
        instance = aws.ec2.Instance(
            self.resource_name("runner"), ami=ami, instance_type=RUNNER_INSTANCE_TYPE,
            subnet_id=self.private_subnets[0].id, vpc_security_group_ids=[self.runner_group.id],
            associate_public_ip_address=False, iam_instance_profile=profile.name, user_data=RUNNER_USER_DATA,
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            root_block_device={"encrypted": True, "kms_key_id": self.key.arn, "volume_type": "gp3", "volume_size": 30},
            tags=self._tags("runner"),  # a newer image does not replace a running runner (it updates itself)
            opts=self.opts(depends_on=[self.runner_access], ignore_changes=["ami"]))
        return Runner(name=instance.id, identity=self.runner_role.arn,
                      access="aws ssm start-session --target <the runner output's name>")

    @functools.cached_property
    def ubuntu_ami(self) -> pulumi.Output[str]:
        """Canonical's current Ubuntu 24.04 LTS image in the region (its public SSM parameter): runner and VMs."""
        return aws.ssm.get_parameter_output(name=UBUNTU_AMI_PARAMETER, opts=pulumi.InvokeOutputOptions(
            parent=self.parent, provider=self.cloud_provider)).value

    @property
    def vm_block(self) -> str:
        blocks = list(ipaddress.IPv4Network(self.cloud.network_cidr).subnets(new_prefix=19))
        return str(next(blocks[VM_BLOCK_INDEX].subnets(new_prefix=24)))

    @functools.cached_property
    def _vm_shared(self) -> dict:
        """What every VM of the environment shares: a private subnet (outbound through the NAT gateway), a security
        group without inbound rules, the SSM role and profile, and the scheduler's role that stops them."""
        zone = f"{self.region.id}{WORKSPACE_ZONE}"
        subnet = aws.ec2.Subnet(self.resource_name("vms"), vpc_id=self.vpc.id, availability_zone=zone,
                                cidr_block=self.vm_block, map_public_ip_on_launch=False, tags=self._tags("vms"),
                                opts=self.opts())
        aws.ec2.RouteTableAssociation(self.resource_name("vms"), subnet_id=subnet.id,
                                      route_table_id=self.private_route_table.id, opts=self.opts())
        group = aws.ec2.SecurityGroup(
            self.resource_name("vms"), vpc_id=self.vpc.id, description="certified VMs: no inbound, outbound HTTP(S)",
            egress=[{"protocol": "tcp", "from_port": port, "to_port": port, "cidr_blocks": ["0.0.0.0/0"]}
                    for port in (443, 80)], ingress=[], tags=self._tags("vms"), opts=self.opts())
        role = self._role("vms", "ec2.amazonaws.com", ["AmazonSSMManagedInstanceCore"])
        profile = aws.iam.InstanceProfile(self.resource_name("vms"), role=role.name, tags=self.tags.cloud(),
                                          opts=self.opts())
        stopper = self._role("vms-stop", "scheduler.amazonaws.com", [])
        aws.iam.RolePolicy(self.resource_name("vms-stop"), role=stopper.id, opts=self.opts(), policy=_policy(
            {"Effect": "Allow", "Action": ["ec2:StopInstances"],
             "Resource": f"arn:aws:ec2:{self.region.id}:{self.cloud.account}:instance/*",
             "Condition": {"StringEquals": {"aws:ResourceTag/environment": self.tags.environment}}}))
        return {"subnet": subnet, "group": group, "profile": profile, "stopper": stopper}

    def vm(self, vm: VmPlan) -> Vm:
        """An EC2 instance reached with SSM Session Manager; EventBridge Scheduler stops it from its end date on."""
        shared = self._vm_shared
        instance = aws.ec2.Instance(
            self.resource_name(f"vm-{vm.name}"), ami=self.ubuntu_ami, instance_type=vm.machine.machine_type,
            subnet_id=shared["subnet"].id, vpc_security_group_ids=[shared["group"].id],
            associate_public_ip_address=False, iam_instance_profile=shared["profile"].name, user_data=VM_CLOUD_INIT,
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            root_block_device={"encrypted": True, "kms_key_id": self.key.arn, "volume_type": "gp3",
                               "volume_size": vm.disk_gib},
            tags=self._tags(f"vm-{vm.name}", **{"ends-on": vm.ends_on.isoformat()}),
            opts=self.opts(ignore_changes=["ami"]))  # a newer image does not replace it: it updates itself
        aws.scheduler.Schedule(
            self.resource_name(f"vm-{vm.name}-end"), name=self.resource_name(f"vm-{vm.name}-end")[:64],
            schedule_expression="cron(59 23 * * ? *)", schedule_expression_timezone=STOP_TIMEZONE,
            start_date=f"{vm.ends_on.isoformat()}T00:00:00Z", flexible_time_window={"mode": "OFF"},
            target={"arn": "arn:aws:scheduler:::aws-sdk:ec2:stopInstances", "role_arn": shared["stopper"].arn,
                    "input": instance.id.apply(lambda i: json.dumps({"InstanceIds": [i]}))},
            opts=self.opts())
        return Vm(name=instance.id, access="aws ssm start-session --target <the VM output's name>",
                  stops=f"daily at 23:59 {STOP_TIMEZONE} from {vm.ends_on} (EventBridge Scheduler)")

    #: ECR's pull-through cache authenticates to Docker Hub and GitHub's registry (the others are anonymous).
    registry_credentials_needed = ("docker.io", "ghcr.io")

    @classmethod
    def registry_cache_address(cls, name: str, cloud) -> str:
        return f"{cloud.account}.dkr.ecr.{cloud.region}.amazonaws.com"

    def registry_cache(self, credentials: dict[str, pulumi.Output] | None = None) -> list[pulumi.Resource]:
        """One ECR pull-through cache rule per upstream (repository prefix = its path in the cache); Docker Hub and
        GHCR with the operator's credentials in a Secrets Manager secret named ``ecr-pullthroughcache/…`` (ECR's
        rule). The nodes may create and fill repositories under these prefixes only (the first pull of an image)."""
        credentials = credentials or {}
        rules: list[pulumi.Resource] = []
        for registry, prefix in sorted(UPSTREAMS.items()):
            credential_arn, after = None, []
            if registry in self.registry_credentials_needed:
                secret = aws.secretsmanager.Secret(
                    self.resource_name(f"registry-{prefix}"), name=f"ecr-pullthroughcache/{self.name}-{prefix}",
                    recovery_window_in_days=7, tags=self.tags.cloud(), opts=self.opts())
                version = aws.secretsmanager.SecretVersion(
                    self.resource_name(f"registry-{prefix}"), secret_id=secret.id,
                    secret_string=pulumi.Output.secret(credentials[prefix]), opts=self.opts())
                credential_arn, after = secret.arn, [version]
            rules.append(aws.ecr.PullThroughCacheRule(
                self.resource_name(f"cache-{prefix}"), ecr_repository_prefix=prefix,
                upstream_registry_url=UPSTREAM_URLS[registry], credential_arn=credential_arn,
                opts=self.opts(depends_on=after)))
        repositories = [f"arn:aws:ecr:{self.region.id}:{self.cloud.account}:repository/{prefix}/*"
                        for prefix in sorted(UPSTREAMS.values())]
        rules.append(aws.iam.RolePolicy(self.resource_name("nodes-registry-cache"), role=self.node_role.id,
                                        opts=self.opts(), policy=_policy(
            {"Effect": "Allow", "Action": ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
             "Resource": repositories})))
        return rules

    def export_services(self) -> dict:
        return {"cluster_name": self.eks.name}

    def attach(self, services: pulumi.Output[dict]) -> None:
        self.cluster_name = services.apply(lambda s: s["cluster_name"])

    def pool_subnets(self, pool: NodePool) -> list:
        """The private subnets of a pool's nodes: workspace pools only the workspace zone's (see WORKSPACE_ZONE)."""
        if pool.workspace:
            return [self.private_subnets[ZONES.index(WORKSPACE_ZONE)]]
        return list(self.private_subnets)

    def _kubeconfig(self, name: str, endpoint: str, authority: dict) -> str:
        data = authority["data"] if isinstance(authority, dict) else authority.data
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": data}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [{"name": name, "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", name, "--region", self.region.id]}}}],
        })

    def _pod_role(self, name: str, managed: Sequence[str], inline: pulumi.Input[str] | None = None) -> aws.iam.Role:
        role = self._role(name, "pods.eks.amazonaws.com", managed, "sts:AssumeRole", "sts:TagSession")
        if inline is not None:
            aws.iam.RolePolicy(self.resource_name(f"{name}-inline"), role=role.id, policy=inline, opts=self.opts())
        return role

    def addons(self, pools: Sequence[NodePool]) -> None:
        """Network policy enforcement (VPC CNI), pod identities, encrypted EBS volumes."""
        # EKS installs vpc-cni itself: without OVERWRITE the add-on's first create fails on the existing fields.
        aws.eks.Addon(self.resource_name("vpc-cni"), cluster_name=self.eks.name, addon_name="vpc-cni",
                      configuration_values=json.dumps({"enableNetworkPolicy": "true"}), tags=self.tags.cloud(),
                      resolve_conflicts_on_create="OVERWRITE", opts=self.opts())
        aws.eks.Addon(self.resource_name("pod-identity"), cluster_name=self.eks.name,
                      addon_name="eks-pod-identity-agent", tags=self.tags.cloud(), opts=self.opts())
        ebs_role = self._pod_role("ebs-csi", ["service-role/AmazonEBSCSIDriverPolicy"], self.key.arn.apply(
            lambda key: _policy({"Effect": "Allow", "Resource": key, "Action": [
                "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*",
                "kms:ReEncrypt*"]})))
        aws.eks.Addon(self.resource_name("ebs-csi"), cluster_name=self.eks.name, addon_name="aws-ebs-csi-driver",
                      pod_identity_associations=[{"role_arn": ebs_role.arn, "service_account": "ebs-csi-controller-sa"}],
                      tags=self.tags.cloud(), opts=self.opts())
        self.autoscaler_role = self._pod_role("autoscaler", [], _policy(
            {"Effect": "Allow", "Resource": "*", "Action": [
                "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
                "eks:DescribeNodegroup"]},
            {"Effect": "Allow", "Resource": "*", "Action": [
                "autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
             "Condition": {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}}}))
        aws.eks.PodIdentityAssociation(self.resource_name("autoscaler"), cluster_name=self.eks.name,
                                       namespace="kube-system", service_account="cluster-autoscaler",
                                       role_arn=self.autoscaler_role.arn, tags=self.tags.cloud(), opts=self.opts())

    def cluster_services(self, kubernetes: pulumi.ProviderResource) -> list[pulumi.Resource]:
        """EKS node groups scale from zero only with a cluster autoscaler (AKS and GKE have theirs built in)."""
        chart, repo, version = AUTOSCALER_CHART
        return [k8s.helm.v3.Release(
            self.resource_name("cluster-autoscaler"), name="cluster-autoscaler", chart=chart, version=version,
            namespace="kube-system", repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repo),
            values={"cloudProvider": "aws", "awsRegion": self.region.id,
                    "autoDiscovery": {"clusterName": self.cluster_name},
                    "rbac": {"serviceAccount": {"name": "cluster-autoscaler"}},
                    "nodeSelector": {POOL_LABEL: CORE_POOL},
                    "extraArgs": {"scale-down-unneeded-time": "10m", "balance-similar-node-groups": True}},
            opts=pulumi.ResourceOptions(parent=self.parent, provider=kubernetes))]

    def home_storage(self) -> StorageClass:
        return StorageClass("ebs.csi.aws.com", {"type": "gp3", "encrypted": "true", "kmsKeyId": self.key.arn})

    def datasets_storage(self) -> StorageClass:
        """EFS (NFS) encrypted with the environment's key, a mount target per private subnet admitting NFS from the
        network only, and the EFS CSI driver (an EKS add-on with a pod identity); claims get an access point."""
        files = aws.efs.FileSystem(self.resource_name("datasets"), encrypted=True, kms_key_id=self.key.arn,
                                   performance_mode="generalPurpose", throughput_mode="elastic",
                                   tags=self._tags("datasets"), opts=self.opts())
        group = aws.ec2.SecurityGroup(
            self.resource_name("datasets"), vpc_id=self.vpc.id, description="EFS for the data store: NFS from the network",
            ingress=[{"protocol": "tcp", "from_port": 2049, "to_port": 2049, "cidr_blocks": [self.cloud.network_cidr]}],
            tags=self._tags("datasets"), opts=self.opts())
        targets = [aws.efs.MountTarget(self.resource_name(f"datasets-{zone}"), file_system_id=files.id,
                                       subnet_id=subnet.id, security_groups=[group.id], opts=self.opts())
                   for zone, subnet in zip(ZONES, self.private_subnets)]
        role = self._pod_role("efs-csi", ["service-role/AmazonEFSCSIDriverPolicy"])
        aws.eks.Addon(self.resource_name("efs-csi"), cluster_name=self.eks.name, addon_name="aws-efs-csi-driver",
                      pod_identity_associations=[{"role_arn": role.arn, "service_account": "efs-csi-controller-sa"}],
                      tags=self.tags.cloud(), opts=self.opts(depends_on=targets))
        return StorageClass("efs.csi.aws.com", {"provisioningMode": "efs-ap", "fileSystemId": files.id,
                                                "directoryPerms": "755", "uid": "1000", "gid": "100"})

    def shared_bucket(self) -> pulumi.Output[str]:
        # a fixed name (not a prefix): production egress allows exactly this bucket's endpoint (item 11)
        bucket = aws.s3.Bucket(self.resource_name("shared"), bucket=self.bucket_name,
                               force_destroy=False, tags=self.tags.cloud(), opts=self.opts())
        self.shared = bucket
        aws.s3.BucketPublicAccessBlock(self.resource_name("shared"), bucket=bucket.id, block_public_acls=True,
                                       block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                       opts=self.opts())
        aws.s3.BucketOwnershipControls(self.resource_name("shared"), bucket=bucket.id,
                                       rule={"object_ownership": "BucketOwnerEnforced"}, opts=self.opts())
        aws.s3.BucketServerSideEncryptionConfiguration(
            self.resource_name("shared"), bucket=bucket.id, opts=self.opts(),
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                                "kms_master_key_id": self.key.arn},
                    "bucket_key_enabled": True}])
        aws.s3.BucketVersioning(self.resource_name("shared"), bucket=bucket.id,
                                versioning_configuration={"status": "Enabled"}, opts=self.opts())
        aws.s3.BucketPolicy(self.resource_name("shared"), bucket=bucket.id, opts=self.opts(),
                            policy=bucket.arn.apply(lambda arn: _policy(
                                {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                                 "Resource": [arn, f"{arn}/*"],
                                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}})))
        return bucket.bucket.apply(lambda name: f"s3://{name}")

    @property
    def bucket_name(self) -> str:
        digest = hashlib.sha256(f"{self.cloud.account}/{self.name}".encode()).hexdigest()[:6]
        return f"gk-{self.name}-shared-{digest}"[:63]

    #: The EKS Pod Identity agent on every node (eks-pod-identity-agent add-on).
    node_identity_endpoint = ("169.254.170.23/32", 80)

    def workspace_identity(self, namespace: str) -> WorkspaceIdentity:
        """An IAM role for the workspaces' ServiceAccount (EKS Pod Identity): objects of the shared bucket only."""
        policy = pulumi.Output.all(self.shared.arn, self.key.arn).apply(lambda a: _policy(
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": a[0]},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                           "s3:GetObjectVersion", "s3:AbortMultipartUpload"], "Resource": f"{a[0]}/*"},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": a[1]}))
        role = self._pod_role("workspaces", [], policy)
        aws.eks.PodIdentityAssociation(self.resource_name("workspaces"), cluster_name=self.eks.name,
                                       namespace=namespace, service_account=WORKSPACE_SERVICE_ACCOUNT,
                                       role_arn=role.arn, tags=self.tags.cloud(), opts=self.opts())
        return WorkspaceIdentity(annotations={}, pod_labels={})

    def storage_endpoints(self) -> tuple[str, ...]:
        return (f"{self.bucket_name}.s3.{self.region.id}.amazonaws.com", f"s3.{self.region.id}.amazonaws.com")

    def database(self, spec: DatabaseSpec, password: pulumi.Output[str]) -> Database:
        subnets = aws.rds.SubnetGroup(self.resource_name("db"), subnet_ids=[s.id for s in self.private_subnets],
                                      tags=self.tags.cloud(), opts=self.opts())
        group = aws.ec2.SecurityGroup(
            self.resource_name("db"), vpc_id=self.vpc.id, description="PostgreSQL from the private network only",
            ingress=[{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": [self.cloud.network_cidr]}],
            egress=[], tags=self.tags.cloud(), opts=self.opts())
        params = aws.rds.ParameterGroup(self.resource_name("db"), family=f"postgres{versions.POSTGRES_MAJOR}",
                                        parameters=[{"name": "rds.force_ssl", "value": "1"}],
                                        tags=self.tags.cloud(), opts=self.opts())
        instance = aws.rds.Instance(
            self.resource_name("db"), engine="postgres", engine_version=versions.POSTGRES_MAJOR,
            instance_class=spec.instance_class or "db.m7g.large", allocated_storage=spec.storage_gib,
            max_allocated_storage=spec.storage_gib * 4, storage_type="gp3", storage_encrypted=True,
            kms_key_id=self.key.arn, db_name="portal", username="portal", password=password,
            db_subnet_group_name=subnets.name, vpc_security_group_ids=[group.id], parameter_group_name=params.name,
            publicly_accessible=False, multi_az=spec.high_availability,
            backup_retention_period=spec.backup_retention_days, copy_tags_to_snapshot=True, deletion_protection=True,
            skip_final_snapshot=False, final_snapshot_identifier=self.resource_name("db-final"),
            auto_minor_version_upgrade=True, iam_database_authentication_enabled=True,
            tags=self.tags.cloud(), opts=self.opts())
        return Database(host=instance.address, port=5432, database="portal", username="portal")

    def secret_store(self) -> SecretStore:
        return AwsSecretStore(self)


RECIPE = AwsRecipe
