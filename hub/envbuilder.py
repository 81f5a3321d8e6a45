"""Build each bundle version's own virtualenv with ``uv``, once, and reuse it.

An environment is keyed by a hash of its requirement list, the Python version and the platform,
so a later launch of the same bundle version reuses it and a changed package list gets a new
one. It is built in a temporary directory next to its final place and renamed into place only
when complete: a failed build leaves nothing behind, and the error names the failing package.

Bytecode is compiled after the environment is ready, not during its build (:meth:`EnvBuilder.compile`): a first
launch starts its server at once, and Python compiles what the server imports as it imports it (the server's
process may write ``__pycache__``); the rest is compiled in the background, at low priority. Compiling all of
JupyterLab's ~3,400 files first cost 9 s of a 14.5 s first launch (issue 13).

Concurrent callers of :meth:`EnvBuilder.ensure` share one build: a launch that finds the environment being built
(say by the hub's background preparation, :mod:`.prepare`) joins it and gets its progress so far, then the rest.

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
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from gereedschapskist.catalogue import Bundle, Ecosystem
from gereedschapskist.catalogue.kernels import Kernel, kernels_of

from .kernelspecs import KernelMissing, install_kernels, top_bar_label, write_label, write_offline_lab

MANIFEST = "gereedschapskist-env.json"
#: Written once every Python file of the environment has its bytecode (:meth:`EnvBuilder.compile`).
COMPILED = "gereedschapskist-compiled.json"
#: The background compilation's niceness: a server starting or a user's browser loading JupyterLab comes first.
COMPILE_NICENESS = 10
#: Raised when what an environment holds besides its packages changes (kernels, label), so old ones are rebuilt.
LAYOUT = 6
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


def reuse_bytecode(env: Path, donors: list[Path]) -> int:
    """Hardlink into ``env`` the bytecode that built environments (``donors``) already have of the same files; returns
    how many ``.pyc`` files were linked.

    uv installs a package's files as hardlinks of its cache, so a file two environments share is one inode. Bytecode
    next to such a file in another environment was compiled from that very file, and its header names the file's
    modification time and size, which Python checks on import: it is valid here too (and Python recompiles any that
    is not). Only files with the same inode get bytecode, so an environment holds exactly its own packages and the
    bytecode of their own files. Where uv copies instead (its cache on another file system) nothing is reused."""
    lib = env / "lib"
    reused = 0
    for folder, dirs, files in os.walk(lib):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        sources = [f for f in files if f.endswith(".py")]
        if not sources:
            continue
        rel = Path(folder).relative_to(env)
        mine = {f: _identity(os.stat(os.path.join(folder, f))) for f in sources}
        cache = Path(folder) / "__pycache__"
        have = set(os.listdir(cache)) if cache.is_dir() else set()
        for donor in donors:
            theirs = donor / rel / "__pycache__"
            try:
                compiled = os.listdir(theirs)
            except OSError:
                continue
            for name in compiled:
                stem = name.split(".", 1)[0]
                source = f"{stem}.py"
                if name in have or not name.endswith(".pyc") or source not in mine:
                    continue
                try:
                    if _identity(os.stat(donor / rel / source)) != mine[source]:
                        continue
                    cache.mkdir(exist_ok=True)
                    os.link(theirs / name, cache / name)
                except OSError:     # a donor removed meanwhile, a link limit: that file is compiled later
                    continue
                have.add(name)
                reused += 1
    return reused


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


_SHARED: dict[tuple[str, str, str], "EnvBuilder"] = {}


def shared_builder(root: Path, *, uv: str, python: str, timeout: float = 900) -> "EnvBuilder":
    """The one builder of an environments folder in this process: the spawners and the hub's preparation
    (:mod:`.prepare`) share it, so a launch joins a build under way instead of starting a second one."""
    key = (str(root), uv, python)
    if key not in _SHARED:
        _SHARED[key] = EnvBuilder(Path(root), uv=uv, python=python, timeout=timeout)
    return _SHARED[key]


class _Build:
    """One build under way: its messages so far and who listens (the callers of :meth:`EnvBuilder.ensure`)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.listeners: list[Progress] = []
        self.task: asyncio.Future | None = None

    async def emit(self, message: str) -> None:
        self.messages.append(message)
        for listener in list(self.listeners):
            result = listener(message)
            if asyncio.iscoroutine(result):
                await result


async def end_process_group(proc: asyncio.subprocess.Process) -> None:
    """Kill ``proc`` (started with ``start_new_session=True``) and every process of its group, then wait for it.

    Killing ``proc`` alone is not enough: asyncio's ``wait()`` returns only once its output pipe is closed too, and
    a child that inherited the pipe — compileall ``-j 0``'s workers, compiling a large environment for minutes —
    kept it open. A hub stopping during a background compile then waited for them after its cleanup ("...done")
    until it was killed (30 s in the tests, the pod's grace period in Kubernetes), and the workers lived on."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:   # the group has ended already
        pass
    await proc.wait()


class EnvBuilder:
    """Builds and caches bundle environments under ``root`` (one directory per :attr:`EnvSpec.dirname`)."""

    def __init__(self, root: Path, *, uv: str, python: str, timeout: float = 900, rscript: str | None = None):
        self.root = Path(root)
        self.uv = uv
        self.python = python
        self.timeout = timeout
        self.rscript = rscript or shutil.which("Rscript")  # for R kernels (the bundle's CRAN pins are checked first)
        self._builds: dict[str, _Build] = {}
        self._compiling: dict[str, asyncio.Task] = {}

    def __deepcopy__(self, memo: dict) -> "EnvBuilder":
        """One builder per environments folder (its builds under way are shared): not copied with the configuration."""
        return self

    def path_for(self, spec: EnvSpec) -> Path:
        return self.root / spec.dirname

    def is_built(self, spec: EnvSpec) -> bool:
        return (self.path_for(spec) / MANIFEST).is_file()

    def is_building(self, spec: EnvSpec) -> bool:
        return spec.dirname in self._builds

    def is_compiled(self, spec: EnvSpec) -> bool:
        return (self.path_for(spec) / COMPILED).is_file()

    async def ensure(self, spec: EnvSpec, progress: Progress | None = None) -> Path:
        """The environment's directory, built first if needed. Concurrent callers share one build: a caller that
        finds it under way joins it (its progress so far, then the rest). Cancelling a caller does not cancel a
        build another caller waits for; the build goes on, and its environment is there for the next launch."""
        if self.is_built(spec):
            return self.path_for(spec)
        build = self._builds.get(spec.dirname)
        if build is None:
            build = self._builds[spec.dirname] = _Build()
            build.task = asyncio.ensure_future(self._build(spec, build.emit))
            build.task.add_done_callback(lambda task, name=spec.dirname: self._finished(name, task))
        elif progress is not None:
            await self._emit(progress, f"Joining the build of the environment of {spec.bundle_id} "
                                       f"{spec.bundle_version} already under way")
            for message in list(build.messages):
                await self._emit(progress, message)
        if progress is not None:
            build.listeners.append(progress)
        try:
            return await asyncio.shield(build.task)
        finally:
            if progress in build.listeners:
                build.listeners.remove(progress)

    def _finished(self, name: str, task: asyncio.Future) -> None:
        self._builds.pop(name, None)
        if not task.cancelled():
            task.exception()  # retrieved here: a failure nobody waits for any more is not an "unretrieved" error

    async def compile(self, spec: EnvSpec) -> None:
        """Compile the bytecode of every Python file of a built environment, at low priority, once (concurrent
        callers share it); marks the environment compiled. A server may run from it meanwhile."""
        if not self.is_compiled(spec):
            await asyncio.shield(self._compile_task(spec))

    def compile_later(self, spec: EnvSpec) -> None:
        """:meth:`compile` in the background (a server's start does not wait for it)."""
        if not self.is_compiled(spec):
            self._compile_task(spec)

    def _compile_task(self, spec: EnvSpec) -> asyncio.Future:
        task = self._compiling.get(spec.dirname)
        if task is None:
            task = self._compiling[spec.dirname] = asyncio.ensure_future(self._compile(spec))
            task.add_done_callback(lambda done, name=spec.dirname: self._finished_compiling(name, done))
        return task

    def _finished_compiling(self, name: str, task: asyncio.Future) -> None:
        self._compiling.pop(name, None)
        if not task.cancelled():
            task.exception()

    async def _compile(self, spec: EnvSpec) -> None:
        env = self.path_for(spec)
        started = time.monotonic()
        python = str(env / "bin" / "python")
        # -q: errors only; -j 0: every core, at low priority; files with bytecode already (imported by a server
        # meanwhile) are skipped. A file that does not compile (a package's broken test data) does not matter.
        await self._run(spec, ["nice", "-n", str(COMPILE_NICENESS), python, "-m", "compileall", "-q", "-j", "0",
                               str(env / "lib")], None, check=False)
        (env / COMPILED).write_text(json.dumps({"compiled_seconds": round(time.monotonic() - started, 2)}),
                                    encoding="utf-8")

    def _donors(self, spec: EnvSpec) -> list[Path]:
        """Built environments to take bytecode from (:func:`reuse_bytecode`): compiled ones first, newest first."""
        if not self.root.is_dir():
            return []
        built = [p for p in self.root.iterdir() if p.name != spec.dirname and (p / MANIFEST).is_file()]
        return sorted(built, key=lambda p: ((p / COMPILED).is_file(), (p / MANIFEST).stat().st_mtime), reverse=True)

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
            await self._run(spec, [self.uv, "pip", "install",   # bytecode: after, see compile()
                                   "--python", str(work / "bin" / "python"), "--requirement", str(requirements)],
                            progress)
            reused = await asyncio.to_thread(reuse_bytecode, work, self._donors(spec))
            if reused:
                await self._emit(progress, f"Bytecode of {reused} files reused from environments built before")
            try:
                kernels = await install_kernels(work, spec.kernels, rscript=self.rscript,
                                                run=lambda argv, env=None: self._run(spec, argv, progress, env))
            except KernelMissing as missing:
                raise EnvBuildFailed(spec.bundle_id, None, str(missing)) from None
            if spec.label:
                write_label(work, spec.label)
            write_offline_lab(work)     # no internet questions, no build check (issue 13); the terminal keeps PATH
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
                   extra_env: dict[str, str] | None = None, check: bool = True) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env.update({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "NO_COLOR": "1"})
        env.update(extra_env or {})
        # a session of its own: what it starts (compileall -j's workers, a package's build backend) ends with it
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True)
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
            await end_process_group(proc)
            raise EnvBuildFailed(spec.bundle_id, None, f"{' '.join(argv[:3])} took longer than {self.timeout:.0f} s")
        except asyncio.CancelledError:     # e.g. the hub stops (SIGTERM): JupyterHub cancels its tasks and waits
            await end_process_group(proc)
            raise
        if proc.returncode != 0 and check:
            error = "\n".join(line for line in lines if line and not line.startswith("Using Python"))
            raise EnvBuildFailed(spec.bundle_id, failing_package(spec.requirements, error),
                                 error.strip() or f"{argv[0]} exited with {proc.returncode}")
