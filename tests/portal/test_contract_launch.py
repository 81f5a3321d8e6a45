"""Only an active contract lets members work (issue 14): the portal's launch rule, its refusals in Dutch and English,
what it tells the hub (``environment``, ``organisation``), and what the catalogue offers a member under a contract.

The hub is the in-memory double (``fakehub.py``): these tests are about the portal's own decisions; the hub's own
enforcement of the same rule is tested against a real JupyterHub in ``tests/hub/test_contract_hub.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gereedschapskist.catalogue import load
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import (
    ContractState, Environment, EnvironmentKind, EnvironmentStage, EnvironmentStatus, User, Workspace, utcnow,
)
from gereedschapskist.portal.models.size_request import SizeRequest, SizeRequestState
from gereedschapskist.portal.services.environments import register_environment
from gereedschapskist.portal.texts import TEXTS, reason_title
from tests.portal.conftest import started
from tests.portal.fakehub import FakeHub, FakeHubs
from tests.portal.spend_support import make_contract

CATALOGUE = load()
#: a bi bundle that the test contract (bi-sql-duckdb only) does not offer
OTHER_BI = next(b.id for b in CATALOGUE.offered_for(["bi"]) if b.id != "bi-sql-duckdb")
S = ContractState


class OneHubPerUrl(FakeHubs):
    """As on a local installation, the shared environment and every contract environment are one hub (one API
    URL): one fake hub per URL."""

    def factory(self, **kwargs) -> FakeHub:
        same = next((hub for hub in self.made if hub.api_url == kwargs["api_url"]), None)
        return same or super().factory(**kwargs)


@pytest.fixture
def hubs() -> FakeHubs:
    return OneHubPerUrl()


@pytest.fixture
def app(settings, hubs):
    return create_app(settings.model_copy(update={"environment_name": "shared"}), catalogue_model=CATALOGUE,
                      hub_factory=hubs.factory)


@pytest.fixture
def anna(app, client, login):
    login("dana", ["org:minfin", "org-admin:minfin"], on=client)
    return login("anna", ["org:minfin", "role:bi"])


def contract(app, state: ContractState = S.ACTIVE, *, environment: bool = True) -> int:
    """A contract of minfin in ``state``, with its local environment on the shared hub as the local provisioner
    registers it (``<org>-c<id>``, organisation and contract set)."""
    with app.state.portal.sessions() as session:
        today = utcnow().date()
        made = make_contract(session, state=state, starts_on=today - timedelta(days=1),
                             ends_on=today + timedelta(days=30))
        if environment:
            shared = session.scalar(select(Environment).where(Environment.name == "shared"))
            env = register_environment(session, name=f"minfin-c{made.id}", kind=EnvironmentKind.LOCAL,
                                       stage=EnvironmentStage.DEVELOPMENT, hub_url=shared.hub_url,
                                       hub_api_url=shared.hub_api_url, organisation=made.organisation)
            env.contract_id = made.id
            made.environment = env
        session.commit()
        return made.id


def launch(anna, bundle: str, size: str | None = None, language: str = "en"):
    body = {"bundle": bundle, "organisation": "minfin", **({"size": size} if size else {})}
    return started(anna.client, anna.client.post("/api/v1/workspaces", json=body,
                                                 headers={"X-CSRF-Token": anna.csrf, "Accept-Language": language}))


def options_sent(hubs: FakeHubs) -> list[dict]:
    return [options for hub in hubs.made for options in hub.options.values()]


def test_a_member_launches_in_the_contracts_environment_and_the_hub_is_told(app, client, anna, hubs):
    contract_id = contract(app)
    launched = launch(anna, "bi-sql-duckdb")        # no size: the contract's (small)
    assert launched.status_code == 202, launched.text
    assert launched.json()["environment"] == f"minfin-c{contract_id}"
    (options,) = options_sent(hubs)
    assert options == {"bundle": "bi-sql-duckdb", "size": "small", "interface": "jupyterlab",
                       "organisation": "minfin", "environment": f"minfin-c{contract_id}"}
    with app.state.portal.sessions() as session:
        (workspace,) = session.scalars(select(Workspace)).all()
        assert workspace.contract_id == contract_id and workspace.size_id == "small"
    page = anna.client.get(f"/workspaces/{workspace.id}", headers={"Accept-Language": "en"}).text
    assert f'id="workspace-contract" data-contract="{contract_id}"' in page
    assert f"standard contract {contract_id} (its hours count against the budget)" in page


def test_an_organisation_without_a_contract_keeps_the_shared_environment(app, client, login, hubs):
    cees = login("cees", ["org:cbs", "role:bi"])
    launched = cees.post_json("/api/v1/workspaces", {"bundle": OTHER_BI})
    assert launched.status_code == 202, launched.text
    assert launched.json()["environment"] == "shared"
    (options,) = options_sent(hubs)
    assert options["organisation"] == "cbs" and "environment" not in options
    with app.state.portal.sessions() as session:
        assert session.scalars(select(Workspace.contract_id)).all() == [None]


def _retire_shared(app) -> None:
    with app.state.portal.sessions() as session:
        session.scalar(select(Environment).where(Environment.name == "shared")).status = EnvironmentStatus.RETIRED
        session.commit()


REFUSALS = [
    # (set-up, bundle, size, status, reason, words in the English message)
    ("no-shared", "bi-sql-duckdb", None, 403, "no-contract", "no shared environment"),
    ("requested", "bi-sql-duckdb", None, 409, "contract-not-active", "is requested"),
    ("approved", "bi-sql-duckdb", None, 409, "contract-not-active", "is approved"),
    ("provisioning", "bi-sql-duckdb", None, 409, "contract-not-active", "is provisioning"),
    ("suspended", "bi-sql-duckdb", None, 409, "contract-suspended", "is suspended"),
    ("ended", "bi-sql-duckdb", None, 409, "contract-ended", "is ended"),
    ("active", OTHER_BI, None, 403, "bundle-not-in-contract", f"bundle {OTHER_BI!r}"),
    ("active", "bi-sql-duckdb", "medium", 403, "size-not-in-contract", "offered: small"),
]


@pytest.mark.parametrize(("setup", "bundle", "size", "status", "reason", "words"), REFUSALS)
def test_refusals_in_dutch_and_english_and_nothing_starts(app, client, anna, hubs, setup, bundle, size, status,
                                                          reason, words):
    if setup == "no-shared":
        _retire_shared(app)
    else:
        contract(app, S(setup), environment=setup not in ("requested", "approved"))
    for language in ("nl", "en"):
        refused = launch(anna, bundle, size, language=language)
        assert refused.status_code == status, refused.text
        body = refused.json()
        assert body["reason"] == reason and words in body["message"]
        assert body["title"] == reason_title(language, reason) == TEXTS[f"error.{reason}"][language == "en"]
    page = anna.post_form("/workspaces", {"bundle": bundle, **({"size": size} if size else {}),
                                          "organisation": "minfin"}, headers={"Accept-Language": "nl"})
    assert page.status_code == status
    assert TEXTS[f"error.{reason}"][0] in page.text and TEXTS[f"why.{reason}"][0] in page.text
    assert options_sent(hubs) == []
    with app.state.portal.sessions() as session:
        assert session.scalars(select(Workspace)).all() == []


def test_require_contract_refuses_organisations_without_one(settings, hubs, client, login):
    strict = create_app(settings.model_copy(update={"environment_name": "shared", "require_contract": True}),
                        catalogue_model=CATALOGUE, hub_factory=hubs.factory)
    from fastapi.testclient import TestClient

    with TestClient(strict, base_url="http://127.0.0.1") as other:
        from tests.portal.support import make_user, session_cookie

        user_id = make_user(strict.state.portal.sessions, username="cees", groups=["org:cbs", "role:bi"])
        other.cookies.set(settings.session_cookie, session_cookie(settings, {"uid": user_id, "csrf": "c" * 20}),
                          domain="127.0.0.1")
        refused = other.post("/api/v1/workspaces", json={"bundle": "bi-sql-duckdb"},
                             headers={"X-CSRF-Token": "c" * 20, "Accept-Language": "nl"})
    assert refused.status_code == 403 and refused.json()["reason"] == "no-contract"
    assert "members work only under a standard contract here" in refused.json()["message"]
    assert refused.json()["title"] == "Uw organisatie heeft geen standaardcontract"


def _size_request(app, contract_id: int, *, ends_in_days: int, state=SizeRequestState.APPROVED) -> None:
    with app.state.portal.sessions() as session:
        anna_id = session.scalar(select(User.id).where(User.username == "anna"))
        session.add(SizeRequest(contract_id=contract_id, requester_id=anna_id, bundle="bi-sql-duckdb", size="medium",
                                reason="grote join", ends_on=utcnow().date() + timedelta(days=ends_in_days),
                                state=state))
        session.commit()


def test_an_approved_size_on_request_is_offered_until_its_last_day(app, client, anna, hubs):
    contract_id = contract(app)
    _size_request(app, contract_id, ends_in_days=-1)                                  # ended yesterday
    _size_request(app, contract_id, ends_in_days=10, state=SizeRequestState.REQUESTED)   # not decided
    assert launch(anna, "bi-sql-duckdb", "medium").json()["reason"] == "size-not-in-contract"
    _size_request(app, contract_id, ends_in_days=0)                                   # its last day is today
    launched = launch(anna, "bi-sql-duckdb", "medium")
    assert launched.status_code == 202, launched.text
    assert launched.json()["size"] == "medium"


def test_the_catalogue_offers_the_contracts_bundles_and_sizes(app, client, anna):
    before = {b["id"] for b in client.get("/api/v1/bundles").json()}
    assert {"bi-sql-duckdb", OTHER_BI} <= before
    contract_id = contract(app)
    assert [b["id"] for b in client.get("/api/v1/bundles").json()] == ["bi-sql-duckdb"]
    other = client.get(f"/api/v1/bundles/{OTHER_BI}").json()
    assert other["refusal"]["reason"] == "bundle-not-in-contract"
    assert client.get("/api/v1/bundles/bi-sql-duckdb").json()["refusal"] is None
    page = client.get("/catalogue", headers={"Accept-Language": "en"}).text
    assert f'data-contract="{contract_id}"' in page and OTHER_BI not in page
    bundle = client.get("/catalogue/bi-sql-duckdb", headers={"Accept-Language": "en"}).text
    assert 'value="small"' in bundle and 'value="medium"' not in bundle
    _size_request(app, contract_id, ends_in_days=3)
    assert 'value="medium"' in client.get("/catalogue/bi-sql-duckdb").text


def test_a_suspended_contract_shows_why_on_the_catalogue_and_refuses_a_restart(app, client, anna, hubs):
    contract_id = contract(app)
    launched = launch(anna, "bi-sql-duckdb").json()
    assert anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop").status_code in (200, 202)
    with app.state.portal.sessions() as session:
        from gereedschapskist.portal.models import Contract

        session.get(Contract, contract_id).state = S.SUSPENDED
        session.commit()
    restart = anna.post_json(f"/api/v1/workspaces/{launched['id']}/restart")
    assert restart.status_code == 409 and restart.json()["reason"] == "contract-suspended"
    page = client.get("/catalogue", headers={"Accept-Language": "nl"}).text
    assert TEXTS["why.contract-suspended"][0] in page
    bundle = client.get("/api/v1/bundles/bi-sql-duckdb").json()
    assert bundle["refusal"]["reason"] == "contract-suspended"


def test_a_workspace_from_before_the_contract_is_not_restarted_in_the_shared_environment(app, client, anna, hubs):
    launched = launch(anna, "bi-sql-duckdb").json()            # no contract yet: the shared environment
    assert launched["environment"] == "shared"
    assert anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop").status_code in (200, 202)
    contract(app)
    restart = anna.post_json(f"/api/v1/workspaces/{launched['id']}/restart")
    assert restart.status_code == 409 and restart.json()["reason"] == "contract-environment-required"
    # and its server, on the same hub, is not taken for a leftover by a launch in the contract's environment
    hubs.made[0].start(username="anna", server_name="handmatig", options={})     # a server the portal did not make
    shown = client.get("/workspaces").text.count("handmatig")
    assert shown > 0
    assert launch(anna, "bi-sql-duckdb").status_code == 202
    assert launched["server_name"] in hubs.made[0].servers(username="anna")
    # "my workspaces" asks the one hub of both environments once: the unknown server is listed once
    assert client.get("/workspaces").text.count("handmatig") == shown
