"""One recipe per cloud provider, behind one interface.

The catalogue's partner says which provider it runs on (``partners/<id>.yaml: provider``); the recipe is
the module ``gereedschapskist.infra.partners.<provider>``, which sets ``RECIPE`` to a :class:`Recipe`
subclass. Adding a partner on a new cloud is one new module here — nothing else changes.

A recipe creates the cloud side (network, managed Kubernetes with private API endpoint, node pools,
encryption keys, object storage, managed PostgreSQL, secret store); everything inside the cluster is
created by the cloud-neutral code in :mod:`..workbench` and :mod:`..platform`.
"""

from __future__ import annotations

import abc
import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import pulumi

from gereedschapskist.catalogue import Partner, Region

from ..config import CloudSpec, DatabaseSpec
from ..errors import INVALID_CONFIG, NO_RECIPE, StackInvalid
from ..pools import NodePool
from ..tags import Tags
from ..vms import Vm, VmPlan

HOME_STORAGE_CLASS = "gereedschapskist-home"
#: The data store's file storage (issue 15): a volume many workspace pods mount at once, read-only.
DATASETS_STORAGE_CLASS = "gereedschapskist-datasets"
ESO_NAMESPACE = "external-secrets"
ESO_SERVICE_ACCOUNT = "external-secrets"


@dataclass(frozen=True)
class Cluster:
    name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]


@dataclass(frozen=True)
class Runner:
    """The machine inside the network that runs the cluster stage (issue 16, item 1): no public address; the
    operator or a CI job reaches it through the cloud's own path (``access``), and its identity may administer the
    cluster."""

    name: pulumi.Output[str]
    identity: pulumi.Output[str]
    access: str


#: The ServiceAccount of workspace pods in the hub's namespace: the cloud identity that may use the shared bucket.
WORKSPACE_SERVICE_ACCOUNT = "workspace"


@dataclass(frozen=True)
class WorkspaceIdentity:
    """How workspace pods reach the shared bucket with a cloud identity of their own (issue 16, item 11): the
    annotations of their ServiceAccount and the labels their pods need (exported by the cloud stage)."""

    annotations: pulumi.Input[dict]
    pod_labels: dict[str, str]


@dataclass(frozen=True)
class Database:
    host: pulumi.Output[str]
    port: int
    database: str
    username: str


@dataclass(frozen=True)
class StorageClass:
    """How the cluster provisions encrypted disks for home directories."""

    provisioner: str
    parameters: dict[str, Any]


class SecretStore(abc.ABC):
    """The cloud's secret store, as the External Secrets Operator and the program see it."""

    @abc.abstractmethod
    def put(self, key: str, value: pulumi.Input[str]) -> pulumi.Resource:
        """Store a value the program generated (e.g. the database password)."""

    @abc.abstractmethod
    def declare(self, key: str) -> None:
        """Make sure the operator-provided secret ``key`` may be read by the cluster (value set out of band)."""

    @abc.abstractmethod
    def remote_key(self, key: str) -> pulumi.Input[str]:
        """The name the External Secrets provider knows ``key`` by."""

    @property
    @abc.abstractmethod
    def eso_provider(self) -> pulumi.Input[dict]:
        """The ``spec.provider`` block of a ClusterSecretStore for this cloud."""

    @property
    def eso_service_account_annotations(self) -> pulumi.Input[dict]:
        return {}

    @property
    def eso_pod_labels(self) -> dict[str, str]:
        return {}

    def export(self, keys: Sequence[str]) -> dict[str, pulumi.Input[Any]]:
        """What the cluster stage needs of this store (exported by the cloud stage, see :class:`ReferencedStore`)."""
        return {"provider": self.eso_provider, "annotations": self.eso_service_account_annotations,
                "pod_labels": self.eso_pod_labels, "remote_keys": {key: self.remote_key(key) for key in keys}}


class ReferencedStore(SecretStore):
    """The cloud stage's secret store as the cluster stage sees it: it reads, and never writes, the store."""

    def __init__(self, exported: pulumi.Output[dict], keys: Sequence[str]):
        self.exported, self.keys = exported, tuple(keys)

    def put(self, key: str, value: pulumi.Input[str]) -> pulumi.Resource:
        raise RuntimeError(f"the cluster stage cannot write {key!r} into the secret store: the cloud stage does")

    def declare(self, key: str) -> None:
        raise RuntimeError(f"the cluster stage cannot declare {key!r} in the secret store: the cloud stage does")

    def remote_key(self, key: str) -> pulumi.Output[str]:
        if key not in self.keys:
            raise StackInvalid(INVALID_CONFIG, f"secret {key!r} is not in the cloud stage's secret store "
                                               f"(it has: {', '.join(self.keys)}); run the cloud stage first")
        return self.exported.apply(lambda e: e["remote_keys"][key])

    @property
    def eso_provider(self) -> pulumi.Input[dict]:
        return self.exported.apply(lambda e: e["provider"])

    @property
    def eso_service_account_annotations(self) -> pulumi.Input[dict]:
        return self.exported.apply(lambda e: e["annotations"] or {})

    @property
    def eso_pod_labels(self) -> pulumi.Input[dict]:  # type: ignore[override]
        return self.exported.apply(lambda e: e["pod_labels"] or {})


class Recipe(abc.ABC):
    """How one cloud provider builds the infrastructure of a stack. Subclasses live in ``partners/<provider>.py``."""

    provider: ClassVar[str]
    account_pattern: ClassVar[str]
    account_help: ClassVar[str]
    #: Whether the cloud runs the NVIDIA device plugin on GPU nodes itself (GKE); else the program installs it
    #: (:mod:`..gpu`, issue 16 item 4).
    ships_gpu_device_plugin: ClassVar[bool] = False

    def __init__(self, *, name: str, partner: Partner, region: Region, cloud: CloudSpec, tags: Tags,
                 parent: pulumi.Resource):
        self.name, self.partner, self.region, self.cloud, self.tags = name, partner, region, cloud, tags
        self.parent = parent

    @functools.cached_property
    def cloud_provider(self) -> pulumi.ProviderResource:
        """Made on first use: the cluster stage creates no cloud resource and so no cloud provider."""
        return self.make_provider()

    @classmethod
    def check_account(cls, cloud: CloudSpec, source: str) -> None:
        if not re.fullmatch(cls.account_pattern, cloud.account):
            raise StackInvalid(INVALID_CONFIG, f"{source}: config.gereedschapskist:cloud.account = {cloud.account!r}: "
                                               f"{cls.account_help}")

    def opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a cloud resource: child of the stack's component, created by the region-pinned provider."""
        return pulumi.ResourceOptions(parent=self.parent, provider=self.cloud_provider, **kwargs)

    def resource_name(self, suffix: str) -> str:
        return f"{self.name}-{suffix}"

    @abc.abstractmethod
    def make_provider(self) -> pulumi.ProviderResource:
        """The cloud provider pinned to the stack's region and account, so nothing lands elsewhere."""

    @abc.abstractmethod
    def network(self) -> None:
        """The private network everything else lives in."""

    @abc.abstractmethod
    def cluster(self, pools: Sequence[NodePool]) -> Cluster:
        """Managed Kubernetes with a private API endpoint, and one node pool per entry of ``pools``."""

    @abc.abstractmethod
    def home_storage(self) -> StorageClass:
        """Encrypted disks for home directories."""

    def datasets_storage(self) -> StorageClass:
        """Cloud stage: file storage that many pods on many nodes mount at once (ReadWriteMany/ReadOnlyMany), for
        the data store's claim (issue 15); encrypted at rest, reachable only inside the network."""
        raise NotImplementedError(f"{type(self).__name__} has no file storage for the data store")

    @abc.abstractmethod
    def shared_bucket(self) -> pulumi.Output[str]:
        """Object storage for shared data: private, encrypted at rest, versioned. Returns its address."""

    @abc.abstractmethod
    def database(self, spec: DatabaseSpec, password: pulumi.Output[str]) -> Database:
        """Managed PostgreSQL reachable only from the private network, with backups and point-in-time restore."""

    @abc.abstractmethod
    def secret_store(self) -> SecretStore:
        """The cloud's secret store and an identity for the External Secrets Operator to read it."""

    def cluster_services(self, kubernetes: pulumi.ProviderResource) -> list[pulumi.Resource]:
        """In-cluster services this cloud needs that others have built in (e.g. a cluster autoscaler)."""
        return []

    @abc.abstractmethod
    def runner(self) -> Runner:
        """A small machine inside the network, without a public address, whose identity may administer the
        cluster: the cluster stage runs there (the API endpoint is private). Called after :meth:`cluster`."""

    #: A node-local address workspace pods must reach for their identity's tokens (EKS Pod Identity agent, GKE
    #: metadata server), as (CIDR, port); None where the token is a projected file (AKS).
    node_identity_endpoint: ClassVar[tuple[str, int] | None] = None

    def workspace_identity(self, namespace: str) -> WorkspaceIdentity:
        """Cloud stage, after :meth:`shared_bucket`: an identity for the ServiceAccount
        ``namespace/WORKSPACE_SERVICE_ACCOUNT`` that may read and write the shared bucket, and nothing else."""
        raise NotImplementedError(f"{type(self).__name__} gives workspaces no identity for the shared bucket")

    def storage_endpoints(self) -> tuple[str, ...]:
        """Host names workspaces reach the shared bucket (and their identity's token service) at: production egress
        allows them. Known without any cloud resource (both stages call it)."""
        return ()

    def vm(self, vm: VmPlan) -> Vm:
        """Cloud stage, after :meth:`runner`: one certified VM (supply model c, :mod:`..vms`) in its own subnet,
        without a public address, its disk encrypted with the environment's key, stopped from its end date on."""
        raise NotImplementedError(f"{type(self).__name__} offers no virtual machines")

    #: Upstream registries (``core.registry.UPSTREAMS``) whose cache needs the operator's credentials
    #: (``pulumi config set --secret --path gereedschapskist:registry_credentials.<registry>.username`` / ``.token``).
    registry_credentials_needed: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def registry_cache_address(cls, name: str, cloud: CloudSpec) -> str:
        """Where the environment's registry cache answers (``core.registry.mirrored``'s ``cache``): known from the
        configuration alone, so both stages and the hub's values agree on it before any resource exists."""
        raise NotImplementedError(f"{cls.__name__} has no registry cache")

    def registry_cache(self, credentials: dict[str, pulumi.Output] | None = None) -> list[pulumi.Resource]:
        """Cloud stage, after :meth:`cluster`: a pull-through cache with one path per upstream registry
        (``core.registry.UPSTREAMS``) at :meth:`registry_cache_address`, which the cluster's nodes may pull from."""
        raise NotImplementedError(f"{type(self).__name__} has no registry cache")

    def export_services(self) -> dict[str, pulumi.Input[Any]]:
        """What :meth:`cluster_services` needs of the cloud stage (exported; see :meth:`attach`)."""
        return {}

    def attach(self, services: pulumi.Output[dict]) -> None:
        """In the cluster stage: take what :meth:`export_services` exported instead of creating it."""


def available_providers() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def recipe_class(partner: Partner) -> type[Recipe]:
    """The recipe for ``partner.provider``, or StackInvalid naming the recipes that exist."""
    module_name = f"{__name__}.{partner.provider}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise StackInvalid(NO_RECIPE, f"partner {partner.id!r} runs on provider {partner.provider!r}, but there is "
                                      f"no recipe {module_name}; recipes: {', '.join(available_providers())}") from None
    recipe = getattr(module, "RECIPE", None)
    if not (isinstance(recipe, type) and issubclass(recipe, Recipe)) or recipe.provider != partner.provider:
        raise StackInvalid(NO_RECIPE, f"{module_name} does not define RECIPE, a Recipe for {partner.provider!r}")
    return recipe
