"""The budget watcher (issue 14, portal/services/budget.py) with a fast clock: a contract driven past 80 % and 100 %
of its budget and past its end date. Real database (SQLite; PostgreSQL when the test URL is set), a real SMTP server
on loopback (dev/smtp_catcher.py) receiving the warning, and the in-memory hub double (tests/portal/fakehub.py) for
the stop: the hub's own stop is tested against the real hub in test_lifecycle.py."""

from __future__ import annotations

import email
import socket
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from gereedschapskist.dev.smtp_catcher import SmtpCatcher
from gereedschapskist.portal.models import (
    Contract, ContractNotice, ContractState, RegisterAction, RegisterEntry, Workspace, WorkspaceSession,
    WorkspaceStatus,
)
from gereedschapskist.portal.services import budget, metering
from gereedschapskist.portal.services import workspaces as workspace_service
from gereedschapskist.portal.services.register import verify_chain
from gereedschapskist.portal.workspace_hub import ServerInfo
from tests.portal.spend_support import T0, app, fake, hours, make_contract, make_workspace  # noqa: F401 (fixtures)
from tests.portal.support import make_user


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sessions(app, client):
    for username, groups in (("anna", ["org:minfin", "role:bi"]), ("dana", ["org:minfin", "org-admin:minfin"]),
                             ("bram", ["org:cbs", "org-admin:cbs"])):
        make_user(app.state.portal.sessions, username=username, groups=groups)
    return app.state.portal.sessions


def _run(app, workspace_id: int) -> None:
    """Start the workspace at the hub double and let the portal see it running from T0 (metered from then)."""
    hubs = app.state.portal.hubs
    with app.state.portal.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        hub = hubs.for_environment(workspace.environment)
        info = hub.start(username=workspace.user.username, server_name=workspace.server_name, options={})
        workspace_service.apply_server_info(session, workspace=workspace,
                                            info=ServerInfo(info.name, ready=True, url=info.url, started=T0), now=T0)
        session.commit()


def _actions(session, action) -> int:
    return session.scalar(select(func.count()).select_from(RegisterEntry).where(RegisterEntry.action == action))


def test_a_contract_past_80_and_100_percent_is_warned_once_then_suspended_and_its_workspace_stopped(
        app, sessions, fake, tmp_path):
    with sessions() as session:
        contract = make_contract(session, budget="100", eur_per_hour=10.0)       # 10 hours of one workspace
        workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        other = make_contract(session, organisation="cbs", by="bram", budget="1000")
        session.commit()
        contract_id, workspace_id, other_id = contract.id, workspace.id, other.id
    _run(app, workspace_id)
    port = free_port()
    mailer = budget.Mailer(host="127.0.0.1", port=port, sender="portal@gereedschapskist.example")
    with SmtpCatcher(tmp_path / "mail", port) as catcher:
        # 7 h: 70 %, nothing happens
        report = budget.run_pass(sessions, hubs=app.state.portal.hubs, mailer=mailer, now=T0 + hours(7))
        assert not report and catcher.messages() == []
        # 8.5 h: 85 %, the warning, once, however many passes see it
        for minutes in (0, 10, 20):
            report = budget.run_pass(sessions, hubs=app.state.portal.hubs, mailer=mailer,
                                     now=T0 + hours(8.5 + minutes / 60))
            assert report.warned == ([contract_id] if minutes == 0 else [])
        [mail] = catcher.messages()
        message = email.message_from_bytes(mail.read_bytes())
        assert message["To"] == "dana@example.nl" and "80 %" in message["Subject"]
        assert "85 % van het budget" in message.get_payload() and "85 % of its budget" in message.get_payload()
        with sessions() as session:
            contract = session.get(Contract, contract_id)
            assert contract.state is ContractState.ACTIVE and contract.budget_warned_at == T0 + hours(8.5)
            [notice] = session.scalars(select(ContractNotice).where(ContractNotice.contract_id == contract_id))
            assert (notice.kind, notice.email_to, notice.emailed_at, notice.email_error) == \
                ("budget-80", "dana@example.nl", T0 + hours(8.5), None)
            assert _actions(session, RegisterAction.CONTRACT_BUDGET_WARNED) == 1
            assert session.get(Workspace, workspace_id).status is WorkspaceStatus.RUNNING
        # 10 h: 100 %, suspended by the portal itself, the workspace stopped with the reason, its files kept
        report = budget.run_pass(sessions, hubs=app.state.portal.hubs, mailer=mailer, now=T0 + hours(10))
        assert report.suspended == [contract_id] and report.stopped == [workspace_id]
        assert len(catcher.messages()) == 2
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract.state is ContractState.SUSPENDED
        step = contract.transitions[-1]
        assert step.actor_id is None and "budget spent" in step.reason and "Budget op" in step.reason
        workspace = session.get(Workspace, workspace_id)
        assert workspace.status is WorkspaceStatus.STOPPED and workspace.stopped_by_id is None
        assert "is spent" in workspace.stop_reason and "bewaard" in workspace.stop_reason
        assert fake.running() == set()
        hub = fake.made[0]
        assert workspace.server_name in hub.servers(username="anna")     # the named server (home folder) stays
        [entry] = session.scalars(select(RegisterEntry).where(
            RegisterEntry.action == RegisterAction.WORKSPACE_STOPPED_BY_CONTRACT))
        assert entry.workspace_id == workspace_id and entry.details["why"] == "budget" and entry.actor_id is None
        # metering stopped with it: 10 h × € 10, whatever the clock says later
        assert metering.contract_spend(session, contract_id=contract_id, now=T0 + hours(50)) == Decimal("100.00")
        assert session.get(Contract, other_id).state is ContractState.ACTIVE
        assert verify_chain(session).ok
    # a launch under the suspended contract is refused (the launch gating's check)
    _launch_refused(app, contract_id)
    # the budget raised: active again
    with sessions() as session:
        session.get(Contract, contract_id).budget_eur = Decimal("150")
        session.commit()
    report = budget.run_pass(sessions, hubs=app.state.portal.hubs, mailer=None, now=T0 + hours(11))
    assert report.reactivated == [contract_id]


def _launch_refused(app, contract_id: int) -> None:
    """anna's next launch is refused: her organisation's contract is suspended (the launch gating,
    services/environments.py), and nothing reaches the hub."""
    from gereedschapskist.portal.errors import PortalError
    from gereedschapskist.portal.models import User
    state = app.state.portal
    with state.sessions() as session:
        assert session.get(Contract, contract_id).state is ContractState.SUSPENDED
        anna = session.scalar(select(User).where(User.username == "anna"))
        before = session.scalar(select(func.count()).select_from(Workspace))
        with pytest.raises(PortalError) as refused:
            workspace_service.launch_workspace(session, catalogue=state.catalogue, hubs=state.hubs, user=anna,
                                               bundle_id="bi-sql-duckdb", size_id="small")
        assert refused.value.reason == "contract-suspended"
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Workspace)) == before


def test_the_end_date_ends_the_contract_and_stops_its_workspaces(app, sessions, fake):
    with sessions() as session:
        contract = make_contract(session, budget="100000", ends_on=date(2026, 3, 2))
        workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        session.commit()
        contract_id, workspace_id = contract.id, workspace.id
    _run(app, workspace_id)
    report = budget.run_pass(sessions, hubs=app.state.portal.hubs, mailer=None, now=T0 + hours(10))   # 2 March
    assert not report.ended
    report = budget.run_pass(sessions, hubs=app.state.portal.hubs, mailer=None,
                             now=datetime(2026, 3, 3, 0, 1, tzinfo=timezone.utc))
    assert report.ended == [contract_id] and report.stopped == [workspace_id]
    with sessions() as session:
        assert session.get(Contract, contract_id).state is ContractState.ENDED
        workspace = session.get(Workspace, workspace_id)
        assert workspace.status is WorkspaceStatus.STOPPED and "ended on 2026-03-02" in workspace.stop_reason
        # the notice is there for the admins; without SMTP configured nobody is e-mailed, and nothing is pending
        [notice] = session.scalars(select(ContractNotice).where(ContractNotice.contract_id == contract_id))
        assert notice.kind == "ended" and notice.emailed_at is None


def test_an_smtp_failure_is_stored_and_the_watcher_goes_on(app, sessions):
    with sessions() as session:
        contract = make_contract(session, budget="10", eur_per_hour=10.0)
        make_workspace(session, username="anna", organisation="minfin", contract=contract)
        session.commit()
        contract_id = contract.id
        workspace_id = session.scalar(select(Workspace.id).where(Workspace.contract_id == contract_id))
    _run(app, workspace_id)
    nobody = budget.Mailer(host="127.0.0.1", port=free_port(), timeout=2)     # nothing listens there
    report = budget.run_pass(sessions, hubs=app.state.portal.hubs, mailer=nobody, now=T0 + hours(2))
    assert report.warned == [contract_id] and report.suspended == [contract_id] and report.emailed == 0
    with sessions() as session:
        notices = list(session.scalars(select(ContractNotice).where(ContractNotice.contract_id == contract_id)
                                       .order_by(ContractNotice.id)))
        assert [n.kind for n in notices] == ["budget-80", "budget-100"]
        assert all("ConnectionRefusedError" in n.email_error and n.emailed_at is None for n in notices)
        assert session.scalar(select(func.count()).select_from(WorkspaceSession)
                              .where(WorkspaceSession.stopped_at.is_(None))) == 0


def test_the_user_reads_why_the_portal_stopped_their_workspace(app, sessions, client, login):
    with sessions() as session:
        contract = make_contract(session, budget="10", eur_per_hour=10.0)
        workspace_id = make_workspace(session, username="anna", organisation="minfin", contract=contract).id
        session.commit()
    _run(app, workspace_id)
    budget.run_pass(sessions, hubs=app.state.portal.hubs, mailer=None, now=T0 + hours(1))
    login("anna", ["org:minfin", "role:bi"])
    english = client.get(f"/workspaces/{workspace_id}", headers={"Accept-Language": "en"}).text
    assert 'id="stopped-by-portal"' in english and "The portal stopped this workspace" in english
    assert "is spent: its workspaces were stopped; files and data are kept" in english
    dutch = client.get(f"/workspaces/{workspace_id}", headers={"Accept-Language": "nl"}).text
    assert "De portal heeft deze werkplek gestopt" in dutch and "bestanden en gegevens blijven bewaard" in dutch
