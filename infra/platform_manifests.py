"""Kubernetes objects of the central platform: the portal, its migrations, TLS ingress and secrets."""

from __future__ import annotations

import re
from typing import Any

import pulumi

from gereedschapskist.core.placement import LABEL_PREFIX

from .config import PlatformSpec
from .services import CLUSTER_ISSUER, INGRESS_CLASS, INGRESS_NAMESPACE, external_secret
from .tags import Tags

PORTAL_NAMESPACE = "portal"
PORTAL_PORT = 8000
PORTAL_SECRET = "portal-secrets"
PORTAL_SETTINGS = "portal-settings"
PREFIX = "GEREEDSCHAPSKIST_PORTAL_"
MIGRATION_ANNOTATION = f"{LABEL_PREFIX}/migrated-by"
# Names of the portal's secrets in the cloud's secret store.
DB_PASSWORD_SECRET = "portal-database-password"
SESSION_SECRET = "portal-session-secret"

_SECURITY = {
    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}


def _meta(name: str, tags: Tags, namespace: str | None = PORTAL_NAMESPACE, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {**tags.kube(), "app.kubernetes.io/name": "portal"}}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def host(spec: PlatformSpec) -> str:
    return spec.public_url.host or ""


def settings(spec: PlatformSpec, tags: Tags) -> dict[str, Any]:
    """The portal's non-secret settings (environment variables with the portal's prefix)."""
    return {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(PORTAL_SETTINGS, tags),
        "data": {
            f"{PREFIX}PUBLIC_URL": str(spec.public_url).rstrip("/"),
            f"{PREFIX}STAGE": spec.stage,
            f"{PREFIX}OIDC_ISSUER": str(spec.oidc.issuer).rstrip("/"),
            f"{PREFIX}OIDC_CLIENT_ID": spec.oidc.client_id,
            f"{PREFIX}OIDC_GROUPS_CLAIM": spec.oidc.groups_claim,
            f"{PREFIX}ADMIN_GROUP": spec.admin_group,
        },
    }


def portal_secrets(tags: Tags, *, database_url: pulumi.Input[str], remote_keys: dict[str, pulumi.Input[str]]
                   ) -> dict[str, Any]:
    """The portal's secrets, from the cloud's secret store into one Kubernetes Secret.

    ``database_url`` is a template in which ``{{ .db_password }}`` stands for the password.
    """
    obj = external_secret(PORTAL_SECRET, PORTAL_NAMESPACE, tags, remote_keys=remote_keys, template={
        f"{PREFIX}DATABASE_URL": database_url,
        f"{PREFIX}SESSION_SECRET": "{{ .session_secret }}",
        f"{PREFIX}OIDC_CLIENT_SECRET": "{{ .oidc_client_secret }}",
    })
    obj["metadata"]["labels"]["app.kubernetes.io/name"] = "portal"
    return obj


def _version_slug(version: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")


def _pod(image: str, command: list[str] | None, *, probes: bool) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "portal", "image": image, "imagePullPolicy": "IfNotPresent",
        "envFrom": [{"configMapRef": {"name": PORTAL_SETTINGS}}, {"secretRef": {"name": PORTAL_SECRET}}],
        "securityContext": _SECURITY,
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if command:
        container["command"] = command
    if probes:
        container["ports"] = [{"name": "http", "containerPort": PORTAL_PORT, "protocol": "TCP"}]
        probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 3}
        container["readinessProbe"] = {**probe, "initialDelaySeconds": 3}
        container["livenessProbe"] = {**probe, "initialDelaySeconds": 15, "failureThreshold": 6}
    return {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "automountServiceAccountToken": False,
            "containers": [container], "volumes": [{"name": "tmp", "emptyDir": {}}]}


def migration_job(spec: PlatformSpec, image: str, tags: Tags) -> dict[str, Any]:
    """``gereedschapskist db upgrade`` with the new image — one Job per portal version, awaited before rollout."""
    pod = _pod(image, ["gereedschapskist", "db", "upgrade"], probes=False)
    pod["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _meta(f"portal-migrate-{_version_slug(spec.portal_version)}", tags),
        "spec": {"backoffLimit": 3, "activeDeadlineSeconds": 900,
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": "portal-migrate"}}, "spec": pod}},
    }


def deployment(spec: PlatformSpec, image: str, tags: Tags, migrated_by: pulumi.Input[str]) -> dict[str, Any]:
    """The portal: several replicas spread over zones; a new version replaces pods only as they turn ready."""
    selector = {"app.kubernetes.io/name": "portal"}
    pod = _pod(image, ["uvicorn", "gereedschapskist.portal.main:app", "--host", "0.0.0.0", "--port",
                       str(PORTAL_PORT), "--proxy-headers", "--forwarded-allow-ips", "*"], probes=True)
    pod["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                         "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _meta("portal", tags, annotations={MIGRATION_ANNOTATION: migrated_by}),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": {**selector, "app.kubernetes.io/version": spec.portal_version},
                                      "annotations": {MIGRATION_ANNOTATION: migrated_by}},
                         "spec": pod},
        },
    }


def service(tags: Tags) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta("portal", tags),
            "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": "portal"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}


def disruption_budget(tags: Tags) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta("portal", tags),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "portal"}}}}


def ingress(spec: PlatformSpec, tags: Tags) -> dict[str, Any]:
    """HTTPS only, with a certificate from cert-manager."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": _meta("portal", tags, annotations={
            "cert-manager.io/cluster-issuer": CLUSTER_ISSUER,
            "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
            "traefik.ingress.kubernetes.io/router.tls": "true"}),
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": [{"hosts": [host(spec)], "secretName": "portal-tls"}],
            "rules": [{"host": host(spec), "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                "service": {"name": "portal", "port": {"name": "http"}}}}]}}],
        },
    }


def network_policy(tags: Tags, private_network: str) -> dict[str, Any]:
    """Portal pods: reached only through the ingress controller; they reach DNS, the database in the private
    network, and HTTPS (the OIDC issuer) — never the cloud's metadata service."""
    dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta("portal", tags),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "portal"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": INGRESS_NAMESPACE}}}],
                "ports": [{"port": PORTAL_PORT, "protocol": "TCP"}]}],
            "egress": [
                {"to": [dns], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
                {"to": [{"ipBlock": {"cidr": private_network}}], "ports": [{"port": 5432, "protocol": "TCP"}]},
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", private_network]}}],
                 "ports": [{"port": 443, "protocol": "TCP"}]},
            ],
        },
    }
