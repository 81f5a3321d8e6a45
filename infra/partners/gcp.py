"""Google Cloud: GKE (private nodes and endpoint, Dataplane V2 network policies), Cloud Storage, Cloud KMS,
Cloud SQL for PostgreSQL on private service access, Secret Manager with regional replicas."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from typing import Sequence

import pulumi
import pulumi_gcp as gcp

from gereedschapskist.core.registry import DOCKER_HUB, UPSTREAM_URLS, UPSTREAMS

from .. import versions
from ..config import DatabaseSpec
from ..pools import NodePool
from ..vms import STOP_TIME, STOP_TIMEZONE, VM_CLOUD_INIT, Vm, VmPlan
from . import (
    ESO_NAMESPACE, ESO_SERVICE_ACCOUNT, WORKSPACE_SERVICE_ACCOUNT, Cluster, Database, Recipe, Runner, SecretStore,
    StorageClass, WorkspaceIdentity,
)

PODS_RANGE = ("pods", "100.64.0.0/16")
SERVICES_RANGE = ("services", "100.65.0.0/20")
CONTROL_PLANE_RANGE = "172.16.0.32/28"
WORKSPACE_ZONE_SUFFIX = "b"
#: Project-wide roles of the nodes' service account. Artifact Registry read is granted on the registry cache's
#: repositories only (registry_cache), not on every repository of the project.
NODE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer")
#: Artifact Registry's preset for Docker Hub; the other upstreams are remote repositories by address.
DOCKER_HUB_PRESET = "DOCKER_HUB"
#: Google APIs the program uses; a fresh project has none of them enabled (issue 16, item 9). Every other resource
#: of the recipe waits for them.
REQUIRED_APIS = ("cloudresourcemanager.googleapis.com", "serviceusage.googleapis.com", "iam.googleapis.com",
                 "iamcredentials.googleapis.com", "compute.googleapis.com", "container.googleapis.com",
                 "cloudkms.googleapis.com", "secretmanager.googleapis.com", "servicenetworking.googleapis.com",
                 "sqladmin.googleapis.com", "storage.googleapis.com", "logging.googleapis.com",
                 "monitoring.googleapis.com", "artifactregistry.googleapis.com", "iap.googleapis.com", "file.googleapis.com",
                 "oslogin.googleapis.com")
IAP_RANGE = "35.235.240.0/20"  # Google's Identity-Aware Proxy for TCP forwarding
RUNNER_MACHINE = "e2-standard-2"
#: Canonical's Ubuntu 24.04 LTS image family (the runner and the VMs).
UBUNTU_IMAGE = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"
#: VMs get a /24 of their own: the first of the second /20 (the nodes' is the first, the services' the last).
VM_BLOCK_INDEX = 1
RUNNER_STARTUP = """#!/bin/bash
set -euo pipefail
apt-get update && apt-get install -y unattended-upgrades ca-certificates curl git python3-venv
apt-get install -y google-cloud-cli google-cloud-cli-gke-gcloud-auth-plugin || snap install google-cloud-cli --classic
curl -fsSL https://get.pulumi.com | sh -s -- --install-root /usr/local
"""


class GcpSecretStore(SecretStore):
    """Secret Manager secrets replicated only in the stack's region, read through GKE workload identity."""

    def __init__(self, recipe: "GcpRecipe"):
        self.recipe = recipe
        r = recipe
        self.account = gcp.serviceaccount.Account(r.resource_name("external-secrets"), account_id=f"{r.short}-eso",
                                                  display_name=f"External Secrets for {r.name}", project=r.project,
                                                  opts=r.opts())
        # The workload identity pool PROJECT.svc.id.goog exists only once a cluster with workload identity does
        # ("Identity Pool does not exist" otherwise): the binding waits for the cluster (item 9).
        gcp.serviceaccount.IAMMember(
            r.resource_name("external-secrets-wi"), service_account_id=self.account.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{r.project}.svc.id.goog[{ESO_NAMESPACE}/{ESO_SERVICE_ACCOUNT}]",
            opts=r.opts(depends_on=[r.gke]))

    def _secret(self, key: str) -> gcp.secretmanager.Secret:
        r = self.recipe
        secret = gcp.secretmanager.Secret(
            r.resource_name(f"secret-{key}"), secret_id=self.remote_key(key), project=r.project,
            replication={"user_managed": {"replicas": [{"location": r.region.id}]}}, labels=r.tags.gcp(),
            opts=r.opts())
        gcp.secretmanager.SecretIamMember(r.resource_name(f"secret-{key}"), secret_id=secret.id, project=r.project,
                                          role="roles/secretmanager.secretAccessor",
                                          member=self.account.email.apply(lambda e: f"serviceAccount:{e}"),
                                          opts=r.opts())
        return secret

    def put(self, key: str, value: pulumi.Input[str]) -> pulumi.Resource:
        secret = self._secret(key)
        return gcp.secretmanager.SecretVersion(self.recipe.resource_name(f"secret-{key}"), secret=secret.id,
                                               secret_data=pulumi.Output.secret(value), opts=self.recipe.opts())

    def declare(self, key: str) -> None:
        self._secret(key)  # the operator adds its value (gcloud secrets versions add)

    def remote_key(self, key: str) -> str:
        return f"{self.recipe.name}-{key}"

    @property
    def eso_provider(self) -> dict:
        return {"gcpsm": {"projectID": self.recipe.project}}

    @property
    def eso_service_account_annotations(self) -> pulumi.Input[dict]:
        return self.account.email.apply(lambda e: {"iam.gke.io/gcp-service-account": e})


class GcpRecipe(Recipe):
    provider = "gcp"
    # GKE installs the driver (gpu_driver_installation_config) and runs its own device plugin on GPU nodes.
    ships_gpu_device_plugin = True
    account_pattern = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
    account_help = "a Google Cloud project id is 6-30 lowercase letters, digits and hyphens, e.g. rws-werkbank-prod"

    @property
    def project(self) -> str:
        return self.cloud.account

    @property
    def short(self) -> str:
        """A short, stable prefix for names limited to 30 characters (service accounts)."""
        return "gk" + hashlib.sha256(self.name.encode()).hexdigest()[:8]

    @property
    def workspace_zone(self) -> str:
        """Workspace node pools live in one zone (issue 16, item 7): home volumes are zonal persistent disks, and a
        pool that scales from zero across three zones can bring a user's next node up in another zone ("volume node
        affinity conflict"). Zone ``b`` exists in every European region (europe-west1 has no ``a``) and offers T4
        GPUs in the catalogue's regions."""
        return f"{self.region.id}-{WORKSPACE_ZONE_SUFFIX}"

    def make_provider(self) -> pulumi.ProviderResource:
        return gcp.Provider(self.resource_name("gcp"), project=self.project, region=self.region.id,
                            default_labels=self.tags.gcp(), opts=pulumi.ResourceOptions(parent=self.parent))

    def opts(self, **kwargs) -> pulumi.ResourceOptions:
        """As :meth:`Recipe.opts`, and every resource waits for the project's APIs (made first, in network())."""
        apis = getattr(self, "apis", [])
        if apis:
            kwargs["depends_on"] = [*apis, *(kwargs.get("depends_on") or [])]
        return super().opts(**kwargs)

    def enable_apis(self) -> None:
        if getattr(self, "apis", None):
            return
        first = Recipe.opts(self)  # the APIs themselves wait for nothing
        self.apis = [gcp.projects.Service(self.resource_name(f"api-{api.split('.')[0]}"), project=self.project,
                                          service=api, disable_on_destroy=False, disable_dependent_services=False,
                                          opts=first) for api in REQUIRED_APIS]

    def _member(self, role: str, member: pulumi.Input[str], name: str) -> gcp.projects.IAMMember:
        return gcp.projects.IAMMember(self.resource_name(name), project=self.project, role=role, member=member,
                                      opts=self.opts())

    def network(self) -> None:
        self.enable_apis()
        cidr = ipaddress.IPv4Network(self.cloud.network_cidr)
        self.nodes_block = str(next(cidr.subnets(new_prefix=20)))
        self.services_block = list(cidr.subnets(new_prefix=20))[-1]
        self.vpc = gcp.compute.Network(self.resource_name("vpc"), name=f"gk-{self.name}", project=self.project,
                                       auto_create_subnetworks=False, routing_mode="REGIONAL", opts=self.opts())
        self.subnet = gcp.compute.Subnetwork(
            self.resource_name("nodes"), name=f"gk-{self.name}-nodes", project=self.project, region=self.region.id,
            network=self.vpc.id, ip_cidr_range=self.nodes_block, private_ip_google_access=True,
            secondary_ip_ranges=[{"range_name": n, "ip_cidr_range": c} for n, c in (PODS_RANGE, SERVICES_RANGE)],
            log_config={"aggregation_interval": "INTERVAL_5_MIN", "flow_sampling": 0.5}, opts=self.opts())
        router = gcp.compute.Router(self.resource_name("router"), name=f"gk-{self.name}", project=self.project,
                                    region=self.region.id, network=self.vpc.id, opts=self.opts())
        gcp.compute.RouterNat(self.resource_name("nat"), name=f"gk-{self.name}", project=self.project,
                              region=self.region.id, router=router.name, nat_ip_allocate_option="AUTO_ONLY",
                              source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES", opts=self.opts())
        ring = gcp.kms.KeyRing(self.resource_name("keys"), name=f"gk-{self.name}", location=self.region.id,
                               project=self.project, opts=self.opts())
        self.key = gcp.kms.CryptoKey(self.resource_name("data"), name="data", key_ring=ring.id,
                                     rotation_period="7776000s", purpose="ENCRYPT_DECRYPT", labels=self.tags.gcp(),
                                     opts=self.opts(protect=False))
        self.project_number = number = gcp.organizations.get_project_output(
            project_id=self.project, opts=pulumi.InvokeOutputOptions(
            parent=self.parent, provider=self.cloud_provider, depends_on=self.apis)).number
        # Google's service agents encrypt etcd secrets, disks and buckets with the contract's own key.
        self.key_grants = [gcp.kms.CryptoKeyIAMMember(
            self.resource_name(f"key-{agent}"), crypto_key_id=self.key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=number.apply(lambda n, a=agent: f"serviceAccount:service-{n}@{a}.iam.gserviceaccount.com"),
            opts=self.opts()) for agent in ("container-engine-robot", "compute-system", "gs-project-accounts")]

    def cluster(self, pools: Sequence[NodePool]) -> Cluster:
        nodes = gcp.serviceaccount.Account(self.resource_name("nodes"), account_id=f"{self.short}-nodes",
                                           display_name=f"GKE nodes of {self.name}", project=self.project,
                                           opts=self.opts())
        node_member = nodes.email.apply(lambda e: f"serviceAccount:{e}")
        self.node_member = node_member
        for role in NODE_ROLES:
            self._member(role, node_member, f"nodes-{role.split('.')[-1].lower()}")
        self.gke = gcp.container.Cluster(
            self.resource_name("gke"), name=f"gk-{self.name}", project=self.project, location=self.region.id,
            network=self.vpc.id, subnetwork=self.subnet.id, remove_default_node_pool=True, initial_node_count=1,
            min_master_version=self.cloud.kubernetes_version, release_channel={"channel": "REGULAR"},
            networking_mode="VPC_NATIVE", datapath_provider="ADVANCED_DATAPATH",
            ip_allocation_policy={"cluster_secondary_range_name": PODS_RANGE[0],
                                  "services_secondary_range_name": SERVICES_RANGE[0]},
            private_cluster_config={"enable_private_nodes": True, "enable_private_endpoint": True,
                                    "master_ipv4_cidr_block": CONTROL_PLANE_RANGE},
            master_authorized_networks_config={"cidr_blocks": [{"cidr_block": self.cloud.network_cidr,
                                                                "display_name": "private network"}],
                                               "gcp_public_cidrs_access_enabled": False},
            workload_identity_config={"workload_pool": f"{self.project}.svc.id.goog"},
            database_encryption={"state": "ENCRYPTED", "key_name": self.key.id},
            enable_shielded_nodes=True, deletion_protection=True, resource_labels=self.tags.gcp(),
            addons_config={"gce_persistent_disk_csi_driver_config": {"enabled": True},
                           "gcp_filestore_csi_driver_config": {"enabled": True}},  # the data store (issue 15)
            opts=self.opts(depends_on=self.key_grants))
        for pool in pools:
            config: dict = {
                "machine_type": pool.machine.machine_type, "labels": pool.labels,
                "taints": [{"key": t.key, "value": t.value, "effect": "NO_SCHEDULE"} for t in pool.taints],
                "service_account": nodes.email, "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "workload_metadata_config": {"mode": "GKE_METADATA"}, "boot_disk_kms_key": self.key.id,
                "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
                "disk_type": "pd-balanced", "resource_labels": self.tags.gcp(),
                "metadata": {"disable-legacy-endpoints": "true"},
            }
            if pool.gpu:
                config["guest_accelerators"] = [{"type": pool.machine.gpu_type, "count": pool.machine.gpu,
                                                 "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"}}]
            gcp.container.NodePool(
                self.resource_name(f"pool-{pool.name}"), name=pool.name, project=self.project, cluster=self.gke.id,
                location=self.region.id, node_config=config,
                node_locations=[self.workspace_zone] if pool.workspace else None,
                initial_node_count=1 if pool.min_nodes else 0,
                autoscaling={"total_min_node_count": pool.min_nodes, "total_max_node_count": pool.max_nodes,
                             "location_policy": "BALANCED" if pool.min_nodes else "ANY"},
                management={"auto_repair": True, "auto_upgrade": True},
                opts=self.opts(ignore_changes=["initialNodeCount"]))
        kubeconfig = pulumi.Output.all(self.gke.name, self.gke.endpoint, self.gke.master_auth).apply(
            lambda args: self._kubeconfig(*args))
        return Cluster(name=self.gke.name, kubeconfig=kubeconfig)

    def runner(self) -> Runner:
        """A VM in the nodes' subnet (inside the API's authorised network; outbound through Cloud NAT, no public
        address), reached through IAP (``gcloud compute ssh --tunnel-through-iap``) with OS Login."""
        account = gcp.serviceaccount.Account(self.resource_name("runner"), account_id=f"{self.short}-runner",
                                             display_name=f"Cluster stage runner of {self.name}", project=self.project,
                                             opts=self.opts())
        member = account.email.apply(lambda e: f"serviceAccount:{e}")
        grants = [self._member("roles/container.admin", member, "runner-container-admin"),
                  self._member("roles/logging.logWriter", member, "runner-logwriter")]
        gcp.compute.Firewall(self.resource_name("runner-iap"), name=f"gk-{self.name}-runner-iap", project=self.project,
                             network=self.vpc.id, direction="INGRESS", source_ranges=[IAP_RANGE],
                             target_service_accounts=[account.email],
                             allows=[{"protocol": "tcp", "ports": ["22"]}], opts=self.opts())
        vm = gcp.compute.Instance(
            self.resource_name("runner"), name=f"gk-{self.name}-runner", project=self.project,
            zone=f"{self.region.id}-b", machine_type=RUNNER_MACHINE,
            boot_disk={"initialize_params": {"image": UBUNTU_IMAGE, "size": 30,
                                             "type": "pd-balanced"}, "kms_key_self_link": self.key.id},
            network_interfaces=[{"subnetwork": self.subnet.id}],  # no access_configs: no public address
            service_account={"email": account.email, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
            shielded_instance_config={"enable_secure_boot": True, "enable_vtpm": True,
                                      "enable_integrity_monitoring": True},
            metadata={"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"},
            metadata_startup_script=RUNNER_STARTUP, labels=self.tags.gcp(),
            opts=self.opts(depends_on=[*grants, *self.key_grants]))
        return Runner(name=vm.name, identity=account.email,
                      access=f"gcloud compute ssh gk-{self.name}-runner --zone {self.region.id}-b "
                             f"--tunnel-through-iap --project {self.project}")

    @property
    def vm_block(self) -> str:
        blocks = list(ipaddress.IPv4Network(self.cloud.network_cidr).subnets(new_prefix=20))
        return str(next(blocks[VM_BLOCK_INDEX].subnets(new_prefix=24)))

    @functools.cached_property
    def _vm_shared(self) -> dict:
        """What every VM shares: its own subnet (outbound through Cloud NAT), a service account without roles but
        writing logs, SSH only from IAP's range, and the grant that lets Compute Engine's agent stop them."""
        subnet = gcp.compute.Subnetwork(
            self.resource_name("vms"), name=f"gk-{self.name}-vms", project=self.project, region=self.region.id,
            network=self.vpc.id, ip_cidr_range=self.vm_block, private_ip_google_access=True, opts=self.opts())
        account = gcp.serviceaccount.Account(self.resource_name("vms"), account_id=f"{self.short}-vms",
                                             display_name=f"Certified VMs of {self.name}", project=self.project,
                                             opts=self.opts())
        self._member("roles/logging.logWriter", account.email.apply(lambda e: f"serviceAccount:{e}"),
                     "vms-logwriter")
        gcp.compute.Firewall(self.resource_name("vms-iap"), name=f"gk-{self.name}-vms-iap", project=self.project,
                             network=self.vpc.id, direction="INGRESS", source_ranges=[IAP_RANGE],
                             target_service_accounts=[account.email],
                             allows=[{"protocol": "tcp", "ports": ["22"]}], opts=self.opts())
        # An instance schedule acts as the Compute Engine service agent, which needs to stop instances.
        stopper = self._member("roles/compute.instanceAdmin.v1", self.project_number.apply(
            lambda n: f"serviceAccount:service-{n}@compute-system.iam.gserviceaccount.com"), "vms-scheduler")
        return {"subnet": subnet, "account": account, "stopper": stopper}

    def vm(self, vm: VmPlan) -> Vm:
        """An instance reached through IAP TCP forwarding with OS Login; an instance schedule (resource policy)
        stops it daily from its end date on."""
        shared = self._vm_shared
        zone = self.workspace_zone
        hour, minute = STOP_TIME.split(":")
        schedule = gcp.compute.ResourcePolicy(
            self.resource_name(f"vm-{vm.name}-end"), name=f"gk-{self.name}-{vm.name}-end"[:63], project=self.project,
            region=self.region.id, description=f"stops {vm.name} from {vm.ends_on} on",
            instance_schedule_policy={"vm_stop_schedule": {"schedule": f"{int(minute)} {int(hour)} * * *"},
                                      "time_zone": STOP_TIMEZONE, "start_time": f"{vm.ends_on.isoformat()}T00:00:00Z"},
            opts=self.opts(depends_on=[shared["stopper"]]))
        name = f"gk-{self.name}-{vm.name}"[:63]
        instance = gcp.compute.Instance(
            self.resource_name(f"vm-{vm.name}"), name=name, project=self.project, zone=zone,
            machine_type=vm.machine.machine_type,
            boot_disk={"initialize_params": {"image": UBUNTU_IMAGE, "size": vm.disk_gib, "type": "pd-balanced"},
                       "kms_key_self_link": self.key.id},
            network_interfaces=[{"subnetwork": shared["subnet"].id}],  # no access_configs: no public address
            service_account={"email": shared["account"].email,
                             "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
            shielded_instance_config={"enable_secure_boot": True, "enable_vtpm": True,
                                      "enable_integrity_monitoring": True},
            metadata={"enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE", "user-data": VM_CLOUD_INIT},
            resource_policies=schedule.self_link,  # one policy (this provider takes a string)
            labels={**self.tags.gcp(), "ends_on": vm.ends_on.isoformat()},
            opts=self.opts(depends_on=self.key_grants))
        return Vm(name=instance.name,
                  access=f"gcloud compute ssh {name} --zone {zone} --tunnel-through-iap --project {self.project}",
                  stops=f"daily at {STOP_TIME} {STOP_TIMEZONE} from {vm.ends_on} (instance schedule)")

    @staticmethod
    def _kubeconfig(name: str, endpoint: str, auth) -> str:
        ca = auth["cluster_ca_certificate"] if isinstance(auth, dict) else auth.cluster_ca_certificate
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [{"name": name, "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                       "command": "gke-gcloud-auth-plugin",
                                                       "provideClusterInfo": True}}}],
        })

    def home_storage(self) -> StorageClass:
        return StorageClass("pd.csi.storage.gke.io", {"type": "pd-balanced", "disk-encryption-kms-key": self.key.id})

    def datasets_storage(self) -> StorageClass:
        """Filestore through GKE's Filestore CSI driver, in the environment's network (encrypted at rest with
        Google's keys: the environment's key would need a grant to Filestore's service agent, not made yet)."""
        return StorageClass("filestore.csi.storage.gke.io", {"tier": "standard", "network": f"gk-{self.name}"})

    def shared_bucket(self) -> pulumi.Output[str]:
        digest = hashlib.sha256(f"{self.project}/{self.name}".encode()).hexdigest()[:6]
        bucket = gcp.storage.Bucket(
            self.resource_name("shared"), name=f"gk-{self.name}-shared-{digest}"[:63], project=self.project,
            location=self.region.id.upper(), uniform_bucket_level_access=True, public_access_prevention="enforced",
            versioning={"enabled": True}, encryption={"default_kms_key_name": self.key.id},
            soft_delete_policy={"retention_duration_seconds": 7 * 24 * 3600}, force_destroy=False,
            labels=self.tags.gcp(), opts=self.opts(depends_on=self.key_grants))
        self.shared = bucket
        return bucket.url

    #: GKE's metadata server on every node (workload_metadata_config GKE_METADATA): it hands out only the workload
    #: identity's tokens, never the node's.
    node_identity_endpoint = ("169.254.169.254/32", 80)

    def workspace_identity(self, namespace: str) -> WorkspaceIdentity:
        """A service account for the workspaces' ServiceAccount (GKE workload identity), with objectUser on the
        shared bucket only. The binding waits for the cluster: its identity pool exists only then (item 9)."""
        account = gcp.serviceaccount.Account(self.resource_name("workspaces"), account_id=f"{self.short}-ws",
                                             display_name=f"Workspaces of {self.name}", project=self.project,
                                             opts=self.opts())
        gcp.serviceaccount.IAMMember(
            self.resource_name("workspaces-wi"), service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{self.project}.svc.id.goog[{namespace}/{WORKSPACE_SERVICE_ACCOUNT}]",
            opts=self.opts(depends_on=[self.gke]))
        gcp.storage.BucketIAMMember(self.resource_name("workspaces-bucket"), bucket=self.shared.name,
                                    role="roles/storage.objectUser",
                                    member=account.email.apply(lambda e: f"serviceAccount:{e}"), opts=self.opts())
        return WorkspaceIdentity(annotations=account.email.apply(lambda e: {"iam.gke.io/gcp-service-account": e}),
                                 pod_labels={})

    @classmethod
    def registry_cache_address(cls, name: str, cloud) -> str:
        return f"{cloud.region}-docker.pkg.dev/{cloud.account}"

    def registry_cache(self, credentials: dict[str, pulumi.Output] | None = None) -> list[pulumi.Resource]:
        """One Artifact Registry remote repository per upstream (repository id = its path in the cache), in the
        environment's region; the nodes' service account reads these repositories and no other."""
        made: list[pulumi.Resource] = []
        for source, path in sorted(UPSTREAMS.items()):
            remote = ({"docker_repository": {"public_repository": DOCKER_HUB_PRESET}} if source == DOCKER_HUB else
                      {"common_repository": {"uri": f"https://{UPSTREAM_URLS[source]}"}})
            repository = gcp.artifactregistry.Repository(
                self.resource_name(f"cache-{path}"), repository_id=path, project=self.project, location=self.region.id,
                format="DOCKER", mode="REMOTE_REPOSITORY", labels=self.tags.gcp(),
                description=f"pull-through cache of {source} for {self.name}",
                remote_repository_config={"description": source, **remote}, opts=self.opts())
            made.append(repository)
            made.append(gcp.artifactregistry.RepositoryIamMember(
                self.resource_name(f"cache-{path}-nodes"), project=self.project, location=self.region.id,
                repository=repository.name, role="roles/artifactregistry.reader", member=self.node_member,
                opts=self.opts()))
        return made

    def storage_endpoints(self) -> tuple[str, ...]:
        return ("storage.googleapis.com",)

    def database(self, spec: DatabaseSpec, password: pulumi.Output[str]) -> Database:
        block = self.services_block
        peering = gcp.compute.GlobalAddress(
            self.resource_name("services"), name=f"gk-{self.name}-services", project=self.project,
            purpose="VPC_PEERING", address_type="INTERNAL", address=str(block.network_address),
            prefix_length=block.prefixlen, network=self.vpc.id, labels=self.tags.gcp(), opts=self.opts())
        connection = gcp.servicenetworking.Connection(
            self.resource_name("services"), network=self.vpc.id, service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[peering.name], opts=self.opts())
        retention = spec.backup_retention_days
        instance = gcp.sql.DatabaseInstance(
            self.resource_name("db"), name=f"gk-{self.name}-db", project=self.project, region=self.region.id,
            database_version=f"POSTGRES_{versions.POSTGRES_MAJOR}", deletion_protection=True,
            settings={
                "tier": spec.instance_class or "db-custom-2-8192", "edition": "ENTERPRISE",
                "availability_type": "REGIONAL" if spec.high_availability else "ZONAL",
                "disk_size": spec.storage_gib, "disk_autoresize": True, "disk_type": "PD_SSD",
                "ip_configuration": {"ipv4_enabled": False, "private_network": self.vpc.id,
                                     "ssl_mode": "ENCRYPTED_ONLY"},
                "backup_configuration": {"enabled": True, "point_in_time_recovery_enabled": True,
                                         "location": self.region.id, "start_time": "02:00",
                                         "transaction_log_retention_days": min(7, retention),
                                         "backup_retention_settings": {"retained_backups": retention,
                                                                       "retention_unit": "COUNT"}},
                "deletion_protection_enabled": True, "user_labels": self.tags.gcp(),
            },
            opts=self.opts(depends_on=[connection]))
        gcp.sql.Database(self.resource_name("db-portal"), name="portal", instance=instance.name, project=self.project,
                         opts=self.opts())
        gcp.sql.User(self.resource_name("db-portal"), name="portal", instance=instance.name, password=password,
                     project=self.project, opts=self.opts())
        return Database(host=instance.private_ip_address, port=5432, database="portal", username="portal")

    def secret_store(self) -> SecretStore:
        return GcpSecretStore(self)


RECIPE = GcpRecipe
