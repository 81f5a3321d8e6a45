"""The notebook kernels a bundle declares, derived from its entry: one rule for hub, images and checks.

A bundle has no ``kernels`` field; what it pins says which kernels its JupyterLab offers:

- a Python kernel, always (every workspace environment holds ``ipykernel``, a platform package like
  JupyterLab itself);
- an R kernel when it pins ``IRkernel`` among its CRAN packages (without it, R is not reachable from
  JupyterLab: the rule :func:`lacks_r_kernel` warns).

A kernel is named after the bundle (``SQL analysis with DuckDB 1.0.0``), not ``Python 3 (ipykernel)``, so the
launcher shows which workspace this is; with two kernels each also names its language.
"""

from __future__ import annotations

from dataclasses import dataclass
from .model import Bundle, Ecosystem, Interface

#: The CRAN package that makes R a Jupyter kernel, and the kernelspec name it installs.
R_KERNEL_PACKAGE = "IRkernel"


@dataclass(frozen=True, slots=True)
class Kernel:
    """One kernelspec of a bundle's environment."""

    name: str           # the kernelspec's directory name: ``python3``, ``ir``
    language: str       # as Jupyter writes it: ``python``, ``R``
    display_name: str   # what the launcher shows


def _label(bundle: Bundle) -> str:
    return f"{bundle.title.en} {bundle.version}"


def kernels_of(bundle: Bundle) -> tuple[Kernel, ...]:
    """The kernels the bundle's JupyterLab offers, Python first."""
    found = [("python3", "python", "Python")]
    if any(p.name == R_KERNEL_PACKAGE for p in bundle.packages_of(Ecosystem.CRAN)):
        found.append(("ir", "R", "R"))
    if len(found) == 1:
        name, language, _ = found[0]
        return (Kernel(name, language, _label(bundle)),)
    return tuple(Kernel(name, language, f"{_label(bundle)} ({shown})") for name, language, shown in found)


def lacks_r_kernel(bundle: Bundle) -> bool:
    """A bundle with CRAN packages and JupyterLab that does not pin IRkernel: its R is out of JupyterLab's reach
    (the catalogue rule ``kernels.no-r-kernel`` warns, :mod:`.rules`)."""
    return (bool(bundle.packages_of(Ecosystem.CRAN)) and Interface.JUPYTERLAB in bundle.interfaces
            and not any(kernel.language == "R" for kernel in kernels_of(bundle)))
