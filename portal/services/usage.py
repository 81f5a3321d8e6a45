"""Usage for the admin screens: running workspaces, and workspace hours per bundle, per organisation and per day.

Hours come from the workspace rows: a workspace counts from ``started_at`` (the hub said it runs) until
``stopped_at``; one still active counts until now; one that ended without a stop time (it failed after it started)
until its last update. Only the part inside the chosen period counts, split over the days of the period (UTC).
Workspaces that never started (refused, failed while starting) count no hours. Keyword-only functions, no commit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from ..errors import InvalidInput
from ..models import ACTIVE_STATUSES, Organisation, Workspace, utcnow
from .admin_scope import AdminScope, parse_day

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole days, ``start`` to ``end`` inclusive (UTC)."""

    start: date
    end: date

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=timezone.utc)

    @property
    def end_at(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=timezone.utc)


def parse_period(*, start: str | None, end: str | None, today: date) -> Period:
    """The period of the form's ``from`` and ``to`` fields: by default the last :data:`DEFAULT_DAYS` days up to
    today; at most :data:`MAX_DAYS` days; ``from`` not after ``to``."""
    last = parse_day("to", end) or today
    first = parse_day("from", start) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput(f"from = {first.isoformat()!r} is after to = {last.isoformat()!r}: choose a start on or "
                           "before the end")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"from = {first.isoformat()!r} to {last.isoformat()!r} is {(last - first).days + 1} days: "
                           f"choose at most {MAX_DAYS} days")
    return Period(first, last)


@dataclass(frozen=True)
class Share:
    """Hours of one bundle or one organisation."""

    key: str
    hours: float
    workspaces: int
    organisation: Organisation | None = None


@dataclass
class UsageReport:
    period: Period
    by_bundle: list[Share] = field(default_factory=list)
    by_organisation: list[Share] = field(default_factory=list)
    by_day: list[tuple[date, float]] = field(default_factory=list)

    @property
    def total_hours(self) -> float:
        return sum(hours for _day, hours in self.by_day)


def _scoped(statement, scope: AdminScope):
    return statement if scope.everything else statement.where(Workspace.organisation_id.in_(scope.organisation_ids))


def running_workspaces(session: Session, *, scope: AdminScope) -> list[Workspace]:
    """Active workspaces (starting, running, stopping) in the scope, newest first."""
    statement = select(Workspace).where(Workspace.status.in_(ACTIVE_STATUSES)) \
        .options(joinedload(Workspace.user)).order_by(Workspace.id.desc())
    return list(session.scalars(_scoped(statement, scope)))


def _end_of(workspace_end: datetime | None, active: bool, updated_at: datetime, now: datetime) -> datetime:
    if workspace_end is not None:
        return workspace_end
    return now if active else updated_at


def usage(session: Session, *, scope: AdminScope, period: Period, now: datetime | None = None) -> UsageReport:
    """Hours per bundle, per organisation and per day of ``period``, of the workspaces in ``scope``."""
    now = now or utcnow()
    start, stop = period.start_at, min(period.end_at, now)
    rows = session.execute(_scoped(
        select(Workspace.id, Workspace.bundle_id, Workspace.organisation_id, Workspace.status, Workspace.started_at,
               Workspace.stopped_at, Workspace.updated_at)
        .where(Workspace.started_at.is_not(None), Workspace.started_at < stop,
               or_(Workspace.stopped_at.is_(None), Workspace.stopped_at > start)), scope)).all()
    per_day: dict[date, float] = defaultdict(float)
    bundles: dict[str, list] = defaultdict(lambda: [0.0, 0])
    organisations: dict[int, list] = defaultdict(lambda: [0.0, 0])
    for row in rows:
        begin = max(row.started_at, start)
        end = min(_end_of(row.stopped_at, row.status in ACTIVE_STATUSES, row.updated_at, now), stop)
        if end <= begin:
            continue
        day = begin.date()
        while True:
            day_end = min(datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.utc), end)
            per_day[day] += (day_end - max(begin, datetime.combine(day, time.min, tzinfo=timezone.utc))) \
                .total_seconds() / 3600
            if day_end >= end:
                break
            day += timedelta(days=1)
        hours = (end - begin).total_seconds() / 3600
        for bucket in (bundles[row.bundle_id], organisations[row.organisation_id]):
            bucket[0] += hours
            bucket[1] += 1
    by_id = {o.id: o for o in scope.organisations}
    missing = set(organisations) - set(by_id)
    if missing:   # a platform admin's scope lists every organisation; this is only for safety
        by_id |= {o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(missing)))}
    report = UsageReport(period)
    report.by_day = [(day, round(per_day.get(day, 0.0), 4)) for day in period.days]
    report.by_bundle = sorted((Share(key, round(h, 4), n) for key, (h, n) in bundles.items()),
                              key=lambda s: (-s.hours, s.key))
    report.by_organisation = sorted((Share(by_id[key].slug, round(h, 4), n, by_id[key])
                                     for key, (h, n) in organisations.items()), key=lambda s: (-s.hours, s.key))
    return report


# ------------------------------------------------------------------------------------------ the plot's geometry

@dataclass(frozen=True)
class Bar:
    day: date
    hours: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    """A bar per day, in SVG user units: the template draws it (``_usage_chart.html``)."""

    width: int
    height: int
    left: int
    top: int
    plot_height: int
    bars: list[Bar]
    ticks: list[tuple[float, float]]      # (hours, y)
    labels: list[tuple[date, float]]      # (day, x of its label)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^n at or above ``value`` (at least 1): the y axis' top."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)   # pragma: no cover - the loop always returns


def chart(by_day: list[tuple[date, float]], *, width: int = 720, height: int = 260) -> Chart:
    left, top, bottom, right = 48, 12, 36, 8
    plot_width, plot_height = width - left - right, height - top - bottom
    top_value = nice_ceiling(max((h for _d, h in by_day), default=0.0))
    slot = plot_width / max(len(by_day), 1)
    bars = []
    for index, (day, hours) in enumerate(by_day):
        bar_height = plot_height * hours / top_value
        bars.append(Bar(day, hours, x=round(left + index * slot + slot * 0.1, 2),
                        y=round(top + plot_height - bar_height, 2), width=round(max(slot * 0.8, 1), 2),
                        height=round(bar_height, 2)))
    ticks = [(top_value * n / 4, round(top + plot_height - plot_height * n / 4, 2)) for n in range(5)]
    every = max(1, round(len(by_day) / 8))
    labels = [(day, round(left + index * slot + slot / 2, 2)) for index, (day, _h) in enumerate(by_day)
              if index % every == 0]
    return Chart(width, height, left, top, plot_height, bars, ticks, labels)
