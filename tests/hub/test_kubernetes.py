"""Workspace pods for every bundle and size, built by KubeSpawner's own manifest code.

There is no Kubernetes API server here, so KubeSpawner runs with ``_mock=True`` and its kubeconfig
loader patched out (no request is ever made); the pods are the real ``V1Pod`` objects it would
create, configured by the hub's own :func:`configure_kubernetes` — which renders the profiles from the
catalogue and the roles and bundles the rendered Helm values pass as hub settings — and validated
against the Kubernetes 1.33 schemas with ``kubernetes-validate``.
"""

from __future__ import annotations

import asyncio
import json
import re
import types
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient
from tornado import web
from traitlets.config import Config

from gereedschapskist.catalogue import load
from gereedschapskist.core.environment import OfferInvalid, load_environment
from gereedschapskist.core.placement import GPU_RESOURCE, POOL_LABEL, node_pool
from gereedschapskist.hub.kubernetes import USER_UID, BundleKubeSpawner, configure_kubernetes, hub_offer
from gereedschapskist.hub.values import render_values

INFRA = Path(__file__).parent / "fixtures" / "infra"
CATALOGUE = load()
SPEC = load_environment("minfin-dev", INFRA)
HUB_ENV = render_values(SPEC, CATALOGUE)["hub"]["extraEnv"]
#: What the environment offers, as the Helm values hand it to the hub (its settings).
OFFERED = {"roles": json.loads(HUB_ENV["GEREEDSCHAPSKIST_HUB_ROLES"]),
           "bundles": json.loads(HUB_ENV["GEREEDSCHAPSKIST_HUB_BUNDLES"])}
LAUNCHES = [(b.id, s.id) for b in sorted(CATALOGUE.bundles.values(), key=lambda b: b.id) if b.offered
            for s in b.sizes]

_QUANTITY = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]+)?)(?P<suffix>m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTOR = {None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value) -> Decimal:
    """Parse a Kubernetes quantity strictly (kubernetes-validate accepts any string)."""
    match = _QUANTITY.match(str(value))
    assert match, f"not a Kubernetes quantity: {value!r}"
    return Decimal(match.group("num")) * _FACTOR[match.group("suffix")]


class Group:
    def __init__(self, name: str):
        self.name = name


class HubUser:
    """The few attributes of JupyterHub's ``User`` that KubeSpawner and our hooks read."""

    def __init__(self, name: str, groups: list[str]):
        self.name = name
        self.id = 7
        self.url = f"/user/{name}/"
        self.groups = [Group(g) for g in groups]


@pytest.fixture(autouse=True)
def _no_kubeconfig(monkeypatch):
    monkeypatch.setattr("kubespawner.spawner.load_config", lambda **kwargs: None)


def hub_config() -> Config:
    c = Config()
    configure_kubernetes(c, CATALOGUE, **OFFERED)
    return c


def profiles_for(groups: list[str]) -> list[dict]:
    """The profile list the configured hub shows a user with these groups."""
    return hub_config().KubeSpawner.profile_list(types.SimpleNamespace(user=HubUser("anna", groups)))


def build_pod(groups: list[str], options: dict) -> dict:
    async def run() -> dict:
        c = hub_config()
        spawner = BundleKubeSpawner(_mock=True, user=HubUser("anna", groups), config=c)
        await spawner._run_apply_user_options(options)  # JupyterHub's own runner of the hook
        await spawner.load_user_options()
        pod = await spawner.get_pod_manifest()
        return ApiClient().sanitize_for_serialization(pod)

    return asyncio.run(run())


@pytest.mark.parametrize(("bundle_id", "size_id"), LAUNCHES)
def test_every_bundle_size_gives_a_valid_secure_pod(bundle_id, size_id):
    bundle = CATALOGUE.bundles[bundle_id]
    size = bundle.size(size_id)
    groups = ["org:minfin", *(f"role:{r}" for r in bundle.roles)]
    pod = build_pod(groups, {"bundle": bundle_id, "size": size_id})

    kubernetes_validate.validate(pod, "1.33", strict=True)
    container = pod["spec"]["containers"][0]
    assert container["image"] == bundle.image.reference

    security = container["securityContext"]
    assert security["runAsUser"] == USER_UID and security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    # only a size that scales out on Spark gets a token: its own account's, which may act in its executors'
    # namespace only (tests/hub/test_spark.py)
    assert pod["spec"]["automountServiceAccountToken"] is bool(size.max_executors)

    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert quantity(resources[kind]["cpu"]) == Decimal(str(size.cpu))
        assert quantity(resources[kind]["memory"]) == size.memory_bytes
    assert pod["spec"]["nodeSelector"] == {POOL_LABEL: node_pool(bundle, size)}

    tolerations = pod["spec"].get("tolerations") or []
    gpu_tolerated = any(t.get("key") == GPU_RESOURCE and t.get("effect") == "NoSchedule" for t in tolerations)
    if size.gpu:
        assert quantity(resources["limits"][GPU_RESOURCE]) == size.gpu
        assert pod["spec"]["nodeSelector"][POOL_LABEL] == "gpu"
        assert gpu_tolerated
    else:
        assert GPU_RESOURCE not in resources["limits"]
        assert not gpu_tolerated
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GEREEDSCHAPSKIST_BUNDLE"] == bundle_id


def test_gpu_bundles_exist_in_the_catalogue_so_the_gpu_path_is_exercised():
    assert any(CATALOGUE.bundles[b].size(s).gpu for b, s in LAUNCHES)


def test_a_user_without_the_role_is_refused_before_any_pod_is_built():
    with pytest.raises(web.HTTPError) as refused:
        build_pod(["org:minfin", "role:bi"], {"bundle": "ml-pytorch-gpu", "size": "gpu-small"})
    assert refused.value.status_code == 403
    assert "ml" in refused.value.jupyterhub_message


def test_a_size_the_bundle_does_not_have_is_refused():
    with pytest.raises(web.HTTPError) as refused:
        build_pod(["role:bi"], {"bundle": "bi-sql-duckdb", "size": "gpu-large"})
    assert refused.value.status_code == 403
    assert "gpu-large" in refused.value.jupyterhub_message


def test_kubespawner_profile_form_options_are_accepted_too():
    pod = build_pod(["role:bi"], {"profile": "bi-sql-duckdb", "size": "medium"})
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert quantity(limits["cpu"]) == 2


def test_profile_list_per_user_follows_roles_and_never_lists_retired_bundles():
    bi = [p["slug"] for p in profiles_for(["org:minfin", "role:bi"])]
    assert bi == sorted(b.id for b in CATALOGUE.offered_for(["bi"]))
    assert "bi-sql-classic" not in bi  # retired
    both = {p["slug"] for p in profiles_for(["role:bi", "role:ml"])}
    assert both == {b.id for b in CATALOGUE.offered_for(["bi", "ml"])}
    assert profiles_for(["org:minfin"]) == []


def test_deprecated_bundles_are_marked_with_their_successor():
    deprecated = [b for b in CATALOGUE.bundles.values() if b.deprecated and b.offered]
    assert deprecated, "the catalogue has a deprecated bundle to show"
    for bundle in deprecated:
        profile = next(p for p in profiles_for([f"role:{r}" for r in bundle.roles]) if p["slug"] == bundle.id)
        assert "deprecated" in profile["display_name"]
        assert bundle.lifecycle.successor in profile["description"]


def test_the_hub_offers_only_what_its_settings_name():
    c = Config()
    configure_kubernetes(c, CATALOGUE, roles=["bi"], bundles=["bi-sql-duckdb"])
    everyone = types.SimpleNamespace(user=HubUser("anna", [f"role:{r}" for r in CATALOGUE.roles]))
    assert [p["slug"] for p in c.KubeSpawner.profile_list(everyone)] == ["bi-sql-duckdb"]
    spawner = types.SimpleNamespace(user=HubUser("anna", ["role:bi"]), log=types.SimpleNamespace(info=print),
                                    _log_name="anna")
    with pytest.raises(web.HTTPError) as refused:
        c.Spawner.apply_user_options(spawner, {"bundle": "bi-dashboards", "size": "small"})
    assert refused.value.headers["X-Gereedschapskist-Reason"] == "not-in-environment"


def test_the_hub_refuses_to_start_with_an_offer_the_catalogue_cannot_give():
    with pytest.raises(OfferInvalid) as invalid:
        configure_kubernetes(Config(), CATALOGUE, roles=["bi", "quantum"])
    assert invalid.value.reason == "unknown-role"


def test_a_bundle_withheld_since_the_values_were_rendered_is_left_out_not_fatal(caplog):
    expired = replace(CATALOGUE.bundles["bi-sql-duckdb"], review_expired=True)
    catalogue = replace(CATALOGUE, bundles={**CATALOGUE.bundles, expired.id: expired})
    offer = hub_offer(catalogue, ["bi"], ["bi-sql-duckdb", "bi-dashboards"])
    assert offer.bundle_ids == ("bi-dashboards",)
    assert "bi-sql-duckdb" in caplog.text
