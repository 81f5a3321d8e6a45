"""Grants where the data is used (issue 15), the portal's part: the hubs' grant endpoint (their service token only,
fail closed), ``dataset-mounted`` at a workspace start, revocation (who may, the reason, once) and ``access-expired``
once per expired grant. Expiry is simulated by setting ``expires_at`` in the database (no waiting). SQLite;
PostgreSQL when the test URL is set."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from gereedschapskist.portal.errors import Conflict, Forbidden
from gereedschapskist.portal.main import create_app, record_grant_expiries
from gereedschapskist.portal.models import DatasetGrant, RegisterEntry, utcnow
from gereedschapskist.portal.services import access, dataset_grants
from gereedschapskist.portal.services.access import AccessRefused
from tests.portal.test_contracts_service import user
from tests.portal.test_datasets import _ask, sessions  # noqa: F401 - fixture

TOKEN = "t" * 40            # the portal's HUB_API_TOKEN in tests/portal/conftest.py


def _granted(session, who: str, identifier: str, owner: str):
    row = _ask(session, who, identifier)
    if row.grant is None:
        access.decide(session, access_request=row, actor=user(session, owner), approve=True)
    session.commit()
    return row.grant


def _entries(session, action: str) -> list[RegisterEntry]:
    return list(session.scalars(select(RegisterEntry).where(RegisterEntry.action == action)
                                .order_by(RegisterEntry.sequence)))


def test_a_hub_gets_the_active_grants_with_its_service_token_only(app, client, sessions):
    with sessions() as session:
        woz = _granted(session, "anna", "cbs-83625NED", "eva")
        knmi = _granted(session, "anna", "knmi-daggegevens", "olga")
        _granted(session, "bram", "kadaster-bag-verblijfsobjecten", "dirk")     # someone else's
        knmi.revoked_at = utcnow()
        session.commit()
        woz_id = woz.id
    url = "/api/v1/hub/grants/anna"
    for headers in ({}, {"Authorization": "token " + "x" * 40}, {"Authorization": TOKEN},
                    {"Authorization": "token " + TOKEN[:-1]}, {"Authorization": "Basic " + TOKEN}):
        refused = client.get(url, headers=headers)
        assert refused.status_code == 401 and refused.json()["reason"] == "hub-token-refused", headers
    answer = client.get(url, headers={"Authorization": f"token {TOKEN}"})
    assert answer.status_code == 200, answer.text
    grants = answer.json()["grants"]
    assert [(g["grant"], g["identifier"], g["files"], g["purpose_code"], g["legal_ground"]) for g in grants] == [
        (woz_id, "cbs-83625NED", ["cbs-83625NED.csv"], "policy-evaluation", "avg-6-1-e-cw2016")]
    assert grants[0]["expires_at"].startswith((utcnow().date() + timedelta(days=30)).isoformat())
    assert client.get("/api/v1/hub/grants/nobody", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    with sessions() as session:       # asking is not a mount: nothing registered
        assert _entries(session, "dataset-mounted") == []


def test_a_hubs_lookup_is_one_query_however_many_grants(sessions):
    """What a hub gets (without recording a start) comes by one query after the user's — the grants with their
    requests' datasets and organisations as plain rows — however many grants (not one more query per grant), and
    says what the grants' own objects say."""
    from sqlalchemy import event

    def lookup(session) -> tuple[list, int]:
        statements = []
        count = lambda *_: statements.append(1)                                  # noqa: E731
        event.listen(session.get_bind(), "before_cursor_execute", count)
        try:
            session.expire_all()
            return dataset_grants.grants_for_hub(session, username="anna"), len(statements)
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", count)

    with sessions() as session:
        _granted(session, "anna", "cbs-83625NED", "eva")
        one, queries_for_one = lookup(session)
        _granted(session, "anna", "knmi-daggegevens", "olga")
        two, queries_for_two = lookup(session)
        assert len(one) == 1 and len(two) == 2
        assert queries_for_one == queries_for_two == 2
        expected = [dataset_grants.HubGrant(
            grant=g.id, dataset=g.access_request.dataset.id, identifier=g.access_request.dataset.identifier,
            title_nl=g.access_request.dataset.title_nl, title_en=g.access_request.dataset.title_en,
            files=(g.access_request.dataset.data_path,), starts_at=g.starts_at, expires_at=g.expires_at,
            purpose_code=g.access_request.purpose_code, legal_ground=g.access_request.legal_ground,
            organisation=g.access_request.organisation.slug)
            for g in access.active_grants(session, user=user(session, "anna"))]
        assert two == expected


@pytest.mark.parametrize("token", [None, "changeme", "short-token"])
def test_no_usable_portal_token_refuses_every_hub(settings, token):
    """Fail closed: a portal without a hub token (or with a placeholder or a short one) answers no hub, whatever
    it sends."""
    app = create_app(settings.model_copy(update={"hub_api_token": None if token is None else SecretStr(token)}))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for sent in ("", "changeme", "short-token", TOKEN):
            answer = client.get("/api/v1/hub/grants/anna", headers={"Authorization": f"token {sent}"})
            assert answer.status_code == 401, (token, sent)


def test_a_workspace_start_registers_each_dataset_mounted(app, client, sessions):
    with sessions() as session:
        grant = _granted(session, "anna", "cbs-83625NED", "eva")
        grant_id, anna = grant.id, user(session, "anna").id
    answer = client.post("/api/v1/hub/grants/anna/start", json={"server": "tiny-cowsay-abc123"},
                         headers={"Authorization": f"token {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert [g["grant"] for g in answer.json()["grants"]] == [grant_id]
    with sessions() as session:
        [entry] = _entries(session, "dataset-mounted")
        assert (entry.actor_id, entry.details["dataset"], entry.details["grant"], entry.details["server"],
                entry.details["purpose_code"], entry.details["legal_ground"]) == (
            anna, "cbs-83625NED", grant_id, "tiny-cowsay-abc123", "policy-evaluation", "avg-6-1-e-cw2016")
        assert entry.purpose == "Onderzoek naar woningwaarde per gemeente"
        assert (entry.dataset_id, entry.person_id) == (entry.details["dataset_id"], anna)     # per dataset/person


def test_revocation_by_the_data_owner_or_an_admin_with_a_reason(app, sessions):
    with sessions() as session:
        grant = _granted(session, "anna", "cbs-83625NED", "eva")
        for who in ("anna", "dirk", "olga"):        # the grantee, cbs's other data owner, another organisation's
            with pytest.raises(Forbidden) as refused:
                dataset_grants.revoke(session, grant=grant, actor=user(session, who), reason="no longer needed")
            assert refused.value.reason == "not-data-owner"
        for reason in ("", "  x ", None, "y" * 2001):
            with pytest.raises(AccessRefused) as refused:
                dataset_grants.revoke(session, grant=grant, actor=user(session, "eva"), reason=reason)
            assert refused.value.field == "reason" and refused.value.status == 422
        assert grant.revoked_at is None and _entries(session, "access-revoked") == []
        dataset_grants.revoke(session, grant=grant, actor=user(session, "eva"), reason="purpose ended early")
        session.commit()
        assert access.active_grants(session, user=user(session, "anna")) == []
        with pytest.raises(Conflict) as again:
            dataset_grants.revoke(session, grant=grant, actor=user(session, "eva"), reason="twice")
        assert again.value.reason == "grant-revoked"
        [entry] = _entries(session, "access-revoked")
        assert (entry.actor_id, entry.details["reason"], entry.details["grant"]) == (
            user(session, "eva").id, "purpose ended early", grant.id)
        expired = _granted(session, "carl", "cbs-83625NED", "eva")
        expired.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
        with pytest.raises(Conflict) as late:
            dataset_grants.revoke(session, grant=expired, actor=user(session, "eva"), reason="too late")
        assert late.value.reason == "grant-expired"


def test_the_revoke_api_names_the_field_and_refuses_others(app, client, sessions, login):
    with sessions() as session:
        grant_id = _granted(session, "anna", "cbs-83625NED", "eva").id
    anna = login("anna", ["org:minfin", "role:bi"])
    assert anna.post_json(f"/api/v1/grants/{grant_id}/revoke", {"reason": "mine"}).status_code == 403
    eva = login("eva", ["org:cbs", "data-owner:cbs", "role:bi"])
    bad = eva.post_json(f"/api/v1/grants/{grant_id}/revoke", {"reason": "x"})
    assert bad.status_code == 422 and bad.json()["message"].startswith("reason: "), bad.text
    done = eva.post_json(f"/api/v1/grants/{grant_id}/revoke", {"reason": "the project stopped"})
    assert done.status_code == 200 and done.json()["revoked_at"] is not None
    assert eva.post_json(f"/api/v1/grants/{grant_id}/revoke", {"reason": "again"}).status_code == 409


def test_access_expired_is_written_once_per_grant(app, sessions):
    state = app.state.portal
    with sessions() as session:
        first = _granted(session, "anna", "cbs-83625NED", "eva")
        second = _granted(session, "bram", "kadaster-bag-verblijfsobjecten", "dirk")
        revoked = _granted(session, "anna", "knmi-daggegevens", "olga")
        later = _granted(session, "carl", "cbs-83625NED", "eva")
        now = utcnow()
        first.expires_at = second.expires_at = now - timedelta(minutes=1)   # simulated time: expired a minute ago
        revoked.revoked_at, revoked.expires_at = now - timedelta(minutes=3), now - timedelta(minutes=2)
        session.commit()
        ids = sorted([first.id, second.id])
        later_id = later.id
    assert record_grant_expiries(state, "worker-a") == 2
    assert record_grant_expiries(state, "worker-b") is None          # another worker holds the lease
    assert record_grant_expiries(state, "worker-a") == 0             # nothing twice
    with sessions() as session:
        assert sorted(e.details["grant"] for e in _entries(session, "access-expired")) == ids
        session.get(DatasetGrant, later_id).expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert dataset_grants.record_expiries(state.sessions) == 1
    with sessions() as session:
        assert [e.details["grant"] for e in _entries(session, "access-expired")] == [*ids, later_id]
        assert access.active_grants(session, user=user(session, "carl")) == []


def test_the_data_owner_revokes_on_the_dataset_page(app, client, sessions, login):
    with sessions() as session:
        grant = _granted(session, "anna", "cbs-83625NED", "eva")
        grant_id, dataset_id = grant.id, grant.dataset_id
    eva = login("eva", ["org:cbs", "data-owner:cbs", "role:bi"])
    page = client.get(f"/datasets/{dataset_id}")
    assert page.status_code == 200 and f'data-grant="{grant_id}"' in page.text and "/revoke" in page.text
    refused = eva.post_form(f"/grants/{grant_id}/revoke", {"reason": ""})
    assert refused.status_code == 422 and 'id="problem"' in refused.text
    done = eva.post_form(f"/grants/{grant_id}/revoke", {"reason": "the study ended"})
    assert done.status_code == 303 and done.headers["location"] == f"/datasets/{dataset_id}?done=revoked"
    page = client.get(done.headers["location"])
    assert f'data-grant="{grant_id}"' not in page.text and 'id="done"' in page.text
    anna = login("anna", ["org:minfin", "role:bi"])
    mine = client.get("/access-requests")
    assert "ingetrokken op" in mine.text or "revoked on" in mine.text
    assert anna.client.get(f"/datasets/{dataset_id}").text.count("/revoke") == 0     # not for the grantee
