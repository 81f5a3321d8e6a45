"""Changing a contract's budget (issue 14, ``services/contracts.py`` :func:`change_budget`): only a platform admin of
another organisation, with a reason, a valid amount and in a state that has a budget to change — every refusal names
the field or the rule and stores nothing; a raise of a suspended contract makes it active at once, by the admin; the
register entry with the old and new budget; the 80 % and 100 % notices go out again against the new budget; the JSON
API and the form on the contract page (Dutch and English). Real database (SQLite; PostgreSQL when the test URL is
set) and the real budget watcher; the in-memory hub double (tests/portal/fakehub.py) runs and stops the workspace
whose hours are the spend."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gereedschapskist.portal.errors import Conflict, Forbidden, InvalidInput
from gereedschapskist.portal.models import (
    Contract, ContractNotice, ContractState, RegisterAction, RegisterEntry, User, Workspace,
)
from gereedschapskist.portal.services import budget
from gereedschapskist.portal.services import contracts as contract_service
from gereedschapskist.portal.services import workspaces as workspace_service
from gereedschapskist.portal.services.register import verify_chain
from gereedschapskist.portal.workspace_hub import ServerInfo
from tests.portal.spend_support import T0, app, fake, hours, make_contract, make_workspace  # noqa: F401 (fixtures)
from tests.portal.test_page_language import foreign_in, visible_text

PEOPLE = {"anna": ["org:minfin", "role:bi"], "dana": ["org:minfin", "org-admin:minfin"],
          "femke": ["gereedschapskist:admins"], "gijs": ["gereedschapskist:admins", "org:minfin"],
          "bram": ["org:cbs", "org-admin:cbs"]}


@pytest.fixture
def people(app, client, login):
    def on(username):
        return login(username, PEOPLE[username], on=TestClient(app, base_url="http://127.0.0.1",
                                                                 follow_redirects=False))
    return {name: on(name) for name in PEOPLE}


@pytest.fixture
def sessions(app, people):
    return app.state.portal.sessions


def _user(session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


def _changes(session, contract_id: int) -> list[RegisterEntry]:
    return [e for e in session.scalars(select(RegisterEntry).where(
        RegisterEntry.action == RegisterAction.CONTRACT_BUDGET_CHANGED).order_by(RegisterEntry.sequence))
        if e.details["contract"] == contract_id]


def _contract(sessions, state: ContractState = ContractState.ACTIVE, budget_eur: str = "100") -> int:
    with sessions() as session:
        contract = make_contract(session, budget=budget_eur, state=state, eur_per_hour=10.0)
        contract.estimate = {}      # the helper's made-up estimate line is labelled in English ("small")
        session.commit()
        return contract.id


REFUSALS = [
    # (who, budget_eur, reason, error class, reason code, text the message must hold)
    ("dana", "200", "asked by dana", Forbidden, "not-platform-admin", "platform admins"),
    ("anna", "200", "asked by dana", Forbidden, "not-platform-admin", "platform admins"),
    ("bram", "200", "asked by dana", Forbidden, "not-platform-admin", "platform admins"),
    ("gijs", "200", "asked by dana", Forbidden, "contract-own-organisation", "'minfin'"),
    ("femke", "0", "asked by dana", InvalidInput, "invalid-budget", "budget_eur: '0'"),
    ("femke", "-50", "asked by dana", InvalidInput, "invalid-budget", "budget_eur: '-50'"),
    ("femke", "100000000.01", "asked by dana", InvalidInput, "invalid-budget", "at most 100000000"),
    ("femke", "150.255", "asked by dana", InvalidInput, "invalid-budget", "at most 2 decimals"),
    ("femke", "1,500", "asked by dana", InvalidInput, "invalid-budget", "budget_eur: '1,500' is not a number"),
    ("femke", "lots", "asked by dana", InvalidInput, "invalid-budget", "budget_eur: 'lots' is not a number"),
    ("femke", "NaN", "asked by dana", InvalidInput, "invalid-budget", "budget_eur"),
    ("femke", "Infinity", "asked by dana", InvalidInput, "invalid-budget", "budget_eur"),
    ("femke", None, "asked by dana", InvalidInput, "invalid-budget", "budget_eur: None"),
    ("femke", True, "asked by dana", InvalidInput, "invalid-budget", "budget_eur: True"),
    ("femke", "100.00", "asked by dana", InvalidInput, "budget-unchanged", "€ 100.00 already"),
    ("femke", "200", "", InvalidInput, "contract-reason-required", "reason"),
    ("femke", "200", "  ok ", InvalidInput, "contract-reason-required", "reason"),
    ("femke", "200", "x" * 501, InvalidInput, "contract-reason-required", "reason"),
]


def test_every_refusal_names_the_field_or_the_rule_and_stores_nothing(sessions):
    contract_id = _contract(sessions)
    for who, value, reason, error, code, text in REFUSALS:
        with sessions() as session:
            contract = session.get(Contract, contract_id)
            with pytest.raises(error) as raised:
                contract_service.change_budget(session, contract=contract, actor=_user(session, who),
                                               budget_eur=value, reason=reason)
            assert raised.value.reason == code and text in raised.value.message, (who, value, reason,
                                                                                  raised.value.message)
            if code in ("invalid-budget", "budget-unchanged"):
                assert raised.value.field == "budget_eur"
            session.commit()        # whatever the refused call left would be stored now
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract.budget_eur == Decimal("100.00") and contract.state is ContractState.ACTIVE
        assert _changes(session, contract_id) == []


@pytest.mark.parametrize("state", [ContractState.DRAFT, ContractState.REQUESTED, ContractState.REJECTED,
                                   ContractState.ENDED])
def test_a_contract_without_a_budget_to_change_is_refused(sessions, state):
    contract_id = _contract(sessions, state=state)
    with sessions() as session:
        with pytest.raises(Conflict) as raised:
            contract_service.change_budget(session, contract=session.get(Contract, contract_id),
                                           actor=_user(session, "femke"), budget_eur="500", reason="asked by dana")
        assert raised.value.reason == "contract-budget-fixed" and state.value in raised.value.message
        session.rollback()
        assert session.get(Contract, contract_id).budget_eur == Decimal("100.00")


def test_bounds_and_decimals_are_accepted_as_written(sessions):
    contract_id = _contract(sessions, state=ContractState.APPROVED)
    with sessions() as session:
        femke, contract = _user(session, "femke"), session.get(Contract, contract_id)
        for value, stored in (("100000000", "100000000.00"), (0.01, "0.01"), (1500.5, "1500.50"), (" 250 ", "250.00")):
            change = contract_service.change_budget(session, contract=contract, actor=femke, budget_eur=value,
                                                    reason="asked by dana")
            assert change.after == Decimal(stored) and not change.reactivated
        session.commit()
        assert contract.budget_eur == Decimal("250.00") and contract.state is ContractState.APPROVED


def _run(app, workspace_id: int) -> None:
    """Start the workspace at the hub double, running from T0 (metered from then)."""
    with app.state.portal.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        hub = app.state.portal.hubs.for_environment(workspace.environment)
        info = hub.start(username=workspace.user.username, server_name=workspace.server_name, options={})
        workspace_service.apply_server_info(session, workspace=workspace,
                                            info=ServerInfo(info.name, ready=True, url=info.url, started=T0), now=T0)
        session.commit()


def _kinds(session, contract_id: int) -> list[str]:
    return list(session.scalars(select(ContractNotice.kind).where(ContractNotice.contract_id == contract_id)
                                .order_by(ContractNotice.id)))


def test_a_raise_reactivates_a_suspended_contract_at_once_and_the_watcher_warns_again(app, sessions):
    """€ 10 per hour against € 100: the watcher suspends it at 11 hours (€ 110) and stops the workspace; femke
    raises the budget to € 200 at dana's request and it is active at once; lowered to € 130 (85 %) the watcher warns
    again; lowered to € 105 it stays active until the watcher suspends it and says so again."""
    hubs = app.state.portal.hubs
    with sessions() as session:
        contract = make_contract(session, budget="100", eur_per_hour=10.0)
        workspace = make_workspace(session, username="anna", organisation="minfin", contract=contract)
        session.commit()
        contract_id, workspace_id = contract.id, workspace.id
    _run(app, workspace_id)
    with sessions() as session:
        report = budget.check(session, hubs=hubs, now=T0 + hours(11))
        session.commit()
        assert report.suspended == [contract_id] and report.stopped == [workspace_id]
        assert _kinds(session, contract_id) == ["budget-80", "budget-100"]

    with sessions() as session:
        contract = session.get(Contract, contract_id)
        # not enough: € 108 is below the € 110 spent, so it stays suspended
        change = contract_service.change_budget(session, contract=contract, actor=_user(session, "femke"),
                                                budget_eur="108", reason="Verzoek van dana, deel 1")
        assert (change.before, change.after, change.spent, change.reactivated) == (
            Decimal("100.00"), Decimal("108.00"), Decimal("110.00"), False)
        assert contract.state is ContractState.SUSPENDED
        change = contract_service.change_budget(session, contract=contract, actor=_user(session, "femke"),
                                                budget_eur="200.00", reason="Verzoek van dana (mail 3 maart)")
        session.commit()
        assert change.reactivated and contract.state is ContractState.ACTIVE and contract.budget_warned_at is None
        step = contract.transitions[-1]
        assert (step.from_state, step.to_state, step.actor.username, step.reason) == (
            ContractState.SUSPENDED, ContractState.ACTIVE, "femke", "Verzoek van dana (mail 3 maart)")
        entries = _changes(session, contract_id)
        assert [(e.actor_id, e.organisation_id, e.purpose, e.details) for e in entries] == [
            (step.actor_id, contract.organisation_id, "Verzoek van dana, deel 1",
             {"contract": contract_id, "from_eur": "100.00", "to_eur": "108.00", "spent_eur": "110.00",
              "state": "suspended"}),
            (step.actor_id, contract.organisation_id, "Verzoek van dana (mail 3 maart)",
             {"contract": contract_id, "from_eur": "108.00", "to_eur": "200.00", "spent_eur": "110.00",
              "state": "suspended"})]
        assert entries[-1].subject == f"contract {contract_id} with aws: budget € 108.00 -> € 200.00"
        activated = session.scalars(select(RegisterEntry).where(
            RegisterEntry.action == RegisterAction.CONTRACT_ACTIVATED).order_by(RegisterEntry.sequence.desc())).first()
        assert activated.actor_id == step.actor_id and activated.sequence > entries[-1].sequence
        # the notices of the old budget are kept, renamed, so the new budget can be warned about again
        kinds = _kinds(session, contract_id)
        assert [k.split(":")[0] for k in kinds] == ["budget-80", "budget-100"]
        assert all(k.split(":")[1].startswith("before-") for k in kinds)
        assert verify_chain(session).ok

    with sessions() as session:     # 55 %: nothing to do
        assert not budget.check(session, hubs=hubs, now=T0 + hours(12))
        session.commit()
    with sessions() as session:     # lowered to € 130: 85 %, warned again
        contract = session.get(Contract, contract_id)
        contract_service.change_budget(session, contract=contract, actor=_user(session, "femke"),
                                       budget_eur="130", reason="Verzoek van dana: lager")
        session.commit()
        report = budget.check(session, hubs=hubs, now=T0 + hours(12))
        session.commit()
        assert report.warned == [contract_id] and not report.suspended
        assert contract.state is ContractState.ACTIVE and contract.budget_warned_at is not None
    with sessions() as session:     # lowered to € 105, already spent: left to the watcher, which suspends it
        contract = session.get(Contract, contract_id)
        change = contract_service.change_budget(session, contract=contract, actor=_user(session, "femke"),
                                                budget_eur="105", reason="Verzoek van dana: nog lager")
        session.commit()
        assert not change.reactivated and contract.state is ContractState.ACTIVE
        report = budget.check(session, hubs=hubs, now=T0 + hours(12))
        session.commit()
        assert report.suspended == [contract_id] and report.warned == [contract_id]
        assert contract.state is ContractState.SUSPENDED
        assert [k.split(":")[0] for k in _kinds(session, contract_id)] == [
            "budget-80", "budget-100", "budget-80", "budget-80", "budget-100"]
        assert _kinds(session, contract_id)[-2:] == ["budget-80", "budget-100"]


def test_the_api_changes_the_budget_and_is_in_the_openapi_document(people, sessions, client):
    document = client.get("/api/openapi.json").json()
    assert "/api/v1/contracts/{contract_id}/budget" in document["paths"]
    assert "BudgetIn" in document["components"]["schemas"]
    suspended = _contract(sessions, state=ContractState.SUSPENDED)
    url = f"/api/v1/contracts/{suspended}/budget"
    refused = people["dana"].post_json(url, {"budget_eur": "300", "reason": "graag meer"})
    assert (refused.status_code, refused.json()["reason"]) == (403, "not-platform-admin")
    own = people["gijs"].post_json(url, {"budget_eur": "300", "reason": "graag meer"})
    assert (own.status_code, own.json()["reason"]) == (403, "contract-own-organisation")
    bad = people["femke"].post_json(url, {"budget_eur": "3.001", "reason": "graag meer"})
    assert (bad.status_code, bad.json()["reason"]) == (422, "invalid-budget")
    assert bad.json()["message"].startswith("budget_eur: '3.001'")
    no_reason = people["femke"].post_json(url, {"budget_eur": 300})
    assert (no_reason.status_code, no_reason.json()["reason"]) == (422, "contract-reason-required")
    done = people["femke"].post_json(url, {"budget_eur": 300, "reason": "Verzoek van dana"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["budget_eur"], body["state"], body["spend"]["budget_eur"]) == (300.0, "active", 300.0)
    assert body["transitions"][-1] | {"at": None} == {"from_state": "suspended", "to_state": "active",
                                                      "by": "femke", "at": None, "reason": "Verzoek van dana"}
    ended = _contract(sessions, state=ContractState.ENDED)
    late = people["femke"].post_json(f"/api/v1/contracts/{ended}/budget", {"budget_eur": 300, "reason": "te laat"})
    assert (late.status_code, late.json()["reason"]) == (409, "contract-budget-fixed")
    with sessions() as session:
        assert [e.details["to_eur"] for e in _changes(session, suspended)] == ["300.00"]
        assert _changes(session, ended) == []


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_page_form_for_platform_admins_of_another_organisation(people, sessions, language):
    contract_id = _contract(sessions, state=ContractState.SUSPENDED)
    page = f"/contracts/{contract_id}"
    lang = {"Accept-Language": language}
    femke = people["femke"]
    shown = femke.client.get(page, headers=lang)
    assert shown.status_code == 200 and 'id="budget-form"' in shown.text
    assert 'value="100.00"' in shown.text
    assert foreign_in(visible_text(shown.text, language), language) == []
    for other in ("dana", "gijs"):      # the organisation's admin and a platform admin of the same organisation
        assert 'id="budget-form"' not in people[other].client.get(page).text

    refused = femke.post_form(page + "/budget", {"budget_eur": "0", "reason": "Ticket 4711"}, headers=lang)
    assert refused.status_code == 422 and 'id="problem"' in refused.text
    assert 'aria-invalid="true"' in refused.text and 'value="0"' in refused.text and "Ticket 4711" in refused.text
    assert ("Ongeldig budget" if language == "nl" else "Invalid budget") in refused.text
    assert foreign_in(visible_text(refused.text, language), language) == []
    no_csrf = femke.client.post(page + "/budget", data={"budget_eur": "250", "reason": "Ticket 4711"})
    assert no_csrf.status_code == 403

    done = femke.post_form(page + "/budget", {"budget_eur": "250", "reason": "Ticket 4711"})
    assert (done.status_code, done.headers["location"]) == (303, f"{page}?done=reactivated")
    after = femke.client.get(done.headers["location"], headers=lang)
    assert 'id="contract-budget">€ 250.00' in after.text
    assert ("weer actief" if language == "nl" else "active again") in after.text
    assert foreign_in(visible_text(after.text, language), language) == []
    again = femke.post_form(page + "/budget", {"budget_eur": "260.5", "reason": "Ticket 4711"})
    assert again.headers["location"] == f"{page}?done=budget"
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert (contract.budget_eur, contract.state) == (Decimal("260.50"), ContractState.ACTIVE)
        assert session.scalar(select(func.count()).select_from(RegisterEntry).where(
            RegisterEntry.action == RegisterAction.CONTRACT_BUDGET_CHANGED)) == 2


def test_the_refusal_texts_say_who_raises_the_budget():
    from gereedschapskist.portal.services.contract_files import STATE_REASONS
    from gereedschapskist.portal.texts import TEXTS

    dutch, english = TEXTS["why.contract-suspended"]
    assert "vraag uw organisatiebeheerder om het budget te laten verhogen" in dutch
    assert "platformbeheerder van Gereedschapskist" in dutch
    assert "ask your organisation admin to have the budget raised" in english
    assert "platform admin of Gereedschapskist" in english
    assert "an organisation admin can raise" not in english
    assert "ask your organisation admin to have the budget raised" in STATE_REASONS[ContractState.SUSPENDED]
