"""The budget watcher runs once per deployment, not once per worker (issue 14): the real portal under
``uvicorn --workers 2`` on one database (SQLite; PostgreSQL when the test URL is set) with a short watcher interval.
Every pass is done by the one worker holding the ``budget-watcher`` lease (its log line names the holder: host, pid,
random part), the other worker skips; a contract at 90 % is warned exactly once; and when the holder is killed
(SIGKILL: no release), another worker takes the lease over once it has expired and the passes go on."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gereedschapskist.portal.models import ContractNotice, RegisterAction, RegisterEntry, WorkspaceSession, utcnow
from gereedschapskist.portal.services import metering
from tests.portal.spend_support import make_contract, make_workspace
from tests.portal.support import make_user

PASS = re.compile(r"budget-watcher pass holder=(\S+):(\d+):([0-9a-f]+) ")
SKIP = re.compile(r"budget-watcher skipped holder=(\S+):(\d+):([0-9a-f]+):")
INTERVAL = 0.3
LEASE_SECONDS = 5.0         # watch_budgets: max(3 × interval, 5 s)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_config(path: Path) -> Path:
    path.write_text(json.dumps({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(process)d %(name)s %(message)s"}},
        "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {"gereedschapskist.portal": {"level": "DEBUG", "handlers": ["err"], "propagate": False}},
    }))
    return path


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def sessions(app, client):
    for username, groups in (("anna", ["org:minfin", "role:bi"]), ("dana", ["org:minfin", "org-admin:minfin"])):
        make_user(app.state.portal.sessions, username=username, groups=groups)
    return app.state.portal.sessions


def test_two_workers_one_watcher_and_a_takeover_when_the_holder_dies(app, sessions, settings, tmp_path):
    today = utcnow().date()
    with sessions() as session:         # a contract at 90 % of its budget: to be warned exactly once
        contract = make_contract(session, budget="10", starts_on=today - timedelta(days=1),
                                 ends_on=today + timedelta(days=10))
        w = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        start = utcnow() - timedelta(days=1)
        session.add(WorkspaceSession(workspace_id=w.id, organisation_id=w.organisation_id, contract_id=contract.id,
                                     size="bi-sql-duckdb/small", price_per_hour=Decimal("1"), started_at=start,
                                     stopped_at=start + timedelta(hours=9)))
        metering.rebuild_rollup(session)        # a closed run written straight to the database: its rollup
        session.commit()
        contract_id = contract.id
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEREEDSCHAPSKIST_PORTAL_")}
    env.update({"GEREEDSCHAPSKIST_PORTAL_DATABASE_URL": settings.resolved_database_url,
                "GEREEDSCHAPSKIST_PORTAL_STATE_DIR": str(tmp_path),
                "GEREEDSCHAPSKIST_PORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "GEREEDSCHAPSKIST_PORTAL_RECONCILE_INTERVAL_SECONDS": "0",
                "GEREEDSCHAPSKIST_PORTAL_BUDGET_WATCH_INTERVAL_SECONDS": str(INTERVAL)})
    log = tmp_path / "portal.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "gereedschapskist.portal.main:app", "--workers", "2", "--host",
             "127.0.0.1", "--port", str(port), "--log-config", str(_log_config(tmp_path / "log.json"))],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def lines(pattern):
            return [m.groups() for m in pattern.finditer(log.read_text(errors="replace"))]

        # both workers run the loop: one passes, the other skips, always the same one
        _wait(lambda: len(lines(PASS)) >= 4 and lines(SKIP), 60, "passes by one worker and skips by the other")
        passes, skips = lines(PASS), lines(SKIP)
        holders = {p for p in passes}
        assert len(holders) == 1, holders
        [(_, first_pid, _)] = holders
        assert {pid for _, pid, _ in skips} - {first_pid}, "the other worker never tried"
        assert first_pid not in {pid for _, pid, _ in skips}
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(ContractNotice)
                                  .where(ContractNotice.contract_id == contract_id)) == 1
            assert session.scalar(select(func.count()).select_from(RegisterEntry)
                                  .where(RegisterEntry.action == RegisterAction.CONTRACT_BUDGET_WARNED)) == 1
        # the holder dies without releasing the lease: another worker takes it over once it expires
        os.kill(int(first_pid), signal.SIGKILL)
        killed_at = time.monotonic()
        count = len(passes)
        _wait(lambda: [p for p in lines(PASS)[count:] if p[1] != first_pid], LEASE_SECONDS + 30,
              "another worker's pass after the holder died")
        took_over = time.monotonic() - killed_at
        later = lines(PASS)[count:]
        assert {pid for _, pid, _ in later} - {first_pid} and first_pid not in {pid for _, pid, _ in later}
        assert len({p for p in later}) == 1          # again exactly one holder
        print(f"\n{len(passes)} passes by pid {first_pid}; after SIGKILL, pid {later[0][1]} took over in "
              f"{took_over:.1f} s (lease {LEASE_SECONDS:g} s)")
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(ContractNotice)
                                  .where(ContractNotice.contract_id == contract_id)) == 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
