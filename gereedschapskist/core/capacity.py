"""What one machine can hold, and whether a workspace size fits on it: one rule for hub and portal.

The local backend runs every workspace on the hub's own machine, so a size asking for more CPUs, memory or GPUs
than that machine has can never get them. The hub refuses such a launch (reason :data:`SIZE_TOO_LARGE`) and
leaves the size out of its own form; it reports its :class:`Capacity` in its capabilities answer
(``GET /hub/api/gereedschapskist/interfaces``), from which the portal shows the size as "not available here",
with :func:`shortfall` saying why. On Kubernetes there is no such capacity (node pools decide), so nothing is
refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

#: The refusal reason of a launch asking for a size larger than the machine it would run on.
SIZE_TOO_LARGE = "size-too-large"
GIB = 2**30


class SizeLike(Protocol):
    """What a rule needs of a size (the catalogue's ``Size`` has it)."""

    id: str
    cpu: float
    gpu: int

    @property
    def memory_bytes(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Capacity:
    """CPUs (may be fractional: a CPU quota), memory in bytes and GPUs one machine gives its workspaces."""

    cpu: float
    memory_bytes: int
    gpu: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "memory_bytes": self.memory_bytes, "gpu": self.gpu}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Capacity":
        """The shape of :meth:`as_json`; ``ValueError`` / ``KeyError`` / ``TypeError`` on anything else."""
        cpu, memory, gpu = data["cpu"], data["memory_bytes"], data.get("gpu", 0)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (cpu, memory, gpu)):
            raise TypeError(f"capacity values must be numbers, not {dict(data)!r}")
        if cpu <= 0 or memory <= 0 or gpu < 0:
            raise ValueError(f"capacity values out of range: {dict(data)!r}")
        return cls(float(cpu), int(memory), int(gpu))

    def describe(self) -> str:
        gpu = f", {self.gpu} GPU" if self.gpu else ""
        return f"{self.cpu:g} CPU, {self.memory_bytes / GIB:.1f} GiB{gpu}"


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Why a size does not fit: what it asks and what the machine has, per resource that is short."""

    size_id: str
    short: tuple[str, ...]          # of "cpu", "memory", "gpu", in that order
    asked: Capacity
    available: Capacity

    @property
    def message(self) -> str:
        """For people and logs (English; the portal words its own texts from the numbers)."""
        return (f"Size {self.size_id!r} asks for {self.asked.describe()}; this machine has "
                f"{self.available.describe()} ({', '.join(self.short)} too small). Choose a smaller size.")


def shortfall(size: SizeLike, capacity: Capacity | None) -> Shortfall | None:
    """None when ``size`` fits on ``capacity`` (or when there is no capacity to check: Kubernetes)."""
    if capacity is None:
        return None
    short = tuple(name for name, asked, has in (("cpu", size.cpu, capacity.cpu),
                                               ("memory", size.memory_bytes, capacity.memory_bytes),
                                               ("gpu", size.gpu, capacity.gpu)) if asked > has)
    if not short:
        return None
    return Shortfall(size.id, short, Capacity(float(size.cpu), size.memory_bytes, size.gpu), capacity)


# --------------------------------------------------------------------------- a Kubernetes node's allocatable room
#
# A managed Kubernetes node never offers its machine's nominal size to pods. The kubelet's allocatable capacity is
#   capacity (what the operating system sees: less than the nominal memory)
#   − kube-reserved − system-reserved − the hard eviction threshold,
# and the provider's own DaemonSets (network, storage drivers, logging) take their requests from that on every node.
# A workspace pod with requests = limits that asks for the whole nominal machine therefore never schedules, and the
# cluster autoscaler adds no node for it (no node of the group would fit it either). The figures below are the
# providers' published formulas for the node images this project creates (infra/partners/*.py); sources:
#
# * Amazon EKS, AL2023 (nodeadm) — awslabs/amazon-eks-ami, nodeadm's kubelet defaults: kube-reserved memory
#   = 11 MiB × max pods + 255 MiB; kube-reserved CPU = 6 % of the first core, 1 % of the second, 0.5 % of the
#   next two, 0.25 % of every core above four; eviction-hard memory.available < 100Mi. Max pods per instance type
#   (VPC CNI, no prefix delegation): eni-max-pods.txt of the same repository (ENIs × (IPv4 per ENI − 1) + 2).
# * Azure AKS, Kubernetes 1.29 and later — learn.microsoft.com, "Node resource reservations" (concepts-clusters-
#   workloads): kube-reserved memory = the lesser of 20 MB × max pods + 50 MB and 25 % of the node's memory;
#   eviction-hard memory.available < 100Mi; kube-reserved CPU from the table below. Max pods: 250, the default of
#   Azure CNI Overlay, the network the AKS recipe creates.
# * Google GKE — cloud.google.com, "Plan GKE Standard node sizes" (allocatable resources): memory 25 % of the first
#   4 GiB, 20 % of the next 4 GiB, 10 % of the next 8 GiB, 6 % of the next 112 GiB, 2 % above 128 GiB; CPU as on
#   EKS; eviction-hard memory.available < 100Mi.
# * What the operating system sees of the nominal memory (firmware, kernel, hypervisor): Karpenter's
#   ``VM_MEMORY_OVERHEAD_PERCENT`` default, 7.5 % (karpenter.sh, settings), for all three.
# * DaemonSets: our estimate of the requests of each provider's system DaemonSets on one node plus ours (the
#   chart's continuous image puller, the NVIDIA device plugin on GPU nodes), from their published manifests; it is
#   verified only in a real deploy (infra/README.md, "Verified only in a real deploy").

MIB = 2**20
EVICTION_HARD_BYTES = 100 * MIB
VM_MEMORY_OVERHEAD = 0.075


@dataclass(frozen=True, slots=True)
class NodeOverhead:
    """What one provider's node keeps from pods: its reservation formulas and its DaemonSets' requests."""

    provider: str
    max_pods: int                      # default max pods per node (memory reservation grows with it)
    daemonset_cpu: float               # CPUs requested by the DaemonSets on every node
    daemonset_memory_bytes: int
    source: str                        # where the formulas come from (for messages and the README)

    def kube_reserved_cpu(self, cpu: float) -> float:
        if self.provider == "azure":
            table = ((1, 0.06), (2, 0.1), (4, 0.14), (8, 0.18), (16, 0.26), (32, 0.42), (64, 0.74))
            return next((reserved for cores, reserved in table if cpu <= cores), 0.74)
        # EKS and GKE: 6 % of the first core, 1 % of the second, 0.5 % of the next two, 0.25 % above four.
        reserved = 0.06 * min(cpu, 1) + 0.01 * min(max(cpu - 1, 0), 1) + 0.005 * min(max(cpu - 2, 0), 2)
        return reserved + 0.0025 * max(cpu - 4, 0)

    def kube_reserved_memory(self, memory_bytes: int, max_pods: int | None = None) -> int:
        pods = max_pods or self.max_pods
        if self.provider == "aws":
            return (11 * pods + 255) * MIB
        if self.provider == "azure":
            return min((20 * pods + 50) * 10**6, memory_bytes // 4)
        # GKE's tiers
        tiers = ((4 * GIB, 0.25), (4 * GIB, 0.20), (8 * GIB, 0.10), (112 * GIB, 0.06), (float("inf"), 0.02))
        left, reserved = memory_bytes, 0.0
        for size, share in tiers:
            part = min(left, size)
            reserved += part * share
            left -= part
            if left <= 0:
                break
        return int(reserved)


#: Per cloud provider (the catalogue partner's ``provider``). A provider not listed gets the most cautious of them
#: (:func:`node_overhead`), so a new partner is never assumed to give more than the known ones.
NODE_OVERHEADS: dict[str, NodeOverhead] = {
    "aws": NodeOverhead("aws", max_pods=110, daemonset_cpu=0.25, daemonset_memory_bytes=320 * MIB,
                        source="EKS AL2023 nodeadm kubelet defaults (awslabs/amazon-eks-ami)"),
    "azure": NodeOverhead("azure", max_pods=250, daemonset_cpu=0.35, daemonset_memory_bytes=640 * MIB,
                          source="AKS node resource reservations, Kubernetes 1.29+ (learn.microsoft.com)"),
    "gcp": NodeOverhead("gcp", max_pods=110, daemonset_cpu=0.4, daemonset_memory_bytes=640 * MIB,
                        source="GKE Standard allocatable resources (cloud.google.com)"),
}
#: EKS max pods per instance type with the VPC CNI (eni-max-pods.txt); other types use NodeOverhead.max_pods.
EKS_MAX_PODS = {"m6i.xlarge": 58, "m6i.2xlarge": 58, "m6i.4xlarge": 234, "r6i.2xlarge": 58, "r6i.4xlarge": 234,
                "g4dn.xlarge": 29, "g4dn.2xlarge": 29, "g4dn.4xlarge": 29, "g5.xlarge": 58, "g5.2xlarge": 58}


def node_overhead(provider: str) -> NodeOverhead:
    known = NODE_OVERHEADS.get(provider)
    if known is not None:
        return known
    return NodeOverhead(provider, max_pods=250, daemonset_cpu=max(o.daemonset_cpu for o in NODE_OVERHEADS.values()),
                        daemonset_memory_bytes=max(o.daemonset_memory_bytes for o in NODE_OVERHEADS.values()),
                        source="unknown provider: the most cautious of the known ones")


def allocatable(provider: str, cpu: float, memory_bytes: int, gpu: int = 0, *, machine_type: str | None = None
                ) -> Capacity:
    """What pods of ours can request on one node of this nominal size at this provider: the kubelet's allocatable
    capacity less the DaemonSets' requests (see the module's sources). GPUs are not reserved."""
    overhead = node_overhead(provider)
    max_pods = EKS_MAX_PODS.get(machine_type or "") if provider == "aws" else None
    if overhead.provider not in NODE_OVERHEADS:  # unknown: take the largest reservation of the known formulas
        cpu_reserved = max(o.kube_reserved_cpu(cpu) for o in NODE_OVERHEADS.values())
        memory_reserved = max(o.kube_reserved_memory(memory_bytes) for o in NODE_OVERHEADS.values())
    else:
        cpu_reserved = overhead.kube_reserved_cpu(cpu)
        memory_reserved = overhead.kube_reserved_memory(memory_bytes, max_pods)
    seen = int(memory_bytes * (1 - VM_MEMORY_OVERHEAD))
    free_memory = seen - memory_reserved - EVICTION_HARD_BYTES - overhead.daemonset_memory_bytes
    free_cpu = cpu - cpu_reserved - overhead.daemonset_cpu
    return Capacity(round(max(free_cpu, 0.0), 3), max(free_memory, 0), gpu)


def fits_allocatable(size: SizeLike, capacity: Capacity) -> bool:
    """True when a pod of ``size`` (requests = limits) fits on a node with this allocatable capacity."""
    return shortfall(size, capacity) is None
