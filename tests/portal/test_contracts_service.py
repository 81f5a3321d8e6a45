"""Standard contracts (issue 14): the order's checks and estimate, and every transition and refusal of the state
machine (portal/services/contracts.py), on the real database (SQLite; PostgreSQL when the test URL is set)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from gereedschapskist.catalogue import load, price_per_hour
from gereedschapskist.portal.errors import Conflict, Forbidden, InvalidInput
from gereedschapskist.portal.models import (
    TRANSITIONS, Contract, ContractState, ContractTransition, Organisation, RegisterEntry, User,
)
from gereedschapskist.portal.services import contracts
from gereedschapskist.portal.services.contract_order import WEEKS_PER_MONTH, OrderRefused
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.support import make_user

CATALOGUE = load()
TODAY = date.today()
S = ContractState


def order_data(**changes) -> dict:
    data = {"partner": "aws", "region": "eu-central-1", "stage": "development", "roles": ["bi"],
            "bundles": ["bi-sql-duckdb"], "sizes": ["bi-sql-duckdb/small", "bi-sql-duckdb/large"],
            "expected_users": "4", "hours_per_week": "10", "budget_eur": "5000",
            "starts_on": (TODAY + timedelta(days=1)).isoformat(), "ends_on": (TODAY + timedelta(days=90)).isoformat(),
            "contact": "Dana de Vries, dana@minfin.example", "cost_centre": "KP-4711"}
    data.update(changes)
    return data


@pytest.fixture
def sessions(app, client):
    return app.state.portal.sessions


@pytest.fixture
def people(sessions):
    for username, groups in (("anna", ["org:minfin", "role:bi"]), ("dana", ["org:minfin", "org-admin:minfin"]),
                             ("femke", ["gereedschapskist:admins"]),
                             ("gijs", ["gereedschapskist:admins", "org:minfin"]),
                             ("bram", ["org:cbs", "org-admin:cbs"])):
        make_user(sessions, username=username, groups=groups)
    return sessions


def user(session, name: str) -> User:
    return session.scalar(select(User).where(User.username == name))


def org(session, slug: str) -> Organisation:
    return session.scalar(select(Organisation).where(Organisation.slug == slug))


def counts(session) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(t)) for t in (Contract, ContractTransition,
                                                                                 RegisterEntry))


def place(session, *, submit=True, by="dana", slug="minfin", catalogue=CATALOGUE, **changes) -> Contract:
    contract = contracts.order(session, catalogue=catalogue, organisation=org(session, slug), actor=user(session, by),
                               data=order_data(**changes), submit=submit)
    session.commit()
    return contract


# -- the estimate ----------------------------------------------------------------------------------------------------

def test_the_estimate_uses_the_catalogue_price_rule_per_size_per_month_and_for_the_period(people):
    _, estimate = contracts.price(catalogue=CATALOGUE, data=order_data())
    bundle, aws = CATALOGUE.bundles["bi-sql-duckdb"], CATALOGUE.partners["aws"]
    small = price_per_hour(aws, bundle.id, bundle.size("small")).eur_per_hour     # 1 CPU 4Gi of general-4: ¼ × 0.22
    large = price_per_hour(aws, bundle.id, bundle.size("large")).eur_per_hour     # 4 CPU 16Gi: all of general-4
    assert (small, large) == (pytest.approx(0.055), pytest.approx(0.22))
    weekly_per_size = 4 * 10 / 2                                                    # users × hours, over 2 sizes
    assert [(x.size, x.per_month) for x in estimate.lines] == [
        ("small", round(weekly_per_size * small * WEEKS_PER_MONTH, 2)),
        ("large", round(weekly_per_size * large * WEEKS_PER_MONTH, 2))]
    assert estimate.days == 90
    assert estimate.period == pytest.approx(round(weekly_per_size * 90 / 7 * small, 2)
                                            + round(weekly_per_size * 90 / 7 * large, 2))
    assert estimate.per_month == pytest.approx(sum(x.per_month for x in estimate.lines))
    assert not estimate.over_budget
    assert contracts.price(catalogue=CATALOGUE, data=order_data(budget_eur="10"))[1].over_budget


def test_an_explicit_catalogue_price_reaches_the_estimate(people):
    data = order_data(partner="google-cloud", region="europe-west4", roles=["ml"], bundles=["ml-python"],
                      sizes=["ml-python/xlarge"])
    _, estimate = contracts.price(catalogue=CATALOGUE, data=data)
    assert (estimate.lines[0].eur_per_hour, estimate.lines[0].explicit) == (0.49, True)


def test_a_bundle_without_chosen_sizes_allows_every_size_that_fits_the_partner(people):
    order, _ = contracts.price(catalogue=CATALOGUE, data=order_data(sizes=[]))
    assert order.sizes == ("bi-sql-duckdb/small", "bi-sql-duckdb/medium", "bi-sql-duckdb/large")


# -- bad input: a clear refusal naming the field, nothing stored -----------------------------------------------------

SMALL_AWS = dataclasses.replace(CATALOGUE.partners["aws"], machine_sizes=CATALOGUE.partners["aws"].machine_sizes[:1])
US_AWS = dataclasses.replace(CATALOGUE.partners["aws"], regions=CATALOGUE.partners["aws"].regions + (
    dataclasses.replace(CATALOGUE.partners["aws"].regions[0], id="us-east-1", name="US East", country="US"),))


def _with_partner(partner):
    return dataclasses.replace(CATALOGUE, partners={**CATALOGUE.partners, "aws": partner})


REFUSALS = [
    ({"budget_eur": "0"}, "budget_eur", "invalid-budget"),
    ({"budget_eur": "-5"}, "budget_eur", "invalid-budget"),
    ({"budget_eur": "vijfduizend"}, "budget_eur", "invalid-budget"),
    ({"budget_eur": "NaN"}, "budget_eur", "invalid-budget"),
    ({"budget_eur": "0.001"}, "budget_eur", "invalid-budget"),          # would be stored as 0.00
    ({"budget_eur": "1e12"}, "budget_eur", "invalid-budget"),
    ({"ends_on": (TODAY + timedelta(days=0)).isoformat()}, "ends_on", "end-before-start"),
    ({"starts_on": (TODAY - timedelta(days=1)).isoformat()}, "starts_on", "start-in-past"),
    ({"starts_on": "1 januari"}, "starts_on", "invalid-date"),
    ({"partner": "hetzner"}, "partner", "unknown-partner"),
    ({"region": "westeurope"}, "region", "unknown-region"),
    ({"stage": "staging"}, "stage", "unknown-stage"),
    ({"roles": ["finance"]}, "roles", "unknown-role"),
    ({"bundles": ["no-such-bundle"]}, "bundles", "unknown-bundle"),
    ({"roles": ["ml"], "bundles": ["ml-python-2025"], "sizes": []}, "bundles", "bundle-not-active"),
    ({"bundles": ["bi-sql-classic"], "sizes": []}, "bundles", "bundle-not-active"),
    ({"bundles": ["ml-python"], "sizes": []}, "bundles", "bundle-not-in-roles"),
    ({"sizes": ["bi-sql-duckdb/huge"]}, "sizes", "unknown-size"),
    ({"sizes": ["dev-python/small"]}, "sizes", "unknown-size"),
    ({"expected_users": "0"}, "expected_users", "invalid-number"),
    ({"hours_per_week": "200"}, "hours_per_week", "invalid-number"),
    ({"contact": ""}, "contact", "invalid-input"),
    ({"cost_centre": " "}, "cost_centre", "invalid-input"),
]


@pytest.mark.parametrize("changes, field, reason", REFUSALS, ids=[r[2] + ":" + r[1] for r in REFUSALS])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(people, changes, field, reason):
    with people() as session:
        before = counts(session)
        with pytest.raises(OrderRefused) as refused:
            place(session, **changes)
        session.rollback()
        assert (refused.value.field, refused.value.reason) == (field, reason)
        assert refused.value.message.startswith(f"{field}: ")
        value = next(iter(changes.values()))
        assert str(value if not isinstance(value, list) else value[0]).strip() in refused.value.message or not \
            str(value).strip()
        assert counts(session) == before


def test_a_size_larger_than_the_partners_machines_is_refused(people):
    with people() as session:
        with pytest.raises(OrderRefused) as refused:
            place(session, catalogue=_with_partner(SMALL_AWS), roles=["ml"], bundles=["ml-python"],
                  sizes=["ml-python/xlarge"])
        assert (refused.value.field, refused.value.reason) == ("sizes", "size-not-at-partner")
        assert "m6i.xlarge" in refused.value.message and "ml-python/xlarge" in refused.value.message


def test_a_region_outside_the_eu_is_refused_even_when_a_partner_lists_it(people):
    with people() as session:
        with pytest.raises(OrderRefused) as refused:
            place(session, catalogue=_with_partner(US_AWS), region="us-east-1")
        assert (refused.value.field, refused.value.reason) == ("region", "non-eu-region")
        assert counts(session)[0] == 0


def test_only_an_admin_of_the_organisation_orders(people):
    with people() as session:
        for who, slug in (("anna", "minfin"), ("femke", "minfin"), ("bram", "minfin")):
            with pytest.raises(Forbidden) as refused:
                place(session, by=who, slug=slug)
            assert refused.value.reason == "not-organisation-admin"
        assert counts(session)[0] == 0


# -- the state machine -----------------------------------------------------------------------------------------------

def test_every_allowed_transition_is_stored_with_who_when_and_why_and_in_the_register(people):
    with people() as session:
        contract = place(session)
        femke = user(session, "femke")
        contracts.transition(session, contract=contract, to=S.APPROVED, actor=femke, reason="past the check")
        contracts.transition(session, contract=contract, to=S.PROVISIONING, actor=None)
        contracts.transition(session, contract=contract, to=S.ACTIVE, actor=None)
        contracts.transition(session, contract=contract, to=S.SUSPENDED, actor=None, reason="budget spent")
        contracts.transition(session, contract=contract, to=S.ACTIVE, actor=femke, reason="budget raised")
        contracts.transition(session, contract=contract, to=S.ENDED, actor=femke, reason="project over")
        session.commit()
        steps = [(t.from_state, t.to_state, t.actor.username if t.actor else None, t.reason)
                 for t in contract.transitions]
        assert steps == [(None, S.DRAFT, "dana", None), (S.DRAFT, S.REQUESTED, "dana", None),
                         (S.REQUESTED, S.APPROVED, "femke", "past the check"), (S.APPROVED, S.PROVISIONING, None, None),
                         (S.PROVISIONING, S.ACTIVE, None, None), (S.ACTIVE, S.SUSPENDED, None, "budget spent"),
                         (S.SUSPENDED, S.ACTIVE, "femke", "budget raised"), (S.ACTIVE, S.ENDED, "femke", "project over")]
        assert all(t.at is not None for t in contract.transitions)
        actions = session.scalars(select(RegisterEntry.action).order_by(RegisterEntry.sequence)).all()
        assert [a.value for a in actions] == ["contract-drafted", "contract-requested", "contract-approved",
                                              "contract-document-made", "contract-provisioning", "contract-activated", "contract-suspended",
                                              "contract-activated", "contract-ended"]
        assert verify_chain(session).ok


def test_rejection_needs_a_reason_and_is_final(people):
    with people() as session:
        contract = place(session)
        femke = user(session, "femke")
        with pytest.raises(InvalidInput) as refused:
            contracts.transition(session, contract=contract, to=S.REJECTED, actor=femke, reason=" ")
        assert refused.value.reason == "contract-reason-required"
        contracts.transition(session, contract=contract, to=S.REJECTED, actor=femke, reason="budget too small")
        for to in ContractState:
            with pytest.raises(Conflict) as illegal:
                contracts.transition(session, contract=contract, to=to, actor=femke, reason="try again")
            assert illegal.value.reason == "contract-illegal-transition"


def _at(session, state: ContractState) -> Contract:
    """A contract brought to ``state`` through the allowed path."""
    femke = user(session, "femke")
    contract = place(session, submit=state is not S.DRAFT)
    path = {S.DRAFT: [], S.REQUESTED: [], S.APPROVED: [S.APPROVED], S.REJECTED: [S.REJECTED],
            S.PROVISIONING: [S.APPROVED, S.PROVISIONING], S.ACTIVE: [S.APPROVED, S.PROVISIONING, S.ACTIVE],
            S.SUSPENDED: [S.APPROVED, S.PROVISIONING, S.ACTIVE, S.SUSPENDED],
            S.ENDED: [S.APPROVED, S.PROVISIONING, S.ACTIVE, S.ENDED]}[state]
    for step in path:
        contracts.transition(session, contract=contract, to=step, actor=femke, reason="on the way")
    session.commit()
    return contract


@pytest.mark.parametrize("state", list(ContractState))
def test_every_transition_the_table_does_not_allow_is_refused(people, state):
    with people() as session:
        contract = _at(session, state)
        femke = user(session, "femke")
        before = counts(session)
        for to in ContractState:
            if to in TRANSITIONS[state]:
                continue
            with pytest.raises(Conflict) as refused:
                contracts.transition(session, contract=contract, to=to, actor=femke, reason="not allowed")
            assert refused.value.reason == "contract-illegal-transition"
            assert f"is {state.value}; it cannot become {to.value}" in refused.value.message
        assert contract.state is state and counts(session) == before
        contract.state = state


def test_who_may_decide(people):
    with people() as session:
        contract = place(session)
        for who, reason in (("dana", "not-platform-admin"), ("anna", "not-platform-admin"),
                            ("bram", "not-platform-admin"), ("gijs", "contract-own-organisation")):
            for to in (S.APPROVED, S.REJECTED):
                with pytest.raises(Forbidden) as refused:
                    contracts.transition(session, contract=contract, to=to, actor=user(session, who), reason="ok!")
                assert refused.value.reason == reason, (who, to)
        with pytest.raises(Forbidden):
            contracts.transition(session, contract=contract, to=S.APPROVED, actor=None)
        contracts.transition(session, contract=contract, to=S.APPROVED, actor=user(session, "femke"))
        for to in (S.PROVISIONING, S.ENDED):
            with pytest.raises(Forbidden) as refused:
                contracts.transition(session, contract=contract, to=to, actor=user(session, "dana"), reason="mine")
            assert refused.value.reason == "not-platform-admin"
        with pytest.raises(InvalidInput):       # an admin ends a contract with a reason
            contracts.transition(session, contract=contract, to=S.ENDED, actor=user(session, "femke"))


def test_a_draft_is_requested_by_its_organisations_admin_only(people):
    with people() as session:
        contract = place(session, submit=False)
        assert contract.state is S.DRAFT
        for who in ("anna", "femke", "bram"):
            with pytest.raises(Forbidden):
                contracts.request(session, contract=contract, actor=user(session, who))
        contracts.request(session, contract=contract, actor=user(session, "dana"))
        assert contract.state is S.REQUESTED


def test_two_contracts_for_the_same_partner_stage_and_period_are_refused(people):
    with people() as session:
        first = place(session)
        before = counts(session)
        with pytest.raises(Conflict) as refused:
            place(session, starts_on=(TODAY + timedelta(days=60)).isoformat(),
                  ends_on=(TODAY + timedelta(days=120)).isoformat())
        assert refused.value.reason == "contract-overlap" and f"contract {first.id}" in refused.value.message
        session.rollback()
        assert counts(session) == before
        place(session, stage="production")                                           # another stage
        place(session, partner="azure", region="westeurope")                         # another partner
        place(session, starts_on=(TODAY + timedelta(days=91)).isoformat(),           # after the first
              ends_on=(TODAY + timedelta(days=100)).isoformat())
        place(session, slug="cbs", by="bram")                                        # another organisation
        draft = place(session, submit=False)                                         # a draft holds nothing
        with pytest.raises(Conflict):
            contracts.request(session, contract=draft, actor=user(session, "dana"))
        contracts.transition(session, contract=first, to=S.REJECTED, actor=user(session, "femke"), reason="too expensive")
        contracts.request(session, contract=draft, actor=user(session, "dana"))      # the first no longer holds
        assert draft.state is S.REQUESTED


def test_approval_checks_the_overlap_again(people):
    with people() as session:
        first = place(session, submit=False)
        second = place(session)
        first.state = S.APPROVED        # as if approved while the second waited (e.g. data from before the check)
        session.commit()
        with pytest.raises(Conflict) as refused:
            contracts.transition(session, contract=second, to=S.APPROVED, actor=user(session, "femke"))
        assert refused.value.reason == "contract-overlap"


def test_the_list_is_scoped_filtered_and_sorted(people):
    with people() as session:
        a = place(session, budget_eur="100")
        b = place(session, slug="cbs", by="bram", budget_eur="900")
        contracts.transition(session, contract=b, to=S.REJECTED, actor=user(session, "femke"), reason="too expensive")
        assert [c.id for c in contracts.list_contracts(session, user=user(session, "dana"))] == [a.id]
        assert {c.id for c in contracts.list_contracts(session, user=user(session, "femke"))} == {a.id, b.id}
        assert [c.id for c in contracts.list_contracts(session, user=user(session, "femke"), state="rejected")] == [b.id]
        assert [c.id for c in contracts.list_contracts(session, user=user(session, "femke"), sort="budget",
                                                       descending=False)] == [a.id, b.id]
        with pytest.raises(Forbidden):
            contracts.list_contracts(session, user=user(session, "anna"))
        with pytest.raises(InvalidInput):
            contracts.list_contracts(session, user=user(session, "femke"), state="half")
        csv = contracts.csv_text(contracts.list_contracts(session, user=user(session, "femke"), sort="id",
                                                          descending=False))
        assert csv.splitlines()[0].startswith("id,organisation,state,partner")
        assert f"{a.id},minfin,requested,aws,eu-central-1,development,100.00," in csv
        assert Decimal(a.budget_eur) == Decimal("100.00")
