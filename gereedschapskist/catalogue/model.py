"""The catalogue as typed, frozen domain objects.

Built only by :mod:`.loader` from files that passed the schema, so the types here
never re-validate. A ``Bundle`` is a catalogue item, never a running instance:
workspaces elsewhere store ``bundle.id`` + ``bundle.version``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

from gereedschapskist.core.capacity import Capacity, allocatable, fits_allocatable
from gereedschapskist.core.refusal import Refusal

_MEMORY = re.compile(r"^(\d+)(Mi|Gi|Ti)$")
_UNIT = {"Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def memory_bytes(quantity: str) -> int:
    """``"4Gi"`` → 4294967296 (the schema guarantees the form)."""
    match = _MEMORY.match(quantity)
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True, slots=True)
class LocalText:
    nl: str
    en: str

    def get(self, language: str) -> str:
        return self.nl if language == "nl" else self.en


class Status(StrEnum):
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class Interface(StrEnum):
    JUPYTERLAB = "jupyterlab"
    RSTUDIO = "rstudio"
    VSCODE = "vscode"

    @property
    def label(self) -> str:
        return {"jupyterlab": "JupyterLab", "rstudio": "RStudio", "vscode": "VS Code"}[self.value]


class SupplyModel(StrEnum):
    STANDARD_CONTRACT = "standard-contract"
    SAAS_PACKAGE = "saas-package"
    IAAS_COMPONENT = "iaas-component"
    CUSTOM = "custom"

    @property
    def letter(self) -> str:
        return "abcd"[list(SupplyModel).index(self)]


class Ecosystem(StrEnum):
    PYPI = "pypi"
    CRAN = "cran"
    CONDA_FORGE = "conda-forge"


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    title: LocalText
    description: LocalText
    file: str


@dataclass(frozen=True, slots=True)
class Lifecycle:
    status: Status
    since: date | None = None
    successor: str | None = None
    retires_on: date | None = None
    message: LocalText | None = None


@dataclass(frozen=True, slots=True)
class Image:
    repository: str
    tag: str
    digest: str | None = None

    @property
    def reference(self) -> str:
        """``repo:tag`` or, once CI has written the digest, ``repo:tag@sha256:…``."""
        ref = f"{self.repository}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


@dataclass(frozen=True, slots=True)
class Package:
    ecosystem: Ecosystem
    name: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def key(self) -> str:
        """Name as compared across versions (PyPI names are case/punctuation-insensitive)."""
        base = self.name.split("[", 1)[0]
        if self.ecosystem is Ecosystem.PYPI:
            return re.sub(r"[-_.]+", "-", base).lower()
        return base


@dataclass(frozen=True, slots=True)
class Size:
    id: str
    cpu: float
    memory: str
    gpu: int = 0
    title: LocalText | None = None
    #: Spark on Kubernetes: at most this many executor pods of this size (dynamic allocation); 0: none.
    max_executors: int = 0

    @property
    def memory_bytes(self) -> int:
        return memory_bytes(self.memory)

    @property
    def label(self) -> str:
        cpu = f"{self.cpu:g} CPU"
        mem = self.memory.replace("Gi", " GiB").replace("Mi", " MiB").replace("Ti", " TiB")
        parts = [cpu, mem] + ([f"{self.gpu} GPU"] if self.gpu else [])
        return " · ".join(parts)

    def fits(self, cpu: float, memory: str, gpu: int) -> bool:
        return self.cpu <= cpu and self.memory_bytes <= memory_bytes(memory) and self.gpu <= gpu


@dataclass(frozen=True, slots=True)
class Licence:
    spdx: str
    open_source: bool
    justification: str | None = None


@dataclass(frozen=True, slots=True)
class SecurityReview:
    reviewer: str
    date: date
    valid_until: date


@dataclass(frozen=True, slots=True)
class Maintainer:
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Bundle:
    id: str
    file: str
    title: LocalText
    description: LocalText
    roles: tuple[str, ...]
    version: str
    lifecycle: Lifecycle
    interfaces: tuple[Interface, ...]
    image: Image
    packages: tuple[Package, ...]
    sizes: tuple[Size, ...]
    licence: Licence
    security_review: SecurityReview
    supply_model: SupplyModel
    maintainers: tuple[Maintainer, ...]
    review_expired: bool = False
    #: Debian/Ubuntu packages (apt names) the tools need outside Python and R (``system_packages``, optional).
    system_packages: tuple[str, ...] = ()
    #: Example notebooks, catalogue-relative paths found in ``examples/<bundle id>/`` (the tree, not a field).
    examples: tuple[str, ...] = ()

    @property
    def offered(self) -> bool:
        """Whether users may start it: never when retired or when its security review has expired."""
        return self.lifecycle.status is not Status.RETIRED and not self.review_expired

    @property
    def deprecated(self) -> bool:
        return self.lifecycle.status is Status.DEPRECATED

    @property
    def needs_gpu(self) -> bool:
        return any(size.gpu for size in self.sizes)

    @property
    def default_size(self) -> Size:
        return self.sizes[0]

    def size(self, size_id: str) -> Size | None:
        for size in self.sizes:
            if size.id == size_id:
                return size
        return None

    def choose_interface(self, interface_id: str | None = None, *,
                         unavailable: Callable[[Interface], str | None] = lambda interface: None) -> Interface:
        """The one interface-choice rule, shared by hub and portal: the interface a workspace opens in.

        The one asked for (``interface_id``), which the bundle must have; else the first of the bundle's
        interfaces that can be served. ``unavailable`` says why an interface cannot be served where the
        workspace runs (``None``: it can; the default serves everything). Raises :class:`LaunchRefused` with
        ``unknown-interface`` or ``interface-unavailable``.
        """
        if interface_id is None:
            notes = []
            for interface in self.interfaces:
                why = unavailable(interface)
                if why is None:
                    return interface
                notes.append(why)
            raise LaunchRefused("interface-unavailable", f"Bundle {self.id!r} cannot start here: {'; '.join(notes)}.")
        interface = next((i for i in self.interfaces if i.value == interface_id), None)
        if interface is None:
            choices = ", ".join(i.value for i in self.interfaces)
            raise LaunchRefused("unknown-interface",
                                f"Bundle {self.id!r} has no interface {interface_id!r}; choose {choices}.")
        why = unavailable(interface)
        if why is not None:
            raise LaunchRefused("interface-unavailable", why)
        return interface

    @property
    def primary_role(self) -> str:
        """The role whose folder holds the bundle (``bundles/<role>/<id>.yaml``).

        Its non-GPU sizes run on that role's node pool (:func:`gereedschapskist.core.placement.node_pool`).
        """
        return Path(self.file).parent.name

    def packages_of(self, ecosystem: Ecosystem) -> tuple[Package, ...]:
        return tuple(p for p in self.packages if p.ecosystem is ecosystem)


#: ISO 3166-1 alpha-2 codes of the EU member states (the partner schema's ``regions[].country`` enum; a test keeps
#: them equal).
EU_COUNTRIES = frozenset({"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
                          "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"})


@dataclass(frozen=True, slots=True)
class Region:
    id: str
    name: str
    country: str

    @property
    def in_eu(self) -> bool:
        return self.country in EU_COUNTRIES


@dataclass(frozen=True, slots=True)
class MachineSize:
    id: str
    machine_type: str
    cpu: float
    memory: str
    price_per_hour_eur: float
    gpu: int = 0
    gpu_type: str | None = None


@dataclass(frozen=True, slots=True)
class ExplicitPrice:
    """A price the partner file gives for one bundle size, overriding the derived one (:mod:`.pricing`)."""

    bundle: str
    size: str
    price_per_hour_eur: float


@dataclass(frozen=True, slots=True)
class ContractTemplate:
    id: str
    title: LocalText
    version: str
    framework: str | None = None


@dataclass(frozen=True, slots=True)
class Partner:
    id: str
    file: str
    name: str
    provider: str
    regions: tuple[Region, ...]
    certifications: tuple[str, ...]
    machine_sizes: tuple[MachineSize, ...]
    contract_template: ContractTemplate
    size_prices: tuple[ExplicitPrice, ...] = ()

    @property
    def offers_gpu(self) -> bool:
        return any(m.gpu for m in self.machine_sizes)

    def region(self, region_id: str) -> Region | None:
        return next((r for r in self.regions if r.id == region_id), None)

    def allocatable(self, machine: MachineSize) -> Capacity:
        """What a workspace pod can request on one node of ``machine`` at this partner: the nominal size less the
        provider's kubelet reservations, eviction threshold and DaemonSets (:func:`gereedschapskist.core.capacity.
        allocatable`, with its sources)."""
        return allocatable(self.provider, machine.cpu, memory_bytes(machine.memory), machine.gpu,
                           machine_type=machine.machine_type)

    def has_room(self, size: Size, machine: MachineSize) -> bool:
        """True when a pod of ``size`` (requests = limits) schedules on an empty node of ``machine`` here."""
        return fits_allocatable(size, self.allocatable(machine))

    def machine_for(self, size: Size, *, nominal: bool = False) -> MachineSize | None:
        """The cheapest machine size a workspace of ``size`` fits on, if any — on its allocatable capacity (a size
        that exactly fills a machine's nominal size never schedules there); ``nominal=True`` compares with the
        machine's nominal size instead (for a pool's minimum machine, which is not one pod)."""
        fitting = [m for m in self.machine_sizes
                   if (size.fits(m.cpu, m.memory, m.gpu) if nominal else self.has_room(size, m))]
        return min(fitting, key=lambda m: m.price_per_hour_eur, default=None)

    def explicit_price(self, bundle_id: str, size_id: str) -> float | None:
        """The price ``size_prices`` gives for this bundle size, if any (the rule itself: :mod:`.pricing`)."""
        return next((p.price_per_hour_eur for p in self.size_prices if (p.bundle, p.size) == (bundle_id, size_id)),
                    None)


class LaunchRefused(Refusal):
    """A user may not start this bundle/size. ``reason`` is machine-readable, ``message`` for people."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason, message)


@dataclass(frozen=True)
class Catalogue:
    root: Path
    roles: Mapping[str, Role]
    bundles: Mapping[str, Bundle]
    partners: Mapping[str, Partner]
    _by_role: Mapping[str, tuple[Bundle, ...]] = field(init=False, repr=False, compare=False)
    _offered_cache: dict[frozenset[str], tuple[Bundle, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, list[Bundle]] = {role: [] for role in self.roles}
        for bundle in sorted(self.bundles.values(), key=lambda b: b.id):
            if bundle.offered:
                for role in bundle.roles:
                    index.setdefault(role, []).append(bundle)
        object.__setattr__(self, "roles", MappingProxyType(dict(self.roles)))
        object.__setattr__(self, "bundles", MappingProxyType(dict(self.bundles)))
        object.__setattr__(self, "partners", MappingProxyType(dict(self.partners)))
        object.__setattr__(self, "_by_role", MappingProxyType({k: tuple(v) for k, v in index.items()}))
        object.__setattr__(self, "_offered_cache", {})

    def offered_for(self, roles: Iterable[str]) -> tuple[Bundle, ...]:
        """The bundles a user with ``roles`` may start, ordered by id, each once.

        The catalogue never changes after loading, so the answer per set of roles is kept.
        """
        key = frozenset(r for r in roles if r in self._by_role)
        cached = self._offered_cache.get(key)
        if cached is not None:
            return cached
        if len(key) == 1:
            (role,) = key
            result = self._by_role[role]
        else:
            seen: dict[str, Bundle] = {}
            for role in key:
                for bundle in self._by_role[role]:
                    seen.setdefault(bundle.id, bundle)
            result = tuple(sorted(seen.values(), key=lambda b: b.id))
        self._offered_cache[key] = result
        return result

    def authorise_launch(self, roles: Iterable[str], bundle_id: str, size_id: str | None = None, *,
                         today: date | None = None) -> tuple[Bundle, Size]:
        """The one role rule, shared by hub and portal: may a user with ``roles`` start this bundle/size?

        Returns the bundle and the chosen size (the default when ``size_id`` is None) or raises
        :class:`LaunchRefused` with a reason: ``unknown-bundle``, ``not-offered``, ``role``, ``unknown-size``.
        The security review's expiry is judged at the moment of the launch (``today``, default: the date
        now), not when the catalogue was loaded: a service running past the expiry date refuses from then on.
        """
        bundle = self.bundles.get(bundle_id)
        if bundle is None:
            raise LaunchRefused("unknown-bundle", f"There is no bundle {bundle_id!r} in the catalogue.")
        expired = bundle.review_expired or bundle.security_review.valid_until < (today or date.today())
        if bundle.lifecycle.status is Status.RETIRED or expired:
            why = ("it is retired" if bundle.lifecycle.status is Status.RETIRED
                   else "its security review has expired or is still pending")
            raise LaunchRefused("not-offered", f"Bundle {bundle_id!r} is not offered: {why}.")
        user_roles = set(roles)
        if not user_roles.intersection(bundle.roles):
            needed = " or ".join(bundle.roles)
            raise LaunchRefused(
                "role", f"Bundle {bundle_id!r} is for the role {needed}; you do not have that role."
            )
        if size_id is None:
            return bundle, bundle.default_size
        size = bundle.size(size_id)
        if size is None:
            choices = ", ".join(s.id for s in bundle.sizes)
            raise LaunchRefused("unknown-size", f"Bundle {bundle_id!r} has no size {size_id!r}; choose {choices}.")
        return bundle, size
