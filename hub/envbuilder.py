"""Build each bundle version's own virtualenv with ``uv``, once, and reuse it.

An environment is keyed by a hash of its requirement list, the Python version and the platform,
so a later launch of the same bundle version reuses it and a changed package list gets a new
one. It is built in a temporary directory next to its final place and renamed into place only
when complete: a failed build leaves nothing behind, and the error names the failing package.

Besides the packages, each environment gets what makes it this bundle's workspace (:mod:`.kernelspecs`): its
declared kernels (:func:`gereedschapskist.catalogue.kernels.kernels_of`) named after the bundle, an R kernel
registered with this machine's R where the bundle pins IRkernel, and the top-bar label. Platform packages
(:data:`PLATFORM_REQUIREMENTS`) join the bundle's pins like JupyterLab itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from gereedschapskist.catalogue import Bundle, Ecosystem
from gereedschapskist.catalogue.kernels import Kernel, kernels_of

from .kernelspecs import KernelMissing, install_kernels, top_bar_label, write_label

MANIFEST = "gereedschapskist-env.json"
#: Raised when what an environment holds besides its packages changes (kernels, label), so old ones are rebuilt.
LAYOUT = 4
#: In every environment, like JupyterLab: the Python kernel and the top-bar label's extension. A package the
#: bundle pins itself is left out, so the catalogue's pin wins.
PLATFORM_REQUIREMENTS = ("ipykernel==7.4.0", "jupyterlab-topbar-text==1.1.0")
Progress = Callable[[str], Awaitable[None] | None]


class EnvBuildFailed(Exception):
    """An environment could not be built. ``package`` names the failing requirement when known."""

    reason = "env-build-failed"

    def __init__(self, bundle_id: str, package: str | None, error: str):
        self.bundle_id = bundle_id
        self.package = package
        self.error = error
        which = f" (failing package: {package})" if package else ""
        super().__init__(f"Building the environment of bundle {bundle_id!r} failed{which}: {error}")


@dataclass(frozen=True, slots=True)
class EnvSpec:
    """What goes into one environment: the bundle's PyPI packages plus the server's own."""

    bundle_id: str
    bundle_version: str
    requirements: tuple[str, ...]
    kernels: tuple[Kernel, ...] = ()
    label: str = ""   # the top-bar label; none when empty

    @classmethod
    def for_bundle(cls, bundle: Bundle, base: tuple[str, ...], extra: tuple[str, ...] = ()) -> "EnvSpec":
        own = tuple(p.requirement for p in bundle.packages_of(Ecosystem.PYPI))
        pinned = {_norm(_requirement_name(r)) for r in own + tuple(extra) + tuple(base)}
        platform_pins = tuple(r for r in PLATFORM_REQUIREMENTS if _norm(_requirement_name(r)) not in pinned)
        return cls(bundle.id, bundle.version, own + tuple(extra) + tuple(base) + platform_pins,
                   kernels=kernels_of(bundle), label=top_bar_label(bundle))

    @property
    def key(self) -> str:
        data = json.dumps({
            "layout": LAYOUT,
            "kernels": [[k.name, k.language, k.display_name] for k in self.kernels],
            "label": self.label,
            "requirements": sorted(self.requirements),
            "python": platform.python_version(),
            "platform": sys.platform,
            "machine": platform.machine(),
        }, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    @property
    def dirname(self) -> str:
        return f"{self.bundle_id}-{self.bundle_version}-{self.key}"


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\[=<>!~;\s]", requirement, maxsplit=1)[0]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def failing_package(requirements: tuple[str, ...], error: str) -> str | None:
    """The first requirement the installer's error names (names compare case/punctuation-insensitively)."""
    text = _norm(error)
    hits = []
    for requirement in requirements:
        name = _norm(_requirement_name(requirement))
        match = re.search(rf"(?<![a-z0-9-]){re.escape(name)}(?![a-z0-9])", text)
        if match:
            hits.append((match.start(), requirement))
    return min(hits)[1] if hits else None


class EnvBuilder:
    """Builds and caches bundle environments under ``root`` (one directory per :attr:`EnvSpec.dirname`)."""

    def __init__(self, root: Path, *, uv: str, python: str, timeout: float = 900, rscript: str | None = None):
        self.root = Path(root)
        self.uv = uv
        self.python = python
        self.timeout = timeout
        self.rscript = rscript or shutil.which("Rscript")  # for R kernels (the bundle's CRAN pins are checked first)
        self._locks: dict[str, asyncio.Lock] = {}

    def path_for(self, spec: EnvSpec) -> Path:
        return self.root / spec.dirname

    def is_built(self, spec: EnvSpec) -> bool:
        return (self.path_for(spec) / MANIFEST).is_file()

    async def ensure(self, spec: EnvSpec, progress: Progress | None = None) -> Path:
        """The environment's directory, built first if needed; concurrent callers share one build."""
        lock = self._locks.setdefault(spec.dirname, asyncio.Lock())
        async with lock:
            if self.is_built(spec):
                return self.path_for(spec)
            return await self._build(spec, progress)

    async def _emit(self, progress: Progress | None, message: str) -> None:
        if progress is not None:
            result = progress(message)
            if asyncio.iscoroutine(result):
                await result

    async def _build(self, spec: EnvSpec, progress: Progress | None) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path_for(spec)
        work = self.root / f".build-{spec.dirname}-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        await self._emit(progress, f"Building the environment of {spec.bundle_id} {spec.bundle_version} "
                                   f"({len(spec.requirements)} packages) — only the first launch does this")
        try:
            await self._run(spec, [self.uv, "venv", "--relocatable", "--quiet", "--python", self.python, str(work)],
                            progress)
            requirements = work / "requirements.txt"
            requirements.write_text("\n".join(spec.requirements) + "\n", encoding="utf-8")
            await self._run(spec, [self.uv, "pip", "install", "--compile-bytecode",
                                   "--python", str(work / "bin" / "python"), "--requirement", str(requirements)],
                            progress)
            try:
                kernels = await install_kernels(work, spec.kernels, rscript=self.rscript,
                                                run=lambda argv, env=None: self._run(spec, argv, progress, env))
            except KernelMissing as missing:
                raise EnvBuildFailed(spec.bundle_id, None, str(missing)) from None
            if spec.label:
                write_label(work, spec.label)
            manifest = {
                "bundle": spec.bundle_id, "version": spec.bundle_version, "key": spec.key,
                "requirements": list(spec.requirements), "kernels": kernels, "label": spec.label,
                "built_seconds": round(time.monotonic() - started, 2),
            }
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            try:
                os.rename(work, final)
            except OSError:
                if not self.is_built(spec):  # someone else's complete build is fine; anything else is not
                    raise
                shutil.rmtree(work, ignore_errors=True)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        await self._emit(progress, f"Environment of {spec.bundle_id} ready in {time.monotonic() - started:.1f} s")
        return final

    async def _run(self, spec: EnvSpec, argv: list[str], progress: Progress | None,
                   extra_env: dict[str, str] | None = None) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env.update({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "NO_COLOR": "1"})
        env.update(extra_env or {})
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
        lines: list[str] = []

        async def read() -> None:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                lines.append(line)
                if re.match(r"^(Resolved|Prepared|Installed|Downloading|Built|Building|Bytecode compiled) ", line):
                    await self._emit(progress, line)

        try:
            await asyncio.wait_for(asyncio.gather(read(), proc.wait()), self.timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise EnvBuildFailed(spec.bundle_id, None, f"{' '.join(argv[:3])} took longer than {self.timeout:.0f} s")
        except asyncio.CancelledError:
            proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            error = "\n".join(line for line in lines if line and not line.startswith("Using Python"))
            raise EnvBuildFailed(spec.bundle_id, failing_package(spec.requirements, error),
                                 error.strip() or f"{argv[0]} exited with {proc.returncode}")
