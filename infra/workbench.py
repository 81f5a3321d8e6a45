"""A contract's environment: the partner's cluster plus the workbench inside it (hub, policies, Kafka)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from gereedschapskist.catalogue import Catalogue
from gereedschapskist.core.registry import UPSTREAMS, mirrored
from gereedschapskist.core.z2jh import HELPER_IMAGE_PREFIX, PAUSE_IMAGE
from gereedschapskist.core import spark
from gereedschapskist.hub.values import (  # the hub component: its values and (above) its Spark objects
    CRYPT_KEY_SECRET_KEY, PORTAL_SERVICE, ValuesInvalid, render_values,
)

from . import gpu, storage_access
from . import egress
from . import kafka as kafka_cluster
from . import services as base
from . import stages, versions
from .errors import StackInvalid
from .kube import apply, helm_release
from .manifests import (
    HUB_NAMESPACE, datasets_store, image_policy, namespace, storage_class, user_placeholders,
    workspace_network_policies,
)
from .partners import Recipe, ReferencedStore, StorageClass, recipe_class
from .plan import EnvironmentPlan
from .stages import CLOUD, Stage, cloud_stage

#: Names in the cloud's secret store. The cloud stage writes every one before the cluster stage reads it (item 3):
#: the hub's OIDC client secret (``pulumi config set --secret gereedschapskist:hub_oidc_client_secret``)...
HUB_OIDC_SECRET = "hub-oidc-client-secret"
#: ...the hub's auth_state key (32 random bytes, generated: pulumi-random)...
HUB_CRYPT_KEY = "hub-crypt-key"
#: ...and the portal's token at this hub (``gereedschapskist:portal_hub_token``; the platform's store has it too).
HUB_PORTAL_TOKEN = "hub-portal-token"
STORED_SECRETS = (HUB_OIDC_SECRET, HUB_CRYPT_KEY, HUB_PORTAL_TOKEN)
VALUES_INVALID = "values-invalid"


def registry_cache(plan: EnvironmentPlan) -> str:
    """The environment's registry cache (issue 16, item 1): every image the cluster stage names is pulled through
    it (:func:`gereedschapskist.core.registry.mirrored`). Known from the configuration alone."""
    return recipe_class(plan.partner).registry_cache_address(plan.name, plan.stack.cloud)


def registry_credentials_needed(plan: EnvironmentPlan) -> list[str]:
    """The cache paths whose upstream the cloud's cache pulls from with the operator's credentials."""
    return [UPSTREAMS[r] for r in recipe_class(plan.partner).registry_credentials_needed]


def hub_values(plan: EnvironmentPlan, catalogue: Catalogue) -> dict:
    """The Zero-to-JupyterHub values, exactly as the hub renders them for this environment, every image named
    through the environment's registry cache."""
    try:
        return render_values(plan.stack.environment, catalogue, image_mirror=registry_cache(plan))
    except ValuesInvalid as exc:
        raise StackInvalid(VALUES_INVALID, f"{plan.stack.source}: {exc}") from None


def with_portal_token(values: dict, token: pulumi.Input[str]) -> dict:
    """The values with the hub service ``portal`` declared with the environment's token (item 8): without one
    the chart would generate a random token inside the cluster that the portal never learns."""
    hub = values["hub"]
    services = {**hub.get("services", {})}
    services[PORTAL_SERVICE] = {**services.get(PORTAL_SERVICE, {}), "apiToken": pulumi.Output.secret(token)}
    return {**values, "hub": {**hub, "services": services}}


def spark_manifests(plan: EnvironmentPlan, labels: dict[str, str]) -> list[dict]:
    """The environment-wide Spark objects (:func:`gereedschapskist.core.spark.environment_manifests`: the driver's
    ClusterRole, the hub's ClusterRole and its binding), only where an offered bundle has a size with executors."""
    if not any(spark.spark_sizes(bundle) for bundle in plan.bundles):
        return []
    return spark.environment_manifests(HUB_NAMESPACE, labels)


def hub_tls_secret(plan: EnvironmentPlan, values: dict) -> tuple[str, str]:
    """(host, secret name) of the hub's TLS certificate, as the rendered ingress expects them."""
    tls = values["ingress"]["tls"][0]
    return tls["hosts"][0], tls["secretName"]


class ContractEnvironment(pulumi.ComponentResource):
    """Everything one contract's environment consists of, on the partner the contract names.

    Two stages (:mod:`.stages`): ``cloud`` creates the cloud side and writes the secrets into the store;
    ``cluster`` (on the runner inside the network) creates everything in Kubernetes from the cloud stage's outputs.
    """

    def __init__(self, plan: EnvironmentPlan, values: dict, opts: pulumi.ResourceOptions | None = None, *,
                 stage: Stage = CLOUD, secrets: dict[str, pulumi.Output] | None = None):
        super().__init__("gereedschapskist:infra:ContractEnvironment", plan.name, None, opts)
        recipe = recipe_class(plan.partner)(name=plan.name, partner=plan.partner, region=plan.region,
                                            cloud=plan.stack.cloud, tags=plan.tags, parent=self)
        if stage == CLOUD:
            self.outputs = self._cloud(plan, recipe, secrets or {})
        else:
            self.outputs = self._cluster(plan, values, recipe, cloud_stage(plan.name, self))
        self.register_outputs(self.outputs)

    def _cloud(self, plan: EnvironmentPlan, recipe: Recipe, secrets: dict[str, pulumi.Output]) -> dict:
        """Network, cluster, storage, the secret store with every secret in it, and the runner."""
        recipe.network()
        cluster = recipe.cluster(plan.pools)
        # the nodes pull every image through the environment's own cache (item 1)
        recipe.registry_cache(secrets.get(stages.REGISTRY_CREDENTIALS) or {})
        bucket = recipe.shared_bucket()
        identity = recipe.workspace_identity(HUB_NAMESPACE)  # the workspaces' access to the bucket (item 11)
        storage = recipe.home_storage()
        datasets = recipe.datasets_storage()  # the data store's file storage (issue 15)
        store = recipe.secret_store()
        crypt_key = random.RandomId(f"{plan.name}-hub-crypt-key", byte_length=32,
                                    opts=pulumi.ResourceOptions(parent=self))
        for key, value in {HUB_OIDC_SECRET: secrets[stages.HUB_OIDC_CLIENT_SECRET], HUB_CRYPT_KEY: crypt_key.hex,
                           HUB_PORTAL_TOKEN: secrets[stages.PORTAL_HUB_TOKEN]}.items():
            store.put(key, value)
        runner = recipe.runner()
        vms = {vm.name: recipe.vm(vm) for vm in plan.vms}  # supply model c: none unless the stack names some
        return {
            "cluster": cluster.name,
            "kubeconfig": pulumi.Output.secret(cluster.kubeconfig),
            "registry_cache": registry_cache(plan),
            "shared_bucket": bucket,
            "workspace_identity": {"annotations": identity.annotations, "pod_labels": identity.pod_labels},
            "public_url": str(plan.stack.environment.public_url),
            "storage": {"provisioner": storage.provisioner, "parameters": storage.parameters},
            "datasets_storage": {"provisioner": datasets.provisioner, "parameters": datasets.parameters},
            "secret_store": store.export(STORED_SECRETS),
            "services": recipe.export_services(),
            "runner": {"name": runner.name, "identity": runner.identity, "access": runner.access},
            "vms": {name: {"name": vm.name, "access": vm.access, "stops": vm.stops} for name, vm in vms.items()},
            "portal_hub_token": pulumi.Output.secret(secrets[stages.PORTAL_HUB_TOKEN]),
        }

    def _cluster(self, plan: EnvironmentPlan, values: dict, recipe: Recipe, ref: pulumi.StackReference) -> dict:
        """Everything inside Kubernetes, reading the cloud stage (run on the runner: the API is private)."""
        tags, cloud, env = plan.tags, plan.stack.cloud, plan.stack.environment
        cache = registry_cache(plan)
        recipe.attach(ref.require_output("services"))
        stored = ref.require_output("storage")
        storage = StorageClass(stored.apply(lambda s: s["provisioner"]), stored.apply(lambda s: s["parameters"]))
        store = ReferencedStore(ref.require_output("secret_store"), STORED_SECRETS)
        values = with_portal_token(values, ref.require_output("portal_hub_token"))
        kube = k8s.Provider(f"{plan.name}-kubernetes", kubeconfig=ref.require_output("kubeconfig"),
                            enable_server_side_apply=True, opts=pulumi.ResourceOptions(parent=self))
        cluster_services = recipe.cluster_services(kube)
        # GPU pools: the NVIDIA device plugin where the cloud does not run one (item 4)
        cluster_services += gpu.device_plugin(plan.pools, ships_plugin=recipe.ships_gpu_device_plugin, kube=kube,
                                              parent=self)
        shared = base.install(tags=tags, tls=cloud.tls, store=store, secret_namespaces=[HUB_NAMESPACE], kube=kube,
                              parent=self, after=cluster_services)

        def kopts(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=kube, depends_on=list(depends_on))

        hub_ns = apply(namespace(HUB_NAMESPACE, tags), kopts())
        home = apply(storage_class(storage, tags), kopts())
        stored_data = ref.require_output("datasets_storage")
        datasets = StorageClass(stored_data.apply(lambda s: s["provisioner"]), stored_data.apply(lambda s: s["parameters"]))
        data_class, data_claim = datasets_store(datasets, tags)
        data_class = apply(data_class, kopts())
        data_claim = apply(data_claim, kopts(hub_ns, data_class))
        oidc = apply(base.external_secret(env.oidc.client_secret_name, HUB_NAMESPACE, tags,
                                          template={"client-secret": "{{ .client_secret }}",
                                                    CRYPT_KEY_SECRET_KEY: "{{ .crypt_key }}"},
                                          remote_keys={"client_secret": store.remote_key(HUB_OIDC_SECRET),
                                                       "crypt_key": store.remote_key(HUB_CRYPT_KEY)}),
                     kopts(hub_ns, shared.secret_store))
        host, secret_name = hub_tls_secret(plan, values)
        certificate = apply(base.certificate("hub", HUB_NAMESPACE, host, secret_name, tags),
                            kopts(hub_ns, shared.issuer))
        kafka_target = None
        if plan.kafka is not None:
            kafka_target = (kafka_cluster.KAFKA_NAMESPACE, kafka_cluster.KAFKA_CLUSTER, kafka_cluster.TLS_PORT)
        # Production: HTTPS to named domains only through the egress proxy (item 12), never a CDN's address range.
        # ...and the shared bucket's endpoints, which the workspaces' identity may use (item 11)
        domains = (*cloud.egress_domains, *recipe.storage_endpoints())
        proxied = plan.production and bool(domains)
        guards = []
        if proxied:
            egress_ns, *egress_objects = egress.manifests(domains, tags,
                                                          image=mirrored(versions.EGRESS_PROXY_IMAGE, cache))
            egress_ns_resource = apply(egress_ns, kopts())
            guards += [apply(obj, kopts(egress_ns_resource, *cluster_services)) for obj in egress_objects]
        values = egress.with_proxy(values, proxied)
        guards += [apply(obj, kopts(hub_ns)) for obj in workspace_network_policies(
            tags, production=plan.production, allow_list=cloud.egress_allow_list,
            private_network=cloud.network_cidr, kafka=kafka_target,
            extra_egress=[*([egress.workspace_rule()] if proxied else []),
                          *storage_access.identity_rules(recipe.node_identity_endpoint)])]
        identity = ref.require_output("workspace_identity")
        guards.append(apply(storage_access.service_account(identity.apply(lambda i: i["annotations"] or {}), tags),
                            kopts(hub_ns)))
        values = storage_access.with_workspace_identity(values, identity.apply(lambda i: i["pod_labels"] or {}))
        if plan.production:
            guards += [apply(obj, kopts()) for obj in image_policy(
                [mirrored(image, cache) for image in plan.images], tags,
                helper_prefix=mirrored(HELPER_IMAGE_PREFIX, cache))]
        # Spark on Kubernetes (issue 17): where a bundle scales out, the hub makes each user's executor namespace and
        # binds the driver role there; the driver role and the hub's right to do exactly that are applied here.
        guards += [apply(obj, kopts(hub_ns)) for obj in spark_manifests(plan, tags.kube())]
        # placeholder pods per role pool (issue 13): room for the next start; the hub values say how many and how big
        priority_class, *placeholders = user_placeholders(values["custom"]["gereedschapskist"]["userPlaceholders"],
                                                          tags, image=mirrored(PAUSE_IMAGE, cache))
        priority = apply(priority_class, kopts())
        for obj in placeholders:
            apply(obj, kopts(hub_ns, priority))
        if plan.kafka is not None:
            kafka_ns = apply(namespace(kafka_cluster.KAFKA_NAMESPACE, tags), kopts())
            operator = helm_release("strimzi", chart=versions.STRIMZI_CHART, version=versions.STRIMZI_CHART_VERSION,
                                    namespace=kafka_cluster.KAFKA_NAMESPACE, values=kafka_cluster.operator_values(),
                                    opts=kopts(kafka_ns, *cluster_services))
            for obj in kafka_cluster.manifests(plan.kafka, tags):
                apply(obj, kopts(operator, home))
            # streaming workspaces reach Kafka: a KafkaUser and the cluster CA in the hub's namespace (item 11)
            guards += [apply(obj, kopts(operator, hub_ns, kafka_ns, shared.secret_store))
                       for obj in kafka_cluster.workspace_manifests(tags)]
            values = kafka_cluster.with_workspace_access(values)
        hub = helm_release("jupyterhub", chart="jupyterhub", version=versions.JUPYTERHUB_CHART_VERSION,
                           repo=versions.JUPYTERHUB_CHART_REPO, namespace=HUB_NAMESPACE, values=values,
                           opts=kopts(hub_ns, home, data_claim, oidc, certificate, shared.ingress, *guards, *cluster_services))
        return {
            "hub_release": hub.name,
            "public_url": str(env.public_url),
            "dns_record": base.dns_record(host, shared.ingress, kube, self),
        }
