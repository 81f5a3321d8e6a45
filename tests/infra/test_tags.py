"""Every resource that can carry tags or labels carries organisation, contract and cost centre.

Which resources *can* is read from the provider SDKs themselves (a ``tags`` / ``labels`` argument), so a new
resource type without tags fails this test. Recorded by Pulumi's mock engine (no cloud here, see infra_harness.py).
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

from infra_harness import ALL_DEPLOYMENTS, load_stack, INFRA_DIR, platform_on

PACKAGES = {"aws": "pulumi_aws", "azure-native": "pulumi_azure_native", "gcp": "pulumi_gcp", "random": "pulumi_random"}


def tag_argument(token: str) -> str | None:
    """The wire name of the resource type's tags argument, or None when the type has none."""
    package, module, cls = token.split(":")
    module = module.split("/")[0]
    python_module = PACKAGES[package] + ("" if module == "index" else "." + module)
    resource = getattr(importlib.import_module(python_module), cls)
    params = inspect.signature(resource._internal_init).parameters
    if package == "gcp":
        names = [n for n in ("labels", "resource_labels") if n in params]
    else:
        names = ["tags"] if "tags" in params else []
    return re.sub(r"_(\w)", lambda m: m.group(1).upper(), names[0]) if names else None


def expected(key: str) -> dict[str, str]:
    stack = platform_on(key.split(":")[1]) if key.startswith("platform:") else load_stack(key, INFRA_DIR)
    spec = stack.platform if key.startswith("platform:") else stack.environment
    return {"organisation": spec.organisation, "contract": spec.contract, "cost-centre": stack.cloud.cost_centre}


@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_every_taggable_cloud_resource_is_tagged(deployments, key):
    rec = deployments(key)
    want = expected(key)
    checked = 0
    for r in rec.resources:
        package = r.typ.split(":")[0]
        if not r.custom or package not in PACKAGES:
            continue
        argument = tag_argument(r.typ)
        if argument is None:
            continue
        tags = r.inputs.get(argument)
        assert tags, f"{r.typ} {r.name} has no {argument}"
        if package == "gcp":
            tags = {k.replace("_", "-"): v for k, v in tags.items()}
        assert {k: tags.get(k) for k in want} == want, f"{r.typ} {r.name}: {tags}"
        checked += 1
    assert checked >= 3  # Google Cloud has few labellable types among those used; AWS and Azure many more


@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_every_kubernetes_object_is_labelled(deployments, key):
    want = expected(key)
    for obj in deployments(key).kubernetes_objects():
        labels = obj["metadata"].get("labels", {})
        got = {k: labels.get(f"gereedschapskist.nl/{k}") for k in want}
        assert got == want, f"{obj['kind']} {obj['metadata']['name']}: {labels}"


def test_nested_labels_where_the_api_has_no_top_level_tags(deployments):
    for pool in deployments("rws-streaming-prod").of("gcp:container/nodePool:NodePool"):
        assert pool.inputs["nodeConfig"]["resourceLabels"]["organisation"] == "rws"
    instance = deployments("platform:google-cloud").one("gcp:sql/databaseInstance:DatabaseInstance")
    assert instance.inputs["settings"]["userLabels"]["cost_centre"] == "platform-0001"


@pytest.mark.parametrize("key", ALL_DEPLOYMENTS)
def test_every_cloud_resource_uses_the_region_pinned_provider(deployments, key):
    rec = deployments(key)
    providers = [r for r in rec.resources if r.typ.startswith("pulumi:providers:") and "kubernetes" not in r.typ]
    assert len(providers) == 1
    for r in rec.resources:
        if r.custom and r.typ.split(":")[0] in ("aws", "azure-native", "gcp"):
            assert r.provider and f"::{providers[0].name}::" in r.provider, f"{r.typ} {r.name} uses {r.provider}"
