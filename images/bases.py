"""The upstream base images, and the rule that picks one for a bundle from its data.

A bundle *needs* capabilities derived from its catalogue entry: each interface it declares
(``interface:rstudio``), each package source it uses (``packages:cran``) and ``gpu`` when one of
its sizes has a GPU, ``tool:git`` when it pins an app framework (a published app's pod checks out its commit
with the image's git: ``hub/kubernetes_apps.py``). The base is the first one in :data:`BASES` that provides all of them. No
bundle id appears here: a new bundle gets a base by what it declares, not by what it is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gereedschapskist.catalogue import Bundle
from gereedschapskist.core.apps import bundle_frameworks


class Family(StrEnum):
    """How a base is built upon (users, package managers, entry point) — one renderer per family."""

    DOCKER_STACKS = "docker-stacks"
    ROCKER = "rocker"


@dataclass(frozen=True, slots=True)
class Base:
    repository: str
    tag: str
    family: Family
    provides: frozenset[str]
    why: str

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


#: Ordered: the first base that provides every capability a bundle needs is chosen.
BASES: tuple[Base, ...] = (
    Base(
        repository="quay.io/jupyter/minimal-notebook",
        tag="2026-09-01",
        family=Family.DOCKER_STACKS,
        provides=frozenset({"interface:jupyterlab", "interface:vscode", "packages:pypi",
                            "packages:conda-forge", "gpu", "tool:git"}),
        why="Jupyter docker-stacks build of 2026-09-01 (Ubuntu 24.04, user jovyan, tini + start.sh, "
            "git and TeX for nbconvert, mamba for conda-forge). GPU bundles run on it too: PyTorch wheels "
            "from PyPI carry their CUDA libraries and the NVIDIA runtime supplies the driver.",
    ),
    Base(
        repository="rocker/rstudio",
        tag="4.5.3",
        family=Family.ROCKER,
        provides=frozenset({"interface:jupyterlab", "interface:rstudio", "interface:vscode", "packages:pypi",
                            "packages:cran", "tool:git"}),
        why="Rocker's R 4.5.3 with RStudio Server (Ubuntu 24.04); its CRAN repository is frozen at the "
            "Posit Package Manager snapshot of 2026-04-23, so R dependencies resolve the same on every build; "
            "git comes with RStudio Server (rocker's install_rstudio.sh).",
    ),
)


class UnsupportedBundle(Exception):
    """No base image provides everything a bundle declares."""

    def __init__(self, bundle: Bundle, needs: frozenset[str]):
        self.bundle = bundle
        self.needs = needs
        closest = max(BASES, key=lambda b: len(needs & b.provides))
        lacking = ", ".join(sorted(needs - closest.provides))
        super().__init__(
            f"bundle {bundle.id!r} needs {', '.join(sorted(needs))}; no base image provides all of them "
            f"(the closest, {closest.reference}, lacks {lacking}). Split the bundle, or add a base to "
            f"gereedschapskist.images.bases.BASES"
        )


def needs(bundle: Bundle) -> frozenset[str]:
    """The capabilities a bundle's catalogue entry asks of its base image."""
    wanted = {f"interface:{interface.value}" for interface in bundle.interfaces}
    wanted |= {f"packages:{package.ecosystem.value}" for package in bundle.packages}
    if bundle.needs_gpu:
        wanted.add("gpu")
    if bundle_frameworks(bundle):
        wanted.add("tool:git")
    return frozenset(wanted)


def select_base(bundle: Bundle) -> Base:
    """The first base in :data:`BASES` providing all the bundle needs; :class:`UnsupportedBundle` if none."""
    wanted = needs(bundle)
    for base in BASES:
        if wanted <= base.provides:
            return base
    raise UnsupportedBundle(bundle, wanted)
