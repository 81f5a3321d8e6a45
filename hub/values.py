"""Zero-to-JupyterHub Helm values for one environment, from the same configuration as the local hub.

``render_values(spec, catalogue)`` returns the complete values of the z2jh chart for the
environment: the hub image of this project (``ghcr.io/gereedschapskist/hub:<version>``) running
:func:`gereedschapskist.hub.config.configure` from ``hub.extraConfig``, GenericOAuthenticator
against the environment's issuer, the catalogue files mounted into the hub and the roles and bundles
the environment offers as hub settings (``GEREEDSCHAPSKIST_HUB_ROLES`` / ``_BUNDLES``), idle culling,
non-root security contexts and network policies. Speed (issue 13): z2jh's image pre-puller (the install/upgrade
hook and the continuous DaemonSet) pulls every offered bundle's image onto every user node, the GPU pool included,
before the hub is upgraded and on each node that joins; pod priority lets a user's pod preempt a placeholder, and
:func:`user_placeholders` says per node pool (each role's pool; not the GPU pool, which would keep a GPU node paid
for) how many placeholder pods of which size keep room for a start, under ``custom.gereedschapskist`` (the
infra's cluster stage applies them: ``infra/manifests.py`` ``user_placeholders``). The chart's
own ``scheduling.userPlaceholder`` stays off: it has one set for the whole release, placed by
``singleuser.nodeSelector``, which would also confine the image puller to that one pool. The values carry no profiles: the hub renders them
from the catalogue it loads (:func:`gereedschapskist.hub.kubernetes.configure_kubernetes`), the same
catalogue that authorises every launch.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gereedschapskist import __version__
from gereedschapskist.catalogue import Catalogue

from gereedschapskist.core.environment import EnvironmentSpec, OfferInvalid, environment_offer
from gereedschapskist.core.groups import organisation_group
from gereedschapskist.core.placement import CORE_POOL, GPU_POOL, GPU_TAINT, LABEL_PREFIX, node_pool, node_selector
from gereedschapskist.core.registry import mirrored
from gereedschapskist.core.z2jh import CHART_IMAGES

from .config import authenticator_settings
from .kubernetes import USER_GID, USER_UID
from .roles import PORTAL_SERVICE, hub_roles
from .settings import ENV_PREFIX
from . import spark

HUB_IMAGE = "ghcr.io/gereedschapskist/hub"
CATALOGUE_MOUNT = "/usr/local/etc/gereedschapskist/catalogue"
HOME_MOUNT = "/home/jovyan"
HUB_UID = 1000  # the z2jh k8s-hub image's non-root user
#: JupyterHub's own variable for the auth_state key, and its key in the environment's hub Secret.
CRYPT_KEY_ENV = "JUPYTERHUB_CRYPT_KEY"
CRYPT_KEY_SECRET_KEY = "crypt-key"
#: z2jh's own Secret of the hub (``fullnameOverride: ""``): it holds the services' API tokens it generates.
HUB_SECRET = "hub"
CONFIG_SNIPPET = "from gereedschapskist.hub.config import configure\nconfigure(c)  # noqa: F821\n"
#: Placeholder pods per role pool: one keeps room for the next start (node scale-up takes minutes, see infra/README).
PLACEHOLDERS_PER_POOL = 1


class ValuesInvalid(Exception):
    """The environment asks for something the catalogue cannot give; the message says what."""

    reason = "values-invalid"


def _offered(spec: EnvironmentSpec, catalogue: Catalogue) -> tuple[list[str], list[str]]:
    try:
        offer = environment_offer(spec, catalogue)
    except OfferInvalid as exc:
        raise ValuesInvalid(f"environment {spec.name}: {exc}") from exc
    return list(offer.roles), list(offer.bundle_ids)


def _catalogue_files(catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    """The catalogue's own files, mounted read-only into the hub (the one loader reads them there)."""
    files: dict[str, dict[str, Any]] = {}
    items = [*catalogue.roles.values(), *catalogue.bundles.values(), *catalogue.partners.values()]
    for item in sorted(items, key=lambda i: i.file):
        rel = item.file
        key = "catalogue-" + re.sub(r"[^A-Za-z0-9.-]+", "-", rel)
        files[key] = {
            "mountPath": f"{CATALOGUE_MOUNT}/{rel}",
            "stringData": (catalogue.root / rel).read_text(encoding="utf-8"),
            "mode": 0o444,
        }
    return files


def _load_roles(*roles: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The chart's ``hub.loadRoles``: JupyterHub roles keyed by name."""
    return {role["name"]: {key: value for key, value in role.items() if key != "name"} for role in roles}


def _secret_env(name: str, key: str) -> dict[str, Any]:
    return {"valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def render_values(spec: EnvironmentSpec, catalogue: Catalogue, image_mirror: str | None = None) -> dict[str, Any]:
    """The complete z2jh Helm values for ``spec`` (plain data, ready for ``yaml.safe_dump``). With
    ``image_mirror`` (the environment's registry cache, issue 16) every image the release runs is named by its
    address in the cache (:func:`gereedschapskist.core.registry.mirrored`), the hub's profiles too."""
    roles, bundles = _offered(spec, catalogue)
    public_url = str(spec.public_url).rstrip("/")
    host = spec.public_url.host
    first = catalogue.bundles[bundles[0]]
    production = spec.stage == "production"
    allowed_groups = [organisation_group(spec.organisation), spec.admin_group]

    hub_env: dict[str, Any] = {
        f"{ENV_PREFIX}BACKEND": "kubernetes",
        f"{ENV_PREFIX}STAGE": spec.stage,
        f"{ENV_PREFIX}PUBLIC_URL": public_url,
        f"{ENV_PREFIX}CATALOGUE_DIR": CATALOGUE_MOUNT,
        f"{ENV_PREFIX}ROLES": json.dumps(roles),  # the hub renders its profiles from these and the catalogue
        f"{ENV_PREFIX}BUNDLES": json.dumps(bundles),
        f"{ENV_PREFIX}OIDC_ISSUER": str(spec.oidc.issuer).rstrip("/"),
        f"{ENV_PREFIX}OIDC_CLIENT_ID": spec.oidc.client_id,
        f"{ENV_PREFIX}OIDC_CLIENT_SECRET": _secret_env(spec.oidc.client_secret_name, "client-secret"),
        # the key that encrypts auth_state (the issuer's tokens), from the same Secret (infra fills it)
        CRYPT_KEY_ENV: _secret_env(spec.oidc.client_secret_name, CRYPT_KEY_SECRET_KEY),
    }
    if spec.portal_url is not None:  # /hub/spawn sends people to the portal (also back after a first launch's SSO)
        hub_env[f"{ENV_PREFIX}PORTAL_URL"] = str(spec.portal_url).rstrip("/")
        # granted datasets (issue 15, hub/kubernetes_data.py): the hub asks the portal at every start, with the
        # portal service's token that the chart keeps in the hub's Secret (hub.services.portal.apiToken)
        hub_env[f"{ENV_PREFIX}PORTAL_API_URL"] = str(spec.portal_url).rstrip("/")
        hub_env[f"{ENV_PREFIX}PORTAL_API_TOKEN"] = _secret_env(HUB_SECRET, f"hub.services.{PORTAL_SERVICE}.apiToken")
    if image_mirror:  # the hub names the profiles' images through the cache as well (hub/kubernetes.py)
        hub_env[f"{ENV_PREFIX}IMAGE_MIRROR"] = image_mirror
    non_root = {"runAsUser": HUB_UID, "runAsGroup": HUB_UID, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}

    values = {
        "fullnameOverride": "",
        "hub": {
            "image": {"name": mirrored(HUB_IMAGE, image_mirror), "tag": __version__},
            "config": {
                "JupyterHub": {"authenticator_class": "generic-oauth"},  # configure(c) sets the platform's subclass
                "GenericOAuthenticator": authenticator_settings(
                    client_id=spec.oidc.client_id, public_url=public_url, scopes=spec.oidc.scopes,
                    username_claim=spec.oidc.username_claim, groups_claim=spec.oidc.groups_claim,
                    allowed_groups=allowed_groups, admin_group=spec.admin_group,
                    token_endpoint_auth_method=spec.oidc.token_endpoint_auth_method),
                # the groups the hub accepts from the issuer: the rule the portal applies (core.groups.accept_groups)
                "GereedschapskistAuthenticator": {
                    "organisations": [spec.organisation],
                    "platform_admin_group": spec.admin_group,
                    "group_mapping": dict(spec.oidc.group_mapping),
                },
            },
            "allowNamedServers": True,
            "namedServerLimitPerUser": spec.max_servers_per_user,
            "concurrentSpawnLimit": 64,
            "consecutiveFailureLimit": 0,
            "shutdownOnLogout": False,
            "extraEnv": hub_env,
            "extraConfig": {"gereedschapskist": CONFIG_SNIPPET},
            "extraFiles": _catalogue_files(catalogue),
            "services": {PORTAL_SERVICE: {"admin": False}},
            # users, platform and organisation admins, the portal: hub/roles.py (no one gets JupyterHub's admin)
            "loadRoles": _load_roles(*hub_roles(admin_group=spec.admin_group, organisations=[spec.organisation],
                                                portal=True)),
            "db": {"type": "sqlite-pvc", "pvc": {"storage": "1Gi"}},
            "containerSecurityContext": non_root,
            "podSecurityContext": {"fsGroup": HUB_UID, "runAsNonRoot": True,
                                   "seccompProfile": {"type": "RuntimeDefault"}},
            "networkPolicy": {"enabled": True},
            "nodeSelector": node_selector(CORE_POOL),  # the hub and the proxy run on the core pool (issue 16)
        },
        "proxy": {
            "service": {"type": "ClusterIP"},
            "chp": {
                "nodeSelector": node_selector(CORE_POOL),
                "networkPolicy": {"enabled": True},
                "containerSecurityContext": {**non_root, "runAsUser": 65534, "runAsGroup": 65534},
            },
        },
        "ingress": {
            "enabled": True,
            "hosts": [host],
            "tls": [{"hosts": [host], "secretName": f"{spec.name}-hub-tls"}],
        },
        "singleuser": {
            "image": {"name": mirrored(first.image.repository, image_mirror), "tag": first.image.tag},
            "cmd": "jupyterhub-singleuser",
            "defaultUrl": "/lab",
            "uid": USER_UID,
            "fsGid": USER_GID,
            "allowPrivilegeEscalation": False,
            "cpu": {"guarantee": float(first.default_size.cpu), "limit": float(first.default_size.cpu)},
            "memory": {"guarantee": first.default_size.memory_bytes, "limit": first.default_size.memory_bytes},
            "storage": {"type": "dynamic", "capacity": "10Gi", "homeMountPath": HOME_MOUNT},
            "startTimeout": 600,
            "cloudMetadata": {"blockWithIptables": False},  # the network policy blocks it; no privileged init
            "networkPolicy": {
                "enabled": True,
                "egressAllowRules": {
                    "cloudMetadataServer": False,
                    "dnsPortsCloudMetadataServer": False,
                    "dnsPortsKubeSystemNamespace": True,
                    "dnsPortsPrivateIPs": True,
                    "nonPrivateIPs": not production,
                    "privateIPs": False,
                },
            },
            "extraLabels": {f"{LABEL_PREFIX}/environment": spec.name,
                            f"{LABEL_PREFIX}/organisation": spec.organisation},
            # no profileList: the hub renders the profiles per user from its catalogue (a callable)
        },
        "scheduling": {
            "userScheduler": {"enabled": False},
            "userPods": {"nodeAffinity": {"matchNodePurpose": "ignore"}},
            "podPriority": {"enabled": True},           # user pods preempt placeholders
            "userPlaceholder": {"enabled": False},      # one set per release, one pool: see user_placeholders()
        },
        "prePuller": {
            "hook": {"enabled": True, "pullOnlyOnChanges": True},   # before the hub is upgraded
            "continuous": {"enabled": True},                         # on every node that joins later
            "pullProfileListImages": False,        # the hub renders the profiles; the images are listed here
            "extraImages": bundle_images(catalogue, bundles, image_mirror),
            "extraTolerations": [GPU_TAINT.toleration()],            # the GPU pool pulls too
        },
        "cull": {
            "enabled": True,
            "timeout": spec.idle_timeout_seconds,
            "every": 300,
            "users": False,
            "adminUsers": True,
            "removeNamedServers": False,
        },
        "custom": {
            "gereedschapskist": {
                "environment": spec.name,
                "organisation": spec.organisation,
                "contract": spec.contract,
                "stage": spec.stage,
                "userPlaceholders": user_placeholders(catalogue, bundles),
            },
        },
        "debug": {"enabled": False},
    }
    if image_mirror:
        for (section, part), name in CHART_IMAGES.items():   # the chart's own images (tags: the chart's defaults)
            holder = values.setdefault(section, {}).setdefault(part, {})
            holder["image"] = {**holder.get("image", {}), "name": mirrored(name, image_mirror)}
    _add_spark(values, spec, catalogue, bundles, image_mirror)
    return values


def _add_spark(values: dict[str, Any], spec: EnvironmentSpec, catalogue: Catalogue, bundles: list[str],
               image_mirror: str | None = None) -> None:
    """Spark on Kubernetes (issue 17, :mod:`.spark`), only where the environment offers a bundle whose sizes scale
    out: each size's ``spark-defaults.conf`` and executor pod template as ``singleuser.extraFiles``, and network
    rules so executors (their namespaces) reach the driver and the driver reaches them and the API server."""
    labels = values["singleuser"]["extraLabels"]
    files = spark.spark_files(catalogue, bundles, labels, image_mirror)
    if not files:
        return
    values["singleuser"]["extraFiles"] = files
    rules = spark.network_rules()
    policy = values["singleuser"]["networkPolicy"]
    policy["ingress"] = rules["ingress"]
    policy["egress"] = rules["egress"] + [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in spark.API_SERVER_CIDRS],
                                           "ports": [{"port": port, "protocol": "TCP"}
                                                     for port in spark.API_SERVER_PORTS]}]


def bundle_images(catalogue: Catalogue, bundles: list[str], image_mirror: str | None = None
                  ) -> dict[str, dict[str, str]]:
    """``prePuller.extraImages``: each offered bundle's image (through the registry cache when there is one), named
    after the bundle (a DNS label)."""
    images = {}
    for bundle_id in sorted(bundles):
        image = catalogue.bundles[bundle_id].image
        images[re.sub(r"[^a-z0-9-]+", "-", bundle_id.lower())[:63].strip("-")] = {
            "name": mirrored(image.repository, image_mirror), "tag": image.tag}
    return images


def user_placeholders(catalogue: Catalogue, bundles: list[str]) -> dict[str, dict[str, Any]]:
    """Per node pool that offered bundles start on (their default sizes; the GPU pool left out): how many
    placeholder pods keep room for a start, their requests (the largest default size starting there) and node
    selector. A placeholder runs with the chart's user-placeholder priority class, so a user's pod preempts it and the
    autoscaler adds a node for the placeholder, not for the user."""
    pools: dict[str, dict[str, Any]] = {}
    for bundle_id in sorted(bundles):
        bundle = catalogue.bundles[bundle_id]
        size = bundle.default_size
        pool = node_pool(bundle, size)
        if pool == GPU_POOL:
            continue
        entry = pools.setdefault(pool, {"replicas": PLACEHOLDERS_PER_POOL, "nodeSelector": node_selector(pool),
                                        "cpu": 0.0, "memory": 0})
        entry["cpu"] = max(entry["cpu"], float(size.cpu))
        entry["memory"] = max(entry["memory"], size.memory_bytes)
    return {pool: {"replicas": e["replicas"], "nodeSelector": e["nodeSelector"],
                   "resources": {"requests": {"cpu": e["cpu"], "memory": e["memory"]}}}
            for pool, e in sorted(pools.items())}
