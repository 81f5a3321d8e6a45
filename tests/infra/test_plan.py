"""Plans: every refusal happens before any resource exists; pools, machines and Kafka follow the catalogue."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from gereedschapskist.catalogue import load
from gereedschapskist.infra.errors import StackInvalid
from gereedschapskist.core.placement import CORE_POOL, GPU_POOL, KAFKA_POOL, POOL_LABEL, node_pool
from gereedschapskist.infra.plan import plan_environment, plan_platform

from infra_harness import INFRA_DIR, Recorder, deploy, load_stack

NO_GPU_PARTNER = """\
id: eu-sovereign
name: EU Sovereign Cloud
provider: azure
regions:
  - id: westeurope
    name: West Europe (Amsterdam)
    country: NL
certifications: [ISO 27001]
machine_sizes:
  - id: general-4
    machine_type: Standard_D4s_v5
    cpu: 4
    memory: 16Gi
    price_per_hour_eur: 0.21
  - id: memory-16
    machine_type: Standard_E16s_v5
    cpu: 16
    memory: 128Gi
    price_per_hour_eur: 1.09
contract_template:
  id: sc-eu-sovereign
  title: {nl: Standaardcontract, en: Standard contract}
  version: "2026.1"
"""


def with_cloud(name: str, **changes):
    stack = load_stack(name, INFRA_DIR)
    return replace(stack, cloud=stack.cloud.model_copy(update=changes))


def assert_nothing_created(stack, catalogue) -> StackInvalid:
    """Run the real program under the mock engine: it must refuse before registering a single resource."""
    recorder = Recorder()
    with pytest.raises(StackInvalid) as err:
        deploy(stack, catalogue, recorder)
    assert recorder.resources == []
    return err.value


@pytest.fixture(scope="module")
def no_gpu_catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue") / "catalogue-of-tools"
    shutil.copytree(INFRA_DIR.parent / "catalogue-of-tools", root, ignore=shutil.ignore_patterns("gereedschapskist"))
    (root / "partners" / "eu-sovereign.yaml").write_text(NO_GPU_PARTNER, encoding="utf-8")
    return load(root)


def test_non_eu_region_is_refused_before_anything_is_created(catalogue):
    stack = with_cloud("cbs-ml-prod", region="us-east-1")
    error = assert_nothing_created(stack, catalogue)
    assert error.reason == "region-not-allowed"
    assert "cloud.region = 'us-east-1'" in error.message and "inside the European Union only" in error.message
    assert "eu-central-1 (Europe (Frankfurt), DE)" in error.message


def test_region_of_another_partner_is_refused(catalogue):
    with pytest.raises(StackInvalid, match="'europe-west4': not an EU region that partner 'azure' offers"):
        plan_environment(with_cloud("minfin-bi-dev", region="europe-west4"), catalogue)


def test_unknown_partner_is_refused(catalogue):
    error = assert_nothing_created(with_cloud("minfin-bi-dev", partner="alibaba"), catalogue)
    assert error.reason == "unknown-partner"
    assert "cloud.partner = 'alibaba': not an approved partner; the catalogue has: aws, azure, google-cloud" \
        in error.message


def test_gpu_bundle_on_partner_without_gpu_is_refused(no_gpu_catalogue):
    stack = with_cloud("cbs-ml-prod", partner="eu-sovereign", region="westeurope",
                       account="3f0c6a1e-5d7b-4c2a-9e8f-1a2b3c4d5e6f", pools={})
    error = assert_nothing_created(stack, no_gpu_catalogue)
    assert error.reason == "gpu-unavailable"
    assert "bundle 'ml-pytorch-gpu' (size 'gpu-small'" in error.message
    assert "partner 'eu-sovereign' offers no GPU machines" in error.message
    assert len(error.problems) == 2  # both GPU sizes are named


def test_same_partner_without_gpu_bundles_is_fine(no_gpu_catalogue):
    stack = with_cloud("minfin-bi-dev", partner="eu-sovereign", pools={})
    plan = plan_environment(stack, no_gpu_catalogue)
    assert GPU_POOL not in {p.name for p in plan.pools}


def test_account_format_is_checked_per_cloud(catalogue):
    error = assert_nothing_created(with_cloud("cbs-ml-prod", account="not-an-account"), catalogue)
    assert "cloud.account = 'not-an-account': an AWS account id is 12 digits" in error.message


@pytest.mark.parametrize("changes, message", [
    ({"pools": {"streaming": {"max_nodes": 2}}}, r"pools\.streaming: no enabled bundle runs on pool 'streaming'"),
    ({"pools": {"gpu": {"machine_size": "general-8"}}}, r"pools\.gpu\.machine_size = 'general-8': too small for "
                                                       r"ml-pytorch-gpu/gpu-small"),
    ({"pools": {"ml": {"machine_size": "huge-1"}}}, r"pools\.ml\.machine_size = 'huge-1': partner 'aws' has no such"),
    ({"kafka": {"brokers": 3}}, r"cloud\.kafka: this environment offers no streaming bundle"),
    ({"core_pool": {"machine_size": "general-8", "min_nodes": 2, "max_nodes": 2}}, None),
])
def test_pool_and_kafka_overrides_are_checked(catalogue, changes, message):
    from gereedschapskist.infra.config import CloudSpec

    stack = load_stack("cbs-ml-prod", INFRA_DIR)
    cloud = CloudSpec.model_validate({**stack.cloud.model_dump(mode="json"), **changes})
    stack = replace(stack, cloud=cloud)
    if message is None:
        assert plan_environment(stack, catalogue).pools[0].machine.id == "general-8"
        return
    with pytest.raises(StackInvalid, match=message):
        plan_environment(stack, catalogue)


@pytest.mark.parametrize("name", ["minfin-bi-dev", "cbs-ml-prod", "rws-streaming-prod"])
def test_one_pool_per_node_pool_the_hub_selects(catalogue, name):
    """Every (bundle, size) the environment offers runs on a pool that exists and whose machine fits it."""
    plan = plan_environment(load_stack(name, INFRA_DIR), catalogue)
    pools = {p.name: p for p in plan.pools}
    assert pools[CORE_POOL].min_nodes >= 1 and not pools[CORE_POOL].workspace
    for bundle in plan.bundles:
        for size in bundle.sizes:
            pool = pools[node_pool(bundle, size)]
            assert pool.workspace and pool.min_nodes == 0
            assert size.fits(pool.machine.cpu, pool.machine.memory, pool.machine.gpu)
            assert pool.machine in plan.partner.machine_sizes
            assert pool.labels == {POOL_LABEL: pool.name}
    needed = {node_pool(b, s) for b in plan.bundles for s in b.sizes}
    assert {p.name for p in plan.workspace_pools} == needed


def test_gpu_pool_only_when_a_gpu_bundle_is_enabled(catalogue):
    with_gpu = plan_environment(load_stack("cbs-ml-prod", INFRA_DIR), catalogue)
    gpu = next(p for p in with_gpu.pools if p.name == GPU_POOL)
    assert gpu.machine.gpu >= 1 and [str(t) for t in gpu.taints] == ["nvidia.com/gpu=present:NoSchedule"]
    assert all(not p.taints for p in with_gpu.workspace_pools if p.name != GPU_POOL)
    stack = load_stack("cbs-ml-prod", INFRA_DIR)
    no_gpu_bundles = tuple(b.id for b in catalogue.offered_for(["ml"]) if not b.needs_gpu)
    stack = replace(stack, environment=stack.environment.model_copy(update={"bundles": no_gpu_bundles}),
                    cloud=stack.cloud.model_copy(update={"pools": {}}))
    without = plan_environment(stack, catalogue)
    assert GPU_POOL not in {p.name for p in without.pools}


def test_machine_is_the_cheapest_that_fits_from_the_catalogue(catalogue):
    plan = plan_environment(load_stack("minfin-bi-dev", INFRA_DIR), catalogue)
    for pool in plan.workspace_pools:
        fitting = [m for m in plan.partner.machine_sizes
                   if all(plan.partner.machine_for(s) and plan.partner.has_room(s, m)
                          for b in plan.bundles for s in b.sizes if node_pool(b, s) == pool.name)]
        assert pool.machine == min(fitting, key=lambda m: m.price_per_hour_eur)


def test_streaming_environment_gets_a_kafka_pool_sized_by_the_contract(catalogue):
    plan = plan_environment(load_stack("rws-streaming-prod", INFRA_DIR), catalogue)
    kafka = next(p for p in plan.pools if p.name == KAFKA_POOL)
    assert plan.kafka.brokers == 3 and plan.kafka.storage == "200Gi"
    assert kafka.min_nodes == kafka.max_nodes == 3
    assert kafka.machine.cpu >= 2 and [str(t) for t in kafka.taints] == ["gereedschapskist.nl/pool=kafka:NoSchedule"]
    assert plan_environment(load_stack("minfin-bi-dev", INFRA_DIR), catalogue).kafka is None


def test_budget_warning_uses_catalogue_prices(catalogue):
    plan = plan_environment(with_cloud("cbs-ml-prod", budget_eur_per_month=100), catalogue)
    expected = sum(p.max_nodes * p.machine.price_per_hour_eur * 730 for p in plan.pools)
    assert plan.max_monthly_eur == pytest.approx(expected, abs=0.05)
    assert any("more than the budget of EUR 100" in w for w in plan.warnings)


def test_platform_plan_has_only_the_core_pool(catalogue):
    plan = plan_platform(load_stack("platform", INFRA_DIR), catalogue)
    assert [p.name for p in plan.pools] == [CORE_POOL]
    assert plan.portal_image == f"ghcr.io/gereedschapskist/portal:{plan.stack.platform.portal_version}"
