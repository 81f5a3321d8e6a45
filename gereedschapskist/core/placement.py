"""Where a workspace runs on Kubernetes: one rule read by the hub (node selectors) and infra (node pools).

Every node carries ``gereedschapskist.nl/pool=<pool>``. A workspace of a bundle size runs on the pool of
the bundle's primary role, or on ``gpu`` when the size asks for GPUs; GPU nodes carry a taint that only
GPU workspaces tolerate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the catalogue model, for the signature only
    from gereedschapskist.catalogue.model import Bundle, Size

LABEL_PREFIX = "gereedschapskist.nl"
POOL_LABEL = f"{LABEL_PREFIX}/pool"
GPU_POOL = "gpu"
CORE_POOL = "core"
KAFKA_POOL = "kafka"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str = "NoSchedule"

    def __str__(self) -> str:
        """``key=value:Effect``, as ``kubectl taint`` writes it."""
        return f"{self.key}={self.value}:{self.effect}"

    def toleration(self) -> dict[str, str]:
        """The Kubernetes toleration (camelCase, as in a pod spec) that lets a pod onto such a node."""
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


GPU_TAINT = Taint(GPU_RESOURCE, "present")
KAFKA_TAINT = Taint(POOL_LABEL, KAFKA_POOL)


def node_pool(bundle: "Bundle", size: "Size") -> str:
    """The node pool a workspace of this bundle and size runs on: ``gpu`` for GPU sizes, else the
    bundle's primary role."""
    return GPU_POOL if size.gpu else bundle.primary_role


def node_selector(pool: str) -> dict[str, str]:
    return {POOL_LABEL: pool}
