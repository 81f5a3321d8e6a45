"""The central platform: the portal on managed Kubernetes, its managed PostgreSQL, TLS and secrets."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from . import platform_manifests as pm
from . import services as base
from . import stages
from .kube import apply
from .manifests import namespace
from .partners import Database, Recipe, ReferencedStore, recipe_class
from .plan import PlatformPlan
from .stages import CLOUD, Stage, cloud_stage

#: The portal's tokens at the contract environments' hubs (a JSON object, environment name -> token), from
#: ``pulumi config set --secret --path gereedschapskist:hub_tokens.<environment>`` (item 8).
HUB_TOKENS_SECRET = "portal-hub-tokens"


def _name_of(metadata) -> str:
    return metadata["name"] if isinstance(metadata, dict) else metadata.name


class Platform(pulumi.ComponentResource):
    """One per operator: the portal (several replicas, migrations before rollout) and what it needs."""

    def __init__(self, plan: PlatformPlan, opts: pulumi.ResourceOptions | None = None, *, stage: Stage = CLOUD,
                 secrets: dict[str, pulumi.Output] | None = None):
        super().__init__("gereedschapskist:infra:Platform", plan.name, None, opts)
        recipe = recipe_class(plan.partner)(name=plan.name, partner=plan.partner, region=plan.region,
                                            cloud=plan.stack.cloud, tags=plan.tags, parent=self)
        if stage == CLOUD:
            self.outputs = self._cloud(plan, recipe, secrets or {})
        else:
            self.outputs = self._cluster(plan, recipe, cloud_stage(plan.name, self))
        self.register_outputs(self.outputs)

    def stored_secrets(self, plan: PlatformPlan) -> tuple[str, ...]:
        return (pm.DB_PASSWORD_SECRET, pm.DB_OWNER_PASSWORD_SECRET, pm.DB_RUNTIME_PASSWORD_SECRET, pm.SESSION_SECRET,
                plan.stack.platform.oidc.client_secret_secret, HUB_TOKENS_SECRET)

    def _cloud(self, plan: PlatformPlan, recipe: Recipe, secrets: dict[str, pulumi.Output]) -> dict:
        """Network, cluster, database, the secret store with every secret in it (item 3), and the runner."""
        spec = plan.stack.platform
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
        store.put(pm.DB_PASSWORD_SECRET, db_password.result)
        store.put(pm.DB_OWNER_PASSWORD_SECRET, owner_password.result)
        store.put(pm.DB_RUNTIME_PASSWORD_SECRET, runtime_password.result)
        store.put(pm.SESSION_SECRET, session_secret.result)
        store.put(spec.oidc.client_secret_secret, secrets[stages.PORTAL_OIDC_CLIENT_SECRET])
        store.put(HUB_TOKENS_SECRET, secrets[stages.HUB_TOKENS].apply(lambda t: json.dumps(t, sort_keys=True)))
        runner = recipe.runner()
        return {
            "cluster": cluster.name,
            "kubeconfig": pulumi.Output.secret(cluster.kubeconfig),
            "portal_url": str(spec.public_url),
            "database": {"host": database.host, "port": database.port, "database": database.database,
                         "username": database.username},
            "secret_store": store.export(self.stored_secrets(plan)),
            "services": recipe.export_services(),
            "runner": {"name": runner.name, "identity": runner.identity, "access": runner.access},
        }

    def _cluster(self, plan: PlatformPlan, recipe: Recipe, ref: pulumi.StackReference) -> dict:
        """The portal and everything it needs inside Kubernetes (run on the runner: the API is private)."""
        spec, tags, cloud = plan.stack.platform, plan.tags, plan.stack.cloud
        child = pulumi.ResourceOptions(parent=self)
        recipe.attach(ref.require_output("services"))
        store = ReferencedStore(ref.require_output("secret_store"), self.stored_secrets(plan))
        db = ref.require_output("database")
        database = Database(host=db.apply(lambda d: d["host"]), port=5432, database="portal", username="portal")
        kube = k8s.Provider(f"{plan.name}-kubernetes", kubeconfig=ref.require_output("kubeconfig"),
                            enable_server_side_apply=True, opts=child)
        cluster_services = recipe.cluster_services(kube)
        shared = base.install(tags=tags, tls=cloud.tls, store=store, secret_namespaces=[pm.PORTAL_NAMESPACE],
                              kube=kube, parent=self, after=cluster_services)

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
            "hub_tokens": store.remote_key(HUB_TOKENS_SECRET),
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

        return {
            "portal_url": str(spec.public_url),
            "portal_image": plan.portal_image,
            "portal_deployment": portal.metadata.apply(_name_of),
            "dns_record": base.dns_record(pm.host(spec), shared.ingress, kube, self),
        }
