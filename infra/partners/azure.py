"""Microsoft Azure: AKS (private cluster, Cilium network policies), Blob storage, Key Vault with a customer key
for disks, Azure Database for PostgreSQL flexible server on a delegated subnet."""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import re
from typing import Sequence

import pulumi
import pulumi_azure_native as azure
import pulumi_random as random
import yaml
from pulumi_azure_native import (
    authorization, compute, containerregistry, containerservice, dbforpostgresql, keyvault, logic, managedidentity,
    network, privatedns, resources, storage,
)

from gereedschapskist.core.registry import UPSTREAMS

from .. import versions
from ..config import DatabaseSpec
from ..pools import NodePool
from ..vms import STOP_TIMEZONE, VM_CLOUD_INIT, Vm, VmPlan
from . import (
    ESO_NAMESPACE, ESO_SERVICE_ACCOUNT, WORKSPACE_SERVICE_ACCOUNT, Cluster, Database, Recipe, Runner, SecretStore,
    StorageClass, WorkspaceIdentity,
)

# Built-in role definitions (the same ids in every Azure tenant).
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
KEY_VAULT_CRYPTO_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
READER = "acdd72a7-3d48-4bd0-a619-4c5f2d1e7b3b"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693c31c4b86"  # Azure Kubernetes Service RBAC Cluster Admin
#: The AKS Microsoft Entra server application (the same id in every tenant): kubelogin asks a token for it.
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
VIRTUAL_MACHINE_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
RUNNER_SIZE = "Standard_D2s_v5"
#: Canonical's Ubuntu 24.04 LTS (the runner and the VMs).
UBUNTU_IMAGE = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}
#: /24s from the end of the network: the database (last), the runner (second to last), the VMs (third to last).
DB_BLOCK, RUNNER_BLOCK, VM_BLOCK = -1, -2, -3
#: Windows time zone ids, which Logic Apps' recurrence takes.
_WINDOWS_ZONES = {"Europe/Amsterdam": "W. Europe Standard Time"}
RUNNER_CLOUD_INIT = """#cloud-config
ssh_pwauth: false
package_update: true
packages: [unattended-upgrades, ca-certificates, curl, git, python3-venv]
runcmd:
  - curl -sL https://aka.ms/InstallAzureCLIDeb | bash
  - az aks install-cli
  - curl -fsSL https://get.pulumi.com | sh -s -- --install-root /usr/local
"""


def unattended_kubeconfig(kubeconfig: str, client_id: str) -> str:
    """AKS's ``format=exec`` kubeconfig asks kubelogin for a device code (a person at a browser). Rewrite every
    user to kubelogin's managed-identity login with the runner's identity: unattended (issue 16, item 2)."""
    config = yaml.safe_load(kubeconfig)
    for user in config.get("users") or []:
        user["user"] = {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "kubelogin",
            "args": ["get-token", "--login", "msi", "--client-id", client_id, "--server-id", AKS_SERVER_ID],
            "interactiveMode": "Never", "provideClusterInfo": False}}
    return yaml.safe_dump(config, sort_keys=False)
ZONES = ["1", "2", "3"]


def _compact(name: str, salt: str, length: int) -> str:
    """A globally unique, lowercase alphanumeric name (storage accounts, key vaults)."""
    digest = hashlib.sha256(f"{name}/{salt}".encode()).hexdigest()[:6]
    return ("gk" + re.sub(r"[^a-z0-9]", "", name.lower()))[: length - 6] + digest


class AzureSecretStore(SecretStore):
    """Key Vault secrets, read by the External Secrets Operator through AKS workload identity."""

    def __init__(self, recipe: "AzureRecipe"):
        self.recipe = recipe
        r = recipe
        self.identity = managedidentity.UserAssignedIdentity(
            r.resource_name("external-secrets"), resource_group_name=r.group.name, location=r.region.id,
            tags=r.tags.cloud(), opts=r.opts())
        managedidentity.FederatedIdentityCredential(
            r.resource_name("external-secrets"), resource_group_name=r.group.name, resource_name_=self.identity.name,
            issuer=r.aks.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else None),
            subject=f"system:serviceaccount:{ESO_NAMESPACE}:{ESO_SERVICE_ACCOUNT}",
            audiences=["api://AzureADTokenExchange"], opts=r.opts())
        self.read_role = r.role("external-secrets-read", KEY_VAULT_SECRETS_USER, self.identity.principal_id,
                                r.vault.id)

    def put(self, key: str, value: pulumi.Input[str]) -> pulumi.Resource:
        return keyvault.Secret(self.recipe.resource_name(f"secret-{key}"), resource_group_name=self.recipe.group.name,
                               vault_name=self.recipe.vault.name, secret_name=key, tags=self.recipe.tags.cloud(),
                               properties={"value": pulumi.Output.secret(value)}, opts=self.recipe.opts())

    def declare(self, key: str) -> None:
        """Readable through the vault-wide role; the operator sets it (az keyvault secret set)."""

    def remote_key(self, key: str) -> str:
        return key

    @property
    def eso_provider(self) -> pulumi.Input[dict]:
        return self.recipe.vault.properties.apply(lambda p: {"azurekv": {
            "authType": "WorkloadIdentity", "vaultUrl": p.vault_uri,
            "serviceAccountRef": {"name": ESO_SERVICE_ACCOUNT, "namespace": ESO_NAMESPACE}}})

    @property
    def eso_service_account_annotations(self) -> pulumi.Input[dict]:
        return self.identity.client_id.apply(lambda cid: {"azure.workload.identity/client-id": cid})

    @property
    def eso_pod_labels(self) -> dict[str, str]:
        return {"azure.workload.identity/use": "true"}


class AzureRecipe(Recipe):
    provider = "azure"
    account_pattern = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    account_help = "an Azure subscription id is a lowercase GUID, e.g. 3f0c6a1e-5d7b-4c2a-9e8f-1a2b3c4d5e6f"

    def make_provider(self) -> pulumi.ProviderResource:
        return azure.Provider(self.resource_name("azure"), location=self.region.id, subscription_id=self.cloud.account,
                              opts=pulumi.ResourceOptions(parent=self.parent))

    def role(self, name: str, role_id: str, principal: pulumi.Input[str], scope: pulumi.Input[str],
             principal_type: str | None = "ServicePrincipal", **opts) -> authorization.RoleAssignment:
        return authorization.RoleAssignment(
            self.resource_name(name), principal_id=principal, principal_type=principal_type, scope=scope,
            role_definition_id=f"/subscriptions/{self.cloud.account}/providers/Microsoft.Authorization/"
                               f"roleDefinitions/{role_id}", opts=self.opts(**opts))

    def network(self) -> None:
        cidr = ipaddress.IPv4Network(self.cloud.network_cidr)
        nodes_block, db_block = list(cidr.subnets(new_prefix=18))[:1] + [list(cidr.subnets(new_prefix=24))[DB_BLOCK]]
        self.group = resources.ResourceGroup(self.resource_name("rg"), resource_group_name=f"gereedschapskist-{self.name}",
                                             location=self.region.id, tags=self.tags.cloud(), opts=self.opts())
        self.vnet = network.VirtualNetwork(self.resource_name("vnet"), resource_group_name=self.group.name,
                                           location=self.region.id, address_space={"address_prefixes": [str(cidr)]},
                                           tags=self.tags.cloud(), opts=self.opts())
        self.nodes_subnet = network.Subnet(
            self.resource_name("nodes"), resource_group_name=self.group.name, virtual_network_name=self.vnet.name,
            subnet_name="nodes", address_prefix=str(nodes_block), default_outbound_access=False,
            service_endpoints=[{"service": "Microsoft.Storage"}, {"service": "Microsoft.KeyVault"}], opts=self.opts())
        self.db_block = str(db_block)
        tenant = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(
            parent=self.parent, provider=self.cloud_provider)).tenant_id
        self.vault = keyvault.Vault(
            self.resource_name("vault"), resource_group_name=self.group.name, location=self.region.id,
            vault_name=_compact(self.name, self.cloud.account, 24), tags=self.tags.cloud(), opts=self.opts(),
            properties={"tenant_id": tenant, "sku": {"family": "A", "name": "standard"},
                        "enable_rbac_authorization": True, "enable_purge_protection": True,
                        "enable_soft_delete": True, "soft_delete_retention_in_days": 90,
                        "network_acls": {"default_action": "Deny", "bypass": "AzureServices",
                                         "virtual_network_rules": [{"id": self.nodes_subnet.id}]}})
        key = keyvault.Key(self.resource_name("disks"), resource_group_name=self.group.name, vault_name=self.vault.name,
                           key_name="disks", tags=self.tags.cloud(), opts=self.opts(),
                           properties={"kty": "RSA", "key_size": 4096,
                                       "rotation_policy": {"lifetime_actions": [{"action": {"type": "rotate"},
                                                                                 "trigger": {"time_after_create": "P1Y"}}]}})
        # Disks (nodes and home directories) are encrypted with the contract's own key in its own vault.
        self.disk_encryption = compute.DiskEncryptionSet(
            self.resource_name("disks"), resource_group_name=self.group.name, location=self.region.id,
            identity={"type": "SystemAssigned"}, encryption_type="EncryptionAtRestWithCustomerKey",
            active_key={"key_url": key.key_uri_with_version, "source_vault": {"id": self.vault.id}},
            rotation_to_latest_key_version_enabled=True, tags=self.tags.cloud(), opts=self.opts())
        self.disks_key_role = self.role("disks-key", KEY_VAULT_CRYPTO_ENCRYPTION_USER,
                                        self.disk_encryption.identity.apply(lambda i: i.principal_id if i else None),
                                        self.vault.id)

    def _pool(self, pool: NodePool) -> dict:
        return {
            "vm_size": pool.machine.machine_type, "count": pool.min_nodes, "min_count": pool.min_nodes,
            "max_count": pool.max_nodes, "enable_auto_scaling": True, "os_type": "Linux", "os_sku": "AzureLinux",
            "type": "VirtualMachineScaleSets", "vnet_subnet_id": self.nodes_subnet.id, "node_labels": pool.labels,
            "node_taints": [str(t) for t in pool.taints], "enable_encryption_at_host": True,
            "availability_zones": ZONES, "orchestrator_version": self.cloud.kubernetes_version,
            "mode": "User",
        }

    def cluster(self, pools: Sequence[NodePool]) -> Cluster:
        core, others = pools[0], pools[1:]
        control = managedidentity.UserAssignedIdentity(self.resource_name("aks"), resource_group_name=self.group.name,
                                                       location=self.region.id, tags=self.tags.cloud(), opts=self.opts())
        # What the cluster needs before it is created (ARM and Pulumi don't add them, the az CLI would): its identity
        # reads the disk encryption set and joins the nodes' subnet (Network Contributor), and the set's own identity
        # may use the key in the vault. The cluster waits for all three (issue 16, item 2).
        prerequisites = [
            self.role("aks-des-reader", READER, control.principal_id, self.disk_encryption.id),
            self.role("aks-subnet", NETWORK_CONTRIBUTOR, control.principal_id, self.nodes_subnet.id),
            self.disks_key_role,
        ]
        # The runner's identity (the cluster stage runs as it) is made first: the kubeconfig names it.
        self.runner_identity = managedidentity.UserAssignedIdentity(
            self.resource_name("runner"), resource_group_name=self.group.name, location=self.region.id,
            tags=self.tags.cloud(), opts=self.opts())
        self.aks = containerservice.ManagedCluster(
            self.resource_name("aks"), resource_group_name=self.group.name, location=self.region.id,
            dns_prefix=self.name, kubernetes_version=self.cloud.kubernetes_version, tags=self.tags.cloud(),
            identity={"type": "UserAssigned", "user_assigned_identities": [control.id]},
            sku={"name": "Base", "tier": "Standard"},
            agent_pool_profiles=[{"name": core.name, **self._pool(core), "mode": "System"}],
            api_server_access_profile={"enable_private_cluster": True},
            network_profile={"network_plugin": "azure", "network_plugin_mode": "overlay",
                             "network_dataplane": "cilium", "network_policy": "cilium",
                             "pod_cidr": "192.168.0.0/16", "service_cidr": "172.16.0.0/16",
                             "dns_service_ip": "172.16.0.10"},
            disk_encryption_set_id=self.disk_encryption.id,
            aad_profile={"managed": True, "enable_azure_rbac": True}, disable_local_accounts=True,
            oidc_issuer_profile={"enabled": True}, security_profile={"workload_identity": {"enabled": True}},
            auto_upgrade_profile={"upgrade_channel": "patch", "node_os_upgrade_channel": "NodeImage"},
            opts=self.opts(depends_on=prerequisites))
        # Local accounts are off and Azure RBAC is on: without a cluster role every call is 403. The runner's identity
        # and the identity that deploys the cloud stage administer the cluster through Azure RBAC.
        deployer = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(
            parent=self.parent, provider=self.cloud_provider)).object_id
        self.cluster_admins = [
            self.role("aks-admin-runner", AKS_RBAC_CLUSTER_ADMIN, self.runner_identity.principal_id, self.aks.id),
            self.role("aks-admin-deployer", AKS_RBAC_CLUSTER_ADMIN, deployer, self.aks.id, principal_type=None),
        ]
        for pool in others:
            containerservice.AgentPool(
                self.resource_name(f"pool-{pool.name}"), resource_group_name=self.group.name,
                resource_name_=self.aks.name, agent_pool_name=re.sub(r"[^a-z0-9]", "", pool.name)[:12],
                tags=self.tags.cloud(), opts=self.opts(ignore_changes=["count"]), **self._pool(pool))
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=self.group.name, resource_name=self.aks.name, format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self.parent, provider=self.cloud_provider))
        encoded = credentials.kubeconfigs.apply(lambda k: k[0].value)
        kubeconfig = pulumi.Output.all(encoded, self.runner_identity.client_id).apply(
            lambda args: unattended_kubeconfig(base64.b64decode(args[0]).decode(), args[1]))
        return Cluster(name=self.aks.name, kubeconfig=kubeconfig)

    def runner(self) -> Runner:
        """A VM in its own subnet (outbound through a NAT gateway, no public address), reached with
        ``az vm run-command invoke`` or as a self-hosted CI agent; it runs as the runner identity."""
        block = self._block(RUNNER_BLOCK)
        nat = self.outbound_nat
        subnet = network.Subnet(
            self.resource_name("runner"), resource_group_name=self.group.name, virtual_network_name=self.vnet.name,
            subnet_name="runner", address_prefix=str(block), default_outbound_access=False,
            nat_gateway={"id": nat.id}, opts=self.opts())
        nic = network.NetworkInterface(
            self.resource_name("runner"), resource_group_name=self.group.name, location=self.region.id,
            ip_configurations=[{"name": "internal", "subnet": {"id": subnet.id},
                                "private_ip_allocation_method": "Dynamic"}],
            tags=self.tags.cloud(), opts=self.opts())
        # Azure wants a password or a key for the first user; SSH password login is off (cloud-init), no key is kept.
        password = random.RandomPassword(self.resource_name("runner-admin"), length=40, special=True,
                                         opts=pulumi.ResourceOptions(parent=self.parent))
        vm = compute.VirtualMachine(
            self.resource_name("runner"), resource_group_name=self.group.name, location=self.region.id,
            vm_name=f"{self.name}-runner"[:64], hardware_profile={"vm_size": RUNNER_SIZE},
            identity={"type": "UserAssigned", "user_assigned_identities": [self.runner_identity.id]},
            network_profile={"network_interfaces": [{"id": nic.id, "primary": True}]},
            os_profile={"computer_name": "runner", "admin_username": "runner", "admin_password": password.result,
                        "custom_data": base64.b64encode(RUNNER_CLOUD_INIT.encode()).decode(),
                        "linux_configuration": {"disable_password_authentication": False,
                                                "patch_settings": {"patch_mode": "AutomaticByPlatform"}}},
            storage_profile={"image_reference": UBUNTU_IMAGE,
                             "os_disk": {"create_option": "FromImage", "managed_disk": {
                                 "storage_account_type": "Premium_LRS",
                                 "disk_encryption_set": {"id": self.disk_encryption.id}}}},
            security_profile={"encryption_at_host": True}, tags=self.tags.cloud(),
            opts=self.opts(depends_on=self.cluster_admins))
        return Runner(name=vm.name, identity=self.runner_identity.client_id,
                      access=f"az vm run-command invoke -g gereedschapskist-{self.name} -n {self.name}-runner "
                             f"--command-id RunShellScript --scripts '<command>'")

    def _block(self, index: int) -> str:
        return str(list(ipaddress.IPv4Network(self.cloud.network_cidr).subnets(new_prefix=24))[index])

    @functools.cached_property
    def outbound_nat(self) -> network.NatGateway:
        """The NAT gateway of the runner's and the VMs' subnets: their only way out (no public addresses)."""
        address = network.PublicIPAddress(
            self.resource_name("runner-nat"), resource_group_name=self.group.name, location=self.region.id,
            sku={"name": "Standard"}, public_ip_allocation_method="Static", tags=self.tags.cloud(), opts=self.opts())
        return network.NatGateway(self.resource_name("runner"), resource_group_name=self.group.name,
                                  location=self.region.id, sku={"name": "Standard"},
                                  public_ip_addresses=[{"id": address.id}], tags=self.tags.cloud(), opts=self.opts())

    @functools.cached_property
    def vm_subnet(self) -> network.Subnet:
        """The VMs' own /24 (third to last: the runner's and the database's are after it), outbound through the
        NAT gateway; its security group admits nothing from outside the network."""
        group = network.NetworkSecurityGroup(
            self.resource_name("vms"), resource_group_name=self.group.name, location=self.region.id,
            security_rules=[{"name": "deny-internet-inbound", "priority": 4000, "direction": "Inbound",
                             "access": "Deny", "protocol": "*", "source_address_prefix": "Internet",
                             "source_port_range": "*", "destination_address_prefix": "*",
                             "destination_port_range": "*"}],
            tags=self.tags.cloud(), opts=self.opts())
        return network.Subnet(
            self.resource_name("vms"), resource_group_name=self.group.name, virtual_network_name=self.vnet.name,
            subnet_name="vms", address_prefix=self._block(VM_BLOCK), default_outbound_access=False,
            nat_gateway={"id": self.outbound_nat.id}, network_security_group={"id": group.id}, opts=self.opts())

    def vm(self, vm: VmPlan) -> Vm:
        """A VM reached with ``az vm run-command`` (no inbound path at all); a Logic App deallocates it daily from
        its end date on (Azure's auto-shutdown schedule repeats daily from now and cannot start at a date)."""
        nic = network.NetworkInterface(
            self.resource_name(f"vm-{vm.name}"), resource_group_name=self.group.name, location=self.region.id,
            ip_configurations=[{"name": "internal", "subnet": {"id": self.vm_subnet.id},
                                "private_ip_allocation_method": "Dynamic"}],
            tags=self.tags.cloud(), opts=self.opts())
        password = random.RandomPassword(self.resource_name(f"vm-{vm.name}-admin"), length=40, special=True,
                                         opts=pulumi.ResourceOptions(parent=self.parent))
        vm_name = f"{self.name}-{vm.name}"[:64]
        machine = compute.VirtualMachine(
            self.resource_name(f"vm-{vm.name}"), resource_group_name=self.group.name, location=self.region.id,
            vm_name=vm_name, hardware_profile={"vm_size": vm.machine.machine_type},
            network_profile={"network_interfaces": [{"id": nic.id, "primary": True}]},
            os_profile={"computer_name": vm.name, "admin_username": "beheer", "admin_password": password.result,
                        "custom_data": base64.b64encode(VM_CLOUD_INIT.encode()).decode(),
                        "linux_configuration": {"disable_password_authentication": False,
                                                "patch_settings": {"patch_mode": "AutomaticByPlatform"}}},
            storage_profile={"image_reference": UBUNTU_IMAGE,
                             "os_disk": {"create_option": "FromImage", "disk_size_gb": vm.disk_gib, "managed_disk": {
                                 "storage_account_type": "Premium_LRS",
                                 "disk_encryption_set": {"id": self.disk_encryption.id}}}},
            security_profile={"encryption_at_host": True},
            tags={**self.tags.cloud(), "ends-on": vm.ends_on.isoformat()},
            opts=self.opts(depends_on=[self.disks_key_role]))
        workflow = logic.Workflow(
            self.resource_name(f"vm-{vm.name}-end"), resource_group_name=self.group.name, location=self.region.id,
            workflow_name=f"{vm_name}-end"[:80], identity={"type": "SystemAssigned"}, state="Enabled",
            definition=machine.id.apply(lambda vm_id: {
                "$schema": "https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/"
                           "workflowdefinition.json#",
                "contentVersion": "1.0.0.0",
                "triggers": {"end": {"type": "Recurrence", "recurrence": {
                    "frequency": "Day", "interval": 1, "startTime": vm.stop_at,
                    "timeZone": _WINDOWS_ZONES[STOP_TIMEZONE]}}},
                "actions": {"deallocate": {"type": "Http", "inputs": {
                    "method": "POST", "uri": f"https://management.azure.com{vm_id}/deallocate?api-version=2024-07-01",
                    "authentication": {"type": "ManagedServiceIdentity",
                                       "audience": "https://management.azure.com/"}}}}}),
            tags=self.tags.cloud(), opts=self.opts())
        self.role(f"vm-{vm.name}-end", VIRTUAL_MACHINE_CONTRIBUTOR,
                  workflow.identity.apply(lambda i: i.principal_id if i else None), machine.id,
                  depends_on=[workflow])
        return Vm(name=machine.name,
                  access=f"az vm run-command invoke -g gereedschapskist-{self.name} -n {vm_name} "
                         f"--command-id RunShellScript --scripts '<command>'",
                  stops=f"daily at 23:59 {STOP_TIMEZONE} from {vm.ends_on} (Logic App: deallocate)")

    def home_storage(self) -> StorageClass:
        # Zone-redundant disks (Premium_ZRS) attach to a node in any zone of the region, so the user pools keep
        # their three zones: a pool that scaled to zero may come back in another zone (issue 16, item 7).
        return StorageClass("disk.csi.azure.com", {
            "skuName": "Premium_ZRS", "diskEncryptionSetID": self.disk_encryption.id,
            "diskEncryptionType": "EncryptionAtRestWithCustomerKey", "networkAccessPolicy": "DenyAll"})

    def datasets_storage(self) -> StorageClass:
        """Azure Files through AKS's built-in CSI driver: a zone-redundant premium NFS share in the cluster's
        network (the driver makes the storage account, with a private endpoint in the nodes' subnet)."""
        return StorageClass("file.csi.azure.com", {"skuName": "Premium_ZRS", "protocol": "nfs",
                                                   "networkEndpointType": "privateEndpoint"})

    def shared_bucket(self) -> pulumi.Output[str]:
        account = storage.StorageAccount(
            self.resource_name("shared"), resource_group_name=self.group.name, location=self.region.id,
            account_name=self.storage_account_name, kind="StorageV2",
            sku={"name": "Standard_ZRS"}, allow_blob_public_access=False, allow_shared_key_access=False,
            allow_cross_tenant_replication=False, minimum_tls_version="TLS1_2", enable_https_traffic_only=True,
            encryption={"require_infrastructure_encryption": True, "key_source": "Microsoft.Storage",
                        "services": {"blob": {"enabled": True, "key_type": "Account"},
                                     "file": {"enabled": True, "key_type": "Account"}}},
            network_rule_set={"default_action": "Deny", "bypass": "AzureServices",
                              "virtual_network_rules": [{"virtual_network_resource_id": self.nodes_subnet.id,
                                                         "action": "Allow"}]},
            tags=self.tags.cloud(), opts=self.opts())
        self.shared_account = account
        storage.BlobServiceProperties(
            self.resource_name("shared"), resource_group_name=self.group.name, account_name=account.name,
            blob_services_name="default", is_versioning_enabled=True,
            delete_retention_policy={"enabled": True, "days": 30},
            container_delete_retention_policy={"enabled": True, "days": 30}, opts=self.opts())
        container = storage.BlobContainer(self.resource_name("shared"), resource_group_name=self.group.name,
                                          account_name=account.name, container_name="shared", public_access="None",
                                          opts=self.opts())
        return pulumi.Output.concat("https://", account.name, ".blob.core.windows.net/", container.name)

    @classmethod
    def registry_name(cls, name: str, cloud) -> str:
        """The container registry's globally unique name (5-50 lowercase letters and digits)."""
        return _compact(name, cloud.account + "/registry", 50)

    @classmethod
    def registry_cache_address(cls, name: str, cloud) -> str:
        return f"{cls.registry_name(name, cloud)}.azurecr.io"

    def registry_cache(self, credentials: dict[str, pulumi.Output] | None = None) -> list[pulumi.Resource]:
        """An Azure Container Registry with one cache rule per upstream (``<registry>/*`` to ``<path>/*``, ACR's
        artifact cache), no admin user and no anonymous pull; the cluster's kubelet identity gets AcrPull on this
        registry only."""
        registry = containerregistry.Registry(
            self.resource_name("registry"), resource_group_name=self.group.name, location=self.region.id,
            registry_name=self.registry_name(self.name, self.cloud), sku={"name": "Standard"},
            admin_user_enabled=False, anonymous_pull_enabled=False, tags=self.tags.cloud(), opts=self.opts())
        made: list[pulumi.Resource] = [registry]
        for source, path in sorted(UPSTREAMS.items()):
            made.append(containerregistry.CacheRule(
                self.resource_name(f"cache-{path}"), resource_group_name=self.group.name,
                registry_name=registry.name, cache_rule_name=path, source_repository=f"{source}/*",
                target_repository=f"{path}/*", opts=self.opts()))
        kubelet = self.aks.identity_profile.apply(lambda p: p["kubeletidentity"].object_id)
        made.append(self.role("aks-acr-pull", ACR_PULL, kubelet, registry.id))
        return made

    @property
    def storage_account_name(self) -> str:
        return _compact(self.name, self.cloud.account + "/shared", 24)

    def workspace_identity(self, namespace: str) -> WorkspaceIdentity:
        """A managed identity federated with the workspaces' ServiceAccount (AKS workload identity), with Storage
        Blob Data Contributor on the shared storage account only."""
        identity = managedidentity.UserAssignedIdentity(
            self.resource_name("workspaces"), resource_group_name=self.group.name, location=self.region.id,
            tags=self.tags.cloud(), opts=self.opts())
        managedidentity.FederatedIdentityCredential(
            self.resource_name("workspaces"), resource_group_name=self.group.name, resource_name_=identity.name,
            issuer=self.aks.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else None),
            subject=f"system:serviceaccount:{namespace}:{WORKSPACE_SERVICE_ACCOUNT}",
            audiences=["api://AzureADTokenExchange"], opts=self.opts())
        self.role("workspaces-blob", STORAGE_BLOB_DATA_CONTRIBUTOR, identity.principal_id, self.shared_account.id)
        return WorkspaceIdentity(annotations=identity.client_id.apply(lambda c: {"azure.workload.identity/client-id": c}),
                                 pod_labels={"azure.workload.identity/use": "true"})

    def storage_endpoints(self) -> tuple[str, ...]:
        # the account's blob endpoint, and Entra ID, where the workload identity's token is exchanged
        return (f"{self.storage_account_name}.blob.core.windows.net", "login.microsoftonline.com")

    def database(self, spec: DatabaseSpec, password: pulumi.Output[str]) -> Database:
        subnet = network.Subnet(
            self.resource_name("db"), resource_group_name=self.group.name, virtual_network_name=self.vnet.name,
            subnet_name="postgres", address_prefix=self.db_block, default_outbound_access=False,
            delegations=[{"name": "postgres", "service_name": "Microsoft.DBforPostgreSQL/flexibleServers"}],
            opts=self.opts())
        zone = privatedns.PrivateZone(self.resource_name("db"), resource_group_name=self.group.name, location="Global",
                                      private_zone_name=f"{self.name}.private.postgres.database.azure.com",
                                      tags=self.tags.cloud(), opts=self.opts())
        privatedns.VirtualNetworkLink(self.resource_name("db"), resource_group_name=self.group.name,
                                      private_zone_name=zone.name, location="Global", registration_enabled=False,
                                      virtual_network={"id": self.vnet.id}, tags=self.tags.cloud(), opts=self.opts())
        server = dbforpostgresql.Server(
            self.resource_name("db"), resource_group_name=self.group.name, location=self.region.id,
            server_name=f"gk-{self.name}-db", version=versions.POSTGRES_MAJOR,
            sku={"name": spec.instance_class or "Standard_D2ds_v5", "tier": "GeneralPurpose"},
            storage={"storage_size_gb": spec.storage_gib, "auto_grow": "Enabled"},
            backup={"backup_retention_days": spec.backup_retention_days, "geo_redundant_backup": "Disabled"},
            high_availability={"mode": "ZoneRedundant" if spec.high_availability else "Disabled"},
            network={"delegated_subnet_resource_id": subnet.id, "private_dns_zone_arm_resource_id": zone.id,
                     "public_network_access": "Disabled"},
            auth_config={"password_auth": "Enabled", "active_directory_auth": "Disabled"},
            administrator_login="portal", administrator_login_password=password, create_mode="Default",
            tags=self.tags.cloud(), opts=self.opts())
        dbforpostgresql.Database(self.resource_name("db-portal"), resource_group_name=self.group.name,
                                 server_name=server.name, database_name="portal", charset="UTF8",
                                 collation="en_US.utf8", opts=self.opts())
        return Database(host=server.fully_qualified_domain_name, port=5432, database="portal", username="portal")

    def secret_store(self) -> SecretStore:
        return AzureSecretStore(self)


RECIPE = AzureRecipe
