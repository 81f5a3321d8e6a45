"""Capacity (issue 16, item 6): every bundle size fits the *allocatable* capacity of the machine it lands on.

A node offers pods its allocatable capacity — the nominal machine less kube-reserved, system-reserved, the hard
eviction threshold — and the system DaemonSets take their requests from that on every node
(:func:`gereedschapskist.core.capacity.allocatable`, with the providers' sources). Workspace pods ask for
requests = limits, so a size that exactly fills a machine's nominal size never schedules and the autoscaler adds no
node for it. These checks compare, for every partner of the catalogue, each machine size's allocatable capacity
with every bundle size that can land on it: the machine the plan picks for each pool (pure data, no resources).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gereedschapskist.catalogue import Size, memory_bytes
from gereedschapskist.core.capacity import GIB, NODE_OVERHEADS, allocatable
from gereedschapskist.core.placement import KAFKA_POOL, node_pool
from gereedschapskist.infra.errors import StackInvalid
from gereedschapskist.infra.plan import plan_environment

from infra_harness import CONTRACT_STACKS, INFRA_DIR, load_stack


def test_every_machine_of_every_partner_offers_pods_less_than_its_nominal_size(catalogue):
    for partner in catalogue.partners.values():
        assert partner.provider in NODE_OVERHEADS, f"{partner.id}: no reservation model for {partner.provider!r}"
        for machine in partner.machine_sizes:
            room = partner.allocatable(machine)
            where = f"{partner.id}/{machine.id} ({machine.machine_type}): {room.describe()}"
            assert 0 < room.cpu < machine.cpu, where
            assert 0 < room.memory_bytes < memory_bytes(machine.memory), where
            assert room.gpu == machine.gpu, where
            # the reservations are a few per cent, not half the machine (a unit slip would show here)
            assert room.cpu > 0.8 * machine.cpu and room.memory_bytes > 0.6 * memory_bytes(machine.memory), where


def test_the_providers_formulas_give_the_published_figures():
    # EKS m6i.xlarge (58 pods): kube-reserved 11 MiB x 58 + 255 MiB = 893 MiB; CPU 60 + 10 + 10 = 80m
    eks = NODE_OVERHEADS["aws"]
    assert eks.kube_reserved_memory(16 * GIB, 58) == 893 * 2**20
    assert eks.kube_reserved_cpu(4) == pytest.approx(0.08)
    # GKE 16 GiB: 1 + 0.8 + 0.8 = 2.6 GiB; 32 GiB: 2.6 + 16 x 6 % = 3.56 GiB
    gke = NODE_OVERHEADS["gcp"]
    assert gke.kube_reserved_memory(16 * GIB) == pytest.approx(2.6 * GIB, rel=1e-6)
    assert gke.kube_reserved_memory(32 * GIB) == pytest.approx(3.56 * GIB, rel=1e-6)
    # AKS 1.29+: min(20 MB x 250 + 50 MB, 25 %) and the CPU table (4 cores: 140m)
    aks = NODE_OVERHEADS["azure"]
    assert aks.kube_reserved_memory(16 * GIB) == 4 * GIB
    assert aks.kube_reserved_memory(128 * GIB) == 5_050_000_000
    assert aks.kube_reserved_cpu(4) == 0.14
    # a provider nobody modelled gets the most cautious figures, never the nominal machine
    unknown = allocatable("sovereign-cloud", 4, 16 * GIB)
    assert unknown.memory_bytes <= min(allocatable(p, 4, 16 * GIB).memory_bytes for p in NODE_OVERHEADS)


def test_every_bundle_size_fits_the_allocatable_capacity_of_the_machine_its_pool_gets(catalogue):
    """For each partner, the plan's rule (the cheapest machine with room for the pool's largest size) gives every
    bundle size of the catalogue a node it schedules on, and the machine the price rule names is the same."""
    sizes_by_pool: dict[str, list[tuple[str, Size]]] = {}
    for bundle in catalogue.bundles.values():
        for size in bundle.sizes:
            sizes_by_pool.setdefault(node_pool(bundle, size), []).append((f"{bundle.id}/{size.id}", size))
    for partner in catalogue.partners.values():
        for pool, sizes in sizes_by_pool.items():
            for name, size in sizes:
                machine = partner.machine_for(size)
                if machine is None:
                    continue  # not offered at this partner (the catalogue check names it if it fits nowhere)
                room = partner.allocatable(machine)
                assert size.cpu <= room.cpu and size.memory_bytes <= room.memory_bytes and size.gpu <= room.gpu, (
                    f"{partner.id}: {name} ({size.label}) lands on {machine.machine_type}, which offers pods "
                    f"{room.describe()}")


def test_every_size_of_the_catalogue_runs_at_some_partner(catalogue):
    for bundle in catalogue.bundles.values():
        for size in bundle.sizes:
            assert any(p.machine_for(size) for p in catalogue.partners.values()), f"{bundle.id}/{size.id}"


@pytest.mark.parametrize("name", sorted(CONTRACT_STACKS.values()))
def test_the_example_stacks_pools_have_room_for_every_size_they_serve(catalogue, name):
    plan = plan_environment(load_stack(name, INFRA_DIR), catalogue)
    served = {f"{b.id}/{s.id}": s for b in plan.bundles for s in b.sizes}
    for pool in plan.workspace_pools:
        room = plan.partner.allocatable(pool.machine)
        for key in pool.serves:
            size = served[key]
            assert plan.partner.has_room(size, pool.machine), (
                f"{name}: pool {pool.name} ({pool.machine.machine_type}, pods get {room.describe()}) cannot hold "
                f"{key} ({size.label})")
    if plan.kafka is not None:
        kafka = next(p for p in plan.pools if p.name == KAFKA_POOL)
        broker = Size(id="broker", cpu=plan.kafka.cpu, memory=plan.kafka.memory)
        assert plan.partner.has_room(broker, kafka.machine), kafka.machine


def test_bi_sql_duckdb_large_gets_a_machine_with_headroom(catalogue):
    """The issue's example: 4 CPU / 16 GiB as requests = limits must not land on a 4 CPU / 16 GiB machine."""
    large = catalogue.bundles["bi-sql-duckdb"].size("large")
    assert (large.cpu, large.memory) == (4, "16Gi")
    for partner in catalogue.partners.values():
        machine = partner.machine_for(large)
        assert machine is not None and (machine.cpu, machine.memory) != (4, "16Gi"), (partner.id, machine)
    plan = plan_environment(load_stack("minfin-bi-dev", INFRA_DIR), catalogue)
    bi = next(p for p in plan.workspace_pools if p.name == "bi")
    if "bi-sql-duckdb/large" in bi.serves:
        assert bi.machine.cpu > 4


def test_a_machine_size_that_only_nominally_fits_is_refused_by_the_plan(catalogue):
    """A stack that pins a pool (or Kafka) to a machine a size exactly fills is refused before anything exists,
    naming the machine's allocatable capacity."""
    stack = load_stack("rws-streaming-prod", INFRA_DIR)
    kafka = stack.cloud.kafka.model_copy(update={"cpu": 4, "memory": "16Gi", "machine_size": "general-4"})
    stack = replace(stack, cloud=stack.cloud.model_copy(update={"kafka": kafka}))
    with pytest.raises(StackInvalid) as refused:
        plan_environment(stack, catalogue)
    assert "general-4" in str(refused.value) and "offers pods" in str(refused.value)
