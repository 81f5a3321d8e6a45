"""Production egress by domain (issue 16, item 12): an HTTPS egress proxy with a domain allow-list.

An IP allow-list cannot name a service behind a CDN without opening the CDN's whole range (a /16 of Fastly serves
far more than PyPI). So in production workspaces reach the internet only through this proxy (Squid), which allows
``CONNECT`` to port 443 of the stack's ``egress_domains`` and nothing else; the workspaces' network policy allows
the proxy, not the internet, and the proxy's own policy allows only HTTPS out (no private network, no metadata).
Workspaces find it through ``HTTPS_PROXY`` / ``HTTP_PROXY`` (set in the hub's values).
"""

from __future__ import annotations

from typing import Any, Iterable

from gereedschapskist.core.placement import CORE_POOL, POOL_LABEL

from . import versions
from .manifests import CLOUD_METADATA, HUB_NAMESPACE, WORKSPACE_POD, namespace
from .tags import Tags

EGRESS_NAMESPACE = "egress"
PROXY_NAME = "egress-proxy"
PROXY_PORT = 3128
PROXY_POD = {"app.kubernetes.io/name": PROXY_NAME}
PROXY_URL = f"http://{PROXY_NAME}.{EGRESS_NAMESPACE}.svc.cluster.local:{PROXY_PORT}"
#: Addresses inside the cluster that workspaces reach directly (the hub's API, services, Kafka is not HTTP).
NO_PROXY = "localhost,127.0.0.1,hub,proxy-public,proxy-api,.svc,.svc.cluster.local,.cluster.local"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8")


def squid_domain(domain: str) -> str:
    """``*.example.org`` -> ``.example.org`` (the domain and its subdomains); ``pypi.org`` stays exact."""
    return "." + domain[2:] if domain.startswith("*.") else domain


def squid_conf(domains: Iterable[str]) -> str:
    allowed = " ".join(squid_domain(d) for d in sorted(domains))
    return "\n".join([
        f"http_port {PROXY_PORT}",
        f"acl allowed_domains dstdomain {allowed}",
        "acl https_port port 443",
        "acl CONNECT method CONNECT",
        f"acl private_networks dst {' '.join(PRIVATE_RANGES)}",
        "http_access deny private_networks",  # a domain that resolves to a private address is refused
        "http_access deny !CONNECT",          # HTTPS tunnels only: no plain HTTP, no other method
        "http_access deny !https_port",
        "http_access allow allowed_domains",
        "http_access deny all",
        "cache deny all",
        "access_log stdio:/dev/stdout",
        "cache_log /dev/stderr",
        "pid_filename none",
        "",
    ])


def proxy_env() -> dict[str, str]:
    """The workspaces' environment: every common spelling, since tools read one or the other."""
    env = {"HTTPS_PROXY": PROXY_URL, "HTTP_PROXY": PROXY_URL, "NO_PROXY": NO_PROXY}
    return {**env, **{key.lower(): value for key, value in env.items()}}


def manifests(domains: Iterable[str], tags: Tags, image: str = versions.EGRESS_PROXY_IMAGE) -> list[dict[str, Any]]:
    """Namespace, configuration, Deployment (two replicas on the core pool), Service and network policy; ``image``:
    the proxy's, through the environment's registry cache."""
    domains = sorted(domains)
    labels = {**tags.kube(), **PROXY_POD}
    meta = {"namespace": EGRESS_NAMESPACE, "labels": labels}
    container = {
        "name": "squid", "image": image, "imagePullPolicy": "IfNotPresent",
        "args": ["-f", "/etc/squid/squid.conf", "-NYC"],
        "ports": [{"name": "proxy", "containerPort": PROXY_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": PROXY_PORT}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": PROXY_PORT}, "periodSeconds": 20},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        # Squid starts as root, prepares its directories and drops to the `proxy` user: only what that needs.
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL",
                                                                      "SETGID", "SETUID"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/squid/squid.conf", "subPath": "squid.conf"}],
    }
    return [
        namespace(EGRESS_NAMESPACE, tags),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": PROXY_NAME, **meta},
         "data": {"squid.conf": squid_conf(domains), "domains": "\n".join(domains) + "\n"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": PROXY_NAME, **meta},
         "spec": {"replicas": 2, "selector": {"matchLabels": PROXY_POD},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"nodeSelector": {POOL_LABEL: CORE_POOL},
                                        "automountServiceAccountToken": False,
                                        "containers": [container],
                                        "volumes": [{"name": "config", "configMap": {"name": PROXY_NAME}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": PROXY_NAME, **meta},
         "spec": {"selector": PROXY_POD, "ports": [{"name": "proxy", "port": PROXY_PORT, "targetPort": PROXY_PORT,
                                                     "protocol": "TCP"}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": PROXY_NAME, **meta},
         "spec": {"podSelector": {"matchLabels": PROXY_POD}, "policyTypes": ["Ingress", "Egress"],
                  "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                                             "kubernetes.io/metadata.name": HUB_NAMESPACE}},
                                         "podSelector": {"matchLabels": WORKSPACE_POD}}],
                               "ports": [{"port": PROXY_PORT, "protocol": "TCP"}]}],
                  "egress": [{"to": [{"namespaceSelector": {"matchLabels": {
                                          "kubernetes.io/metadata.name": "kube-system"}},
                                      "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                              "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
                             {"to": [{"ipBlock": {"cidr": "0.0.0.0/0",
                                                  "except": [CLOUD_METADATA, *PRIVATE_RANGES[:4]]}}],
                              "ports": [{"port": 443, "protocol": "TCP"}]}]}},
    ]


def workspace_rule() -> dict[str, Any]:
    """The workspaces' egress rule to the proxy (added to their network policy)."""
    return {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": EGRESS_NAMESPACE}},
                    "podSelector": {"matchLabels": PROXY_POD}}],
            "ports": [{"port": PROXY_PORT, "protocol": "TCP"}]}


def with_proxy(values: dict, proxied: bool) -> dict:
    """The hub's values with the proxy variables in every workspace (``singleuser.extraEnv``) when ``proxied``."""
    if not proxied:
        return values
    singleuser = values["singleuser"]
    return {**values, "singleuser": {**singleuser, "extraEnv": {**singleuser.get("extraEnv", {}), **proxy_env()}}}
