"""Who grants workbench roles (issue 12, item 10): the issuer, and on top of it an organisation's admins in the portal.

Real portal, real database (SQLite; PostgreSQL too when configured), the real pages and forms. The hub is
:mod:`tests.portal.fakehub` (an in-memory hub): these tests are about what the portal decides and passes to the
hub; that the real hub honours ``granted_roles`` from the portal's token only is ``tests/hub/test_handover.py``.
"""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from gereedschapskist.catalogue import load
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import RegisterAction, RegisterEntry, RoleGrant, User
from gereedschapskist.portal.services import grants as grant_service
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.fakehub import FakeHubs
from tests.portal.support import make_user

CATALOGUE = load()
#: a bundle for ml and not for bi (anna's role from the issuer)
ML_BUNDLE = next(b.id for b in CATALOGUE.offered_for(["ml"]) if b not in CATALOGUE.offered_for(["bi"]))


@pytest.fixture
def hubs() -> FakeHubs:
    return FakeHubs()


@pytest.fixture
def app(settings, hubs):
    return create_app(settings.model_copy(update={"environment_name": "shared"}), catalogue_model=CATALOGUE,
                      hub_factory=hubs.factory)


@pytest.fixture
def people(app, client, login, second_client):
    """dana (admin of minfin) on ``client``; anna (data scientist of minfin, role bi) on ``second_client``; bram
    of cbs exists too."""
    dana = login("dana", ["org:minfin", "org-admin:minfin"])
    anna = login("anna", ["org:minfin", "role:bi"], on=second_client)
    make_user(app.state.portal.sessions, username="bram", groups=["org:cbs", "role:ml"])
    return dana, anna


def grant_form(**values) -> dict:
    return {"member": "anna", "role": "ml", "until": (date.today() + timedelta(days=30)).isoformat(),
            "reason": "Project fraude-signalen, Q1", **values}


def rows(app, model):
    with app.state.portal.sessions() as session:
        return list(session.scalars(select(model)))


def actions(app) -> list[str]:
    return [e.action.value for e in rows(app, RegisterEntry)]


def test_an_admin_grants_a_member_a_role_which_counts_for_launches_and_reaches_the_hub(app, hubs, people):
    dana, anna = people
    assert anna.client.get("/api/v1/me").json()["roles"] == ["bi"]
    before = anna.post_json("/api/v1/workspaces", {"bundle": ML_BUNDLE, "organisation": "minfin"})
    assert before.status_code == 403 and before.json()["reason"] == "role"
    response = dana.post_form("/organisations/minfin/grants", grant_form())
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/organisations/minfin/roles?done=granted"

    assert anna.client.get("/api/v1/me").json()["roles"] == ["bi", "ml"]
    launched = anna.post_json("/api/v1/workspaces", {"bundle": ML_BUNDLE, "organisation": "minfin"})
    assert launched.status_code == 202, launched.text
    (key, options), = hubs.made[0].options.items()
    assert key[0] == "anna" and options["bundle"] == ML_BUNDLE
    assert options["granted_roles"] == ["ml"]           # the hub sees the issuer's groups; the portal passes the grant

    (grant,) = rows(app, RoleGrant)
    assert (grant.role, grant.reason, grant.last_day) == ("ml", "Project fraude-signalen, Q1",
                                                          date.today() + timedelta(days=30))
    entry = next(e for e in rows(app, RegisterEntry) if e.action is RegisterAction.ROLE_GRANTED)
    assert entry.purpose == "Project fraude-signalen, Q1" and entry.details["user"] == "anna"
    assert entry.actor_id == dana.user_id
    with app.state.portal.sessions() as session:
        assert verify_chain(session).ok


def test_a_launch_of_the_issuers_roles_only_passes_no_grants(app, hubs, people):
    _dana, anna = people
    bi_bundle = CATALOGUE.offered_for(["bi"])[0].id
    assert anna.post_json("/api/v1/workspaces", {"bundle": bi_bundle, "organisation": "minfin"}).status_code == 202
    (options,) = hubs.made[0].options.values()
    assert "granted_roles" not in options


@pytest.mark.parametrize("values, status, reason, named", [
    ({"member": "bram"}, 422, "not-organisation-member", "'bram'"),          # outside the organisation
    ({"member": "nobody"}, 422, "not-organisation-member", "'nobody'"),
    ({"role": "astrology"}, 422, "unknown-role", "'astrology'"),
    ({"until": "31-12-2027"}, 422, "invalid-date", "'31-12-2027'"),
    ({"until": (date.today() - timedelta(days=1)).isoformat()}, 422, "invalid-date", "has passed"),
    ({"until": (date.today() + timedelta(days=400)).isoformat()}, 422, "grant-too-long", "365 days"),
    ({"reason": "  "}, 422, "grant-reason-required", "reason"),
    ({"role": "bi"}, 409, "role-already-held", "identity provider"),
])
def test_bad_grants_are_refused_naming_the_field_and_nothing_is_stored(app, people, values, status, reason, named):
    dana, _anna = people
    before = actions(app)
    response = dana.post_form("/organisations/minfin/grants", grant_form(**values), headers={"Accept-Language": "en"})
    assert response.status_code == status, response.text
    page = html.unescape(response.text)
    assert 'id="problem"' in page and named in page
    assert f"error.{reason}" not in page                    # the headline is a text, not a key
    for field in ("until", "reason"):                       # what was typed is still in the form
        assert grant_form(**values)[field].strip() in page
    assert rows(app, RoleGrant) == [] and actions(app) == before


def test_an_admin_cannot_grant_themselves_a_role_and_a_platform_admin_grants_none(app, client, people, login):
    dana, _anna = people
    refused = dana.post_form("/organisations/minfin/grants", grant_form(member="dana"),
                             headers={"Accept-Language": "en"})
    assert refused.status_code == 403 and "grant yourself a role" in refused.text
    femke = login("femke", ["gereedschapskist:admins"], on=client)
    assert femke.post_form("/organisations/minfin/grants", grant_form()).status_code == 403
    page = femke.client.get("/organisations/minfin/roles", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and 'id="grant"' not in page.text and "Platform admins do not grant" in page.text
    assert rows(app, RoleGrant) == []


def test_a_second_grant_of_the_same_role_is_refused_until_the_first_is_revoked(app, people):
    dana, anna = people
    assert dana.post_form("/organisations/minfin/grants", grant_form()).status_code == 303
    assert dana.post_form("/organisations/minfin/grants", grant_form()).status_code == 409
    (grant,) = rows(app, RoleGrant)
    revoked = dana.post_form(f"/organisations/minfin/grants/{grant.id}/revoke", {})
    assert revoked.status_code == 303
    assert anna.client.get("/api/v1/me").json()["roles"] == ["bi"]
    refused = anna.post_json("/api/v1/workspaces", {"bundle": ML_BUNDLE, "organisation": "minfin"})
    assert refused.status_code == 403 and refused.json()["reason"] == "role"
    assert dana.post_form(f"/organisations/minfin/grants/{grant.id}/revoke", {}).status_code == 409
    assert actions(app).count("role-revoked") == 1
    assert dana.post_form("/organisations/minfin/grants", grant_form()).status_code == 303


def test_an_expired_grant_and_a_grant_of_an_organisation_left_do_not_count(app, people):
    dana, anna = people
    with app.state.portal.sessions() as session:
        actor = session.get(User, dana.user_id)
        organisation = actor.active_memberships()[0].organisation
        past = grant_service.utcnow() - timedelta(days=40)
        grant_service.grant_role(session, catalogue=CATALOGUE, organisation=organisation, actor=actor,
                                 username="anna", role="ml", until=(past.date() + timedelta(days=10)).isoformat(),
                                 reason="a month ago, for ten days", now=past)
        session.commit()
    assert anna.client.get("/api/v1/me").json()["roles"] == ["bi"]      # expired

    assert dana.post_form("/organisations/minfin/grants", grant_form(role="dev")).status_code == 303
    assert anna.client.get("/api/v1/me").json()["roles"] == ["bi", "dev"]
    make_user(app.state.portal.sessions, username="anna", groups=["org:cbs", "role:bi"])   # moved to cbs
    assert anna.client.get("/api/v1/me").json()["roles"] == ["bi"]


def test_the_home_page_names_the_real_next_step_for_a_user_without_a_role(app, client, people, login, second_client):
    dana, _anna = people
    page = dana.client.get("/", headers={"Accept-Language": "en"}).text
    assert "You administer minfin, but you do not grant yourself a role" in page
    assert 'href="/organisations/minfin/roles"' in page
    assert "Ask your organisation admin" not in page
    dutch = dana.client.get("/", headers={"Accept-Language": "nl"}).text
    assert "maar uzelf geeft u geen rol" in dutch

    olga = login("olga", ["org:minfin", "data-owner:minfin"], on=second_client)
    page = olga.client.get("/", headers={"Accept-Language": "en"}).text
    assert "Ask an admin of minfin for a role: Dana." in page

    piet = login("piet", ["org:cbs"], on=second_client)        # cbs has no admin in the portal
    page = piet.client.get("/", headers={"Accept-Language": "en"}).text
    assert "cbs has no admin in the portal yet" in page


def test_the_roles_page_shows_grants_and_who_gave_them(app, people):
    dana, _anna = people
    dana.post_form("/organisations/minfin/grants", grant_form())
    page = dana.client.get("/organisations/minfin/roles?done=granted", headers={"Accept-Language": "en"}).text
    assert "The role was granted and recorded in the register." in page
    assert "through " + (date.today() + timedelta(days=30)).isoformat() + ", by Dana: Project fraude-signalen" in page


def test_a_restart_passes_the_grant_too_and_a_revoked_grant_refuses_it(app, hubs, people):
    dana, anna = people
    assert dana.post_form("/organisations/minfin/grants", grant_form()).status_code == 303
    workspace_id = anna.post_json("/api/v1/workspaces", {"bundle": ML_BUNDLE, "organisation": "minfin"}).json()["id"]
    assert anna.post_json(f"/api/v1/workspaces/{workspace_id}/stop", {}).status_code == 200
    hubs.made[0].options.clear()
    assert anna.post_json(f"/api/v1/workspaces/{workspace_id}/restart").status_code == 202
    (options,) = hubs.made[0].options.values()
    assert options["granted_roles"] == ["ml"]
    assert anna.post_json(f"/api/v1/workspaces/{workspace_id}/stop", {}).status_code == 200
    (grant,) = rows(app, RoleGrant)
    assert dana.post_form(f"/organisations/minfin/grants/{grant.id}/revoke", {}).status_code == 303
    refused = anna.post_json(f"/api/v1/workspaces/{workspace_id}/restart")
    assert refused.status_code == 403 and refused.json()["reason"] == "role"
