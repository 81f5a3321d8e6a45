"""Every custom resource the program emits is valid against its CRD's schema (issue 16, "CRD schema validation").

Where the schemas come from (the registries this project reaches: PyPI, npm, Debian):

* **cert-manager** (``Certificate``, ``ClusterIssuer``) and **External Secrets** (``ExternalSecret``,
  ``ClusterSecretStore``, ``SecretStore``): the npm packages ``@kubernetes-models/cert-manager`` and
  ``@kubernetes-models/external-secrets`` carry validators generated from the projects' API types (the schemas of
  their CRDs), pinned in ``tests/infra/crd-schemas/package-lock.json`` and installed by ``make node-deps``. They check
  types, enums and required fields; like the generated schemas, they do not refuse unknown fields, which the API
  server would prune (a test below catches the misspellings we know of in other ways).
* **the admission policy** (``ValidatingAdmissionPolicy`` and its binding) is built into Kubernetes
  (``admissionregistration.k8s.io/v1``): ``test_kubernetes_objects.py`` validates it whole with kubernetes-validate.
* **Strimzi** (``Kafka``, ``KafkaNodePool``, ``KafkaUser``): no package on PyPI or npm carries its schemas (the
  CRDs are published only in Strimzi's own release files, its OCI Helm chart and Maven Central's ``io.strimzi:api``,
  none of which this project's machines can reach). Their Kubernetes parts (resources, tolerations, affinity,
  network policy peers) are validated against Kubernetes' own definitions in ``test_kubernetes_objects.py``, and
  the README lists the full check under "Verified only in a real deploy" (``kubectl apply --dry-run=server``).

The objects are the ones Pulumi's mock engine recorded (no API server here, see infra_harness.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from infra_harness import ALL_DEPLOYMENTS

VALIDATOR_DIR = Path(__file__).parent / "crd-schemas"
#: API groups whose schemas the validator has; every other non-built-in group must be listed as unavailable.
VALIDATED_GROUPS = {"cert-manager.io", "external-secrets.io"}
UNAVAILABLE_GROUPS = {"kafka.strimzi.io": "Strimzi publishes no schema package on PyPI or npm"}


def validate(objects: list[dict]) -> list[dict]:
    node = shutil.which("node")
    if node is None or not (VALIDATOR_DIR / "node_modules" / "@kubernetes-models").is_dir():
        pytest.fail("the CRD validators are not installed: run `make node-deps` (Node.js 20+ and npm)")
    result = subprocess.run([node, "validate.mjs"], cwd=VALIDATOR_DIR, input=json.dumps(objects),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def custom_resources(recorder) -> list[dict]:
    return [o for o in recorder.kubernetes_objects()
            if "." in o["apiVersion"].split("/")[0] and not o["apiVersion"].split("/")[0].endswith(".k8s.io")]


@pytest.fixture(scope="module")
def emitted(deployments) -> list[tuple[str, dict]]:
    return [(key, obj) for key in ALL_DEPLOYMENTS for obj in custom_resources(deployments(key))]


def test_every_custom_resource_is_valid_against_its_crd_schema(emitted):
    assert emitted
    results = validate([obj for _, obj in emitted])
    problems, groups = [], set()
    for (key, obj), result in zip(emitted, results, strict=True):
        group = obj["apiVersion"].split("/")[0]
        groups.add(group)
        where = f"{key}: {obj['kind']}/{obj['metadata']['name']}"
        if group in UNAVAILABLE_GROUPS:
            assert not result["known"], f"{where}: a validator exists now; move {group} to VALIDATED_GROUPS"
            continue
        assert group in VALIDATED_GROUPS, f"{where}: no schema for API group {group!r}; add a validator"
        assert result["known"], f"{where}: the validator has no schema for {obj['apiVersion']} {obj['kind']}"
        problems += [f"{where}: {e}" for e in result["errors"]]
    assert not problems, "\n".join(problems)
    assert {"cert-manager.io", "external-secrets.io"} <= groups


def test_the_validator_refuses_what_the_api_server_would():
    broken = [
        {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "hub"},
         "spec": {"dnsNames": "hub.example.nl", "issuerRef": {"name": "letsencrypt"},
                  "privateKey": {"algorithm": "ECDSA-P256"}}},
        {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "x"},
         "spec": {"secretStoreRef": {"name": "s", "kind": "SecretVault"}, "data": [{"secretKey": "a"}]}},
    ]
    certificate, secret = validate(broken)
    assert certificate["known"] and len(certificate["errors"]) == 3, certificate  # secretName, dnsNames, algorithm
    assert secret["known"] and any("remoteRef" in e for e in secret["errors"]), secret


def test_every_external_secret_reads_a_store_the_program_creates(emitted):
    """What the schema cannot say: the store an ExternalSecret names exists, in its kind and (for a namespaced
    SecretStore) its namespace."""
    for key in {k for k, _ in emitted}:
        objects = [o for k, o in emitted if k == key]
        stores = {("ClusterSecretStore", None, o["metadata"]["name"]) for o in objects
                  if o["kind"] == "ClusterSecretStore"}
        stores |= {("SecretStore", o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
                   if o["kind"] == "SecretStore"}
        for obj in (o for o in objects if o["kind"] == "ExternalSecret"):
            ref = obj["spec"]["secretStoreRef"]
            namespace = obj["metadata"]["namespace"] if ref["kind"] == "SecretStore" else None
            assert (ref["kind"], namespace, ref["name"]) in stores, (key, obj["metadata"]["name"], ref)
