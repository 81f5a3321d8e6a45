"""From a stack configuration and the catalogue to a deployment plan — pure data, no resources.

Every rule that can refuse a stack runs here, before the program registers any resource:
an unknown partner, a region the partner does not offer (partners offer EU regions only — the
catalogue's schema allows nothing else), a GPU bundle on a partner without GPU machines, a workspace
size no machine fits. Machine types and prices come from the catalogue's partner, never from lists here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from gereedschapskist.catalogue import Bundle, Catalogue, MachineSize, Partner, Region, Size, memory_bytes
from gereedschapskist.core.environment import OfferInvalid, environment_offer
from gereedschapskist.core.placement import CORE_POOL, GPU_POOL, GPU_TAINT, KAFKA_POOL, KAFKA_TAINT, Taint, node_pool

from .config import CLOUD_KEY, CloudSpec, ContractStack, KafkaSpec, PlatformStack
from .errors import (
    GPU_UNAVAILABLE, INVALID_CONFIG, NO_MACHINE, REGION_NOT_ALLOWED, UNKNOWN_BUNDLE, UNKNOWN_PARTNER, UNKNOWN_ROLE,
    StackInvalid,
)
from .partners import recipe_class
from .pools import NodePool
from .tags import Tags
from .vms import VmPlan, plan_vms

STREAMING_ROLE = "streaming"
# What the hub, the proxy and cluster services need at least on each core node.
CORE_MINIMUM = Size(id="core", cpu=4, memory="16Gi")


@dataclass(frozen=True)
class Placement:
    partner: Partner
    region: Region
    core: NodePool


@dataclass(frozen=True)
class EnvironmentPlan:
    stack: ContractStack
    partner: Partner
    region: Region
    tags: Tags
    roles: tuple[str, ...]
    bundles: tuple[Bundle, ...]
    pools: tuple[NodePool, ...]
    kafka: KafkaSpec | None
    images: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    vms: tuple[VmPlan, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.stack.name

    @property
    def production(self) -> bool:
        return self.stack.production

    @property
    def workspace_pools(self) -> tuple[NodePool, ...]:
        return tuple(p for p in self.pools if p.workspace)

    @property
    def max_monthly_eur(self) -> float:
        return round(sum(p.max_monthly_eur for p in self.pools), 2)


@dataclass(frozen=True)
class PlatformPlan:
    stack: PlatformStack
    partner: Partner
    region: Region
    tags: Tags
    pools: tuple[NodePool, ...]

    @property
    def name(self) -> str:
        return self.stack.name

    @property
    def portal_image(self) -> str:
        return f"ghcr.io/gereedschapskist/portal:{self.stack.platform.portal_version}"

    @property
    def max_monthly_eur(self) -> float:
        return round(sum(p.max_monthly_eur for p in self.pools), 2)


def _field(source: str, path: str) -> str:
    return f"{source}: config.{CLOUD_KEY}.{path}"


def _machine_by_id(partner: Partner, machine_id: str) -> MachineSize | None:
    return next((m for m in partner.machine_sizes if m.id == machine_id), None)


def _allocatable(partner: Partner, machine: MachineSize) -> str:
    return (f" (a {machine.machine_type} node at {partner.id} offers pods {partner.allocatable(machine).describe()} "
            f"after the kubelet's reservations and the system DaemonSets)")


def _machines(partner: Partner) -> str:
    return ", ".join(f"{m.id} ({m.cpu:g} CPU, {m.memory}{f', {m.gpu} GPU' if m.gpu else ''})"
                     for m in partner.machine_sizes)


def place(cloud: CloudSpec, catalogue: Catalogue, source: str) -> Placement:
    """The partner, the EU region and the core pool, or StackInvalid (nothing created)."""
    partner = catalogue.partners.get(cloud.partner)
    if partner is None:
        raise StackInvalid(UNKNOWN_PARTNER, f"{_field(source, 'partner')} = {cloud.partner!r}: not an approved "
                                            f"partner; the catalogue has: {', '.join(sorted(catalogue.partners))}")
    region = partner.region(cloud.region)
    if region is None:
        offered = ", ".join(f"{r.id} ({r.name}, {r.country})" for r in partner.regions)
        raise StackInvalid(REGION_NOT_ALLOWED, f"{_field(source, 'region')} = {cloud.region!r}: not an EU region "
                                               f"that partner {partner.id!r} offers under its standard contract; "
                                               f"environments run inside the European Union only. Choose one of: "
                                               f"{offered}")
    recipe_class(partner).check_account(cloud, source)  # the registry checks that a recipe exists too
    core = _infrastructure_pool(partner, CORE_POOL, cloud.core_pool.machine_size, CORE_MINIMUM,
                                cloud.core_pool.min_nodes, cloud.core_pool.max_nodes, (), source, "core_pool",
                                nominal=True)
    return Placement(partner, region, core)


def _infrastructure_pool(partner: Partner, name: str, machine_id: str | None, need: Size, min_nodes: int,
                         max_nodes: int, taints: tuple[Taint, ...], source: str, path: str, *,
                         nominal: bool = False) -> NodePool:
    """A pool for the platform's own pods. ``need`` is one pod's requests (it must fit a node's allocatable
    capacity: the Kafka brokers), or with ``nominal`` the least machine for several pods (the core pool)."""

    def room(machine: MachineSize) -> bool:
        return need.fits(machine.cpu, machine.memory, machine.gpu) if nominal else partner.has_room(need, machine)

    if machine_id is not None:
        machine = _machine_by_id(partner, machine_id)
        if machine is None:
            raise StackInvalid(NO_MACHINE, f"{_field(source, path + '.machine_size')} = {machine_id!r}: partner "
                                           f"{partner.id!r} has no such machine size; it has {_machines(partner)}")
        if not room(machine):
            raise StackInvalid(NO_MACHINE, f"{_field(source, path + '.machine_size')} = {machine_id!r}: too small "
                                           f"for {need.label}{'' if nominal else _allocatable(partner, machine)}")
    else:
        machine = partner.machine_for(need, nominal=nominal)
        if machine is None:
            raise StackInvalid(NO_MACHINE, f"{_field(source, path)}: partner {partner.id!r} has no machine size "
                                           f"with {need.label}; it has {_machines(partner)}")
    return NodePool(name=name, machine=machine, min_nodes=min_nodes, max_nodes=max_nodes, workspace=False,
                    taints=taints)


def enabled_bundles(stack: ContractStack, catalogue: Catalogue) -> tuple[tuple[str, ...], tuple[Bundle, ...]]:
    """The roles and bundles the environment offers — the hub's own rule (``environment_offer``), with the
    problems named by file and field."""
    try:
        offer = environment_offer(stack.environment, catalogue)
    except OfferInvalid as exc:
        key = "config.gereedschapskist:environment"
        reason = UNKNOWN_ROLE if exc.reason == "unknown-role" else UNKNOWN_BUNDLE
        raise StackInvalid(reason, [f"{stack.source}: {key}.{p.field} = {p.value!r}: {p.message}"
                                    for p in exc.problems]) from exc
    return offer.roles, offer.bundles


def _workspace_pools(stack: ContractStack, partner: Partner, bundles: tuple[Bundle, ...]) -> list[NodePool]:
    src, cloud = stack.source, stack.cloud
    gpu_needs = [(b, s) for b in bundles for s in b.sizes if s.gpu]
    if gpu_needs and not partner.offers_gpu:
        raise StackInvalid(GPU_UNAVAILABLE, [
            f"{src}: config.gereedschapskist:environment.bundles: bundle {b.id!r} (size {s.id!r}, {s.label}) needs a "
            f"GPU, but partner {partner.id!r} offers no GPU machines under its standard contract; leave the bundle "
            f"out of the environment or choose a partner with GPU machines" for b, s in gpu_needs])
    by_pool: dict[str, list[tuple[Bundle, Size]]] = defaultdict(list)
    for bundle in bundles:
        for size in bundle.sizes:
            by_pool[node_pool(bundle, size)].append((bundle, size))
    problems = [f"{_field(src, 'pools.' + name)}: no enabled bundle runs on pool {name!r}; pools here: "
                f"{', '.join(sorted(by_pool)) or 'none'}" for name in cloud.pools if name not in by_pool]
    pools = []
    for name in sorted(by_pool):
        sizes = by_pool[name]
        override = cloud.pools.get(name)
        envelope = Size(id=f"{name}-largest", cpu=max(s.cpu for _, s in sizes),
                        memory=max((s.memory for _, s in sizes), key=memory_bytes), gpu=max(s.gpu for _, s in sizes))
        if override is not None and override.machine_size is not None:
            machine = _machine_by_id(partner, override.machine_size)
            if machine is None:
                problems.append(f"{_field(src, f'pools.{name}.machine_size')} = {override.machine_size!r}: partner "
                                f"{partner.id!r} has no such machine size; it has {_machines(partner)}")
                continue
            # requests = limits: a size must fit the node's allocatable capacity, not its nominal size
            too_big = [f"{b.id}/{s.id} ({s.label})" for b, s in sizes if not partner.has_room(s, machine)]
            if too_big:
                problems.append(f"{_field(src, f'pools.{name}.machine_size')} = {override.machine_size!r}: too small "
                                f"for {', '.join(too_big)}{_allocatable(partner, machine)}")
                continue
        else:
            machine = partner.machine_for(envelope)
            if machine is None:
                largest = [f"{b.id}/{s.id}" for b, s in sizes]
                problems.append(f"{src}: pool {name!r}: no machine size of partner {partner.id!r} fits "
                                f"{envelope.label} (needed by {', '.join(largest)}); it has {_machines(partner)}")
                continue
        pools.append(NodePool(
            name=name, machine=machine, min_nodes=0, max_nodes=override.max_nodes if override else 3, workspace=True,
            taints=(GPU_TAINT,) if name == GPU_POOL else (), serves=tuple(f"{b.id}/{s.id}" for b, s in sizes)))
    if problems:
        raise StackInvalid(NO_MACHINE if not any("no enabled bundle" in p for p in problems) else INVALID_CONFIG,
                           problems)
    return pools


def plan_environment(stack: ContractStack, catalogue: Catalogue) -> EnvironmentPlan:
    """Check a contract stack against the catalogue and work out what to create; raises StackInvalid."""
    placement = place(stack.cloud, catalogue, stack.source)
    roles, bundles = enabled_bundles(stack, catalogue)
    vms = plan_vms(stack.cloud, placement.partner, stack.source)
    pools = [placement.core, *_workspace_pools(stack, placement.partner, bundles)]
    streaming = STREAMING_ROLE in roles  # a streaming environment: it offers the streaming role
    kafka = stack.cloud.kafka
    if kafka is not None and not streaming:
        raise StackInvalid(INVALID_CONFIG, f"{_field(stack.source, 'kafka')}: this environment offers no "
                                           f"{STREAMING_ROLE} bundle, so it gets no Kafka cluster; remove the section")
    if streaming:
        kafka = kafka or KafkaSpec()
        need = Size(id="kafka-broker", cpu=kafka.cpu, memory=kafka.memory)
        pools.append(_infrastructure_pool(placement.partner, KAFKA_POOL, kafka.machine_size, need, kafka.brokers,
                                          kafka.brokers, (KAFKA_TAINT,), stack.source, "kafka"))
    env = stack.environment
    tags = Tags(organisation=env.organisation, contract=env.contract or "", cost_centre=stack.cloud.cost_centre,
                environment=env.name, stage=env.stage, budget_eur_per_month=stack.cloud.budget_eur_per_month)
    plan = EnvironmentPlan(stack=stack, partner=placement.partner, region=placement.region, tags=tags, roles=roles,
                           bundles=bundles, pools=tuple(pools), kafka=kafka,
                           images=tuple(sorted({b.image.reference for b in bundles})), vms=vms)
    warnings = []
    if plan.max_monthly_eur > stack.cloud.budget_eur_per_month:
        warnings.append(f"at full scale the node pools cost about EUR {plan.max_monthly_eur:,.0f} a month, more than "
                        f"the budget of EUR {stack.cloud.budget_eur_per_month:,}; lower max_nodes or raise the budget")
    if not plan.production and stack.cloud.egress_allow_list:
        warnings.append("egress_allow_list has no effect in a development environment (egress is open there)")
    return EnvironmentPlan(**{**plan.__dict__, "warnings": tuple(warnings)})


def plan_platform(stack: PlatformStack, catalogue: Catalogue) -> PlatformPlan:
    placement = place(stack.cloud, catalogue, stack.source)
    spec = stack.platform
    tags = Tags(organisation=spec.organisation, contract=spec.contract, cost_centre=stack.cloud.cost_centre,
                environment=spec.name, stage=spec.stage, budget_eur_per_month=stack.cloud.budget_eur_per_month)
    return PlatformPlan(stack=stack, partner=placement.partner, region=placement.region, tags=tags,
                        pools=(placement.core,))
