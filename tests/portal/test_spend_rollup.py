"""The spend rollup (issue 14, performance): each contract keeps the euros of its closed runs
(``contract.closed_spend_eur``), added in SQL in the transaction that closes a run, so spend figures sum only the open
runs. On the real database (SQLite; PostgreSQL when the test URL is set): the rollup equals the plain sum over the
sessions after opens, closes, replayed reports, restarts and a second closer of the same run; the overview is paged
(100 rows, counted in the same query), costs the same number of queries whatever the number of rows, and its CSV
has every row. The SIGKILL case is in test_metering.py."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from gereedschapskist.portal.models import Contract, Workspace, WorkspaceSession, WorkspaceStatus
from gereedschapskist.portal.services import contract_overview, metering
from gereedschapskist.portal.services import workspaces as workspace_service
from gereedschapskist.portal.workspace_hub import ServerInfo
from tests.portal.spend_support import T0, hours, make_contract, make_workspace
from tests.portal.support import make_user
from tests.portal.test_request_cost import Statements


@pytest.fixture
def sessions(app, client):
    for username, groups in (("anna", ["org:minfin", "role:bi"]), ("dana", ["org:minfin", "org-admin:minfin"])):
        make_user(app.state.portal.sessions, username=username, groups=groups)
    return app.state.portal.sessions


def _plain(session, now) -> dict[int, Decimal]:
    """Spend per contract the slow way: every session summed (what the rollup must agree with)."""
    rows = session.execute(select(WorkspaceSession.contract_id, metering.spend_column(now))
                           .where(WorkspaceSession.contract_id.is_not(None)).group_by(WorkspaceSession.contract_id))
    return {cid: Decimal(str(value)).quantize(Decimal("0.01")) for cid, value in rows}


def _report(session, workspace, *, running: bool, at):
    info = ServerInfo(workspace.server_name, ready=True, url="/u/", started=at) if running else None
    workspace_service.apply_server_info(session, workspace=workspace, info=info, now=at)


def test_the_rollup_is_the_plain_sum_after_opens_closes_replays_and_restarts(sessions):
    with sessions() as session:
        a = make_contract(session, eur_per_hour=2.5)
        b = make_contract(session, eur_per_hour=0.75)
        wa = make_workspace(session, username="anna", organisation="minfin", contract=a)
        wb = make_workspace(session, username="dana", organisation="minfin", contract=b, server_name="bi-dana")
        shared = make_workspace(session, username="anna", organisation="minfin", contract=None, server_name="bi-x")
        session.commit()
        steps = [(wa, True, 0), (wb, True, 0.25), (shared, True, 0.5), (wa, True, 0.6),     # a replayed report
                 (wa, False, 1.5), (wa, False, 1.7),                                         # closed, replayed
                 (wb, False, 3.1), (shared, False, 4)]
        for workspace, running, at in steps:
            if running and workspace.status is not WorkspaceStatus.RUNNING:
                workspace.status, workspace.started_at, workspace.stopped_at = WorkspaceStatus.STARTING, None, None
            _report(session, workspace, running=running, at=T0 + hours(at))
            session.commit()
            assert metering.verify_rollup(session) == {}
            now = T0 + hours(5)
            assert metering.spend_by_contract(session, now=now) == {a.id: _plain(session, now).get(a.id, 0),
                                                                   b.id: _plain(session, now).get(b.id, 0)}
        for at in (6, 8.5):                                      # a restart: a second run of the same workspace
            wa.status, wa.started_at, wa.stopped_at = WorkspaceStatus.STARTING, None, None
            _report(session, wa, running=True, at=T0 + hours(at))
            _report(session, wa, running=False, at=T0 + hours(at + 2))
            session.commit()
        session.expire_all()
        assert session.get(Contract, a.id).closed_spend_eur == Decimal("2.5") * Decimal("5.5")    # 1.5 + 2 + 2 h
        assert session.get(Contract, b.id).closed_spend_eur == Decimal("0.75") * Decimal("2.85")
        assert metering.verify_rollup(session) == {}
        assert metering.spend_by_contract(session, now=T0 + hours(20)) == _plain(session, T0 + hours(20))
        assert metering.contract_spend(session, contract_id=a.id, now=T0 + hours(20)) == Decimal("13.75")
        # a run still going counts up to now, beside the rollup
        wb.status, wb.started_at, wb.stopped_at = WorkspaceStatus.STARTING, None, None
        _report(session, wb, running=True, at=T0 + hours(10))
        session.commit()
        assert metering.contract_spend(session, contract_id=b.id, now=T0 + hours(12)) == \
            (Decimal("0.75") * Decimal("4.85")).quantize(Decimal("0.01"))
        assert metering.spend_by_contract(session, now=T0 + hours(12)) == _plain(session, T0 + hours(12))


def test_a_run_closed_by_two_workers_is_counted_once(sessions):
    with sessions() as session:
        contract = make_contract(session, eur_per_hour=2.0)
        workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        _report(session, workspace, running=True, at=T0)
        session.commit()
        workspace_id, contract_id = workspace.id, contract.id
    with sessions() as first, sessions() as second:
        runs = [metering.open_session(s, workspace_id=workspace_id) for s in (first, second)]   # both see it open
        assert metering.close(first, run=runs[0], at=T0 + hours(3)) is True
        first.commit()
        assert metering.close(second, run=runs[1], at=T0 + hours(4)) is False      # too late: nothing added
        second.commit()
    with sessions() as session:
        assert session.get(Contract, contract_id).closed_spend_eur == Decimal("6")
        assert session.scalar(select(WorkspaceSession.stopped_at)) == T0 + hours(3)
        assert metering.verify_rollup(session) == {}


def test_verify_finds_a_wrong_rollup_and_rebuild_mends_it(sessions):
    with sessions() as session:
        contract = make_contract(session)
        workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        session.add(WorkspaceSession(workspace_id=workspace.id, organisation_id=workspace.organisation_id,
                                     contract_id=contract.id, size="bi-sql-duckdb/small",
                                     price_per_hour=Decimal("3"), started_at=T0, stopped_at=T0 + hours(2)))
        session.commit()            # written straight to the database: not in the rollup
        assert metering.verify_rollup(session) == {contract.id: (Decimal("0"), Decimal("6"))}
        metering.rebuild_rollup(session)
        session.commit()
        assert metering.verify_rollup(session) == {}
        assert metering.contract_spend(session, contract_id=contract.id, now=T0 + hours(9)) == Decimal("6.00")


@pytest.fixture
def many(app, client, login, monkeypatch):
    """Seven contracts with spend 0..6 € (a closed run each), and three rows per page."""
    login("dana", ["org:minfin", "org-admin:minfin"])
    login("anna", ["org:minfin", "role:bi"])
    monkeypatch.setattr(contract_overview, "PER_PAGE", 3)
    with app.state.portal.sessions() as session:
        ids = []
        for n in range(7):
            contract = make_contract(session, eur_per_hour=1.0)
            workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract,
                                       server_name=f"bi-{n}")
            if n:
                _report(session, workspace, running=True, at=T0)
                _report(session, workspace, running=False, at=T0 + hours(n))
            ids.append(contract.id)
        session.commit()
        return ids


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-contract="(\d+)"', html)]


def test_the_overview_is_paged_in_dutch_and_english_and_the_csv_has_every_row(client, login, many):
    login("femke", ["gereedschapskist:admins"])
    first = client.get("/admin/contracts?sort=spend&order=desc", headers={"Accept-Language": "en"}).text
    assert _ids(first) == many[::-1][:3]
    assert 'data-total="7"' in first and "Page 1 of 3 · 7 contracts" in first
    assert 'id="contracts-previous"' not in first
    following = re.search(r'id="contracts-next" rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "sort=spend" in following and "order=desc" in following and "page=2" in following
    assert _ids(client.get(following).text) == many[::-1][3:6]
    last = client.get("/admin/contracts?sort=spend&order=desc&page=3", headers={"Accept-Language": "nl"}).text
    assert _ids(last) == [many[0]] and "Pagina 3 van 3 · 7 contracten" in last and "Vorige pagina" in last
    assert 'id="contracts-next"' not in last
    filtered = client.get("/admin/contracts?used_min=4&sort=spend&order=asc").text   # 4 € of the 100 € budget
    assert _ids(filtered) == many[4:7] and 'data-total="3"' in filtered and 'id="contracts-next"' not in filtered
    beyond = client.get("/admin/contracts?page=9").text
    assert _ids(beyond) == [] and 'data-total="7"' in beyond and 'id="contracts-previous"' in beyond
    for bad in ("0", "-1", "x"):
        assert client.get(f"/admin/contracts?page={bad}").status_code == 422, bad
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/contracts.csv?sort=spend&order=desc").text)))
    assert [int(r["id"]) for r in rows] == many[::-1]
    assert [r["spent_eur"] for r in rows] == [f"{n}.00" for n in range(6, -1, -1)]


def test_the_overview_costs_the_same_queries_for_one_row_or_a_page(app, client, login, many):
    login("femke", ["gereedschapskist:admins"])
    client.get("/admin/contracts")                          # warm: templates compiled
    with Statements(app) as one:
        assert _ids(client.get("/admin/contracts?used_min=6").text) == [many[6]]
    with Statements(app) as page:
        assert len(_ids(client.get("/admin/contracts").text)) == 3
    selects = [s for s in page.sent if s.upper().startswith("SELECT")]
    assert len(page.sent) == len(one.sent) and len(selects) <= 3, page.sent   # session, overview (+ user's grants)
    assert sum("workspace_session" in s for s in page.sent) == 1
    assert not page.writes()
    with app.state.portal.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 7
