"""In-cluster services every stack needs: HTTPS ingress with certificates, and secrets from the cloud's store.

* Traefik as the ingress controller (the default IngressClass) and cert-manager with an ACME ClusterIssuer.
* The External Secrets Operator with one ClusterSecretStore pointing at the cloud's secret store (Key Vault,
  Secrets Manager, Secret Manager), so no secret value is ever written into a manifest or a stack file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from gereedschapskist.core.placement import CORE_POOL, POOL_LABEL

from . import versions
from .config import TlsSpec
from .kube import apply, helm_release
from .manifests import namespace
from .partners import ESO_NAMESPACE, ESO_SERVICE_ACCOUNT, SecretStore
from .tags import Tags

INGRESS_NAMESPACE = "ingress"
CERT_MANAGER_NAMESPACE = "cert-manager"
CLUSTER_ISSUER = "letsencrypt"
SECRET_STORE = "cloud-secret-store"
INGRESS_CLASS = "traefik"
ON_CORE = {"nodeSelector": {POOL_LABEL: CORE_POOL}}


def cluster_issuer(tls: TlsSpec, tags: Tags) -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
            "metadata": {"name": CLUSTER_ISSUER, "labels": tags.kube()},
            "spec": {"acme": {"email": tls.acme_email, "server": str(tls.acme_server),
                              "privateKeySecretRef": {"name": "letsencrypt-account-key"},
                              "solvers": [{"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}]}}}


def certificate(name: str, namespace_name: str, host: str, secret_name: str, tags: Tags) -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name, "namespace": namespace_name, "labels": tags.kube()},
            "spec": {"secretName": secret_name, "dnsNames": [host],
                     "issuerRef": {"kind": "ClusterIssuer", "name": CLUSTER_ISSUER},
                     "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}}}


def cluster_secret_store(provider: pulumi.Input[dict], tags: Tags, namespaces: Sequence[str]) -> dict[str, Any]:
    """The cloud's secret store, usable only from ``namespaces``."""
    return {"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": SECRET_STORE, "labels": tags.kube()},
            "spec": {"provider": provider, "conditions": [{"namespaces": list(namespaces)}]}}


def external_secret(name: str, namespace_name: str, tags: Tags, *, template: dict[str, pulumi.Input[str]],
                    remote_keys: dict[str, pulumi.Input[str]]) -> dict[str, Any]:
    """A Kubernetes Secret ``name`` kept in step with the cloud's secret store.

    ``remote_keys`` maps template variables to names in the store; ``template`` maps the Secret's keys to Go
    templates over those variables (e.g. ``"{{ .db_password }}"``).
    """
    return {
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace_name, "labels": tags.kube()},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": SECRET_STORE},
            "target": {"name": name, "creationPolicy": "Owner", "template": {"data": template}},
            "data": [{"secretKey": key, "remoteRef": {"key": remote}} for key, remote in remote_keys.items()],
        },
    }


@dataclass(frozen=True)
class BaseServices:
    issuer: pulumi.Resource
    ingress: pulumi.Resource
    secret_store: pulumi.Resource


def dns_record(host: str, ingress: pulumi.Resource, kube: pulumi.ProviderResource,
               parent: pulumi.Resource) -> dict[str, pulumi.Input[str]]:
    """The DNS record the operator creates for ``host`` (issue 16, item 12): nothing here owns the DNS zone, and
    cert-manager's HTTP-01 challenge needs the host to resolve to the ingress's load balancer. Exported by the
    cluster stage as ``dns_record`` (README, "Verified only in a real deploy")."""
    service = k8s.core.v1.Service.get(f"{INGRESS_NAMESPACE}-traefik-address", f"{INGRESS_NAMESPACE}/{INGRESS_CLASS}",
                                      opts=pulumi.ResourceOptions(parent=parent, provider=kube, depends_on=[ingress]))

    def target(status) -> str:
        entries = (status.load_balancer.ingress if status and status.load_balancer else None) or []
        return next((e.ip or e.hostname for e in entries if e.ip or e.hostname), "")

    address = service.status.apply(target)
    return {"name": host, "type": address.apply(lambda a: "A" if a.replace(".", "").isdigit() else "CNAME"),
            "target": address}


def install(*, tags: Tags, tls: TlsSpec, store: SecretStore, secret_namespaces: Sequence[str],
            kube: pulumi.ProviderResource, parent: pulumi.Resource, after: Sequence[pulumi.Resource] = ()
            ) -> BaseServices:
    def kopts(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=kube, depends_on=[*depends_on, *after])

    ingress_ns = apply(namespace(INGRESS_NAMESPACE, tags), kopts())
    cert_ns = apply(namespace(CERT_MANAGER_NAMESPACE, tags), kopts())
    eso_ns = apply(namespace(ESO_NAMESPACE, tags), kopts())
    cert_manager = helm_release(
        "cert-manager", chart="cert-manager", version=versions.CERT_MANAGER_CHART_VERSION,
        repo=versions.CERT_MANAGER_CHART_REPO, namespace=CERT_MANAGER_NAMESPACE,
        values={"crds": {"enabled": True}, **ON_CORE}, opts=kopts(cert_ns))
    traefik = helm_release(
        "traefik", chart="traefik", version=versions.TRAEFIK_CHART_VERSION, repo=versions.TRAEFIK_CHART_REPO,
        namespace=INGRESS_NAMESPACE, opts=kopts(ingress_ns),
        values={**ON_CORE, "deployment": {"replicas": 2},
                "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
                "ports": {"web": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https",
                                                                  "permanent": True}}}}})
    eso = helm_release(
        "external-secrets", chart="external-secrets", version=versions.EXTERNAL_SECRETS_CHART_VERSION,
        repo=versions.EXTERNAL_SECRETS_CHART_REPO, namespace=ESO_NAMESPACE, opts=kopts(eso_ns),
        values={"installCRDs": True, **ON_CORE, "podLabels": store.eso_pod_labels,
                "serviceAccount": {"create": True, "name": ESO_SERVICE_ACCOUNT,
                                   "annotations": store.eso_service_account_annotations}})
    issuer = apply(cluster_issuer(tls, tags), kopts(cert_manager))
    secret_store = apply(cluster_secret_store(store.eso_provider, tags, secret_namespaces), kopts(eso))
    return BaseServices(issuer=issuer, ingress=traefik, secret_store=secret_store)
