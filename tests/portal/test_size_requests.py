"""Sizes on request (issue 14): a member asks for a size the contract does not offer by default, an admin of the
organisation decides (never on their own request), the approved size reaches the contract's environment (extra_sizes)
until its end date, and expire_due ends it and names the workspaces to stop. Every refusal names its field and stores
nothing. Real database (SQLite; PostgreSQL when the test URL is set); the page and the JSON API through the app."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gereedschapskist.catalogue import load
from gereedschapskist.portal.errors import Conflict, Forbidden
from gereedschapskist.portal.models import (
    Contract, ContractNotice, ContractState, EnvironmentKind, EnvironmentStage, RegisterAction, RegisterEntry, SizeRequest,
    SizeRequestState, Workspace, WorkspaceStatus,
)
from gereedschapskist.portal.services import contract_files, size_requests
from gereedschapskist.portal.services.environments import register_environment
from gereedschapskist.portal.services.size_requests import SizeRequestRefused
from tests.portal.test_contracts_service import org, user

CATALOGUE = load()
TODAY = date.today()
BUNDLE = "bi-sql-duckdb"


@pytest.fixture
def world(app, login):
    """minfin with an active aws contract offering bi-sql-duckdb/small only; anna a member, dana and dirk its admins,
    bram of cbs; femke a platform admin."""
    people = {}
    for name, groups in (("anna", ["org:minfin", "role:bi"]), ("dana", ["org:minfin", "org-admin:minfin"]),
                         ("dirk", ["org:minfin", "org-admin:minfin"]), ("bram", ["org:cbs", "org-admin:cbs"]),
                         ("femke", ["gereedschapskist:admins"])):
        people[name] = login(name, groups, on=TestClient(app, base_url="http://127.0.0.1", follow_redirects=False))
    sessions = app.state.portal.sessions
    with sessions() as session:
        contract = Contract(organisation=org(session, "minfin"), state=ContractState.ACTIVE, partner="aws",
                            region="eu-central-1", stage=EnvironmentStage.DEVELOPMENT, provisioner="local",
                            roles=["bi"], bundles=[BUNDLE], sizes=[f"{BUNDLE}/small"], expected_users=2,
                            hours_per_week=5, budget_eur=1000, starts_on=TODAY, ends_on=TODAY + timedelta(days=60),
                            contact="Dana", cost_centre="KP-1", estimate={}, created_by=user(session, "dana"))
        session.add(contract)
        session.commit()
        return people, contract.id, sessions


def ask(session, contract_id, *, by="anna", **changes):
    data = {"bundle": BUNDLE, "size": "large", "reason": "a join of 40 GB", "ends_on": (TODAY + timedelta(days=10))
            .isoformat(), **changes}
    return size_requests.request_size(session, catalogue=CATALOGUE, contract=session.get(Contract, contract_id),
                                      actor=user(session, by), data=data, today=TODAY)


def count(session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(SizeRequest)),
            session.scalar(select(func.count()).select_from(RegisterEntry)))


@pytest.mark.parametrize("changes, field, reason", [
    ({"bundle": "no-such-bundle"}, "bundle", "unknown-bundle"),
    ({"bundle": "bi-dashboards"}, "bundle", "bundle-not-in-contract"),
    ({"size": "huge"}, "size", "unknown-size"),
    ({"size": "small"}, "size", "size-already-offered"),
    ({"ends_on": "31-12-2030"}, "ends_on", "invalid-date"),
    ({"ends_on": (TODAY - timedelta(days=1)).isoformat()}, "ends_on", "end-in-past"),
    ({"ends_on": (TODAY + timedelta(days=61)).isoformat()}, "ends_on", "end-after-contract"),
    ({"reason": " x "}, "reason", "size-reason-required"),
])
def test_a_refused_request_names_its_field_and_stores_nothing(world, changes, field, reason):
    _, contract_id, sessions = world
    with sessions() as session:
        before = count(session)
        with pytest.raises(SizeRequestRefused) as refused:
            ask(session, contract_id, **changes)
        session.rollback()
        assert (refused.value.field, refused.value.reason) == (field, reason)
        assert count(session) == before


def test_a_size_larger_than_every_machine_of_the_partner_is_refused(world):
    """aws cut down to its smallest machine (general-4: 4 CPU, 16 GiB): the bundle's large size no longer fits."""
    _, contract_id, sessions = world
    small_aws = dataclasses.replace(CATALOGUE.partners["aws"], machine_sizes=CATALOGUE.partners["aws"].machine_sizes[:1])
    catalogue = dataclasses.replace(CATALOGUE, partners={**CATALOGUE.partners, "aws": small_aws})
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        with pytest.raises(SizeRequestRefused) as refused:
            contract.bundles = [*contract.bundles, "ml-python"]
            size_requests.request_size(session, catalogue=catalogue, contract=contract, actor=user(session, "anna"),
                                       data={"bundle": "ml-python", "size": "xlarge", "reason": "a big model",
                                             "ends_on": TODAY.isoformat()}, today=TODAY)
        assert (refused.value.field, refused.value.reason) == ("size", "size-not-at-partner")
        assert "Amazon Web Services" in refused.value.message


def test_who_may_ask_and_who_may_decide(world):
    _, contract_id, sessions = world
    with sessions() as session:
        for outsider in ("bram", "femke"):
            with pytest.raises(Forbidden, match="only members"):
                ask(session, contract_id, by=outsider)
        mine = ask(session, contract_id, by="dana", reason="my own larger size")
        with pytest.raises(Conflict) as twice:
            ask(session, contract_id, by="dana", reason="again")
        assert twice.value.reason == "size-request-pending"
        with pytest.raises(Forbidden) as own:
            size_requests.decide(session, size_request=mine, actor=user(session, "dana"), approve=True)
        assert own.value.reason == "size-request-own"
        for not_admin in ("anna", "bram", "femke"):
            with pytest.raises(Forbidden) as refused:
                size_requests.decide(session, size_request=mine, actor=user(session, not_admin), approve=True)
            assert refused.value.reason == "not-organisation-admin"
        with pytest.raises(SizeRequestRefused) as why:
            size_requests.decide(session, size_request=mine, actor=user(session, "dirk"), approve=False, reason="")
        assert why.value.field == "reason"
        size_requests.decide(session, size_request=mine, actor=user(session, "dirk"), approve=False,
                             reason="use the large size of the shared environment")
        assert mine.state is SizeRequestState.REJECTED and mine.decided_by_id == user(session, "dirk").id
        with pytest.raises(Conflict) as again:
            size_requests.decide(session, size_request=mine, actor=user(session, "dirk"), approve=True)
        assert again.value.reason == "size-request-decided"


def test_approved_reaches_extra_sizes_until_its_end_then_expires_and_names_the_workspaces_to_stop(world):
    _, contract_id, sessions = world
    with sessions() as session:
        row = ask(session, contract_id)
        size_requests.decide(session, size_request=row, actor=user(session, "dana"), approve=True)
        session.commit()
        contract = session.get(Contract, contract_id)
        extra = contract_files.extra_sizes(session, contract=contract, today=row.ends_on)
        assert [(e.username, e.size, e.ends_on, e.request) for e in extra] == \
            [("anna", f"{BUNDLE}/large", row.ends_on, row.id)]
        with pytest.raises(SizeRequestRefused) as offered:
            ask(session, contract_id)
        assert offered.value.reason == "size-already-offered"
        anna = user(session, "anna")
        environment = register_environment(session, name="minfin-aws", kind=EnvironmentKind.CLOUD,
                                           stage=EnvironmentStage.DEVELOPMENT, hub_url="http://minfin.hub.test",
                                           hub_api_url="http://minfin.hub.test/hub/api",
                                           organisation=contract.organisation)
        running = Workspace(environment=environment, user=anna, organisation=contract.organisation, contract_id=contract_id,
                            server_name="large-1", bundle_id=BUNDLE, bundle_version="1", size_id="large",
                            interface="jupyterlab", status=WorkspaceStatus.RUNNING)
        other = Workspace(environment=environment, user=anna, organisation=contract.organisation, contract_id=contract_id,
                          server_name="small-1", bundle_id=BUNDLE, bundle_version="1", size_id="small",
                          interface="jupyterlab", status=WorkspaceStatus.RUNNING)
        session.add_all([running, other])
        session.commit()
        assert size_requests.expire_due(session, today=row.ends_on) == []      # the end day itself is included
        stop = size_requests.expire_due(session, today=row.ends_on + timedelta(days=1))
        session.commit()
        assert [w.server_name for w in stop] == ["large-1"]
        assert row.state is SizeRequestState.EXPIRED
        assert contract_files.extra_sizes(session, contract=contract, today=row.ends_on) == ()
        assert size_requests.expire_due(session, today=row.ends_on + timedelta(days=2)) == []
        actions = [e.action for e in session.scalars(select(RegisterEntry).order_by(RegisterEntry.id))]
        assert [a for a in actions if a.value.startswith("size-")] == [
            RegisterAction.SIZE_REQUESTED, RegisterAction.SIZE_APPROVED, RegisterAction.SIZE_EXPIRED]
        notice = session.scalar(select(ContractNotice).where(ContractNotice.kind == f"size-expired:{row.id}"))
        assert notice is not None and "ended on" in notice.message


def test_the_page_asks_and_an_admin_decides_and_the_api_agrees(world):
    people, contract_id, sessions = world
    anna, dana = people["anna"], people["dana"]
    page = anna.client.get("/organisations/minfin/sizes")
    assert page.status_code == 200 and f'value="{contract_id}:{BUNDLE}/large"' in page.text
    assert f'value="{contract_id}:{BUNDLE}/small"' not in page.text       # offered already: not on the list
    refused = anna.post_form("/organisations/minfin/sizes", {"choice": f"{contract_id}:{BUNDLE}/large",
                                                              "reason": "big join", "ends_on": "2000-01-01"})
    assert refused.status_code == 422 and 'id="ends_on"' in refused.text and "big join" in refused.text
    assert 'aria-invalid="true"' in refused.text
    asked = anna.post_form("/organisations/minfin/sizes", {"choice": f"{contract_id}:{BUNDLE}/large",
                                                            "reason": "big join",
                                                            "ends_on": (TODAY + timedelta(days=5)).isoformat()})
    assert asked.status_code == 303
    with sessions() as session:
        row_id = session.scalar(select(SizeRequest.id))
    assert f'id="decide-{row_id}"' not in anna.client.get("/organisations/minfin/sizes").text
    assert f'id="decide-{row_id}"' in dana.client.get("/organisations/minfin/sizes").text
    assert "big join" in dana.client.get("/organisations/minfin").text          # pending on the organisation page
    listed = anna.client.get("/api/v1/size-requests", params={"organisation": "minfin"}).json()
    assert [(r["id"], r["state"], r["member"]) for r in listed] == [(row_id, "requested", "anna")]
    approved = dana.post_json(f"/api/v1/size-requests/{row_id}/approve", {"reason": "fine"})
    assert approved.status_code == 200 and approved.json()["decided_by"] == "dana"
    bad = anna.post_json("/api/v1/size-requests", {"contract": contract_id, "bundle": BUNDLE, "size": "huge",
                                                   "reason": "x y z", "ends_on": TODAY.isoformat()})
    assert bad.status_code == 422 and "size" in bad.text and "huge" in bad.text
    spec = anna.client.get("/api/openapi.json").json()["paths"]
    assert {"/api/v1/size-requests", "/api/v1/size-requests/{request_id}/approve",
            "/api/v1/size-requests/{request_id}/reject"} <= set(spec)
