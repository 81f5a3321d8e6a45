"""Spark on Kubernetes for bundles whose sizes allow executors (``max_executors``, issue 17): the same notebook
that runs ``local[*]`` in a workspace runs Spark in **client mode** there — the driver in the workspace pod, the
executors as pods in the user's own namespace, on the bundle's node pool.

Everything is plain data generated from the catalogue (no bundle is named here):

- **Per environment** (:func:`environment_manifests`, applied with the hub): a ClusterRole holding exactly what a
  Spark driver needs in its executors' namespace (pods and their config maps) and a ClusterRole/Binding that lets
  the hub make a user's executor namespace and bind that role there — nothing else.
- **Per user** (:func:`user_manifests`, made by the hub before the user's first Spark start): the namespace
  ``spark-<user>`` (labels of the environment, Pod Security ``restricted``), the service account
  ``spark-<user>`` in the hub's namespace that the workspace pod runs as, a RoleBinding giving that account the
  driver role **only in the user's own namespace** (so it can neither see nor touch anyone else's pods: RBAC
  cannot limit list/watch to some pods, a namespace can), and a ResourceQuota capping that namespace at the
  largest size's ``max_executors`` executors of that size.
- **Per workspace** (:func:`driver_service`): a headless Service in the hub's namespace selecting the workspace
  pod, the stable address executors call back to (driver and block-manager ports).
- **Per bundle size** (:func:`spark_files`, mounted by the Helm values as ``singleuser.extraFiles``):
  ``spark-defaults.conf`` (master ``k8s://https://kubernetes.default.svc``, client mode, the user's namespace
  and driver host read from the pod's environment with Spark's ``${env:…}``, the bundle's image, dynamic
  allocation from 0 to the size's ``max_executors``, executors of the size's CPU and memory) and the executor
  pod template (the environment's labels, the size's node pool and tolerations, non-root, the image's Java
  started as Spark's executor backend).
- **The profile** (:func:`profile_override`): the size's KubeSpawner override adds the service account, its
  token, ``SPARK_CONF_DIR`` and the variables the configuration reads.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from gereedschapskist.catalogue import Bundle, Catalogue, Size
from gereedschapskist.core.placement import GPU_TAINT, LABEL_PREFIX, node_pool, node_selector
from gereedschapskist.core.registry import mirrored
# The environment-wide part lives in core: infra applies it with the hub, and infra may not import the hub.
from gereedschapskist.core.spark import (  # noqa: F401  (re-exported: the hub's Spark names in one module)
    DRIVER_ROLE, HUB_ROLE, HUB_SERVICE_ACCOUNT, environment_manifests, spark_sizes,
)

#: Where ``singleuser.extraFiles`` puts each size's configuration in a workspace pod.
CONF_ROOT = "/etc/gereedschapskist/spark"
TEMPLATE_FILE = "executor-pod-template.yaml"
DEFAULTS_FILE = "spark-defaults.conf"
#: The driver asks the Kubernetes API server (kubernetes.default.svc) for its executors: its address is a private
#: one the values cannot know, so the workspace may reach these ports on private addresses (issue 17).
API_SERVER_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
API_SERVER_PORTS = (443, 6443)
DRIVER_PORT = 7078
BLOCK_MANAGER_PORT = 7079
#: Labels on every Spark object; the executors' namespaces carry ``EXECUTORS_LABEL`` (network policies select it).
OWNER_LABEL = f"{LABEL_PREFIX}/spark-owner"
EXECUTORS_LABEL = f"{LABEL_PREFIX}/spark-executors"
COMPONENT_LABEL = f"{LABEL_PREFIX}/component"
#: KubeSpawner expands ``{username}`` (a safe slug) and ``{user_server}`` (``<user>--<server>``, or the user alone
#: for the default server) in the environment and the service account name.
USER_TEMPLATE = "{username}"
WORKSPACE_TEMPLATE = "{user_server}"
#: Executor memory: this share of the size's memory is Spark's heap, the rest its overhead (the pod's limit is the
#: size's memory, as for workspaces).
HEAP_SHARE = 0.8
#: The executor's JVM, as Spark's own image entrypoint starts it (the bundle image has no Spark entrypoint).
EXECUTOR_COMMAND = (
    'exec java -Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" '
    '-cp "$(python -c \'import pyspark, os; print(os.path.dirname(pyspark.__file__))\')/jars/*" '
    "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend "
    '--driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" --cores "$SPARK_EXECUTOR_CORES" '
    '--app-id "$SPARK_APPLICATION_ID" --hostname "$SPARK_EXECUTOR_POD_IP" '
    '--resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" --podName "$SPARK_EXECUTOR_POD_NAME"'
)


def spark_bundles(catalogue: Catalogue, bundle_ids: Iterable[str]) -> list[Bundle]:
    return [catalogue.bundles[b] for b in bundle_ids if spark_sizes(catalogue.bundles[b])]


def namespace_for(user_slug: str) -> str:
    """``spark-<user slug>`` (the slug KubeSpawner gives ``{username}``), at most 63 characters."""
    return f"spark-{user_slug}"[:63].rstrip("-")


def conf_dir(bundle: Bundle, size: Size) -> str:
    return f"{CONF_ROOT}/{bundle.id}/{size.id}"


def _mebibytes(size: Size) -> int:
    return size.memory_bytes // 2**20


def _cores(size: Size) -> int:
    return max(1, int(size.cpu))


def spark_defaults(bundle: Bundle, size: Size, image_mirror: str | None = None) -> str:
    """``spark-defaults.conf`` of one size: client mode in the user's namespace, capped dynamic allocation; the
    executors' image through the environment's registry cache when there is one."""
    heap = int(_mebibytes(size) * HEAP_SHARE)
    conf = {
        "spark.master": "k8s://https://kubernetes.default.svc",
        "spark.submit.deployMode": "client",
        "spark.kubernetes.namespace": "${env:SPARK_EXECUTOR_NAMESPACE}",
        "spark.kubernetes.container.image": mirrored(bundle.image.reference, image_mirror),
        "spark.kubernetes.container.image.pullPolicy": "IfNotPresent",
        "spark.kubernetes.executor.podTemplateFile": f"{conf_dir(bundle, size)}/{TEMPLATE_FILE}",
        "spark.kubernetes.executor.podNamePrefix": "spark-${env:SPARK_WORKSPACE}",
        "spark.kubernetes.authenticate.caCertFile": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        "spark.kubernetes.authenticate.oauthTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "spark.kubernetes.executor.request.cores": f"{size.cpu:g}",
        "spark.kubernetes.executor.limit.cores": f"{size.cpu:g}",
        "spark.executor.cores": str(_cores(size)),
        "spark.executor.memory": f"{heap}m",
        "spark.executor.memoryOverhead": f"{_mebibytes(size) - heap}m",
        "spark.driver.host": "${env:SPARK_DRIVER_HOST}.${env:POD_NAMESPACE}.svc",
        "spark.driver.bindAddress": "0.0.0.0",
        "spark.driver.port": str(DRIVER_PORT),
        "spark.driver.blockManager.port": str(BLOCK_MANAGER_PORT),
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.shuffleTracking.enabled": "true",
        "spark.dynamicAllocation.minExecutors": "0",
        "spark.dynamicAllocation.initialExecutors": "1",
        "spark.dynamicAllocation.maxExecutors": str(size.max_executors),
        "spark.dynamicAllocation.executorIdleTimeout": "60s",
    }
    header = (f"# Spark on Kubernetes for {bundle.id} {bundle.version}, size {size.id} ({size.label}): client mode,\n"
              f"# at most {size.max_executors} executors. Generated by gereedschapskist.hub.spark; do not edit.\n")
    return header + "".join(f"{key} {value}\n" for key, value in conf.items())


def executor_pod_template(bundle: Bundle, size: Size, environment_labels: dict[str, str]) -> dict[str, Any]:
    """The executor pod template: the environment's labels, the size's pool and tolerations, non-root."""
    template: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {**environment_labels, COMPONENT_LABEL: "spark-executor",
                                f"{LABEL_PREFIX}/bundle": bundle.id, f"{LABEL_PREFIX}/size": size.id}},
        "spec": {
            "nodeSelector": node_selector(node_pool(bundle, size)),
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 100, "fsGroup": 100,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "spark-executor",
                "command": ["bash", "-c", EXECUTOR_COMMAND],
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                    "runAsNonRoot": True},
            }],
        },
    }
    if size.gpu:
        template["spec"]["tolerations"] = [GPU_TAINT.toleration()]
    return template


def spark_files(catalogue: Catalogue, bundle_ids: Iterable[str], environment_labels: dict[str, str],
                image_mirror: str | None = None) -> dict[str, dict[str, Any]]:
    """``singleuser.extraFiles`` of z2jh: per Spark bundle size its defaults and executor pod template."""
    files: dict[str, dict[str, Any]] = {}
    for bundle in spark_bundles(catalogue, bundle_ids):
        for size in spark_sizes(bundle):
            key = re.sub(r"[^a-z0-9-]", "-", f"spark-{bundle.id}-{size.id}")
            files[f"{key}-defaults"] = {"mountPath": f"{conf_dir(bundle, size)}/{DEFAULTS_FILE}",
                                        "stringData": spark_defaults(bundle, size, image_mirror)}
            files[f"{key}-template"] = {"mountPath": f"{conf_dir(bundle, size)}/{TEMPLATE_FILE}",
                                        "data": executor_pod_template(bundle, size, environment_labels)}
    return files


def profile_override(bundle: Bundle, size: Size, hub_namespace_env: str = "POD_NAMESPACE") -> dict[str, Any]:
    """What a Spark size adds to its KubeSpawner override: the user's service account and its token, and the
    variables ``spark-defaults.conf`` reads. Empty for a size without executors (Spark stays local there)."""
    if not size.max_executors:
        return {}
    workspace = WORKSPACE_TEMPLATE
    return {
        "service_account": f"spark-{USER_TEMPLATE}",
        "automount_service_account_token": True,
        "environment": {
            "SPARK_CONF_DIR": conf_dir(bundle, size),
            "SPARK_EXECUTOR_NAMESPACE": f"spark-{USER_TEMPLATE}",
            "SPARK_WORKSPACE": workspace,
            "SPARK_DRIVER_HOST": f"spark-driver-{workspace}",       # the headless Service (driver_service)
            "POD_NAMESPACE": {"valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        },
    }


def _labels(environment_labels: dict[str, str], user_slug: str) -> dict[str, str]:
    return {**environment_labels, OWNER_LABEL: user_slug}


def user_manifests(bundle: Bundle, *, user_slug: str, hub_namespace: str,
                   environment_labels: dict[str, str]) -> list[dict[str, Any]]:
    """A user's Spark objects: their executor namespace, service account, driver role there, and a quota of the
    bundle's largest scale-out (``max_executors`` × that size's CPU and memory)."""
    sizes = spark_sizes(bundle)
    if not sizes:
        return []
    namespace = namespace_for(user_slug)
    account = f"spark-{user_slug}"[:63].rstrip("-")
    labels = _labels(environment_labels, user_slug)
    cap = max(sizes, key=lambda s: (s.max_executors * s.cpu, s.max_executors * s.memory_bytes))
    quota_cpu = cap.max_executors * cap.cpu
    quota_memory = cap.max_executors * _mebibytes(cap)
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": namespace, "labels": {
             **labels, EXECUTORS_LABEL: "true",
             "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": account, "namespace": hub_namespace, "labels": labels},
         "automountServiceAccountToken": False},          # only Spark sizes' pods mount it (profile_override)
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "spark-driver", "namespace": namespace, "labels": labels},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DRIVER_ROLE},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": hub_namespace}]},
        {"apiVersion": "v1", "kind": "ResourceQuota",
         "metadata": {"name": "spark-executors", "namespace": namespace, "labels": labels},
         "spec": {"hard": {"pods": str(cap.max_executors), "requests.cpu": f"{quota_cpu:g}",
                           "limits.cpu": f"{quota_cpu:g}", "requests.memory": f"{quota_memory}Mi",
                           "limits.memory": f"{quota_memory}Mi", "configmaps": str(2 * cap.max_executors + 4)}}},
    ]


def driver_service(*, user_slug: str, server_slug: str, hub_namespace: str,
                   environment_labels: dict[str, str]) -> dict[str, Any]:
    """The headless Service executors reach their driver through (``SPARK_DRIVER_HOST``)."""
    selector = {"hub.jupyter.org/username": user_slug, "component": "singleuser-server"}
    workspace = user_slug
    if server_slug:
        selector["hub.jupyter.org/servername"] = server_slug
        workspace = f"{user_slug}--{server_slug}"
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": f"spark-driver-{workspace}", "namespace": hub_namespace,
                     "labels": _labels(environment_labels, user_slug)},
        "spec": {"clusterIP": "None", "selector": selector, "publishNotReadyAddresses": True,
                 "ports": [{"name": "driver", "port": DRIVER_PORT, "targetPort": DRIVER_PORT, "protocol": "TCP"},
                           {"name": "block-manager", "port": BLOCK_MANAGER_PORT, "targetPort": BLOCK_MANAGER_PORT,
                            "protocol": "TCP"}]},
    }


def network_rules() -> dict[str, list[dict[str, Any]]]:
    """z2jh ``singleuser.networkPolicy`` additions: executors (their namespaces) reach the driver's ports, and the
    driver reaches its executors."""
    executors = {"namespaceSelector": {"matchLabels": {EXECUTORS_LABEL: "true"}}}
    return {
        "ingress": [{"from": [executors], "ports": [{"port": DRIVER_PORT, "protocol": "TCP"},
                                                    {"port": BLOCK_MANAGER_PORT, "protocol": "TCP"}]}],
        "egress": [{"to": [executors]}],
    }


class SparkObjects:
    """Makes a user's Spark objects before a Spark size's pod starts (:meth:`ensure`): an adapter around the
    Kubernetes API that creates each object and leaves one that exists alone (the next start finds them)."""

    def __init__(self, api_client: Any):
        self.api_client = api_client

    async def create(self, obj: dict[str, Any]) -> None:
        from kubernetes_asyncio.utils import FailToCreateError, create_from_dict

        try:
            await create_from_dict(self.api_client, obj, namespace=obj["metadata"].get("namespace"))
        except FailToCreateError as failed:
            if any(getattr(e, "status", None) != 409 for e in failed.api_exceptions):
                raise

    async def ensure(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:          # in order: the namespace before what lives in it
            await self.create(obj)


def workspace_objects(bundle: Bundle, size: Size, *, user_slug: str, server_slug: str, hub_namespace: str,
                      environment_labels: dict[str, str]) -> list[dict[str, Any]]:
    """Everything a Spark size's start needs in the cluster (none for a size without executors)."""
    if not size.max_executors:
        return []
    labels = {k: v for k, v in environment_labels.items() if k.startswith(f"{LABEL_PREFIX}/")}
    return [*user_manifests(bundle, user_slug=user_slug, hub_namespace=hub_namespace, environment_labels=labels),
            driver_service(user_slug=user_slug, server_slug=server_slug, hub_namespace=hub_namespace,
                           environment_labels=labels)]
