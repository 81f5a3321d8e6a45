"""Benchmarks of the access system's data paths (issue 15), on SQLite and on PostgreSQL when
GEREEDSCHAPSKIST_TEST_DATABASE_URL is set. Figures are printed, never asserted on time; what is asserted is that the
code did its work (the lookup found the user's grants through the index, verify found an intact chain of every
entry, the export streamed every entry).

1. **Grant lookup at workspace start**: ``dataset_grants.grants_for_hub`` (what the hubs' grant endpoint
   ``GET /api/v1/hub/grants/{user}`` runs: the user, then the grants with their datasets, purposes and organisations
   in one query) for a user with 50 grants among 100,000 (1,000 users, 20 datasets, a tenth of the grants expired or
   revoked); ``access.active_grants`` (the grants as ORM objects) is printed too. Goal: under 5 ms. The query is
   served by the index ``ix_dataset_grant_user_id_expires_at`` (checked in the query plan).
2. **register verify** over 1,000,000 entries (seeded with the chain computed in Python, bulk inserted), in one
   process and with ``--workers`` = the machine's cores. Goal: under 10 s.
3. **Register export streams**: the peak Python memory (tracemalloc) of a JSON and a CSV export of the register's
   first 10,000 and first 100,000 entries; flat memory means the two peaks are about equal.

Sizes: ``GEREEDSCHAPSKIST_BENCH_FULL=1`` runs the sizes above (minutes); by default (``make test``) 5,000 grants,
10,000 entries and exports of 1,200 and 6,000 entries (more than one batch of 1,000 each), which exercise the same
code in seconds.
"""

from __future__ import annotations

import os
import statistics
import time
import tracemalloc
from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from gereedschapskist.portal.models import (
    AccessRequest, AccessRequestState, Dataset, DatasetGrant, User, utcnow,
)
from gereedschapskist.portal.services import access, dataset_grants, register_export
from gereedschapskist.portal.services.register import verify_chain
from tests.bench.register_support import seed_people, seed_register
from tests.portal.support import DatabaseUnreachable, TestDatabase

TEST_DATABASE_ENV = "GEREEDSCHAPSKIST_TEST_DATABASE_URL"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get(TEST_DATABASE_ENV) else [])
FULL = os.environ.get("GEREEDSCHAPSKIST_BENCH_FULL", "") not in ("", "0")
GRANTS = 100_000 if FULL else 5_000
USER_GRANTS = 50
ENTRIES = 1_000_000 if FULL else 10_000
EXPORTS = (10_000, 100_000) if FULL else (1_200, 6_000)      # entries exported (of the ENTRIES seeded)
LOOKUPS = 200
GRANT_GOAL_MS, VERIFY_GOAL_S = 5, 10


def _database(backend: str, tmp) -> TestDatabase:
    if backend == "sqlite":
        return TestDatabase.sqlite(tmp / "db")
    try:
        return TestDatabase.postgresql(os.environ[TEST_DATABASE_ENV])
    except DatabaseUnreachable as exc:
        pytest.fail(f"{TEST_DATABASE_ENV} is set but {exc}", pytrace=False)


def _analyze(database: TestDatabase) -> None:
    """Fresh planner statistics after the bulk inserts (as a database that has lived with its data has)."""
    from sqlalchemy import create_engine
    engine = create_engine(database.owner_url) if database.owner_url else database.engine
    try:
        with engine.begin() as db:
            db.execute(text("ANALYZE"))
    finally:
        if engine is not database.engine:
            engine.dispose()


def _seed_grants(database: TestDatabase) -> int:
    """GRANTS grants over 1,000 users (the first user has USER_GRANTS of them), one request each; returns the first
    user's id."""
    org_ids, user_ids, dataset_ids = seed_people(database.engine, organisations=10, users=1000, datasets=20)
    now = utcnow()
    today = date.today()
    with database.engine.begin() as db:
        owners = [user_ids[0]] * USER_GRANTS + [user_ids[1 + i % (len(user_ids) - 1)]
                                                for i in range(GRANTS - USER_GRANTS)]
        for start in range(0, GRANTS, 20_000):
            chunk = range(start, min(GRANTS, start + 20_000))
            db.execute(insert(AccessRequest), [
                {"dataset_id": dataset_ids[i % len(dataset_ids)], "requester_id": owners[i],
                 "organisation_id": org_ids[i % len(org_ids)], "role": "bi", "purpose": "Onderzoek",
                 "purpose_code": "statistics", "legal_ground": "avg-6-1-e-cbs-wet", "starts_on": today,
                 "ends_on": today + timedelta(days=30), "state": AccessRequestState.APPROVED, "automatic": False,
                 "created_at": now} for i in chunk])
        request_ids = list(db.scalars(select(AccessRequest.id).order_by(AccessRequest.id)))
        for start in range(0, GRANTS, 20_000):
            chunk = range(start, min(GRANTS, start + 20_000))
            db.execute(insert(DatasetGrant), [
                {"access_request_id": request_ids[i], "dataset_id": dataset_ids[i % len(dataset_ids)],
                 "user_id": owners[i], "organisation_id": org_ids[i % len(org_ids)],
                 "starts_at": now - timedelta(days=1),
                 # a tenth expired (not for the first user, whose 50 all count), some revoked
                 "expires_at": now + timedelta(days=30) if i < USER_GRANTS or i % 10 else now - timedelta(days=1),
                 "revoked_at": now if i >= USER_GRANTS and i % 97 == 0 else None, "created_at": now}
                for i in chunk])
    _analyze(database)
    return user_ids[0]


def _plan(database: TestDatabase, user_id: int) -> str:
    sql = ("SELECT * FROM dataset_grant WHERE user_id = :u AND expires_at > :now AND starts_at <= :now "
           "AND revoked_at IS NULL ORDER BY id")
    explain = "EXPLAIN QUERY PLAN " if database.dialect == "sqlite" else "EXPLAIN "
    with database.engine.connect() as db:
        rows = db.execute(text(explain + sql), {"u": user_id, "now": utcnow()}).all()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("backend", BACKENDS)
def test_grant_lookup_at_workspace_start(backend, tmp_path):
    database = _database(backend, tmp_path)
    try:
        user_id = _seed_grants(database)
        plan = _plan(database, user_id)
        assert "ix_dataset_grant_user_id_expires_at" in plan, plan
        figures = {}
        with Session(database.engine) as session:
            user = session.get(User, user_id)
            username = user.username
            for name, lookup in (("grants_for_hub", lambda: dataset_grants.grants_for_hub(session, username=username)),
                                 ("active_grants", lambda: access.active_grants(session, user=user))):
                times, cpu = [], []
                for _ in range(LOOKUPS):
                    session.expire_all()
                    started, used = time.perf_counter(), time.process_time()
                    grants = lookup()
                    times.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - used) * 1000)
                assert len(grants) == USER_GRANTS
                times.sort()
                figures[name] = (f"median {statistics.median(times):.2f} ms, "
                                 f"p95 {times[int(0.95 * len(times)) - 1]:.2f} ms, "
                                 f"median CPU time of this process {statistics.median(cpu):.2f} ms")
        print(f"\ngrant lookup ({backend}): {USER_GRANTS} grants of one user among {GRANTS:,}, {LOOKUPS} lookups: "
              f"grants_for_hub (the hubs' GET) {figures['grants_for_hub']} (goal < {GRANT_GOAL_MS} ms); "
              f"active_grants {figures['active_grants']} (on a loaded machine the wall time is the machine's, the "
              f"CPU time what one free core needs besides the database's own work); plan: {plan}")
    finally:
        database.drop()


def _export(database: TestDatabase, fmt: str, upto: int, *, traced: bool) -> tuple[float, float, int]:
    """Seconds, peak traced memory (MiB; 0 when not traced) and bytes of a whole-register export up to sequence
    ``upto`` (tracemalloc slows Python several times: the time comes from an untraced run)."""
    from gereedschapskist.portal.db import session_factory
    sessions = session_factory(database.engine)
    with sessions() as session:
        chosen = register_export.selection(session, user=None)
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    size = 0
    for chunk in register_export.stream(sessions, chosen=chosen, upto=upto, fmt=fmt):
        size += len(chunk)
    took = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else 0.0
    if traced:
        tracemalloc.stop()
    return took, peak, size


@pytest.mark.parametrize("backend", BACKENDS)
def test_register_verify_and_export(backend, tmp_path):
    database = _database(backend, tmp_path)
    try:
        org_ids, user_ids, dataset_ids = seed_people(database.engine)
        started = time.perf_counter()
        head = seed_register(database.engine, ENTRIES, org_ids=org_ids, user_ids=user_ids, dataset_ids=dataset_ids)
        seeded = time.perf_counter() - started
        _analyze(database)
        started, cpu = time.perf_counter(), time.process_time()
        with Session(database.engine) as session:
            report = verify_chain(session)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert report.ok and report.entries == ENTRIES and report.head == head, report
        print(f"\nregister verify ({backend}): {ENTRIES:,} entries in {took:.2f} s ({ENTRIES / took:,.0f} entries/s), "
              f"{cpu:.2f} s CPU time of this process (on a loaded machine the wall time is the machine's, the CPU time "
              f"what one free core needs; PostgreSQL's own work is not in it); goal < {VERIFY_GOAL_S} s for "
              f"1,000,000; seeding took {seeded:.1f} s")
        workers = os.cpu_count() or 1
        if workers > 1:
            started = time.perf_counter()
            with Session(database.engine) as session:
                parallel = verify_chain(session, workers=workers)
            took = time.perf_counter() - started
            assert parallel == report
            print(f"register verify --workers {workers} ({backend}): {ENTRIES:,} entries in {took:.2f} s "
                  f"({ENTRIES / took:,.0f} entries/s)")
        small, large = EXPORTS
        for fmt in ("json", "csv"):
            (t1, _, s1), (t2, _, s2) = (_export(database, fmt, upto, traced=False) for upto in EXPORTS)
            (_, p1, _), (_, p2, _) = (_export(database, fmt, upto, traced=True) for upto in EXPORTS)
            assert s2 > 3 * s1 > 0
            print(f"register export {fmt} ({backend}): {small:,} entries {s1 / 2**20:.1f} MiB in {t1:.1f} s, peak "
                  f"{p1:.1f} MiB traced; {large:,} entries {s2 / 2**20:.1f} MiB in {t2:.1f} s, peak {p2:.1f} MiB "
                  f"traced (x{p2 / p1:.2f} the memory for x{large // small} the entries)")
    finally:
        database.drop()
