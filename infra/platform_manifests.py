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
DB_PASSWORD_SECRET = "portal-database-password"  # the managed server's admin (the database's creator)
DB_OWNER_PASSWORD_SECRET = "portal-database-owner-password"
DB_RUNTIME_PASSWORD_SECRET = "portal-database-runtime-password"
SESSION_SECRET = "portal-session-secret"

# The three database identities (README, "The register and the two database roles"): the managed server's admin
# creates the two roles (`gereedschapskist db init-roles`); the owner owns the tables and runs the migrations; the
# portal connects as the runtime role, which may only INSERT and SELECT on the register. The defaults of
# `db init-roles`, repeated here because infra does not import the portal.
OWNER_ROLE = "gereedschapskist_owner"
RUNTIME_ROLE = "gereedschapskist_portal"
# Kubernetes Secrets of the roles Job only: the admin's URL; the owner's password and URL; the runtime role's password.
DB_ADMIN_SECRET = "portal-db-admin"
DB_OWNER_SECRET = "portal-db-owner"
DB_RUNTIME_SECRET = "portal-db-runtime"
OWNER_PASSWORD_FILE = "/secrets/owner/password"
RUNTIME_PASSWORD_FILE = "/secrets/portal/password"

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


def database_url(username: str, password_variable: str, host: str, port: int, database: str) -> str:
    """A template of a database URL in which ``{{ .<password_variable> }}`` stands for the password."""
    return (f"postgresql+psycopg://{username}:{{{{ .{password_variable} }}}}@{host}:{port}/{database}"
            "?sslmode=require")


def _secret(name: str, tags: Tags, remote_keys: dict[str, pulumi.Input[str]],
            template: dict[str, pulumi.Input[str]]) -> dict[str, Any]:
    obj = external_secret(name, PORTAL_NAMESPACE, tags, remote_keys=remote_keys, template=template)
    obj["metadata"]["labels"]["app.kubernetes.io/name"] = "portal"
    return obj


def portal_secrets(tags: Tags, *, database_url: pulumi.Input[str], remote_keys: dict[str, pulumi.Input[str]]
                   ) -> dict[str, Any]:
    """The portal's secrets, from the cloud's secret store into one Kubernetes Secret.

    ``database_url`` is the runtime role's URL, a template in which ``{{ .runtime_password }}`` stands for its
    password; ``remote_keys`` names ``runtime_password``, ``session_secret`` and ``oidc_client_secret``.
    """
    template = {
        f"{PREFIX}DATABASE_URL": database_url,
        f"{PREFIX}SESSION_SECRET": "{{ .session_secret }}",
        f"{PREFIX}OIDC_CLIENT_SECRET": "{{ .oidc_client_secret }}",
    }
    if "hub_tokens" in remote_keys:  # the contract environments' hub tokens, a JSON object (issue 16, item 8)
        template[f"{PREFIX}HUB_TOKENS"] = "{{ .hub_tokens }}"
    return _secret(PORTAL_SECRET, tags, remote_keys, template)


def database_secrets(tags: Tags, *, admin_url: pulumi.Input[str], owner_url: pulumi.Input[str],
                     remote_keys: dict[str, pulumi.Input[str]]) -> list[dict[str, Any]]:
    """The roles Job's secrets, one Kubernetes Secret per identity; no portal pod mounts them.

    ``admin_url`` and ``owner_url`` are templates with ``{{ .password }}``; ``remote_keys`` maps ``admin``,
    ``owner`` and ``runtime`` to the store's names of their passwords.
    """
    return [
        _secret(DB_ADMIN_SECRET, tags, {"password": remote_keys["admin"]}, {"url": admin_url}),
        _secret(DB_OWNER_SECRET, tags, {"password": remote_keys["owner"]},
                {"password": "{{ .password }}", "url": owner_url}),
        _secret(DB_RUNTIME_SECRET, tags, {"password": remote_keys["runtime"]}, {"password": "{{ .password }}"}),
    ]


def _version_slug(version: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")


def _container(name: str, image: str, command: list[str] | None, *, env_from: list[dict[str, Any]] | None = None,
               env: list[dict[str, Any]] | None = None, mounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "securityContext": _SECURITY,
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *(mounts or [])],
    }
    if env_from:
        container["envFrom"] = env_from
    if env:
        container["env"] = env
    if command:
        container["command"] = command
    return container


def _pod_spec(containers: list[dict[str, Any]], volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "automountServiceAccountToken": False,
            "containers": containers, "volumes": [{"name": "tmp", "emptyDir": {}}, *(volumes or [])]}


def _url_from(secret: str) -> list[dict[str, Any]]:
    """``GEREEDSCHAPSKIST_PORTAL_DATABASE_URL`` (the CLI's default for ``--database-url``) from ``secret``."""
    return [{"name": f"{PREFIX}DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": secret, "key": "url"}}}]


def _password_volume(volume: str, secret: str) -> dict[str, Any]:
    return {"name": volume, "secret": {"secretName": secret, "items": [{"key": "password", "path": "password"}]}}


def _password_mount(volume: str, file: str) -> dict[str, Any]:
    return {"name": volume, "mountPath": file.rsplit("/", 1)[0], "readOnly": True}


def migration_job(spec: PlatformSpec, image: str, tags: Tags) -> dict[str, Any]:
    """One Job per portal version, with the new image, awaited before rollout.

    Its init container, as the managed server's admin, runs ``gereedschapskist db init-roles`` (idempotent: it
    creates or brings in line the owner and the runtime role, with their passwords from files); then its
    container, as the owner, runs ``gereedschapskist db upgrade``. The URLs come from Secrets through the
    environment, so no password is in the pod spec or on a command line. The Job reads no portal settings: the
    db commands need only the database URL.
    """
    init_roles = _container("init-roles", image, [
        "gereedschapskist", "db", "init-roles", "--owner-role", OWNER_ROLE, "--runtime-role", RUNTIME_ROLE,
        "--owner-password-file", OWNER_PASSWORD_FILE, "--runtime-password-file", RUNTIME_PASSWORD_FILE,
    ], env=_url_from(DB_ADMIN_SECRET), mounts=[_password_mount("owner-password", OWNER_PASSWORD_FILE),
                                                _password_mount("runtime-password", RUNTIME_PASSWORD_FILE)])
    upgrade = _container("migrate", image, ["gereedschapskist", "db", "upgrade"], env=_url_from(DB_OWNER_SECRET))
    pod = _pod_spec([upgrade], [_password_volume("owner-password", DB_OWNER_SECRET),
                                _password_volume("runtime-password", DB_RUNTIME_SECRET)])
    pod["initContainers"] = [init_roles]
    pod["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _meta(f"portal-migrate-{_version_slug(spec.portal_version)}", tags),
        "spec": {"backoffLimit": 3, "activeDeadlineSeconds": 900,
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": "portal-migrate"}}, "spec": pod}},
    }


def deployment(spec: PlatformSpec, image: str, tags: Tags, migrated_by: pulumi.Input[str]) -> dict[str, Any]:
    """The portal: several replicas spread over zones; a new version replaces pods only as they turn ready.

    Its pods connect as the runtime role (``portal-secrets``) and hold neither the owner's nor the admin's password.
    """
    selector = {"app.kubernetes.io/name": "portal"}
    container = _container("portal", image, [
        "uvicorn", "gereedschapskist.portal.main:app", "--host", "0.0.0.0", "--port", str(PORTAL_PORT),
        "--proxy-headers", "--forwarded-allow-ips", "*"],
        env_from=[{"configMapRef": {"name": PORTAL_SETTINGS}}, {"secretRef": {"name": PORTAL_SECRET}}])
    container["ports"] = [{"name": "http", "containerPort": PORTAL_PORT, "protocol": "TCP"}]
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 3}
    container["readinessProbe"] = {**probe, "initialDelaySeconds": 3}
    container["livenessProbe"] = {**probe, "initialDelaySeconds": 15, "failureThreshold": 6}
    pod = _pod_spec([container])
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
