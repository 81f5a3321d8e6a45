"""A node pool as the plan decides it and the partners' recipes create it (pure data, no resources).

It sits below both :mod:`.plan` (which works the pools out) and :mod:`.partners` (which builds them), so
imports go one way: plan → partners → pools. Labels and taints come from
:mod:`gereedschapskist.core.placement`, the rule the hub's node selectors follow too.
"""

from __future__ import annotations

from dataclasses import dataclass

from gereedschapskist.catalogue import MachineSize
from gereedschapskist.core.placement import Taint, node_selector

HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class NodePool:
    """One node pool: ``gereedschapskist.nl/pool=<name>`` on every node."""

    name: str
    machine: MachineSize
    min_nodes: int
    max_nodes: int
    workspace: bool
    taints: tuple[Taint, ...] = ()
    serves: tuple[str, ...] = ()  # "bundle/size" for workspace pools

    @property
    def labels(self) -> dict[str, str]:
        return node_selector(self.name)

    @property
    def gpu(self) -> bool:
        return self.machine.gpu > 0

    @property
    def max_monthly_eur(self) -> float:
        return round(self.max_nodes * self.machine.price_per_hour_eur * HOURS_PER_MONTH, 2)
