"""Provisioning of standard contracts (issue 14, portal/services/provisioning.py): approval starts it, the local
provisioner makes the contract's environment on the local hub and writes the file the hub enforces, publish keeps that
file in step with the contract, a failed attempt is recorded and retried with back-off, and a retry after a half-done
attempt neither leaves the contract stuck nor makes a second environment. Real database (SQLite; PostgreSQL when the
test URL is set), real files."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gereedschapskist.core.contract_environment import load_environments
from gereedschapskist.portal.errors import Conflict, Forbidden
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import (
    Contract, ContractState, Environment, ProvisioningStatus, RegisterAction, RegisterEntry, SizeRequest,
    SizeRequestState, utcnow,
)
from gereedschapskist.portal.services import contracts, provisioning
from gereedschapskist.portal.settings import PROVISIONERS, PortalSettings, SettingsInvalid
from tests.portal.test_contracts_service import CATALOGUE, order_data, org, place, user
from tests.portal.test_contracts_service import people  # noqa: F401 - fixture

S = ContractState


@pytest.fixture
def settings(database, tmp_path: Path, hub_port: int) -> PortalSettings:
    return PortalSettings(database_url=database.url, state_dir=tmp_path, session_secret="s" * 40,
                          organisations="cbs minfin", hub_url=f"http://127.0.0.1:{hub_port}", hub_api_token="t" * 40,
                          reconcile_interval_seconds=0, provisioning_interval_seconds=0,
                          local_environments_dir=tmp_path / "hub" / "environments")


@pytest.fixture
def sessions(app, client):
    return app.state.portal.sessions


def approved(sessions, **changes) -> int:
    """A contract of minfin approved by femke and started provisioning (not attempted yet); its id."""
    with sessions() as session:
        contract = place(session, **changes)
        contracts.transition(session, contract=contract, to=S.APPROVED, actor=user(session, "femke"), reason="checked")
        provisioning.start(session, contract=contract)
        session.commit()
        return contract.id


def attempt(sessions, settings, contract_id, now=None):
    return provisioning.attempt(sessions, contract_id=contract_id, settings=settings, catalogue=CATALOGUE, now=now)


def test_approval_provisions_a_local_environment_the_hub_reads_and_the_contract_becomes_active(people, settings):
    sessions = people
    contract_id = approved(sessions)
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert (contract.state, contract.provisioning_status) == (S.PROVISIONING, ProvisioningStatus.PENDING)
    assert attempt(sessions, settings, contract_id) is ProvisioningStatus.DONE
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        environment = contract.environment
        assert contract.state is S.ACTIVE and contract.provisioning_attempts == 1
        assert (environment.name, environment.kind.value, environment.stage, environment.contract_id,
                environment.organisation.slug, environment.hub_url, environment.hub_api_url) == (
            f"minfin-c{contract_id}", "local", contract.stage, contract_id, "minfin", settings.hub_url,
            settings.resolved_hub_api_url)
        assert [t.to_state for t in contract.transitions][-3:] == [S.APPROVED, S.PROVISIONING, S.ACTIVE]
        assert contract.transitions[-1].actor is None
    files = load_environments(settings.local_environments_dir)
    file = files[f"minfin-c{contract_id}"]
    assert (file.state, file.reason, file.organisation, file.contract) == ("active", None, "minfin", contract_id)
    assert (file.bundles, file.sizes) == (("bi-sql-duckdb",), ("bi-sql-duckdb/small", "bi-sql-duckdb/large"))
    # the portal talks to it with the local hub's token: the same hub as the shared environment
    assert settings.hub_token(environment.name, environment.hub_api_url) == "t" * 40
    assert settings.hub_token(environment.name, "http://elsewhere.example/hub/api") is None
    # nothing more is due
    assert provisioning.run_due(sessions, settings=settings, catalogue=CATALOGUE) == {}


def test_publish_follows_every_state_change_and_approved_sizes_on_request(people, settings):
    sessions = people
    contract_id = approved(sessions)
    attempt(sessions, settings, contract_id)
    name = f"minfin-c{contract_id}"
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        anna = user(session, "anna")
        for state, ends_on in ((SizeRequestState.APPROVED, date.today() + timedelta(days=3)),
                               (SizeRequestState.APPROVED, date.today() - timedelta(days=1)),
                               (SizeRequestState.REQUESTED, date.today() + timedelta(days=3))):
            session.add(SizeRequest(contract_id=contract_id, requester_id=anna.id, bundle="bi-sql-duckdb",
                                    size="xlarge", reason="big join", ends_on=ends_on, state=state))
        session.flush()
        contracts.transition(session, contract=contract, to=S.SUSPENDED, actor=None)
        session.commit()
    file = load_environments(settings.local_environments_dir)[name]
    assert file.state == "suspended" and "opgeschort" in file.reason and "suspended" in file.reason
    assert [(e.username, e.size) for e in file.extra_sizes] == [("anna", "bi-sql-duckdb/xlarge")]
    with sessions() as session:
        contracts.transition(session, contract=session.get(Contract, contract_id), to=S.ENDED,
                             actor=user(session, "femke"), reason="project stopped")
        session.commit()
    assert load_environments(settings.local_environments_dir)[name].state == "ended"


def test_a_contract_not_provisioned_locally_publishes_nothing(people, settings):
    sessions = people
    with sessions() as session:
        contract = place(session)
        provisioning.publish(session, contract)
    assert not settings.local_environments_dir.exists()


def test_a_failed_attempt_is_recorded_retried_with_backoff_and_a_retry_does_not_make_a_second_environment(
        people, settings):
    """Half way: the Environment row is flushed, then the environments folder cannot be written (a file stands
    where the folder should be). The contract stays provisioning with the error visible; after the fault is fixed
    the retry succeeds and there is one environment."""
    sessions = people
    contract_id = approved(sessions)
    folder = settings.local_environments_dir
    folder.parent.mkdir(parents=True)
    folder.write_text("not a folder")
    now = utcnow()
    assert attempt(sessions, settings, contract_id, now=now) is ProvisioningStatus.FAILED
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert (contract.state, contract.provisioning_status, contract.provisioning_attempts) == (
            S.PROVISIONING, ProvisioningStatus.FAILED, 1)
        assert "environment file" in contract.provisioning_error and str(folder) in contract.provisioning_error
        assert contract.provisioning_next_at == now + provisioning.backoff(1)
        assert contract.environment_id is None
        assert session.scalar(select(func.count()).select_from(Environment)
                              .where(Environment.contract_id == contract_id)) == 0
        failed = session.scalars(select(RegisterEntry).where(
            RegisterEntry.action == RegisterAction.CONTRACT_PROVISIONING_FAILED)).all()
        assert [e.details["contract"] for e in failed] == [contract_id]
    # not due before the back-off; a second failure waits twice as long
    assert attempt(sessions, settings, contract_id, now=now + timedelta(seconds=1)) is None
    later = now + provisioning.backoff(1)
    assert attempt(sessions, settings, contract_id, now=later) is ProvisioningStatus.FAILED
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract.provisioning_next_at == later + provisioning.backoff(2) and contract.provisioning_attempts == 2
    # the admin fixes the folder and retries: due now, and it works
    folder.unlink()
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        with pytest.raises(Forbidden):
            provisioning.retry(session, contract=contract, actor=user(session, "dana"))
        provisioning.retry(session, contract=contract, actor=user(session, "femke"))
        session.commit()
    assert provisioning.run_due(sessions, settings=settings, catalogue=CATALOGUE) == {
        contract_id: ProvisioningStatus.DONE}
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract.state is S.ACTIVE and contract.provisioning_error is None
        assert session.scalar(select(func.count()).select_from(Environment)
                              .where(Environment.contract_id == contract_id)) == 1
        with pytest.raises(Conflict):
            provisioning.retry(session, contract=contract, actor=user(session, "femke"))


def test_a_crash_during_an_attempt_leaves_it_due_again_and_provisioning_twice_makes_one_environment(
        people, settings):
    """A worker died after claiming (status running): once the running timeout passes the attempt is due again.
    Provisioning an already provisioned contract again (a crash after the file, before the commit) is idempotent."""
    sessions = people
    contract_id = approved(sessions)
    now = utcnow()
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        contract.provisioning_status = ProvisioningStatus.RUNNING
        contract.provisioning_next_at = now + provisioning.RUNNING_TIMEOUT
        session.commit()
    with sessions() as session:
        assert provisioning.due_contracts(session, now=now) == []
        assert provisioning.due_contracts(session, now=now + provisioning.RUNNING_TIMEOUT) == [contract_id]
    local = provisioning.LocalProvisioner(settings=settings, catalogue=CATALOGUE)
    with sessions() as session:       # a first run whose transaction is lost after the file was written
        local.provision(session, contract=session.get(Contract, contract_id), now=now)
        session.rollback()
    assert attempt(sessions, settings, contract_id, now=now + provisioning.RUNNING_TIMEOUT) is ProvisioningStatus.DONE
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Environment)
                              .where(Environment.contract_id == contract_id)) == 1
        assert session.get(Contract, contract_id).state is S.ACTIVE
    assert load_environments(settings.local_environments_dir)[f"minfin-c{contract_id}"].state == "active"


def test_the_worker_runs_once_per_deployment(people, settings):
    sessions = people
    contract_id = approved(sessions)
    assert provisioning.worker_pass(sessions, settings=settings, catalogue=CATALOGUE, holder="a") is True
    assert provisioning.worker_pass(sessions, settings=settings, catalogue=CATALOGUE, holder="b") is False
    with sessions() as session:
        assert session.get(Contract, contract_id).state is S.ACTIVE


def test_the_provisioner_is_chosen_per_partner_or_per_deployment_and_unknown_names_stop_the_start(
        people, settings, tmp_path):
    sessions = people
    chosen = settings.model_copy(update={"provisioners_by_partner": {"aws": "gitops"}})
    with sessions() as session:
        contract = contracts.order(session, catalogue=CATALOGUE, organisation=org(session, "minfin"),
                                   actor=user(session, "dana"), data=order_data(), submit=False,
                                   provisioner_for=chosen.provisioner_for)
        assert contract.provisioner == "gitops"
        session.rollback()
    assert settings.provisioner_for("azure") == "local"
    assert set(provisioning.provisioner_kinds()) == set(PROVISIONERS)      # each name has its entry point
    with pytest.raises(ValueError, match="bogus"):
        PortalSettings(provisioner="bogus")
    with pytest.raises(ValueError, match="aws = 'cloudy'"):
        PortalSettings(provisioners_by_partner={"aws": "cloudy"})
    with pytest.raises(SettingsInvalid, match="awz"):
        create_app(settings.model_copy(update={"provisioners_by_partner": {"awz": "gitops"}}))


def test_status_error_and_retry_on_the_page_and_in_the_api(people, settings, login, second_client):
    sessions = people
    contract_id = approved(sessions)
    folder = settings.local_environments_dir
    folder.parent.mkdir(parents=True)
    folder.write_text("not a folder")
    attempt(sessions, settings, contract_id)
    femke = login("femke", ["gereedschapskist:admins"])
    dana = login("dana", ["org:minfin", "org-admin:minfin"], on=second_client)
    page = femke.client.get(f"/contracts/{contract_id}", headers={"Accept-Language": "en"})
    assert 'data-status="failed"' in page.text and 'id="provisioning-error"' in page.text
    assert 'id="retry-button"' in page.text and 'id="provisioning-next"' in page.text
    assert 'id="retry-button"' not in dana.client.get(f"/contracts/{contract_id}").text
    body = femke.client.get(f"/api/v1/contracts/{contract_id}").json()["provisioning"]
    assert (body["status"], body["attempts"]) == ("failed", 1) and "environment file" in body["error"]
    assert body["next_at"] is not None
    assert dana.post_form(f"/contracts/{contract_id}/retry", {}).status_code == 403
    still = femke.post_form(f"/contracts/{contract_id}/retry", {})          # the folder is still a file
    assert still.status_code == 303
    assert femke.client.get(f"/api/v1/contracts/{contract_id}").json()["provisioning"]["attempts"] == 2
    os.unlink(folder)
    done = femke.post_json(f"/api/v1/contracts/{contract_id}/retry")
    assert done.status_code == 200 and done.json()["state"] == "active"
    assert done.json()["provisioning"]["status"] == "done"
    assert json.loads((folder / f"minfin-c{contract_id}.json").read_text())["state"] == "active"
    again = femke.post_json(f"/api/v1/contracts/{contract_id}/retry")
    assert (again.status_code, again.json()["reason"]) == (409, "contract-not-provisioning")
