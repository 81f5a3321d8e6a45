"""Harness for the infrastructure tests (imported by conftest.py and the test modules).

There is no cloud, no Kubernetes API server and no Pulumi CLI on this machine (nor in CI), so the program runs
against Pulumi's own mock engine (``pulumi.runtime.set_mocks``): every resource the program registers is
recorded with the inputs the real provider would receive (wire format, camelCase), and values that only the
cloud computes (endpoints, ARNs, generated names) are faked in :meth:`Recorder.new_resource`. That fake is the
only stand-in; the program, the plans, the catalogue and the hub's values are the real ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.config import set_all_config
from pulumi.runtime.rpc import _special_secret_sig as _SECRET, _special_sig_key as _SIG


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str | None
    order: int
    stage: str = ""
    urn: str = ""
    dependencies: frozenset[str] = field(default_factory=frozenset)
    """URNs this resource waits for: ``depends_on`` (components expanded to their children) and the resources whose
    outputs its inputs use, exactly as the SDK sends them to the engine."""
    secrets: frozenset[str] = field(default_factory=frozenset)
    """Paths of inputs that Pulumi keeps secret (encrypted in the state), e.g. ``values.hub.services.portal``."""


# What AKS's listClusterUserCredentials(format=exec) answers for an Entra ID cluster: kubelogin with a device code.
_FAKE_KUBECONFIG = """apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster: {server: "https://fake-abc.privatelink.westeurope.azmk8s.io:443", certificate-authority-data: Zg==}
contexts:
- name: fake
  context: {cluster: fake, user: clusterUser_fake}
users:
- name: clusterUser_fake
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --environment, AzurePublicCloud, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630,
             --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, 00000000-0000-0000-0000-00000000aaaa,
             --login, devicecode]
      env: null
      provideClusterInfo: false
"""


def _computed(typ: str, name: str) -> dict[str, Any]:
    """Outputs that only the cloud knows, faked with plausible shapes."""
    if typ.startswith("aws:"):
        out: dict[str, Any] = {"arn": f"arn:aws:fake:eu-central-1:123456789012:{name}"}
        if typ == "aws:eks/cluster:Cluster":
            out |= {"endpoint": "https://ABCDEF.gr7.eu-central-1.eks.amazonaws.com",
                    "certificateAuthority": {"data": "Zg=="}}
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            out |= {"latestVersion": 1}
        elif typ == "aws:s3/bucket:Bucket":
            out |= {"bucket": f"{name}-abc123"}
        elif typ == "aws:rds/instance:Instance":
            out |= {"address": f"{name}.abc.eu-central-1.rds.amazonaws.com"}
        elif typ == "aws:iam/role:Role":
            out |= {"name": name}
        return out
    if typ.startswith("azure-native:"):
        out = {"name": name}
        if typ == "azure-native:containerservice:ManagedCluster":
            out |= {"oidcIssuerProfile": {"enabled": True, "issuerURL": "https://westeurope.oic.prod-aks.azure.com/x/"},
                    # AKS makes the kubelet's identity itself (in the node resource group)
                    "identityProfile": {"kubeletidentity": {"objectId": "00000000-0000-0000-0000-0000000000k1",
                                                            "clientId": "00000000-0000-0000-0000-0000000000k2"}}}
        elif typ == "azure-native:dbforpostgresql:Server":
            out |= {"fullyQualifiedDomainName": f"{name}.postgres.database.azure.com"}
        elif typ == "azure-native:keyvault:Vault":
            out |= {"properties": {"vaultUri": f"https://{name}.vault.azure.net/"}}
        elif typ == "azure-native:managedidentity:UserAssignedIdentity":
            out |= {"clientId": "00000000-0000-0000-0000-0000000000c1", "principalId": "00000000-0000-0000-0000-0000000000p1"}
        elif typ == "azure-native:storage:StorageAccount":
            out |= {"primaryEndpoints": {"blob": f"https://{name}.blob.core.windows.net/"}}
        return out
    if typ.startswith("gcp:"):
        out = {"name": name, "selfLink": f"https://www.googleapis.com/fake/{name}"}
        if typ == "gcp:container/cluster:Cluster":
            out |= {"endpoint": "10.0.0.2", "masterAuth": {"clusterCaCertificate": "Zg=="}}
        elif typ == "gcp:sql/databaseInstance:DatabaseInstance":
            out |= {"privateIpAddress": "10.40.240.3", "connectionName": f"p:europe-west4:{name}"}
        elif typ == "gcp:serviceaccount/account:Account":
            out |= {"email": f"{name}@rws-werkbank-prod.iam.gserviceaccount.com"}
        elif typ == "gcp:secretmanager/secret:Secret":
            out |= {"secretId": name}
        return out
    if typ == "random:index/randomPassword:RandomPassword":
        return {"result": "fake-password-" + name}
    if typ == "kubernetes:core/v1:Service" and name.endswith("-traefik-address"):  # read: the ingress's address
        return {"status": {"loadBalancer": {"ingress": [{"ip": "20.61.0.10"}]}}}
    if typ == "random:index/randomId:RandomId":
        return {"hex": "0f" * 32, "b64Std": "Dw" * 21 + "8=", "id": name}
    return {}


def reveal(value: Any) -> Any:
    """Inputs as the provider gets them, with Pulumi's secret wrapping (a map with the secret signature) removed;
    :attr:`Registered.secrets` keeps where the secrets were."""
    if isinstance(value, dict):
        if value.get(_SIG) == _SECRET:
            return reveal(value.get("value"))
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def secret_paths(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        if value.get(_SIG) == _SECRET:
            return {path}
        return set().union(*(secret_paths(v, f"{path}.{k}" if path else k) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(secret_paths(v, f"{path}[{i}]") for i, v in enumerate(value)))
    return set()


def _merge(computed: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    merged = dict(computed)
    for key, value in inputs.items():
        merged[key] = (_merge(computed[key], value) if isinstance(value, dict) and isinstance(computed.get(key), dict)
                       else value)
    return merged


class Recorder(pulumi.runtime.Mocks):
    """Pulumi's mock engine, recording every registration."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self.calls: list[tuple[str, dict]] = []
        self.stage = ""
        self.outputs: dict[str, dict[str, Any]] = {}  # stack name -> its exports, per stage

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "pulumi:pulumi:StackReference":  # the cluster stage reads the cloud stage's exports
            referenced = args.inputs["name"].rsplit("/", 1)[-1]
            self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.custom, args.provider,
                                             len(self.resources), self.stage))
            return args.inputs["name"], {"name": args.inputs["name"], "outputs": self.outputs.get(referenced, {}),
                                         "secretOutputNames": []}
        inputs = dict(args.inputs)  # secrets stay wrapped, as on the wire (reveal() unwraps)
        secrets = frozenset(secret_paths(inputs))
        # inputs over the computed outputs, nested maps merged: a Key Vault's `properties` input keeps the
        # computed properties.vaultUri (the cluster stage's ClusterSecretStore needs it)
        state = _merge(_computed(args.typ, args.name), reveal(inputs))
        identity = state.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # Azure takes a list of identity ids and answers with a map id -> details.
            state["identity"] = {**identity, "userAssignedIdentities": {i: {} for i in identity["userAssignedIdentities"]}}
        self.resources.append(Registered(args.typ, args.name, inputs, args.custom, args.provider,
                                         len(self.resources), self.stage, secrets=secrets))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append((args.token, dict(args.args)))
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(_FAKE_KUBECONFIG.encode()).decode()}]}
        if args.token == "azure-native:authorization:getClientConfig":
            return {"tenantId": "00000000-0000-0000-0000-00000000aaaa", "subscriptionId": "s", "clientId": "c",
                    "objectId": "o"}
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": "123456789", "projectId": args.args.get("projectId", "p")}
        return {}

    # Queries used by the tests -------------------------------------------------------------------------
    def of(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Registered:
        found = [r for r in self.of(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def kubernetes_objects(self) -> list[dict[str, Any]]:
        """Every Kubernetes object the program creates directly (not Helm releases), as the API server gets it."""
        return [reveal(r.inputs) for r in self.resources
                if r.typ.startswith("kubernetes:") and r.custom and not r.typ.startswith("kubernetes:helm.sh")]

    def helm_releases(self) -> dict[str, dict[str, Any]]:
        """Releases by name, with their values as Helm gets them (secrets revealed; see Registered.secrets)."""
        return {r.inputs.get("name", r.name): reveal(r.inputs) for r in self.of("kubernetes:helm.sh/v3:Release")}

    # The dependency graph (issue 16, "Dependency edges") ---------------------------------------------------------
    def by_urn(self, urn: str) -> Registered | None:
        return next((r for r in self.resources if r.urn == urn), None)

    def waits_for(self, reader: Registered) -> set[str]:
        """Every URN ``reader`` waits for, directly or through the resources it waits for."""
        seen: set[str] = set()
        todo = list(reader.dependencies)
        while todo:
            urn = todo.pop()
            if urn in seen:
                continue
            seen.add(urn)
            found = self.by_urn(urn)
            if found is not None:
                todo.extend(found.dependencies)
        return seen

    def waits(self, reader: Registered, on: Registered) -> bool:
        return on.urn in self.waits_for(reader)


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Pulumi's mock monitor, also noting each registration's URN and the dependencies the SDK sends with it (the
    mocks' ``new_resource`` sees only the inputs). Registrations are serialised so each one finds its record."""

    def __init__(self, mocks: Recorder):
        super().__init__(mocks)
        self.lock = threading.Lock()

    def RegisterResource(self, request):
        with self.lock:
            before = len(self.mocks.resources)
            response = super().RegisterResource(request)
            if len(self.mocks.resources) > before:
                record = self.mocks.resources[-1]
                record.urn = response.urn
                deps = set(request.dependencies)
                for property_deps in request.propertyDependencies.values():
                    deps |= set(property_deps.urns)
                record.dependencies = frozenset(deps)
            return response

    def ReadResource(self, request):
        with self.lock:
            before = len(self.mocks.resources)
            response = super().ReadResource(request)
            if len(self.mocks.resources) > before:
                self.mocks.resources[-1].urn = response.urn
            return response


pulumi.runtime.set_mocks(Recorder(), preview=False)  # before the program is imported (FACTS.md)

from gereedschapskist.catalogue import Catalogue  # noqa: E402
from gereedschapskist.infra.config import ContractStack, StackConfig, load_stack  # noqa: E402
from gereedschapskist.infra.program import run  # noqa: E402
from gereedschapskist.infra import stages  # noqa: E402

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"
CONTRACT_STACKS = {"azure": "minfin-bi-dev", "aws": "cbs-ml-prod", "google-cloud": "rws-streaming-prod"}


def portal_token(environment: str) -> str:
    """The test token of one environment (the same value in its stack and in the platform's, as an operator sets)."""
    return f"token-for-{environment}-".ljust(48, "0")


REGISTRY_CREDENTIALS = {"docker-hub": {"username": "operator", "token": "dckr_pat_test"},
                        "ghcr": {"username": "operator", "token": "ghp_test"}}


def secrets_config(stack: StackConfig) -> dict[str, str]:
    """The secrets an operator sets with ``pulumi config set --secret`` (item 3 and 8), as the engine passes them."""
    ns = stages.CONFIG_NAMESPACE
    if isinstance(stack, ContractStack):
        return {f"{ns}:{stages.HUB_OIDC_CLIENT_SECRET}": f"oidc-secret-of-{stack.name}",
                f"{ns}:{stages.PORTAL_HUB_TOKEN}": portal_token(stack.name),
                # the registry cache's upstream accounts (ECR pulls Docker Hub and GHCR with credentials)
                f"{ns}:{stages.REGISTRY_CREDENTIALS}": json.dumps(REGISTRY_CREDENTIALS)}
    return {f"{ns}:{stages.PORTAL_OIDC_CLIENT_SECRET}": "oidc-secret-of-the-portal",
            f"{ns}:{stages.HUB_TOKENS}": json.dumps({env: portal_token(env) for env in CONTRACT_STACKS.values()})}


def use_mocks(recorder: Recorder, stack_name: str, config: dict[str, str] | None = None) -> None:
    """A fresh mock engine for one stack. Other suites in the same session (the hub's runs asyncio.run) leave no
    usable event loop behind, and Pulumi keeps its root Stack resource (bound to the loop it was made on) across
    set_mocks calls. So every run gets a fresh loop and a fresh root stack."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    set_all_config(dict(config or {}), list(config or {}))
    pulumi.runtime.set_mocks(recorder, project="gereedschapskist", stack=stack_name, preview=False,
                             monitor=RecordingMonitor(recorder))


def deploy(stack: StackConfig, catalogue: Catalogue, recorder: Recorder | None = None, *,
           config: dict[str, str] | None = None, stages_to_run: tuple[str, ...] = (stages.CLOUD, stages.CLUSTER)
           ) -> Recorder:
    """Run the real program for ``stack`` under a fresh mock engine, both stages as the CLI would (the cloud stack
    ``<name>``, then the cluster stack ``<name>.cluster`` reading its exports), and return what was registered."""
    recorder = recorder or Recorder()
    config = secrets_config(stack) if config is None else config
    for stage in stages_to_run:
        recorder.stage = stage
        stack_name = stack.name if stage == stages.CLOUD else stack.name + stages.CLUSTER_SUFFIX
        use_mocks(recorder, stack_name, config if stage == stages.CLOUD else {})
        exported: dict[str, Any] = {}

        @pulumi.runtime.test
        def program():
            component = run(stack, catalogue, stage=stage)
            return pulumi.Output.from_input(component.outputs).apply(exported.update)

        program()
        recorder.outputs[stack_name] = exported
    return recorder


# Where the platform stack is deployed in the tests: the example file (Azure) and the same stack on each
# other partner, so every recipe's database, secret store and cluster is exercised.
PLATFORM_PLACES = {
    "azure": ("westeurope", "8d2f4b6a-1c3e-4f5a-8b7c-9d0e1f2a3b4c"),
    "aws": ("eu-west-1", "210987654321"),
    "google-cloud": ("europe-west1", "gk-platform-prod"),
}


def platform_on(partner: str) -> StackConfig:
    stack = load_stack("platform", INFRA_DIR)
    region, account = PLATFORM_PLACES[partner]
    return replace(stack, cloud=stack.cloud.model_copy(update={"partner": partner, "region": region,
                                                                "account": account}))


ALL_DEPLOYMENTS = [*CONTRACT_STACKS.values(), *(f"platform:{p}" for p in PLATFORM_PLACES)]
