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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pulumi


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str | None
    order: int


_FAKE_KUBECONFIG = json.dumps({
    "apiVersion": "v1", "kind": "Config", "current-context": "fake",
    "clusters": [{"name": "fake", "cluster": {"server": "https://10.0.0.1", "certificate-authority-data": "Zg=="}}],
    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    "users": [{"name": "fake", "user": {"token": "fake"}}],
})


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
            out |= {"oidcIssuerProfile": {"enabled": True, "issuerURL": "https://westeurope.oic.prod-aks.azure.com/x/"}}
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
    return {}


class Recorder(pulumi.runtime.Mocks):
    """Pulumi's mock engine, recording every registration."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self.calls: list[tuple[str, dict]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = {**_computed(args.typ, args.name), **dict(args.inputs)}
        identity = state.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # Azure takes a list of identity ids and answers with a map id -> details.
            state["identity"] = {**identity, "userAssignedIdentities": {i: {} for i in identity["userAssignedIdentities"]}}
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.custom, args.provider,
                                         len(self.resources)))
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
        return [r.inputs for r in self.resources
                if r.typ.startswith("kubernetes:") and r.custom and not r.typ.startswith("kubernetes:helm.sh")]

    def helm_releases(self) -> dict[str, dict[str, Any]]:
        return {r.inputs.get("name", r.name): r.inputs for r in self.of("kubernetes:helm.sh/v3:Release")}


pulumi.runtime.set_mocks(Recorder(), preview=False)  # before the program is imported (FACTS.md)

from gereedschapskist.catalogue import Catalogue  # noqa: E402
from gereedschapskist.infra.config import StackConfig, load_stack  # noqa: E402
from gereedschapskist.infra.program import run  # noqa: E402

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"


def deploy(stack: StackConfig, catalogue: Catalogue, recorder: Recorder | None = None) -> Recorder:
    """Run the real program for ``stack`` under a fresh mock engine and return what it registered."""
    recorder = recorder or Recorder()
    # Other suites in the same session (the hub's runs asyncio.run) leave no usable event loop behind, and Pulumi
    # keeps its root Stack resource (bound to the loop it was made on) across set_mocks calls. So every deploy
    # gets a fresh loop and a fresh root stack.
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(recorder, project="gereedschapskist", stack=stack.name, preview=False)

    @pulumi.runtime.test
    def program():
        component = run(stack, catalogue)
        return pulumi.Output.all(*component.outputs.values())

    program()
    return recorder


# Where the platform stack is deployed in the tests: the example file (Azure) and the same stack on each
# other partner, so every recipe's database, secret store and cluster is exercised.
PLATFORM_PLACES = {
    "azure": ("westeurope", "8d2f4b6a-1c3e-4f5a-8b7c-9d0e1f2a3b4c"),
    "aws": ("eu-west-1", "210987654321"),
    "google-cloud": ("europe-west1", "gk-platform-prod"),
}
CONTRACT_STACKS = {"azure": "minfin-bi-dev", "aws": "cbs-ml-prod", "google-cloud": "rws-streaming-prod"}


def platform_on(partner: str) -> StackConfig:
    stack = load_stack("platform", INFRA_DIR)
    region, account = PLATFORM_PLACES[partner]
    return replace(stack, cloud=stack.cloud.model_copy(update={"partner": partner, "region": region,
                                                                "account": account}))


ALL_DEPLOYMENTS = [*CONTRACT_STACKS.values(), *(f"platform:{p}" for p in PLATFORM_PLACES)]
