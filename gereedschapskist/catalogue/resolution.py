"""What a bundle's PyPI pins pull in when resolved, and the rule that a bundle without a GPU pulls no CUDA.

``gereedschapskist catalogue check --resolve`` resolves every bundle's PyPI pins with uv (``uv pip compile``) for
the platform the workspaces run on (Linux x86_64, Python 3.12: where CUDA wheels appear at all) and warns
(``packages.cuda-without-gpu``) when a bundle with no GPU size pulls CUDA wheels — e.g. ``xgboost`` pulls
``nvidia-nccl-cu12`` (335 MiB) on Linux; ``xgboost-cpu`` does not. It needs the package index (or uv's
``UV_FIND_LINKS`` / ``UV_NO_INDEX``), so it runs only when asked, never when a service loads the catalogue.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Iterable, Iterator

from .model import Bundle, Catalogue, Ecosystem
from .problems import Problem, Severity, json_path

#: The platform bundle environments run on (the images' Python and manylinux level).
PYTHON_VERSION = "3.12"
PYTHON_PLATFORM = "x86_64-manylinux_2_39"
#: Names of wheels that carry CUDA (NVIDIA's runtime libraries, CUDA builds of other packages).
CUDA_WHEEL = re.compile(r"^nvidia-|cuda|-cu\d+(?![a-z0-9])")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def find_uv() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    return find_uv_bin()


@dataclass(frozen=True, slots=True)
class Resolved:
    """One resolved package: ``name==version`` and the requirements that pulled it (``via``)."""

    name: str
    version: str
    via: tuple[str, ...]

    @property
    def cuda(self) -> bool:
        return CUDA_WHEEL.search(self.name.lower()) is not None


class ResolutionFailed(Exception):
    pass


def resolve(requirements: Iterable[str], *, uv: str | None = None, timeout: float = 300) -> list[Resolved]:
    """Resolve ``requirements`` for the workspaces' platform; raises :class:`ResolutionFailed` with uv's error."""
    uv = uv or find_uv()
    if not uv:
        raise ResolutionFailed("uv is not installed (pip install uv, or the project's hub extra)")
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env.update({"NO_COLOR": "1", "UV_NO_PROGRESS": "1"})
    try:
        result = subprocess.run(
            # ``--python``: any interpreter will do for resolving wheels; uv's search for a 3.12 one takes seconds
            [uv, "pip", "compile", "--python", sys.executable, "--python-version", PYTHON_VERSION,
             "--python-platform", PYTHON_PLATFORM,
             "--no-header", "--annotation-style", "line", "--quiet", "-"],
            input="\n".join(requirements) + "\n", capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ResolutionFailed(str(exc)) from None
    if result.returncode != 0:
        raise ResolutionFailed(result.stderr.strip() or f"uv exited with {result.returncode}")
    found = []
    for line in result.stdout.splitlines():
        match = _PIN.match(line.strip())
        if match:
            via = line.split("# via", 1)[1] if "# via" in line else ""
            found.append(Resolved(match.group(1), match.group(2),
                                  tuple(v.strip() for v in via.split(",") if v.strip() and v.strip() != "-r -")))
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def cuda_problems(catalogue: Catalogue, *, uv: str | None = None) -> list[Problem]:
    """Warnings for every bundle without a GPU size whose PyPI pins pull CUDA wheels (and for pins that do not
    resolve at all)."""
    return [problem for bundle in catalogue.bundles.values() for problem in _bundle_problems(bundle, uv)]


def _bundle_problems(bundle: Bundle, uv: str | None) -> Iterator[Problem]:
    pins = bundle.packages_of(Ecosystem.PYPI)
    if bundle.needs_gpu or not pins:
        return
    try:
        resolved = resolve([p.requirement for p in pins], uv=uv)
    except ResolutionFailed as failed:
        yield Problem(file=bundle.file, path=json_path(("packages", "pypi")), code="packages.unresolvable",
                      severity=Severity.WARNING, message=f"the PyPI packages do not resolve together: {failed}")
        return
    cuda = [r for r in resolved if r.cuda]
    if not cuda:
        return
    keys = [p.key for p in pins]
    culprits = sorted({_norm(v) for r in cuda for v in r.via} & set(keys)) or [_norm(cuda[0].name)]
    index = keys.index(culprits[0]) if culprits[0] in keys else None
    wheels = ", ".join(f"{r.name}=={r.version}" + (f" (via {', '.join(r.via)})" if r.via else "") for r in cuda)
    yield Problem(
        file=bundle.file, path=json_path(("packages", "pypi") + ((index,) if index is not None else ())),
        code="packages.cuda-without-gpu", severity=Severity.WARNING,
        value=pins[index].requirement if index is not None else None,
        message=f"the bundle has no GPU size, but its PyPI packages pull CUDA wheels: {wheels}; pin a CPU-only "
                "build instead (for example xgboost-cpu instead of xgboost) or give the bundle a GPU size")
