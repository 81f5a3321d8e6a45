"""Live CPU and memory use of a local server, with its peaks, for the portal's workspace page.

:class:`UsageTracker` samples a server's whole process tree (the server, its kernels, terminals, RStudio or VS
Code behind the proxy) with psutil: memory is the sum of the processes' resident set sizes (pages shared between
them count once per process, so it can slightly overstate), CPU is the CPU time the tree used since the last
sample divided by the wall time between them, in percent of one CPU (200 % = two CPUs busy). The spawner samples
every ``usage_interval`` seconds while the server runs, so a peak between two looks at the page is not missed;
a request for the usage samples once more.

When a server stops, its last document stays in the hub's :class:`UsageBook` (in memory, the most recent
:data:`BOOK_SIZE` servers), so the portal can still read the peaks of a workspace that the idle culler stopped.
A restarted hub has no book: the portal keeps what it read before (``workspace_usage``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psutil

BOOK_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Sample:
    at: float                 # time.time()
    cpu_percent: float        # of one CPU
    rss_bytes: int
    processes: int


class ProcessTree:
    """One server's processes: the server and everything below it."""

    def __init__(self, pid: int):
        self.pid = pid
        self._cpu_seen: dict[int, float] = {}   # pid → CPU seconds at the last sample (exited ones drop out)
        self._last_at: float | None = None

    def sample(self) -> Sample | None:
        """None when the server process is gone."""
        now = time.monotonic()
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        rss, cpu_delta, seen = 0, 0.0, {}
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    memory = process.memory_info()
            except psutil.Error:
                continue   # exited between listing and reading
            rss += memory.rss
            used = times.user + times.system
            seen[process.pid] = used
            cpu_delta += max(0.0, used - self._cpu_seen.get(process.pid, used if self._last_at is None else 0.0))
        elapsed = None if self._last_at is None else now - self._last_at
        self._cpu_seen, self._last_at = seen, now
        percent = 0.0 if not elapsed else round(100.0 * cpu_delta / elapsed, 1)
        return Sample(time.time(), percent, rss, len(seen))


def _iso(timestamp: float | datetime | None) -> str | None:
    if timestamp is None:
        return None
    if isinstance(timestamp, datetime):
        moment = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=timezone.utc)
    else:
        moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


class UsageTracker:
    """Samples of one server run: the latest, the peaks, how many."""

    def __init__(self, pid: int, *, started_at: float | None = None):
        self.tree = ProcessTree(pid)
        self.started_at = started_at or time.time()
        self.latest: Sample | None = None
        self.peak_cpu_percent = 0.0
        self.peak_rss_bytes = 0
        self.samples = 0
        self.tree.sample()   # the baseline for the first CPU figure

    def sample(self) -> Sample | None:
        sample = self.tree.sample()
        if sample is not None:
            self.latest = sample
            self.samples += 1
            self.peak_cpu_percent = max(self.peak_cpu_percent, sample.cpu_percent)
            self.peak_rss_bytes = max(self.peak_rss_bytes, sample.rss_bytes)
        return sample

    def document(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "started": _iso(self.started_at),
            "cpu_percent": latest.cpu_percent if latest else None,
            "rss_bytes": latest.rss_bytes if latest else None,
            "processes": latest.processes if latest else None,
            "peak_cpu_percent": self.peak_cpu_percent if self.samples else None,
            "peak_rss_bytes": self.peak_rss_bytes if self.samples else None,
            "samples": self.samples,
            "sampled_at": _iso(latest.at) if latest else None,
        }


class UsageBook:
    """The last usage document of servers that stopped, by ``user/server`` (bounded, newest kept)."""

    def __init__(self, size: int = BOOK_SIZE):
        self._size = size
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __deepcopy__(self, memo: dict) -> "UsageBook":
        """One book per hub: traitlets deep-copies config values into every spawner, which must share it."""
        return self

    def keep(self, key: str, document: dict[str, Any]) -> None:
        self._entries.pop(key, None)
        self._entries[key] = document
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._entries.get(key)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


def usage_document(*, server: str, running: bool, tracker: UsageTracker | dict[str, Any] | None,
                   size: dict[str, Any] | None, limits: dict[str, Any], last_activity: datetime | None,
                   idle_timeout_seconds: int, cull_every_seconds: int) -> dict[str, Any]:
    """The answer of the usage endpoint (:mod:`.api`) for one server."""
    usage = tracker.document() if isinstance(tracker, UsageTracker) else tracker
    document: dict[str, Any] = {
        "server": server, "running": running, "size": size, "limits": limits,
        "usage": usage,
        "last_activity": _iso(last_activity),
        "idle_timeout_seconds": idle_timeout_seconds,
        "cull_every_seconds": cull_every_seconds,
    }
    if running and last_activity is not None:
        moment = last_activity if last_activity.tzinfo else last_activity.replace(tzinfo=timezone.utc)
        document["idle_cull_at"] = _iso(moment.timestamp() + idle_timeout_seconds)
    return document


class UsageSampling:
    """The spawner's part (:class:`~.spawner.BundleSpawner`): sample the running server, keep its last figures.

    Uses the spawner's ``limits``, ``usage_book``, ``usage_interval``, ``launch``, ``pid``, ``ready`` and
    ``orm_spawner``.
    """

    @property
    def _usage_key(self) -> str:
        return f"{self.user.name}/{self.name}"

    def _begin_usage(self) -> None:
        self.usage_book.forget(self._usage_key)
        self._track(UsageTracker(self.pid))

    def _track(self, tracker: UsageTracker) -> None:
        self._usage = tracker
        self._usage_task = asyncio.ensure_future(self._sample_while_running(tracker))

    async def _sample_while_running(self, tracker: UsageTracker) -> None:
        while getattr(self, "_usage", None) is tracker:
            await asyncio.sleep(self.usage_interval)
            if tracker.sample() is None:
                return

    def _size_document(self) -> dict[str, Any] | None:
        if self.launch is None:
            return None
        size = self.launch.size
        return {"id": size.id, "cpu": size.cpu, "memory_bytes": size.memory_bytes}

    def usage(self, *, idle_timeout_seconds: int, cull_every_seconds: int) -> dict[str, Any] | None:
        """This server's usage document (:func:`usage_document`); the last one kept when it is not running; None
        when it has not run since the hub started. A running server the hub restored after a restart is tracked
        from now."""
        running = bool(self.ready and self.pid)
        if not running:
            return self.usage_book.get(self._usage_key)
        tracker = getattr(self, "_usage", None)
        if tracker is None:
            started = self.orm_spawner.started if self.orm_spawner is not None else None
            if started is not None and started.tzinfo is None:
                started = started.replace(tzinfo=timezone.utc)   # JupyterHub keeps naive UTC times
            tracker = UsageTracker(self.pid, started_at=started.timestamp() if started else None)
            self._track(tracker)
        tracker.sample()
        last = self.orm_spawner.last_activity if self.orm_spawner is not None else None
        return usage_document(server=self.name, running=True, tracker=tracker, size=self._size_document(),
                              limits=self.limits.as_json(), last_activity=last,
                              idle_timeout_seconds=idle_timeout_seconds, cull_every_seconds=cull_every_seconds)

    def _end_usage(self) -> None:
        """Keep the last figures of a run that ends (read before the process is gone), then stop sampling."""
        tracker = getattr(self, "_usage", None)
        if tracker is None:
            return
        tracker.sample()
        self._usage = None
        self.usage_book.keep(self._usage_key, usage_document(
            server=self.name, running=False, tracker=tracker, size=self._size_document(),
            limits=self.limits.as_json(), last_activity=None, idle_timeout_seconds=0, cull_every_seconds=0))
