"""Spend metering: every run of a workspace is one :class:`~..models.WorkspaceSession`, and spend is summed in SQL.

:func:`meter` is called wherever a workspace's status changes (``workspaces.apply_server_info`` and
``apply_progress_end``, ``lifecycle.stop_workspace``, the budget watcher's stops): a *running* workspace has exactly
one open session (``stopped_at`` NULL), opened at the hub's ``started`` when the hub gave it, else at the portal's own
first sight; any other status closes the open session at the workspace's ``stopped_at`` (or now). It is idempotent —
the same hub report applied twice, or by two workers, leaves one session — and it writes in the caller's transaction,
so a portal killed before the commit leaves neither the status nor the session, and one killed after leaves both.

The price per hour is fixed when the run starts: the contract's partner price of the workspace's ``bundle/size`` by
the one price rule (:func:`gereedschapskist.catalogue.price_per_hour`, the rule the contract's estimate used: the
estimate's own line when the size is in it, else the rule applied to the catalogue). A workspace under no contract
(the shared demo environment) is metered at 0.

Spend is ``sum(price_per_hour × (coalesce(stopped_at, now) − started_at))`` (:func:`spend_column`, portable between
SQLite and PostgreSQL: :class:`elapsed_seconds`); a run still going counts up to ``now``. So that a spend figure does
not sum every session ever run, each contract keeps the euros of its *closed* runs in ``contract.closed_spend_eur``
(the rollup): :func:`meter` closes a run with one conditional UPDATE (``WHERE stopped_at IS NULL``, so one closer
wins) and, only when it closed it, adds that run's amount (:func:`run_amount`, worked out in SQL from the row) to the
rollup in the same transaction. A portal killed before the commit leaves neither; after it, both. Spend is then the
rollup plus the open runs up to now (:func:`spend_expression`). :func:`verify_rollup` compares the rollup with the
plain sum over the sessions; :func:`rebuild_rollup` sets it from them (migration 0009's backfill, sessions written
straight to the database).

Keyword-only functions; none of them commits.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric, and_, cast, func, literal, select, union_all, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from gereedschapskist.catalogue import Catalogue, price_per_hour

from ..models import Contract, UTCDateTime, Workspace, WorkspaceSession, WorkspaceStatus, utcnow

log = logging.getLogger(__name__)
ZERO = Decimal("0")
#: Statuses in which a workspace is metered (an open session).
METERED = (WorkspaceStatus.RUNNING,)


# -- portable SQL: seconds between two timestamps, and the earlier of two ------------------------------------------

class elapsed_seconds(FunctionElement):  # noqa: N801 - an SQL function
    """``end − start`` in seconds (a float), on SQLite (julianday) and PostgreSQL (epoch)."""

    inherit_cache = True
    type = Numeric()


@compiles(elapsed_seconds)
def _elapsed_default(element, compiler, **kw):  # PostgreSQL and others
    start, end = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


@compiles(elapsed_seconds, "sqlite")
def _elapsed_sqlite(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"((julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)})) * 86400.0)"


class earliest(FunctionElement):  # noqa: N801 - an SQL function
    """The earlier of two timestamps (``least`` on PostgreSQL, ``min`` on SQLite)."""

    inherit_cache = True
    type = DateTime(timezone=True)


@compiles(earliest)
def _earliest_default(element, compiler, **kw):
    a, b = list(element.clauses)
    return f"LEAST({compiler.process(a, **kw)}, {compiler.process(b, **kw)})"


@compiles(earliest, "sqlite")
def _earliest_sqlite(element, compiler, **kw):
    a, b = list(element.clauses)
    return f"MIN({compiler.process(a, **kw)}, {compiler.process(b, **kw)})"


def _at(value: datetime):
    """A timestamp as a bound parameter of the column type (stored the same way as the columns it meets)."""
    return literal(value, UTCDateTime())


def spend_column(now: datetime, *, until: Any = None):
    """``sum(price × hours)`` of the sessions in the query, a run still going counted up to ``now`` (and everything
    cut off at ``until`` when given); NULL when there are none (wrap in ``coalesce``)."""
    end = func.coalesce(WorkspaceSession.stopped_at, _at(now))
    if until is not None:
        end = earliest(end, until)
    return func.sum(WorkspaceSession.price_per_hour * elapsed_seconds(WorkspaceSession.started_at, end) / 3600)


def run_amount():
    """Euros of one closed run, rounded to 6 decimals (the unit the rollup adds up, so it equals the plain sum)."""
    hours = elapsed_seconds(WorkspaceSession.started_at, WorkspaceSession.stopped_at) / 3600
    return func.round(cast(WorkspaceSession.price_per_hour * hours, Numeric), 6)


def open_spend_subquery(now: datetime, *, contract_ids: list[int] | None = None):
    """(contract_id, spent) of the runs still going, up to ``now`` (the partial index of open runs serves it)."""
    query = (select(WorkspaceSession.contract_id.label("contract_id"), spend_column(now).label("spent"))
             .where(WorkspaceSession.stopped_at.is_(None), WorkspaceSession.contract_id.is_not(None)))
    if contract_ids is not None:
        query = query.where(WorkspaceSession.contract_id.in_(contract_ids))
    return query.group_by(WorkspaceSession.contract_id).subquery("open_spend")


def spend_expression(open_spend) -> Any:
    """A contract's spend in SQL: its rollup of closed runs plus its open runs (``open_spend`` outer-joined)."""
    return Contract.closed_spend_eur + func.coalesce(open_spend.c.spent, 0)


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


# -- the price of a run ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    from gereedschapskist.catalogue import load
    return load()


def price_for(contract: Contract | None, *, bundle_id: str, size_id: str,
              catalogue: Catalogue | None = None) -> Decimal:
    """Euros per hour of ``bundle/size`` under ``contract`` (0 without one): the contract's estimate line when the
    size is in it (the price rule as applied when it was ordered), else the price rule on the catalogue. A size the
    rule cannot price at the partner (it fits no machine) is refused: it cannot run there."""
    if contract is None:
        return ZERO
    for line in (contract.estimate or {}).get("lines", []):
        if line.get("bundle") == bundle_id and line.get("size") == size_id:
            return Decimal(str(line["eur_per_hour"]))
    catalogue = catalogue or _default_catalogue()
    partner = catalogue.partners.get(contract.partner)
    bundle = catalogue.bundles.get(bundle_id)
    size = None
    if bundle is not None:
        size = next((s for s in bundle.sizes if s.id == size_id), None)
    priced = price_per_hour(partner, bundle_id, size) if partner is not None and size is not None else None
    if priced is None:
        raise ValueError(f"contract {contract.id}: no price for {bundle_id}/{size_id} at partner {contract.partner}")
    return Decimal(str(round(priced.eur_per_hour, 4)))


# -- metering --------------------------------------------------------------------------------------------------------

def open_session(session: Session, *, workspace_id: int) -> WorkspaceSession | None:
    return session.scalars(select(WorkspaceSession).where(WorkspaceSession.workspace_id == workspace_id,
                                                          WorkspaceSession.stopped_at.is_(None))
                           .order_by(WorkspaceSession.id.desc()).limit(1)).first()


def meter(session: Session, *, workspace: Workspace, now: datetime | None = None, started: datetime | None = None,
          catalogue: Catalogue | None = None) -> WorkspaceSession | None:
    """Bring the workspace's metering in line with its status (this module's documentation); returns its open
    session, if it has one now. ``started``: when the hub says the server started (naive means UTC)."""
    now = now or utcnow()
    if workspace.id is None:
        session.flush()
    current = open_session(session, workspace_id=workspace.id)
    if workspace.status in METERED:
        if current is not None:
            return current
        # one opener per workspace: PostgreSQL locks the row, then looks again (SQLite has one writer anyway)
        session.execute(select(Workspace.id).where(Workspace.id == workspace.id).with_for_update())
        current = open_session(session, workspace_id=workspace.id)
        if current is not None:
            return current
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=timezone.utc)
        begin = min(started or workspace.started_at or now, now)
        contract = session.get(Contract, workspace.contract_id) if workspace.contract_id else None
        try:
            price = price_for(contract, bundle_id=workspace.bundle_id, size_id=workspace.size_id,
                              catalogue=catalogue)
        except ValueError as exc:       # metered at 0 rather than not at all; said loudly
            log.error("metering workspace %s: %s", workspace.id, exc)
            price = ZERO
        run = WorkspaceSession(workspace_id=workspace.id, organisation_id=workspace.organisation_id,
                               contract_id=workspace.contract_id, size=f"{workspace.bundle_id}/{workspace.size_id}",
                               price_per_hour=price, started_at=begin)
        session.add(run)
        session.flush()
        return run
    if current is not None:
        close(session, run=current, at=workspace.stopped_at or now)
    return None


def close(session: Session, *, run: WorkspaceSession, at: datetime) -> bool:
    """Close an open run at ``at`` and add its amount to its contract's rollup, both in the caller's transaction;
    False (nothing added) when it was closed already (by another worker: the UPDATE's ``stopped_at IS NULL`` lets one
    closer through, PostgreSQL re-checking it after the other's commit)."""
    session.flush()
    end = max(at, run.started_at)
    closed = session.execute(update(WorkspaceSession).where(WorkspaceSession.id == run.id,
                                                            WorkspaceSession.stopped_at.is_(None))
                             .values(stopped_at=end).execution_options(synchronize_session=False)).rowcount
    session.expire(run, ["stopped_at"])
    if closed != 1:
        return False
    if run.contract_id is not None:
        table = Contract.__table__
        amount = select(run_amount()).where(WorkspaceSession.id == run.id).scalar_subquery()
        session.execute(update(table).where(table.c.id == run.contract_id)
                        .values(closed_spend_eur=table.c.closed_spend_eur + amount,
                                updated_at=table.c.updated_at))       # not a change of the contract itself
        contract = session.identity_map.get((Contract, (run.contract_id,), None))
        if contract is not None:
            session.expire(contract, ["closed_spend_eur"])
    return True


def _closed_sums():
    return (select(WorkspaceSession.contract_id, func.sum(run_amount()).label("closed"))
            .where(WorkspaceSession.stopped_at.is_not(None), WorkspaceSession.contract_id.is_not(None))
            .group_by(WorkspaceSession.contract_id))


def rebuild_rollup(session: Session) -> None:
    """Every contract's rollup from its closed sessions, one UPDATE (what migration 0009's backfill does; for sessions
    written straight to the database)."""
    session.flush()
    session.execute(rebuild_statement())
    session.expire_all()


def rebuild_statement():
    """The UPDATE of :func:`rebuild_rollup` (for a bulk load on a bare connection, as the benchmark's seed)."""
    table = Contract.__table__
    closed = (select(func.sum(run_amount())).where(WorkspaceSession.contract_id == table.c.id,
                                                   WorkspaceSession.stopped_at.is_not(None)).scalar_subquery())
    return update(table).values(closed_spend_eur=func.coalesce(closed, 0), updated_at=table.c.updated_at)


def verify_rollup(session: Session) -> dict[int, tuple[Decimal, Decimal]]:
    """Contracts whose rollup differs from the plain sum of their closed sessions: {id: (rollup, plain sum)}; empty
    when every one agrees (to a millionth of a euro)."""
    sums = {cid: Decimal(str(value or 0)) for cid, value in session.execute(_closed_sums())}
    wrong = {}
    for cid, rollup in session.execute(select(Contract.id, Contract.closed_spend_eur)):
        rollup = Decimal(str(rollup or 0))
        plain = sums.get(cid, ZERO)
        if abs(rollup - plain) > Decimal("0.000001"):
            wrong[cid] = (rollup, plain)
    return wrong


# -- spend -----------------------------------------------------------------------------------------------------------

def contract_spend(session: Session, *, contract_id: int, now: datetime | None = None) -> Decimal:
    """Euros spent under one contract so far (its rollup, and runs still going up to ``now``); one query."""
    return spend_by_contract(session, contract_ids=[contract_id], now=now).get(contract_id, _money(0))


def spend_by_contract(session: Session, *, contract_ids: list[int] | None = None,
                      now: datetime | None = None) -> dict[int, Decimal]:
    """Euros spent per contract (every contract, or those named): the rollups plus the open runs, one query."""
    now = now or utcnow()
    if contract_ids is not None and not contract_ids:
        return {}
    open_spend = open_spend_subquery(now, contract_ids=contract_ids)
    query = (select(Contract.id, spend_expression(open_spend))
             .outerjoin(open_spend, open_spend.c.contract_id == Contract.id))
    if contract_ids is not None:
        query = query.where(Contract.id.in_(contract_ids))
    return {cid: _money(value) for cid, value in session.execute(query)}


def hourly_rate(session: Session, *, contract_id: int) -> Decimal:
    """Euros per hour of the contract's runs going right now."""
    value = session.scalar(select(func.sum(WorkspaceSession.price_per_hour))
                           .where(WorkspaceSession.contract_id == contract_id, WorkspaceSession.stopped_at.is_(None)))
    return Decimal(str(value or 0))


@dataclass(frozen=True)
class SpendPicture:
    """What the contract page shows: spend so far, the cumulative spend at the end of each day from the start up to
    today, and the forecast to the end date at the current rate (the average day of the last seven)."""

    spent: Decimal
    budget: Decimal
    days: list[tuple[date, Decimal]]
    rate_per_day: Decimal
    forecast: Decimal
    today: date

    @property
    def used(self) -> float:
        return float(self.spent / self.budget) if self.budget else 0.0


def daily_cumulative(session: Session, *, contract_id: int, first: date, last: date,
                     now: datetime) -> list[tuple[date, Decimal]]:
    """Cumulative spend at the end of each day ``first..last`` (each day's end capped at ``now``): one query, the
    days as a derived table joined to the contract's sessions."""
    if last < first:
        return []
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    ends = [min(datetime.combine(d + timedelta(days=1), time(), tzinfo=timezone.utc), now) for d in days]
    table = union_all(*(select(literal(i).label("i"), _at(end).label("day_end"))
                        for i, end in enumerate(ends))).subquery("day")
    end = earliest(func.coalesce(WorkspaceSession.stopped_at, _at(now)), table.c.day_end)
    amount = func.sum(WorkspaceSession.price_per_hour * elapsed_seconds(WorkspaceSession.started_at, end) / 3600)
    rows = dict(session.execute(
        select(table.c.i, amount).select_from(table)
        .join(WorkspaceSession, and_(WorkspaceSession.contract_id == contract_id,
                                     WorkspaceSession.started_at < table.c.day_end))
        .group_by(table.c.i)).all())
    return [(d, _money(rows.get(i))) for i, d in enumerate(days)]


def picture(session: Session, *, contract: Contract, now: datetime | None = None) -> SpendPicture:
    """The contract page's spend (:class:`SpendPicture`)."""
    now = now or utcnow()
    today = now.date()
    spent = contract_spend(session, contract_id=contract.id, now=now)
    last = min(today, contract.ends_on)
    days = daily_cumulative(session, contract_id=contract.id, first=contract.starts_on, last=last, now=now)
    rate = ZERO
    if days:
        window = days[-8:]
        span = len(window) - 1 if len(window) > 1 else 1
        base = window[0][1] if len(window) > 1 else ZERO
        rate = _money((window[-1][1] - base) / span)
    remaining = max((contract.ends_on - today).days, 0) if today >= contract.starts_on else \
        (contract.ends_on - contract.starts_on).days + 1
    return SpendPicture(spent=spent, budget=Decimal(contract.budget_eur), days=days, rate_per_day=rate,
                        forecast=_money(spent + rate * remaining), today=today)
