"""The central platform: the portal on managed Kubernetes, its managed PostgreSQL, TLS and secrets."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from . import platform_manifests as pm
from . import versions
from .kube import apply, helm_release
from .manifests import namespace
from .partners import ESO_NAMESPACE, ESO_SERVICE_ACCOUNT, recipe_class
from .plan import CORE_POOL, POOL_LABEL, PlatformPlan

_ON_CORE = {"nodeSelector": {POOL_LABEL: CORE_POOL}}


class Platform(pulumi.ComponentResource):
    """One per operator: the portal (several replicas, migrations before rollout) and what it needs."""

    def __init__(self, plan: PlatformPlan, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gereedschapskist:infra:Platform", plan.name, None, opts)
        spec, tags = plan.stack.platform, plan.tags
        recipe = recipe_class(plan.partner)(name=plan.name, partner=plan.partner, region=plan.region,
                                            cloud=plan.stack.cloud, tags=tags, parent=self)
        recipe.network()
        cluster = recipe.cluster(plan.pools)
        child = pulumi.ResourceOptions(parent=self)
        db_password = random.RandomPassword(f"{plan.name}-db-password", length=40, special=False, opts=child)
        session_secret = random.RandomPassword(f"{plan.name}-session-secret", length=64, special=False, opts=child)
        database = recipe.database(spec.database, db_password.result)
        store = recipe.secret_store()
        stored = [store.put(pm.DB_PASSWORD_SECRET, db_password.result),
                  store.put(pm.SESSION_SECRET, session_secret.result)]
        store.declare(spec.oidc.client_secret_secret)

        kube = k8s.Provider(f"{plan.name}-kubernetes", kubeconfig=cluster.kubeconfig, enable_server_side_apply=True,
                            opts=child)
        services = recipe.cluster_services(kube)

        def kopts(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=kube, depends_on=list(depends_on))

        portal_ns = apply(namespace(pm.PORTAL_NAMESPACE, tags, enforce="restricted"), kopts())
        ingress_ns = apply(namespace(pm.INGRESS_NAMESPACE, tags), kopts())
        cert_ns = apply(namespace(pm.CERT_MANAGER_NAMESPACE, tags), kopts())
        eso_ns = apply(namespace(ESO_NAMESPACE, tags), kopts())

        cert_manager = helm_release(
            "cert-manager", chart="cert-manager", version=versions.CERT_MANAGER_CHART_VERSION,
            repo=versions.CERT_MANAGER_CHART_REPO, namespace=pm.CERT_MANAGER_NAMESPACE,
            values={"crds": {"enabled": True}, **_ON_CORE}, opts=kopts(cert_ns, *services))
        traefik = helm_release(
            "traefik", chart="traefik", version=versions.TRAEFIK_CHART_VERSION, repo=versions.TRAEFIK_CHART_REPO,
            namespace=pm.INGRESS_NAMESPACE, opts=kopts(ingress_ns, *services),
            values={**_ON_CORE, "deployment": {"replicas": 2},
                    "ingressClass": {"enabled": True, "isDefaultClass": True, "name": pm.INGRESS_CLASS},
                    "ports": {"web": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https",
                                                                      "permanent": True}}}}})
        eso = helm_release(
            "external-secrets", chart="external-secrets", version=versions.EXTERNAL_SECRETS_CHART_VERSION,
            repo=versions.EXTERNAL_SECRETS_CHART_REPO, namespace=ESO_NAMESPACE, opts=kopts(eso_ns, *services),
            values={"installCRDs": True, **_ON_CORE, "podLabels": store.eso_pod_labels,
                    "serviceAccount": {"create": True, "name": ESO_SERVICE_ACCOUNT,
                                       "annotations": store.eso_service_account_annotations}})

        issuer = apply(pm.cluster_issuer(spec, tags), kopts(cert_manager))
        secret_store = apply(pm.cluster_secret_store(store.eso_provider, tags), kopts(eso, *stored))
        database_url = database.host.apply(
            lambda h: f"postgresql+psycopg://{database.username}:{{{{ .db_password }}}}@{h}:{database.port}/"
                      f"{database.database}?sslmode=require")
        secrets = apply(pm.external_secret(spec, tags, database_url=database_url, remote_keys={
            "db_password": store.remote_key(pm.DB_PASSWORD_SECRET),
            "session_secret": store.remote_key(pm.SESSION_SECRET),
            "oidc_client_secret": store.remote_key(spec.oidc.client_secret_secret),
        }), kopts(portal_ns, secret_store))
        settings = apply(pm.settings(spec, tags), kopts(portal_ns))
        policy = apply(pm.network_policy(tags, plan.stack.cloud.network_cidr), kopts(portal_ns))

        # The Kubernetes provider waits for a Job to complete; the Deployment takes the Job's name as input, so
        # the new portal version is rolled out only after its migrations succeeded.
        migration = apply(pm.migration_job(spec, plan.portal_image, tags), kopts(secrets, settings))
        migrated_by = migration.metadata.apply(lambda m: m["name"] if isinstance(m, dict) else m.name)
        portal = apply(pm.deployment(spec, plan.portal_image, tags, migrated_by), kopts(migration, policy))
        service = apply(pm.service(tags), kopts(portal_ns))
        apply(pm.disruption_budget(tags), kopts(portal_ns))
        apply(pm.ingress(spec, tags), kopts(service, issuer, traefik))

        self.outputs = {
            "cluster": cluster.name,
            "kubeconfig": pulumi.Output.secret(cluster.kubeconfig),
            "portal_url": str(spec.public_url),
            "portal_image": plan.portal_image,
            "database_host": database.host,
            "portal_deployment": portal.metadata.apply(lambda m: m["name"] if isinstance(m, dict) else m.name),
        }
        self.register_outputs(self.outputs)
