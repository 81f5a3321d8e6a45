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
