"""Spend metering (issue 14, portal/services/metering.py) on the real database (SQLite; PostgreSQL when the test URL
is set): one session per run from the hub's reports, closed when the workspace stops, fails or is culled; spend summed
in SQL (a run still going up to now); the same report applied twice, or a portal killed in the middle of metering,
neither loses nor doubles spend."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from gereedschapskist.portal.models import Contract, Workspace, WorkspaceSession, WorkspaceStatus
from gereedschapskist.portal.services import lifecycle, metering
from gereedschapskist.portal.services import workspaces as workspace_service
from gereedschapskist.portal.workspace_hub import ProgressEvent, ServerInfo
from tests.portal.spend_support import T0, app, fake, hours, make_contract, make_workspace  # noqa: F401 (fixtures)
from tests.portal.support import make_user


@pytest.fixture
def sessions(app, client):
    for username, groups in (("anna", ["org:minfin", "role:bi"]), ("dana", ["org:minfin", "org-admin:minfin"])):
        make_user(app.state.portal.sessions, username=username, groups=groups)
    return app.state.portal.sessions


def _ready(workspace, started=None):
    return ServerInfo(workspace.server_name, ready=True, url="/user/anna/x/", started=started)


def _runs(session, workspace_id) -> list[WorkspaceSession]:
    return list(session.scalars(select(WorkspaceSession).where(WorkspaceSession.workspace_id == workspace_id)
                                .order_by(WorkspaceSession.id)))


def test_a_run_is_one_session_from_the_hubs_start_to_the_stop_priced_by_the_contract(sessions):
    with sessions() as session:
        contract = make_contract(session, eur_per_hour=2.5)
        workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        # the hub's own start time is taken (naive from the hub means UTC), not the portal's first sight
        workspace_service.apply_server_info(session, workspace=workspace,
                                            info=_ready(workspace, started=T0.replace(tzinfo=None)),
                                            now=T0 + hours(0.5))
        workspace_service.apply_server_info(session, workspace=workspace, info=_ready(workspace), now=T0 + hours(1))
        [run] = _runs(session, workspace.id)
        assert (run.started_at, run.stopped_at, run.price_per_hour) == (T0, None, Decimal("2.5000"))
        assert (run.contract_id, run.size, run.organisation_id) == (contract.id, "bi-sql-duckdb/small",
                                                                    workspace.organisation_id)
        # still running: counted up to now
        assert metering.contract_spend(session, contract_id=contract.id, now=T0 + hours(2)) == Decimal("5.00")
        workspace_service.apply_server_info(session, workspace=workspace, info=None, now=T0 + hours(4))  # culled
        assert workspace.status is WorkspaceStatus.STOPPED
        [run] = _runs(session, workspace.id)
        assert run.stopped_at == T0 + hours(4)
        assert metering.contract_spend(session, contract_id=contract.id, now=T0 + hours(100)) == Decimal("10.00")
        assert metering.spend_by_contract(session, now=T0 + hours(100)) == {contract.id: Decimal("10.00")}
        session.commit()


def test_the_same_report_applied_twice_is_one_session_and_a_restart_is_a_second(sessions):
    with sessions() as session:
        contract = make_contract(session)
        workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        for _ in range(2):
            workspace_service.apply_server_info(session, workspace=workspace, info=_ready(workspace, T0), now=T0)
            metering.meter(session, workspace=workspace, now=T0 + hours(1))
        assert len(_runs(session, workspace.id)) == 1
        for _ in range(2):
            workspace_service.apply_server_info(session, workspace=workspace, info=None, now=T0 + hours(1))
        workspace.status, workspace.started_at, workspace.stopped_at = WorkspaceStatus.STARTING, None, None
        workspace_service.apply_progress_end(session, workspace=workspace,
                                             event=ProgressEvent(100, "ready", ready=True, url="/u/"))
        runs = _runs(session, workspace.id)
        assert [r.stopped_at is None for r in runs] == [False, True]
        session.commit()


def test_a_failed_start_and_a_workspace_without_contract(sessions):
    with sessions() as session:
        failed = make_workspace(session, username="anna", organisation="minfin", contract=None)
        workspace_service.apply_progress_end(session, workspace=failed, event=ProgressEvent(100, "boom", failed=True))
        assert failed.status is WorkspaceStatus.FAILED and _runs(session, failed.id) == []
        shared = make_workspace(session, username="anna", organisation="minfin", contract=None, server_name="bi-x")
        workspace_service.apply_server_info(session, workspace=shared, info=_ready(shared, T0), now=T0)
        [run] = _runs(session, shared.id)
        assert run.contract_id is None and run.price_per_hour == 0
        session.commit()


def test_a_stop_through_the_portal_closes_the_session(app, sessions):
    hubs = app.state.portal.hubs
    with sessions() as session:
        contract = make_contract(session)
        workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        workspace_service.apply_server_info(session, workspace=workspace, info=_ready(workspace, T0), now=T0)
        lifecycle.stop_workspace(session, hubs=hubs, workspace=workspace, actor=workspace.user)
        [run] = _runs(session, workspace.id)
        assert run.stopped_at is not None
        session.commit()


def test_the_cumulative_spend_per_day_and_the_forecast(sessions):
    with sessions() as session:
        contract = make_contract(session, budget="1000", eur_per_hour=1.0)
        a = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        # 2026-03-02 09:00 → 2026-03-03 03:00 (18 h over midnight), then 2026-03-04 10:00 → still running
        workspace_service.apply_server_info(session, workspace=a, info=_ready(a, T0), now=T0)
        workspace_service.apply_server_info(session, workspace=a, info=None, now=T0 + hours(18))
        a.status, a.started_at, a.stopped_at = WorkspaceStatus.STARTING, None, None
        workspace_service.apply_server_info(session, workspace=a, info=_ready(a, T0 + hours(49)), now=T0 + hours(49))
        now = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
        days = metering.daily_cumulative(session, contract_id=contract.id, first=date(2026, 3, 1),
                                         last=date(2026, 3, 4), now=now)
        assert days == [(date(2026, 3, 1), Decimal("0.00")), (date(2026, 3, 2), Decimal("15.00")),
                        (date(2026, 3, 3), Decimal("18.00")), (date(2026, 3, 4), Decimal("20.00"))]
        view = metering.picture(session, contract=contract, now=now)
        assert view.spent == Decimal("20.00") and view.days == days
        assert view.rate_per_day == Decimal("6.67")            # 20 over the 3 days since the start
        assert view.forecast == Decimal("20.00") + Decimal("6.67") * 27
        session.commit()


KILLED = """
import os, signal, sys
from datetime import datetime, timezone
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from gereedschapskist.portal.models import Workspace
from gereedschapskist.portal.services import workspaces
from gereedschapskist.portal.workspace_hub import ServerInfo
url, workspace_id, step = sys.argv[1], int(sys.argv[2]), sys.argv[3]
engine = create_engine(url)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
with sessionmaker(engine)() as session:
    w = session.get(Workspace, workspace_id)
    info = ServerInfo(w.server_name, ready=True, url="/u/", started=T0) if step == "start" else None
    workspaces.apply_server_info(session, workspace=w, info=info, now=T0.replace(hour=12))
    if sys.argv[4] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)        # the portal dies with the metering written but not committed
    session.commit()
"""


def test_a_portal_killed_during_metering_loses_nothing_and_counts_nothing_twice(app, sessions):
    url = app.state.portal.settings.resolved_database_url
    with sessions() as session:
        contract = make_contract(session)
        workspace_id = make_workspace(session, username="anna", organisation="minfin", contract=contract).id
        session.commit()

    def run(step, how):
        if how == "kill":       # another process, killed before its commit
            return subprocess.run([sys.executable, "-c", KILLED, url, str(workspace_id), step, how], timeout=60,
                                  capture_output=True, text=True).returncode
        with sessions() as session:     # the next worker (or the restarted portal) sees the same report
            w = session.get(Workspace, workspace_id)
            info = ServerInfo(w.server_name, ready=True, url="/u/", started=T0) if step == "start" else None
            workspace_service.apply_server_info(session, workspace=w, info=info, now=T0.replace(hour=12))
            session.commit()
        return 0

    def state():
        with sessions() as session:
            w = session.get(Workspace, workspace_id)
            runs = _runs(session, workspace_id)
            return w.status, [(r.started_at, r.stopped_at) for r in runs], \
                metering.contract_spend(session, contract_id=contract.id, now=T0 + hours(10))

    assert run("start", "kill") == -9
    assert state() == (WorkspaceStatus.STARTING, [], Decimal("0.00"))           # neither the status nor a session
    assert run("start", "commit") == 0
    assert run("start", "commit") == 0                               # the same report again
    assert state() == (WorkspaceStatus.RUNNING, [(T0, None)], Decimal("20.00"))
    assert run("stop", "kill") == -9
    assert state()[1] == [(T0, None)]                                           # still running, still counted
    assert run("stop", "commit") == 0
    assert run("stop", "commit") == 0
    assert state() == (WorkspaceStatus.STOPPED, [(T0, T0.replace(hour=12))], Decimal("6.00"))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WorkspaceSession)) == 1
        # the closed run is in the contract's rollup exactly once (the killed close added nothing)
        assert metering.verify_rollup(session) == {}
        assert session.get(Contract, contract.id).closed_spend_eur == Decimal("6")
