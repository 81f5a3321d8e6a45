"""Environments prepared before anyone asks: the local backend's analogue of z2jh's image pre-puller.

When the local hub starts, :class:`EnvironmentPreparer` builds the environment of every bundle it offers and can
start on this machine (its tools present, a size that fits), one at a time in the background, and then compiles
their bytecode at low priority. It looks at the catalogue folder every ``watch_seconds`` and prepares the bundle
versions a change brings, so they are ready when the hub is restarted with them. It uses the spawners' own builder
(:func:`.envbuilder.shared_builder`): a launch that finds its environment being prepared joins that build.

What it is doing is part of ``GET /hub/api/gereedschapskist/interfaces`` (:mod:`.api`), as ``environments``::

    "environments": {"tiny-cowsay": {"version": "1.0.0", "state": "ready"},
                     "tiny-fresh": {"version": "1.0.0", "state": "preparing", "step": "Resolved 95 packages"},
                     "tiny-broken": {"version": "1.0.0", "state": "failed", "reason": "env-build-failed"}}

``state`` is ``waiting`` (queued), ``preparing`` (being built), ``ready`` or ``failed``; the portal shows
"preparing" on the bundle's page. A failure is logged and stays the hub's business (a launch reports it itself).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from traitlets.log import get_logger

from gereedschapskist.catalogue import Bundle, Catalogue, CatalogueInvalid, load
from gereedschapskist.core.capacity import Capacity, shortfall

from .envbuilder import EnvBuilder, EnvBuildFailed, EnvSpec
from .interfaces import SERVER_PROXY_REQUIREMENT, LocalInterfaces


def log():
    """JupyterHub's own log inside the hub (its log file), the ``traitlets`` logger elsewhere."""
    return get_logger()


def bundle_env_spec(bundle: Bundle, interfaces: LocalInterfaces, base: tuple[str, ...]) -> EnvSpec:
    """The environment a bundle's server runs from here: its packages, the server's (``base``) and
    jupyter-server-proxy where it serves RStudio or VS Code. The spawner and the preparation use this one rule."""
    proxied = interfaces.server_proxy_config(bundle.interfaces)
    extra = (SERVER_PROXY_REQUIREMENT,) if proxied else ()
    return EnvSpec.for_bundle(bundle, base, extra)


def startable_here(bundle: Bundle, interfaces: LocalInterfaces, capacity: Capacity | None) -> bool:
    """Whether this machine can start the bundle at all: one of its interfaces available, one of its sizes fits."""
    return (any(interfaces.status(i, bundle).available for i in bundle.interfaces)
            and any(shortfall(size, capacity) is None for size in bundle.sizes))


@dataclass
class Preparation:
    """One bundle version's environment: what the preparation is doing with it."""

    spec: EnvSpec
    state: str = "waiting"       # waiting | preparing | ready | failed
    step: str = ""               # the builder's last message while preparing
    error: str = ""

    def as_json(self) -> dict[str, str]:
        document = {"version": self.spec.bundle_version, "state": self.state}
        if self.state == "preparing" and self.step:
            document["step"] = self.step
        if self.state == "failed":
            document["reason"] = EnvBuildFailed.reason
        return document


@dataclass
class EnvironmentPreparer:
    """Builds the environments of ``bundles`` (their specs from ``spec_for``) in the background, in order."""

    builder: EnvBuilder
    spec_for: Callable[[Bundle], EnvSpec]
    startable: Callable[[Bundle], bool] = lambda bundle: True
    preparations: dict[str, Preparation] = field(default_factory=dict)   # by bundle id
    _queue: asyncio.Queue | None = None
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def __deepcopy__(self, memo: dict) -> "EnvironmentPreparer":
        """One preparation per hub: JupyterHub deep-copies its configuration (the API handler's arguments too)."""
        return self

    def add(self, bundles: Iterable[Bundle]) -> list[Preparation]:
        """Queue the bundles this machine can start whose environment (as now specified) is not queued yet;
        smallest package lists first, so most bundles are ready soonest."""
        added = []
        for bundle in sorted(bundles, key=lambda b: (len(b.packages), b.id)):
            if not self.startable(bundle):
                continue
            spec = self.spec_for(bundle)
            known = self.preparations.get(bundle.id)
            if known is not None and known.spec == spec:
                continue
            preparation = Preparation(spec, state="ready" if self.builder.is_compiled(spec) else "waiting")
            self.preparations[bundle.id] = preparation
            if preparation.state == "waiting":
                added.append(preparation)
                self._queue_for().put_nowait(preparation)
        return added

    def status(self) -> dict[str, dict[str, str]]:
        """What :mod:`.api` reports as ``environments``."""
        return {bundle_id: p.as_json() for bundle_id, p in sorted(self.preparations.items())}

    def _queue_for(self) -> asyncio.Queue:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

    async def prepare(self, preparation: Preparation) -> None:
        """Build (or join the build of) one environment, then compile its bytecode."""
        spec = preparation.spec
        preparation.state = "preparing"

        def step(message: str) -> None:
            preparation.step = message

        try:
            await self.builder.ensure(spec, progress=step)
            await self.builder.compile(spec)
        except EnvBuildFailed as failed:
            preparation.state, preparation.error = "failed", str(failed)
            log().warning("Preparing the environment of %s %s failed: %s", spec.bundle_id, spec.bundle_version, failed)
            return
        preparation.state, preparation.step = "ready", ""
        log().info("Environment of %s %s prepared", spec.bundle_id, spec.bundle_version)

    async def run(self) -> None:
        """Prepare what is queued, one at a time, for ever (a task of the hub's event loop)."""
        queue = self._queue_for()
        while True:
            preparation = await queue.get()
            try:
                await self.prepare(preparation)
            except Exception:   # noqa: BLE001 - the preparation must outlive one bad bundle
                preparation.state = "failed"
                log().exception("Preparing the environment of %s failed", preparation.spec.bundle_id)

    async def watch(self, catalogue_dir: Path, every: float) -> None:
        """Every ``every`` seconds: when the catalogue folder's files changed, load it (the one loader) and queue
        the bundle versions it brings. A catalogue that does not load is left alone until it changes again."""
        seen = fingerprint(catalogue_dir)
        while True:
            await asyncio.sleep(every)
            now = fingerprint(catalogue_dir)
            if now == seen:
                continue
            seen = now
            try:
                catalogue = await asyncio.get_running_loop().run_in_executor(None, load, catalogue_dir)
            except CatalogueInvalid as invalid:
                log().warning("The changed catalogue does not load; nothing prepared from it: %s", invalid)
                continue
            added = self.add(offered(catalogue))
            log().info("Catalogue changed: %d environment(s) to prepare", len(added))

    def start(self, *, delay: float = 1.0, catalogue_dir: Path | None = None, watch_seconds: float = 0) -> None:
        """Start :meth:`run` (and :meth:`watch`) on the running event loop, ``delay`` seconds from now, so the
        hub's own start comes first."""
        loop = asyncio.get_running_loop()

        def begin() -> None:
            self._tasks.append(loop.create_task(self.run()))
            if catalogue_dir is not None and watch_seconds > 0:
                self._tasks.append(loop.create_task(self.watch(catalogue_dir, watch_seconds)))

        loop.call_later(delay, begin)


def offered(catalogue: Catalogue) -> tuple[Bundle, ...]:
    """Every bundle the local hub offers: those some role may start (not retired, review valid)."""
    return catalogue.offered_for(catalogue.roles)


def fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """The catalogue folder's files with their modification time and size: changes when a file does."""
    files = []
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            stat = path.stat()
            files.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(files)
