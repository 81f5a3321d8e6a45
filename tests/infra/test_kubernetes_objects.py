"""Every Kubernetes object the program creates directly is valid for the cluster version it targets.

Built-in kinds are validated whole with ``kubernetes-validate`` (strict). Custom resources (Strimzi, cert-manager,
External Secrets) have no schema available offline, so their standard parts (metadata, resources, tolerations,
affinity) are validated against the Kubernetes definitions they embed. ``kubernetes-validate`` accepts any string
as a quantity, so quantities are checked here as well. The objects are the ones recorded by Pulumi's mock engine
(no API server here, see infra_harness.py).
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import pytest
from referencing import Registry, Resource

from gereedschapskist.infra import versions

from infra_harness import ALL_DEPLOYMENTS, INFRA_DIR, deploy, load_stack, platform_on

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|Ei|M|G|T|P|E)?$")
_DEFINITIONS = json.loads(files("kubernetes_validate").joinpath(
    f"kubernetes-json-schema/v{versions.KUBERNETES_VERSION}.0-local-strict/_definitions.json").read_text())
_REGISTRY = Resource.from_contents(_DEFINITIONS) @ Registry()


def validate_definition(value: Any, definition: str) -> None:
    schema = {"$id": "https://kubernetes.io/api/embedded.json", "$ref": f"/api/_definitions.json#/$defs/{definition}"}
    jsonschema.Draft202012Validator(schema, registry=_REGISTRY).validate(value)


def quantities(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every resource quantity: values under requests/limits, and storage sizes."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}"
            if key in ("requests", "limits") and isinstance(item, dict):
                yield from ((f"{here}.{k}", v) for k, v in item.items())
            elif key in ("size", "storage", "capacity") and isinstance(item, str):
                yield here, item
            else:
                yield from quantities(item, here)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from quantities(item, f"{path}[{i}]")


def test_quantity_check_rejects_what_kubernetes_validate_lets_through():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
           "spec": {"containers": [{"name": "x", "image": "x", "resources": {"limits": {"cpu": "lots"}}}]}}
    kubernetes_validate.validate(pod, versions.KUBERNETES_VERSION, strict=True)  # passes, sadly
    assert [v for _, v in quantities(pod) if not _QUANTITY.match(v)] == ["lots"]


def stack_of(key: str):
    """The stack configuration of a deployment key (as the ``deployments`` fixture builds it)."""
    return platform_on(key.split(":", 1)[1]) if key.startswith("platform:") else load_stack(key, INFRA_DIR)


def schema_version(kubernetes_version: str) -> str:
    """kubernetes-validate's schema for a stack's ``kubernetes_version`` (``1.33`` -> ``1.33.0``); a version it has
    no schema for fails here instead of being validated against another version."""
    version = f"{kubernetes_version}.0"
    assert version in kubernetes_validate.utils.all_versions(), (
        f"kubernetes-validate has no schema for Kubernetes {kubernetes_version}; it has "
        f"{', '.join(kubernetes_validate.utils.all_versions())}")
    return version


@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_kubernetes_objects_are_valid(deployments, key):
    """Validated for the Kubernetes version the stack pins (``cloud.kubernetes_version``), the cluster's own."""
    version = schema_version(stack_of(key).cloud.kubernetes_version)
    objects = deployments(key).kubernetes_objects()
    assert objects
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert "." in obj["apiVersion"].split("/")[0], f"{where}: a built-in kind without schema"
            validate_definition(obj["metadata"], "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        for path, value in quantities(obj):
            assert isinstance(value, str) and _QUANTITY.match(value), f"{where}{path} = {value!r}: not a quantity"


def test_strimzi_resources_embed_valid_kubernetes_parts(deployments):
    objects = {o["kind"]: o for o in deployments("rws-streaming-prod").kubernetes_objects()}
    pool, kafka = objects["KafkaNodePool"], objects["Kafka"]
    validate_definition(pool["spec"]["resources"], "io.k8s.api.core.v1.ResourceRequirements")
    for placement in (pool["spec"]["template"]["pod"], kafka["spec"]["entityOperator"]["template"]["pod"]):
        for toleration in placement.get("tolerations", []):
            validate_definition(toleration, "io.k8s.api.core.v1.Toleration")
        validate_definition(placement["affinity"], "io.k8s.api.core.v1.Affinity")
    for peer in kafka["spec"]["kafka"]["listeners"][0]["networkPolicyPeers"]:
        validate_definition(peer, "io.k8s.api.networking.v1.NetworkPolicyPeer")
    with pytest.raises(jsonschema.ValidationError):
        validate_definition({"key": "x", "effect": 3}, "io.k8s.api.core.v1.Toleration")


def test_network_policies_name_valid_ports_and_networks(deployments):
    import ipaddress

    for key in ALL_DEPLOYMENTS:
        for obj in deployments(key).kubernetes_objects():
            if obj["kind"] != "NetworkPolicy":
                continue
            for rule in obj["spec"].get("egress", []):
                for peer in rule["to"]:
                    if "ipBlock" in peer:
                        ipaddress.IPv4Network(peer["ipBlock"]["cidr"])
                        for excluded in peer["ipBlock"].get("except", []):
                            assert ipaddress.IPv4Network(excluded).subnet_of(
                                ipaddress.IPv4Network(peer["ipBlock"]["cidr"]))
                for port in rule.get("ports", []):
                    assert 1 <= port["port"] <= 65535


def test_a_stack_on_the_oldest_accepted_version_is_validated_for_that_version(catalogue, deployments):
    """A stack pinned to an older Kubernetes is checked against that version's API, not the default's: every object
    of the streaming stack (the one with most kinds) is valid on the oldest version a stack may ask for."""
    from dataclasses import replace

    stack = load_stack("rws-streaming-prod", INFRA_DIR)
    old = replace(stack, cloud=stack.cloud.model_copy(update={"kubernetes_version": versions.KUBERNETES_MINIMUM}))
    version = schema_version(old.cloud.kubernetes_version)
    assert version != schema_version(versions.KUBERNETES_VERSION)
    objects = deploy(old, catalogue).kubernetes_objects()
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert "." in obj["apiVersion"].split("/")[0], f"{obj['kind']}: a built-in kind without schema in {version}"
    # an API that did not exist yet is refused, so the check can fail: the admission policy is v1 only since 1.30
    policy = next(o for o in deployments("cbs-ml-prod").kubernetes_objects() if o["kind"] == "ValidatingAdmissionPolicy")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(policy, "1.29.0", strict=True)
