"""The Kubernetes backend: KubeSpawner profiles from the catalogue, and the spawner that uses them.

Inside the z2jh hub pod, :func:`configure_kubernetes` renders the profiles from the catalogue the hub
loads and the roles and bundles its settings name (``GEREEDSCHAPSKIST_HUB_ROLES`` / ``_BUNDLES``, set by
the Helm values of :mod:`.values`), by the one offer rule :func:`gereedschapskist.core.environment.offer_of`;
the same catalogue authorises every launch, so there is one source. Each offered bundle becomes one
KubeSpawner profile (slug = bundle id, image = the bundle's image) with a ``size`` option whose choices
set requests/limits, the node pool (:func:`gereedschapskist.core.placement.node_pool`) and, for GPU sizes,
the GPU resource and the GPU taint's toleration. Profiles are grouped per role; a user's list is the union
for their ``role:`` groups (a callable ``profile_list``).

A published app's server (launch option ``app``, :mod:`.apps`) gets an app pod instead of a workspace pod: the image's
app server, only the app's files, read-only (:mod:`.kubernetes_apps`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Iterable, Mapping

from kubespawner import KubeSpawner
from kubespawner.slugs import is_valid_label, safe_slug
from tornado import web
from traitlets import Any as AnyTrait, Float, Unicode

from gereedschapskist.catalogue import Bundle, Catalogue, Interface, Size
from gereedschapskist.core.environment import Offer, offer_of
from gereedschapskist.core.groups import roles_of
from gereedschapskist.core.placement import GPU_RESOURCE, GPU_TAINT, node_pool, node_selector
from gereedschapskist.core.registry import mirrored
from gereedschapskist.core.streaming import KafkaAccess, streams

from . import kubernetes_apps, kubernetes_data, spark
from .apps import AppRefused, AppSpec
from .datasets import GrantsUnavailable, PortalGrants
from .interfaces import InterfaceAvailability
from .launch import LaunchRequest, make_apply_user_options
from .options import deprecation_note

#: The non-root user of the docker-stacks based bundle images (jovyan, group users).
USER_UID = 1000
USER_GID = 100
CONTAINER_SECURITY_CONTEXT = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY_CONTEXT = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}

log = logging.getLogger(__name__)


def size_override(bundle: Bundle, size: Size) -> dict[str, Any]:
    """KubeSpawner settings for one size: requests = limits (no overcommit), node pool, GPU."""
    override: dict[str, Any] = {
        "cpu_guarantee": float(size.cpu),
        "cpu_limit": float(size.cpu),
        "mem_guarantee": size.memory_bytes,
        "mem_limit": size.memory_bytes,
        "node_selector": node_selector(node_pool(bundle, size)),
    }
    if size.gpu:
        override["extra_resource_guarantees"] = {GPU_RESOURCE: str(size.gpu)}
        override["extra_resource_limits"] = {GPU_RESOURCE: str(size.gpu)}
        override["tolerations"] = [GPU_TAINT.toleration()]
    override.update(spark.profile_override(bundle, size))   # sizes that scale out on Spark (issue 17)
    return override


def extend(trait: str, extra: list[dict[str, Any]]):
    """A profile override that adds ``extra`` to the spawner's list or dict trait (z2jh fills ``volumes`` and
    ``volume_mounts`` with the home directory; a plain list in an override would replace it)."""

    def add(spawner) -> Any:
        current = getattr(spawner, trait)
        if isinstance(current, dict):
            return {**current, **{f"zz-{item['name']}": item for item in extra}}
        return [*current, *[item for item in extra if item not in current]]

    add.extra = extra  # what it adds, for tests and logs
    return add


def kafka_override(access: KafkaAccess) -> dict[str, Any]:
    """A streaming workspace's Kafka: bootstrap address, cluster CA and the environment's KafkaUser (issue 16,
    item 11; :mod:`gereedschapskist.core.streaming`)."""
    return {"environment": access.environment(), "volumes": extend("volumes", access.volumes()),
            "volume_mounts": extend("volume_mounts", access.volume_mounts())}


def bundle_profile(bundle: Bundle, catalogue: Catalogue, kafka: KafkaAccess | None = None,
                   image_mirror: str | None = None) -> dict[str, Any]:
    """One KubeSpawner profile for a bundle (plain data; with ``kafka``, streaming bundles also reach Kafka; with
    ``image_mirror``, the image is pulled through the environment's registry cache)."""
    interfaces = InterfaceAvailability()
    note = deprecation_note(bundle, catalogue)
    title = f"{bundle.title.en} ({bundle.version})" + (" — deprecated" if note else "")
    description = bundle.description.en + (f" {note}." if note else "")
    profile: dict[str, Any] = {
        "slug": bundle.id,
        "display_name": title,
        "description": description,
        "kubespawner_override": {
            "image": mirrored(bundle.image.reference, image_mirror),
            "default_url": interfaces.default_url(bundle.choose_interface()),
            "environment": {"GEREEDSCHAPSKIST_BUNDLE": bundle.id, "GEREEDSCHAPSKIST_BUNDLE_VERSION": bundle.version},
        },
        "profile_options": {
            "size": {
                "display_name": "Grootte / Size",
                "choices": {
                    size.id: {
                        "display_name": f"{size.id} — {size.label}",
                        "default": index == 0,
                        "kubespawner_override": size_override(bundle, size),
                    }
                    for index, size in enumerate(bundle.sizes)
                },
            },
        },
    }
    if len(bundle.interfaces) > 1:
        profile["profile_options"]["interface"] = {
            "display_name": "Omgeving / Interface",
            "choices": {
                interface.value: {
                    "display_name": interface.label,
                    "default": index == 0,
                    "kubespawner_override": {"default_url": interfaces.default_url(interface)},
                }
                for index, interface in enumerate(bundle.interfaces)
            },
        }
    if kafka is not None and streams(bundle.roles):
        override = kafka_override(kafka)
        profile["kubespawner_override"]["environment"].update(override.pop("environment"))
        profile["kubespawner_override"].update(override)
    return profile


def profiles_by_role(catalogue: Catalogue, bundles: Iterable[str] | None = None,
                     roles: Iterable[str] | None = None, kafka: KafkaAccess | None = None,
                     image_mirror: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """``{role: [profile, …]}`` for the offered bundles of each role (limited to ``bundles`` when given)."""
    allowed = None if bundles is None else set(bundles)
    result: dict[str, list[dict[str, Any]]] = {}
    for role in sorted(roles if roles is not None else catalogue.roles):
        result[role] = [bundle_profile(b, catalogue, kafka, image_mirror) for b in catalogue.offered_for([role])
                        if allowed is None or b.id in allowed]
    return result


def profiles_for(groups: Iterable[str], by_role: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The profile list of a user with these groups: the union of their roles' lists, by slug, sorted."""
    merged: dict[str, dict[str, Any]] = {}
    for role in roles_of(groups):
        for profile in by_role.get(role, []):
            merged.setdefault(profile["slug"], profile)
    return [merged[slug] for slug in sorted(merged)]


def make_profile_list(by_role: Mapping[str, list[dict[str, Any]]]):
    """A callable ``KubeSpawner.profile_list`` (it must return a list)."""

    def profile_list(spawner) -> list[dict[str, Any]]:
        return profiles_for([group.name for group in spawner.user.groups], by_role)

    return profile_list


class DataRefused(web.HTTPError):
    """A start refused because the granted data could not be known (the portal could not be asked)."""

    def __init__(self, message: str, reason: str):
        super().__init__(500, "%s", message)
        self.message = self.jupyterhub_message = message
        self.refusal = reason


class _AsServer:
    """A spawner seen as another server of the same user, for KubeSpawner's name templates (``name`` is read-only)."""

    def __init__(self, spawner: KubeSpawner, name: str):
        self._spawner, self.name = spawner, name

    def __getattr__(self, attribute: str):
        return getattr(self._spawner, attribute)


class BundleKubeSpawner(KubeSpawner):
    """KubeSpawner that speaks the project's launch options ``{"bundle", "size"[, "interface"]}``, and mounts the
    user's granted datasets read-only (:mod:`.kubernetes_data`) when it knows the portal (``data_portal``)."""

    launch: LaunchRequest | None = None
    data_portal = AnyTrait(None, allow_none=True, config=True,
                           help="the portal's grant endpoint (:class:`.datasets.PortalGrants`); None: no data")
    datasets_claim = Unicode(kubernetes_data.DATASETS_CLAIM, config=True,
                             help="the PersistentVolumeClaim of the data store")
    data_interval = Float(15.0, config=True, help="seconds between two checks of a running pod's grants")
    data_stale_after = Float(40.0, config=True, help="the pod is stopped when the portal has not answered this long")
    stage = Unicode("development", config=True,
                    help="the environment's stage: in production an app runs from a git commit only")

    async def prepare_data(self) -> list:
        """Ask the portal for the user's grants and add exactly those to the pod, read-only (a start without an
        answer is refused). Called by :meth:`start` before KubeSpawner's own start, which loads the profile's
        overrides (its ``environment`` replaces the trait): :meth:`load_user_options` adds the data again after
        them."""
        self._grants, self._data_parts = None, None
        if self.data_portal is not None:
            try:
                grants = await self.data_portal.start(self.user.name, self.name or "")
            except GrantsUnavailable as refused:
                raise DataRefused(f"The workspace was not started: {refused}", refused.reason) from None
            self._grants = grants
            self._data_parts = kubernetes_data.pod_data(grants, claim=self.datasets_claim)
        self._apply_data()
        return self._grants or []

    def _apply_data(self) -> None:
        """The data of this start on the pod's traits, those of an earlier start taken out (idempotent)."""
        self.volumes = kubernetes_data.without_data(self.volumes)
        self.volume_mounts = kubernetes_data.without_data(self.volume_mounts)
        self.extra_annotations = {k: v for k, v in self.extra_annotations.items() if k != kubernetes_data.ANNOTATION}
        self.environment = {k: v for k, v in self.environment.items()
                            if not k.startswith(kubernetes_data.ENV_PREFIX) and k != "GEREEDSCHAPSKIST_GRANTS"}
        parts = getattr(self, "_data_parts", None)
        if parts:
            self.volumes = [*self.volumes, *parts["volumes"]]
            self.volume_mounts = [*self.volume_mounts, *parts["volume_mounts"]]
            self.environment = {**self.environment, **parts["environment"]}
            self.extra_annotations = {**self.extra_annotations, **parts["annotations"]}

    async def load_user_options(self):
        loaded = await super().load_user_options()
        self._apply_data()          # after the profile's overrides (KubeSpawner's start loads them again)
        self._apply_app()
        return loaded

    # -- published apps (issue 17; :mod:`.kubernetes_apps`) ---------------------------------------------------

    def _app(self) -> AppSpec | None:
        return None if self.launch is None else self.launch.app

    def _apply_app(self) -> None:
        """An app's pod, on the pod's traits after the profile's overrides: the image's app server as the command, the
        app's files read-only, nothing of a workspace's (home, data, Spark, Kafka, other containers). Idempotent."""
        app = self._app()
        if app is None:
            return
        claim = self._workspace_claim(app) if app.git is None else None
        security = {**CONTAINER_SECURITY_CONTEXT, "runAsUser": self.uid, "runAsGroup": self.gid}
        parts = kubernetes_apps.pod_parts(app, image=self.image, environment=self.environment, claim=claim,
                                          security_context=security, image_pull_policy=self.image_pull_policy)
        self.cmd = list(kubernetes_apps.APP_COMMAND)
        self.volumes = parts["volumes"]
        self.volume_mounts = parts["volume_mounts"]
        self.init_containers = parts["init_containers"]
        self.extra_containers = []
        self.storage_pvc_ensure = False         # no home claim is made for an app server
        self.service_account = None             # a Spark size's account stays the workspace's
        self.automount_service_account_token = False
        self.extra_labels = {**self.extra_labels, kubernetes_apps.APP_LABEL: "true"}
        self.pod_affinity_preferred = [] if app.git is not None else kubernetes_apps.workspace_affinity(
            safe_slug(self.user.name, is_valid=is_valid_label), safe_slug(app.workspace, is_valid=is_valid_label))

    def _workspace_claim(self, app: AppSpec) -> str:
        """The home claim of the workspace a folder app names: the one its server recorded, else its template's."""
        workspace = (getattr(self.user, "orm_spawners", None) or {}).get(app.workspace)
        if workspace is None:
            raise AppRefused(409, "app-workspace-not-found", f"{self.user.name} has no workspace {app.workspace!r}: "
                                                             "an app from a folder runs from one of the owner's "
                                                             "workspaces.")
        recorded = (getattr(workspace, "state", None) or {}).get("pvc_name")
        if recorded:
            return recorded
        return KubeSpawner._expand_user_properties(_AsServer(self, app.workspace), self.pvc_name_template)

    def get_args(self) -> list[str]:
        if self._app() is not None:
            return []           # the app server reads everything from its environment
        return super().get_args()

    def get_env(self) -> dict:
        env = super().get_env()
        app = self._app()
        if app is None:
            return env
        for key in self.environment:        # JupyterHub's own variables stay; of the pod's, only the kept ones
            env.pop(key, None)
        env.update(kubernetes_apps.app_environment(self.environment, app))
        return env

    async def get_pod_manifest(self):
        app = self._app()
        if app is not None:
            self._apply_app()
        pod = await super().get_pod_manifest()
        if app is not None:     # fail closed: an app server is never a Jupyter server, nor has a workspace's volumes
            container = pod.spec.containers[0]
            command = list(container.args or []) or list(container.command or [])
            volumes = {v.name for v in pod.spec.volumes or []}
            if command[:2] != list(kubernetes_apps.APP_COMMAND) or volumes != {kubernetes_apps.APP_VOLUME}:
                raise AppRefused(500, "app-pod-invalid", f"The app server {self._log_name} was not started: its pod "
                                                         f"would run {command} with volumes {sorted(volumes)}.")
        return pod

    async def prepare_spark(self) -> list[dict[str, Any]]:
        """A size that scales out on Spark (issue 17): the user's executor namespace, account, role binding, quota
        and this workspace's driver Service exist before the pod (:mod:`.spark`); returns what was ensured."""
        launch = self.launch
        if launch is None or not launch.size.max_executors:
            return []
        objects = spark.workspace_objects(
            launch.bundle, launch.size, user_slug=self._expand_user_properties("{username}"),
            server_slug=self._expand_user_properties("{servername}") if self.name else "",
            hub_namespace=self.namespace, environment_labels=dict(self.extra_labels))
        await self.spark_objects().ensure(objects)
        return objects

    def spark_objects(self) -> "spark.SparkObjects":
        return spark.SparkObjects(self.api.api_client)

    async def start(self):
        if self._app() is not None:     # an app: no granted data (its viewers are not the grantee), no Spark
            self._grants, self._data_parts = None, None
            self._apply_data()
            return await super().start()
        await self.prepare_data()
        await self.prepare_spark()
        started = await super().start()
        if self._grants:
            self._data_task = asyncio.ensure_future(self._watch_grants(list(self._grants)))
        return started

    async def _watch_grants(self, mounted: list) -> None:
        """A volume cannot leave a running pod: the server is stopped when a grant ends (within a minute)."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.data_interval)
            try:
                current = await self.data_portal.current(self.user.name)
                last = time.monotonic()
                gone = kubernetes_data.lost(mounted, current)
            except GrantsUnavailable:
                gone = kubernetes_data.lost(mounted, mounted)          # expiry is known without the portal
                if time.monotonic() - last > self.data_stale_after:
                    gone = [g.identifier for g in mounted]
            if gone:
                self.log.warning("Stopping %s: access to %s ended (expired, revoked or unconfirmed)",
                                 self._log_name, ", ".join(gone))
                self._data_task = None
                await self.user.stop(self.name)
                return

    async def stop(self, now: bool = False):
        task = getattr(self, "_data_task", None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._data_task = None
        return await super().stop(now=now)

    def apply_launch(self, request: LaunchRequest) -> None:
        """Translate an authorised request into KubeSpawner's profile options (an app's source checked against the
        stage first)."""
        if request.app is not None:
            kubernetes_apps.check_source(request.app, production=self.stage == "production")
        self.launch = request
        options = dict(self.user_options or {})
        options.update({"profile": request.bundle.id, "size": request.size.id})
        if request.bundle.interfaces != (Interface.JUPYTERLAB,):
            options["interface"] = request.interface.value
        self.user_options = options


def hub_offer(catalogue: Catalogue, roles: Iterable[str] | None = None,
              bundles: Iterable[str] | None = None) -> Offer:
    """What this hub offers: the one offer rule for the roles and bundles of its settings.

    A named bundle the loaded catalogue withholds (its security review expired since the values were
    rendered) is left out with a warning instead of keeping the hub from starting — the same tolerance
    as the catalogue's strict :func:`~gereedschapskist.catalogue.load`. Anything else wrong is
    :class:`~gereedschapskist.core.environment.OfferInvalid`.
    """
    if bundles is not None:
        bundles = tuple(bundles)
        withheld = [b for b in bundles if b in catalogue.bundles and not catalogue.bundles[b].offered]
        if withheld:
            log.warning("Not offering %s: not offered by the catalogue (retired or its security review expired)",
                        ", ".join(withheld))
            bundles = tuple(b for b in bundles if b not in withheld)
    return offer_of(catalogue, roles=roles, bundles=bundles)


def kubernetes_settings(by_role: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """KubeSpawner settings the project fixes for every workspace pod (also read by the tests)."""
    return {
        "uid": USER_UID,
        "gid": USER_GID,
        "fs_gid": USER_GID,
        "allow_privilege_escalation": False,
        "container_security_context": dict(CONTAINER_SECURITY_CONTEXT),
        "pod_security_context": dict(POD_SECURITY_CONTEXT),
        "automount_service_account_token": False,
        "profile_list": make_profile_list(by_role),
    }


def configure_data(c, *, portal_api_url: str, token: str, claim: str, interval: float = 15.0,
                   stale_after: float = 40.0) -> None:
    """Granted datasets in pods (issue 15, :mod:`.kubernetes_data`): the portal the spawner asks at every start."""
    c.BundleKubeSpawner.data_portal = PortalGrants(portal_api_url, token)
    c.BundleKubeSpawner.datasets_claim = claim
    c.BundleKubeSpawner.data_interval = interval
    c.BundleKubeSpawner.data_stale_after = stale_after


def configure_kubernetes(c, catalogue: Catalogue, *, roles: Iterable[str] | None = None,
                         bundles: Iterable[str] | None = None, kafka: KafkaAccess | None = None,
                         image_mirror: str | None = None, stage: str = "development") -> None:
    """The catalogue-driven part of the hub's configuration inside the z2jh hub pod.

    ``roles`` and ``bundles`` are what the environment offers (the hub's settings; all when ``None``); the
    profiles are rendered from ``catalogue``, which also authorises every launch.
    """
    offer = hub_offer(catalogue, roles, bundles)
    c.JupyterHub.spawner_class = BundleKubeSpawner
    c.BundleKubeSpawner.stage = stage
    for name, value in kubernetes_settings(profiles_by_role(catalogue, offer.bundle_ids, offer.roles,
                                                            kafka, image_mirror)).items():
        setattr(c.KubeSpawner, name, value)
    c.Spawner.apply_user_options = make_apply_user_options(
        catalogue, InterfaceAvailability(), environment_bundles=offer.bundle_ids)
