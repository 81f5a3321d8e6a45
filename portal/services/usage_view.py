"""Sizes and usage as users see them: which sizes fit where a workspace would run, live usage against the size,
and right-sizing advice after a run. Keyword-only functions, no commit inside.

**Sizes that fit.** The hub reports its machine's capacity (local backend; ``Hubs.sizing``); a size asking for more
CPUs, memory or GPUs is shown as not available here, with what it asks and what the machine has
(:func:`gereedschapskist.core.capacity.shortfall`, the rule the hub's launch applies too). No capacity (Kubernetes,
or a hub that does not say): every size is offered and the hub decides.

**Peaks kept.** Every time the portal reads a workspace's usage from its hub it stores the run's peaks in
``workspace_usage`` (a new run replaces them; within one run they only go up), so the figures outlive the server,
a restarted hub and the idle culler's stop.

**Right-sizing rule** (:func:`advise`), once a workspace has run and is no longer running, from its peaks:

- *larger*: the peak memory reached 90 % of the size's memory, or the peak CPU 90 % of its CPUs → the next larger
  size of the bundle (none: it is already the largest);
- *smaller*: otherwise, the smallest smaller size whose memory holds the peak memory with half again as headroom
  (1.5 ×) and whose CPUs cover the peak CPU → that size;
- otherwise the size *fits*.

**Saving in euros** — only where a price is known. A size costs what the catalogue's one price rule says
(:func:`gereedschapskist.catalogue.price_per_hour`: an explicit price of the partner, else the size's share of the
cheapest partner machine it fits on). The saving is the difference per hour between the two sizes.
Environments get a partner with their contract (a later issue); until then :func:`partner_for` knows none and no
amount is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Bundle, Catalogue, Partner, Size
from gereedschapskist.catalogue import price_per_hour as catalogue_price
from gereedschapskist.core.capacity import Shortfall, shortfall

from ..errors import PortalError
from ..models import Workspace, WorkspaceStatus, WorkspaceUsage
from ..workspace_hub import HubSizing, Hubs
from ..workspace_hub import WorkspaceUsage as HubUsage

NEAR_LIMIT = 0.9
HEADROOM = 1.5
GIB = 2**30


# -- sizes that fit ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SizeOption:
    size: Size
    shortfall: Shortfall | None     # None: it fits (or nothing to check)

    @property
    def available(self) -> bool:
        return self.shortfall is None


def size_options(bundle: Bundle, sizing: HubSizing | None) -> list[SizeOption]:
    capacity = sizing.capacity if sizing is not None else None
    return [SizeOption(size, shortfall(size, capacity)) for size in bundle.sizes]


def gib(value: int | None) -> str:
    return "—" if value is None else f"{value / GIB:.1f} GiB"


# -- the price rule and the advice ---------------------------------------------------------------------------------

def partner_for(workspace: Workspace, catalogue: Catalogue) -> Partner | None:
    """The partner whose machines an environment runs on. Environments have no contract yet (a later issue), so
    no partner and no price is known: advice shows no amount."""
    return None


def price_per_hour(bundle: Bundle, size: Size, partner: Partner | None) -> float | None:
    """The catalogue's price of ``size`` of ``bundle`` at ``partner`` in euros per hour; None when unknown."""
    price = catalogue_price(partner, bundle.id, size) if partner is not None else None
    return None if price is None else price.eur_per_hour


@dataclass(frozen=True)
class Advice:
    kind: str                       # "larger", "smaller", "fits" or "largest"
    size: Size                      # the workspace's size
    suggested: Size | None          # the size to choose next time
    saving_per_hour: float | None   # euros per hour saved (negative: extra cost); None: no price known


def _order(bundle: Bundle) -> list[Size]:
    return sorted(bundle.sizes, key=lambda s: (s.memory_bytes, s.cpu, s.gpu))


def advise(bundle: Bundle, size: Size, *, peak_cpu_percent: float, peak_rss_bytes: int,
           partner: Partner | None = None) -> Advice:
    """The right-sizing rule of this module's documentation."""
    ordered = _order(bundle)
    peak_cpus = peak_cpu_percent / 100.0
    suggested, kind = None, "fits"
    if peak_rss_bytes >= NEAR_LIMIT * size.memory_bytes or peak_cpus >= NEAR_LIMIT * size.cpu:
        larger = [s for s in ordered if s.memory_bytes >= size.memory_bytes and s.cpu >= size.cpu and s != size
                  and (s.memory_bytes > size.memory_bytes or s.cpu > size.cpu)]
        suggested, kind = (larger[0], "larger") if larger else (None, "largest")
    else:
        smaller = [s for s in ordered if s.memory_bytes < size.memory_bytes and s.cpu <= size.cpu
                   and s.memory_bytes >= HEADROOM * peak_rss_bytes and s.cpu >= peak_cpus]
        if smaller:
            suggested, kind = smaller[0], "smaller"
    saving = None
    if suggested is not None:
        now, then = price_per_hour(bundle, size, partner), price_per_hour(bundle, suggested, partner)
        saving = None if now is None or then is None else round(now - then, 4)
    return Advice(kind, size, suggested, saving)


# -- usage of one workspace ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UsageView:
    workspace_id: int
    running: bool
    size: Size | None
    usage: HubUsage | None          # live, while the hub reports it
    peak_cpu_percent: float | None  # of the last run: live or kept
    peak_rss_bytes: int | None
    enforced: bool | None           # the hub enforces sizes (None: it does not say)
    advice: Advice | None
    started: datetime | None

    # -- figures for the page (units are the same in Dutch and English) --
    def cpus(self, percent: float | None) -> str:
        return "—" if percent is None else f"{percent / 100:.2f} CPU"

    def memory(self, value: int | None) -> str:
        return gib(value)

    def percent_of_size(self, percent: float | None, rss: int | None) -> tuple[int | None, int | None]:
        """CPU and memory in percent of the size (for the meters)."""
        if self.size is None:
            return None, None
        cpu = None if percent is None else round(percent / self.size.cpu)
        memory = None if rss is None else round(100 * rss / self.size.memory_bytes)
        return cpu, memory

    def as_json(self) -> dict:
        usage = self.usage
        size = self.size
        return {
            "running": self.running,
            "size": None if size is None else {"id": size.id, "cpu": size.cpu, "memory_bytes": size.memory_bytes},
            "cpu_percent": usage.cpu_percent if usage else None,
            "rss_bytes": usage.rss_bytes if usage else None,
            "peak_cpu_percent": self.peak_cpu_percent,
            "peak_rss_bytes": self.peak_rss_bytes,
            "started": self.started.isoformat() if self.started else None,
            "last_activity": usage.last_activity.isoformat() if usage and usage.last_activity else None,
            "idle_cull_at": usage.idle_cull_at.isoformat() if usage and usage.idle_cull_at else None,
            "cull_every_seconds": usage.cull_every_seconds if usage else None,
            "enforced": self.enforced,
        }


def read_usage(*, hubs: Hubs, workspace: Workspace) -> HubUsage | None:
    """What the hub says now (None: it does not know, or does not answer)."""
    try:
        return hubs.for_environment(workspace.environment).usage(username=workspace.user.username,
                                                                 server_name=workspace.server_name)
    except PortalError:
        return None


def merged_peaks(row: WorkspaceUsage | None, usage: HubUsage | None) -> tuple[float, int, int, datetime | None] | None:
    """(peak CPU %, peak memory, samples, run start) from what is kept and what the hub says now: a new run (another
    start time) replaces the kept peaks, within one run they only go up. None when neither has any."""
    fresh = usage is not None and usage.peak_rss_bytes is not None and usage.peak_cpu_percent is not None
    if not fresh:
        return None if row is None else (row.peak_cpu_percent, row.peak_rss_bytes, row.samples, row.run_started_at)
    if row is not None and row.run_started_at is not None and row.run_started_at == usage.started:
        return (max(row.peak_cpu_percent, usage.peak_cpu_percent), max(row.peak_rss_bytes, usage.peak_rss_bytes),
                max(row.samples, usage.samples), row.run_started_at)
    return usage.peak_cpu_percent, usage.peak_rss_bytes, usage.samples, usage.started


def record_peaks(session: Session, *, workspace: Workspace, usage: HubUsage | None) -> WorkspaceUsage | None:
    """Keep the run's peaks in ``workspace_usage`` (:func:`merged_peaks`)."""
    row = session.get(WorkspaceUsage, workspace.id)
    peaks = merged_peaks(row, usage)
    if peaks is None:
        return row
    if row is None:
        row = WorkspaceUsage(workspace_id=workspace.id)
        session.add(row)
    row.peak_cpu_percent, row.peak_rss_bytes, row.samples, row.run_started_at = peaks
    session.flush()
    return row


def usage_view(session: Session, *, hubs: Hubs, catalogue: Catalogue, workspace: Workspace,
               keep: bool = False) -> UsageView:
    """The workspace's usage for its page and the JSON API, asked of its hub; ``keep``: store the peaks too."""
    bundle = catalogue.bundles.get(workspace.bundle_id)
    size = bundle.size(workspace.size_id) if bundle is not None else None
    running = workspace.status is WorkspaceStatus.RUNNING
    # a starting one has no usage yet: no hub request while it starts (its page asks every few seconds; issue 12)
    usage = read_usage(hubs=hubs, workspace=workspace) if workspace.status is not WorkspaceStatus.STARTING else None
    if keep:
        row = record_peaks(session, workspace=workspace, usage=usage)
        peaks = merged_peaks(row, None)
    else:
        peaks = merged_peaks(session.get(WorkspaceUsage, workspace.id), usage)
    peak_cpu, peak_rss = (peaks[0], peaks[1]) if peaks is not None else (None, None)
    advice = None
    if not workspace.status.active and bundle is not None and size is not None and peaks is not None:
        advice = advise(bundle, size, peak_cpu_percent=peak_cpu, peak_rss_bytes=peak_rss,
                        partner=partner_for(workspace, catalogue))
    live = usage if running and usage is not None and usage.running else None
    enforced = usage.enforced if usage is not None and usage.enforced is not None else \
        _enforced(hubs=hubs, workspace=workspace)
    started = live.started if live is not None and live.started else workspace.started_at
    return UsageView(workspace.id, live is not None, size, live, peak_cpu, peak_rss, enforced, advice, started)


def _enforced(*, hubs: Hubs, workspace: Workspace) -> bool | None:
    sizing = hubs.sizing(workspace.environment)
    return sizing.enforced if sizing is not None else None
