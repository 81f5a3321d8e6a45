"""Pinned versions of what the program installs into clusters, in one place.

Upgrading one is a one-line pull request; the tests read these constants, never copies.
"""

from __future__ import annotations

from gereedschapskist.core.z2jh import Z2JH_VERSION

# Kubernetes minor version for new clusters, and the oldest one a stack may ask for.
# All three partners support 1.33 in their regular channels; 1.31 is the oldest still in support.
KUBERNETES_VERSION = "1.33"
KUBERNETES_MINIMUM = "1.31"

# Zero-to-JupyterHub (https://hub.jupyter.org/helm-chart/): the same release as the hub image's base
# (gereedschapskist.core.z2jh, issue 16 item 10).
JUPYTERHUB_CHART_REPO = "https://hub.jupyter.org/helm-chart/"
JUPYTERHUB_CHART_VERSION = Z2JH_VERSION

# Strimzi operator (OCI chart) and the Kafka version it runs (Strimzi 0.48 supports Kafka 4.0 and 4.1, KRaft only).
STRIMZI_CHART = "oci://quay.io/strimzi-helm/strimzi-kafka-operator"
STRIMZI_CHART_VERSION = "0.48.0"
KAFKA_VERSION = "4.1.0"

# Platform stack: certificates, ingress controller, secrets from the cloud's secret store.
CERT_MANAGER_CHART_REPO = "https://charts.jetstack.io"
CERT_MANAGER_CHART_VERSION = "v1.19.1"
TRAEFIK_CHART_REPO = "https://traefik.github.io/charts"
TRAEFIK_CHART_VERSION = "37.1.2"
EXTERNAL_SECRETS_CHART_REPO = "https://charts.external-secrets.io"
EXTERNAL_SECRETS_CHART_VERSION = "0.20.4"

# Managed PostgreSQL major version for the portal's database (open source, migratable with pg_dump).
POSTGRES_MAJOR = "17"

# Production egress proxy (Squid; Canonical's image on the Ubuntu 24.04 LTS track): HTTPS to named domains only.
# Canonical's tag channels move (the `_stable` channel of this track was removed from Docker Hub), so the tag is
# pinned to the digest other public projects record pulling it at (infra/README.md, "Pinned versions").
EGRESS_PROXY_TAG = "6.6-24.04_beta"
EGRESS_PROXY_DIGEST = "sha256:6a097f68bae708cedbabd6188d68c7e2e7a38cedd05a176e1cc0ba29e3bbe029"
EGRESS_PROXY_IMAGE = f"docker.io/ubuntu/squid:{EGRESS_PROXY_TAG}@{EGRESS_PROXY_DIGEST}"
