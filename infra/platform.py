"""The central platform: the portal on managed Kubernetes, its managed PostgreSQL, TLS and secrets."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from . import platform_manifests as pm
from . import services as base
from .kube import apply
from .manifests import namespace
from .partners import recipe_class
from .plan import PlatformPlan


def _name_of(metadata) -> str:
    return metadata["name"] if isinstance(metadata, dict) else metadata.name


class Platform(pulumi.ComponentResource):
    """One per operator: the portal (several replicas, migrations before rollout) and what it needs."""

    def __init__(self, plan: PlatformPlan, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gereedschapskist:infra:Platform", plan.name, None, opts)
        spec, tags, cloud = plan.stack.platform, plan.tags, plan.stack.cloud
        recipe = recipe_class(plan.partner)(name=plan.name, partner=plan.partner, region=plan.region,
                                            cloud=cloud, tags=tags, parent=self)
        recipe.network()
        cluster = recipe.cluster(plan.pools)
        child = pulumi.ResourceOptions(parent=self)
        # The managed server's admin (it creates the database), and the two roles `db init-roles` makes with it: the
        # owner (tables, migrations) and the runtime role the portal connects as. URL-safe: no special characters.
        db_password = random.RandomPassword(f"{plan.name}-db-password", length=40, special=False, opts=child)
        owner_password = random.RandomPassword(f"{plan.name}-db-owner-password", length=40, special=False, opts=child)
        runtime_password = random.RandomPassword(f"{plan.name}-db-runtime-password", length=40, special=False,
                                                 opts=child)
        session_secret = random.RandomPassword(f"{plan.name}-session-secret", length=64, special=False, opts=child)
        database = recipe.database(spec.database, db_password.result)
        store = recipe.secret_store()
        stored = [store.put(pm.DB_PASSWORD_SECRET, db_password.result),
                  store.put(pm.DB_OWNER_PASSWORD_SECRET, owner_password.result),
                  store.put(pm.DB_RUNTIME_PASSWORD_SECRET, runtime_password.result),
                  store.put(pm.SESSION_SECRET, session_secret.result)]
        store.declare(spec.oidc.client_secret_secret)

        kube = k8s.Provider(f"{plan.name}-kubernetes", kubeconfig=cluster.kubeconfig, enable_server_side_apply=True,
                            opts=child)
        cluster_services = recipe.cluster_services(kube)
        shared = base.install(tags=tags, tls=cloud.tls, store=store, secret_namespaces=[pm.PORTAL_NAMESPACE],
                              kube=kube, parent=self, after=[*cluster_services, *stored])

        def kopts(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=kube, depends_on=list(depends_on))

        portal_ns = apply(namespace(pm.PORTAL_NAMESPACE, tags, enforce="restricted"), kopts())
        def url(username: str, variable: str) -> pulumi.Output[str]:
            return database.host.apply(lambda h: pm.database_url(username, variable, h, database.port,
                                                                 database.database))

        secrets = apply(pm.portal_secrets(tags, database_url=url(pm.RUNTIME_ROLE, "runtime_password"), remote_keys={
            "runtime_password": store.remote_key(pm.DB_RUNTIME_PASSWORD_SECRET),
            "session_secret": store.remote_key(pm.SESSION_SECRET),
            "oidc_client_secret": store.remote_key(spec.oidc.client_secret_secret),
        }), kopts(portal_ns, shared.secret_store))
        database_secrets = [apply(obj, kopts(portal_ns, shared.secret_store)) for obj in pm.database_secrets(
            tags, admin_url=url(database.username, "password"), owner_url=url(pm.OWNER_ROLE, "password"),
            remote_keys={"admin": store.remote_key(pm.DB_PASSWORD_SECRET),
                         "owner": store.remote_key(pm.DB_OWNER_PASSWORD_SECRET),
                         "runtime": store.remote_key(pm.DB_RUNTIME_PASSWORD_SECRET)})]
        settings = apply(pm.settings(spec, tags), kopts(portal_ns))
        policy = apply(pm.network_policy(tags, cloud.network_cidr), kopts(portal_ns))

        # The Kubernetes provider waits for a Job to complete. The Job (init-roles as the admin, then the migrations as
        # the owner) is named after the portal version, so a new image runs it again. The Deployment takes the Job's
        # name as an input (and depends on it), so a new portal version is rolled out only after it succeeded.
        migration = apply(pm.migration_job(spec, plan.portal_image, tags), kopts(*database_secrets))
        migrated_by = migration.metadata.apply(_name_of)
        portal = apply(pm.deployment(spec, plan.portal_image, tags, migrated_by),
                       kopts(migration, secrets, settings, policy))
        service = apply(pm.service(tags), kopts(portal_ns))
        apply(pm.disruption_budget(tags), kopts(portal_ns))
        apply(pm.ingress(spec, tags), kopts(service, shared.issuer, shared.ingress))

        self.outputs = {
            "cluster": cluster.name,
            "kubeconfig": pulumi.Output.secret(cluster.kubeconfig),
            "portal_url": str(spec.public_url),
            "portal_image": plan.portal_image,
            "database_host": database.host,
            "portal_deployment": portal.metadata.apply(_name_of),
        }
        self.register_outputs(self.outputs)
