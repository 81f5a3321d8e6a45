"""Published apps in the portal (issue 17, section 1; ``services/apps.py``, ``api/apps.py``, ``routes/apps.py``)
against the in-memory hub: publishing checks the bundle's framework and the source, the audience decides who sees
and opens an app, only its owner and admins manage it, every publish is a version with rollback, and publishing,
rolling back and unpublishing are register entries. The hub's side is tests/hub/test_apps.py, the browser journey
tests/e2e/test_publish_app.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gereedschapskist.portal.errors import InvalidInput
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import RegisterEntry
from gereedschapskist.portal.services import apps as service
from tests.portal.fakehub import FakeHubs

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture
def hubs() -> FakeHubs:
    return FakeHubs()


@pytest.fixture
def app(settings, hubs):
    return create_app(settings, hub_factory=hubs.factory)


@pytest.fixture
def people(app, login):
    out = {}
    for name, groups in (("anna", ["org:minfin", "role:bi"]), ("carl", ["org:minfin"]),
                         ("dana", ["org:minfin", "org-admin:minfin"]), ("bram", ["org:cbs", "role:ml"]),
                         ("femke", ["gereedschapskist:admins"])):
        out[name] = login(name, groups, on=TestClient(app, base_url="http://127.0.0.1", follow_redirects=False))
    return out


def _actions(app) -> list[str]:
    with app.state.portal.sessions() as session:
        return [e.action.value for e in session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence))
                if e.action.value.startswith("app-")]


PANEL = {"title": "Verkoop per maand", "framework": "panel", "bundle": "bi-dashboards",
         "entry": "dashboards/verkoop.py"}


def test_publish_starts_the_app_server_and_shares_it_with_the_organisation(app, people, hubs):
    anna = people["anna"]
    made = anna.post_json("/api/v1/apps", PANEL)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["slug"] == "verkoop-per-maand" and body["version"] == 1 and body["audience"] == "organisation"
    assert body["url"].endswith("/user/anna/app-verkoop-per-maand/") and body["open_url"] == f"/apps/{body['id']}/open"
    hub = hubs.made[0]
    options = hub.options[("anna", "app-verkoop-per-maand")]
    assert options["bundle"] == "bi-dashboards" and options["organisation"] == "minfin"
    assert options["app"] == {"framework": "panel", "entry": "dashboards/verkoop.py"}
    assert hub.shares[("anna", "app-verkoop-per-maand")] == ([], ["org:minfin"])
    assert _actions(app) == ["app-published"]


def test_a_framework_the_bundle_lacks_is_refused_naming_both(app, people, hubs):
    refused = people["anna"].post_json("/api/v1/apps", {**PANEL, "framework": "streamlit"})
    assert refused.status_code == 409 and refused.json()["reason"] == "framework-not-in-bundle"
    assert "bi-dashboards" in refused.json()["message"] and "Streamlit" in refused.json()["message"]
    assert _actions(app) == []


@pytest.mark.parametrize("change, reason", [
    ({"entry": "../bram/app.py"}, "bad-entry"),
    ({"entry": "app.ipynb", "framework": "panel", "git": "https://example.org/r.git", "commit": "main"}, "bad-commit"),
    ({"git": "ssh://example.org/r.git", "commit": COMMIT}, "bad-git"),
    ({"audience": "users"}, "bad-audience"),
    ({"audience": "group", "audience_names": ["everyone"]}, "bad-audience"),
    ({"title": "!"}, "bad-title"),
    ({"bundle": "ml-python"}, "role"),
])
def test_bad_input_is_refused_before_anything_is_stored(app, people, change, reason):
    refused = people["anna"].post_json("/api/v1/apps", {**PANEL, **change})
    assert refused.json().get("reason") == reason, refused.text
    assert _actions(app) == []


def test_production_publishes_only_a_git_commit():
    with pytest.raises(InvalidInput) as refused:
        service._source(framework="panel", entry="app.py", git=None, commit=None, production=True)
    assert refused.value.reason == "commit-required"
    assert service._source(framework="panel", entry="app.py", git="https://example.org/r.git", commit=COMMIT,
                           production=True) == {"entry": "app.py", "git": "https://example.org/r.git",
                                                "commit": COMMIT}


def test_the_audience_decides_who_sees_and_opens_and_only_managers_manage(app, people, hubs):
    anna, carl, dana, bram, femke = (people[n] for n in ("anna", "carl", "dana", "bram", "femke"))
    app_id = anna.post_json("/api/v1/apps", PANEL).json()["id"]
    for colleague in (carl, dana, femke):
        assert [a["id"] for a in colleague.client.get("/api/v1/apps").json()] == [app_id]
        assert colleague.client.get(f"/apps/{app_id}").status_code == 200
    assert bram.client.get("/api/v1/apps").json() == []
    assert bram.client.get(f"/api/v1/apps/{app_id}").status_code == 404
    assert bram.client.get(f"/apps/{app_id}/open").status_code == 404
    assert bram.post_json(f"/api/v1/apps/{app_id}/stop").status_code == 404
    # a colleague opens it (and a running app is a redirect to its URL), but does not manage it
    opened = carl.client.get(f"/apps/{app_id}/open")
    assert opened.status_code == 303 and opened.headers["location"].endswith("/user/anna/app-verkoop-per-maand/")
    assert carl.post_json(f"/api/v1/apps/{app_id}/stop").json()["reason"] == "not-app-manager"
    assert carl.client.get(f"/api/v1/apps/{app_id}/logs").status_code == 403
    # the organisation's admin and platform admins do
    assert dana.client.get(f"/api/v1/apps/{app_id}/logs").json()["lines"] == [
        "app proxy: listening (anna/app-verkoop-per-maand)"]
    assert femke.post_json(f"/api/v1/apps/{app_id}/stop").status_code == 200
    # named users: bram in, carl out
    anna.post_json("/api/v1/apps", {**PANEL, "audience": "users", "audience_names": ["bram"]})
    assert [a["id"] for a in bram.client.get("/api/v1/apps").json()] == [app_id]
    assert carl.client.get(f"/api/v1/apps/{app_id}").status_code == 404


def test_versions_rollback_and_unpublish_are_registered(app, people, hubs):
    anna = people["anna"]
    app_id = anna.post_json("/api/v1/apps", PANEL).json()["id"]
    second = anna.post_json("/api/v1/apps", {**PANEL, "entry": "dashboards/verkoop2.py"}).json()
    assert second["id"] == app_id and second["version"] == 2 and len(second["versions"]) == 2
    back = anna.post_json(f"/api/v1/apps/{app_id}/rollback").json()
    assert back["version"] == 1
    hub = hubs.made[0]
    assert hub.options[("anna", "app-verkoop-per-maand")]["app"]["entry"] == "dashboards/verkoop.py"
    assert anna.post_json(f"/api/v1/apps/{app_id}/rollback").json()["reason"] == "no-previous-version"
    assert anna.post_json(f"/api/v1/apps/{app_id}/unpublish").status_code == 204
    assert ("anna", "app-verkoop-per-maand") not in hub.running()
    assert anna.client.get("/api/v1/apps").json() == []
    assert anna.client.get(f"/api/v1/apps/{app_id}").status_code == 404
    assert _actions(app) == ["app-published", "app-published", "app-rolled-back", "app-unpublished"]


def test_the_apps_page_publishes_and_lists(app, people):
    anna = people["anna"]
    page = anna.client.get("/apps")
    assert page.status_code == 200 and 'id="publish-form"' in page.text and "bi-dashboards" in page.text
    assert 'id="publish-needs-membership"' not in page.text
    femke = people["femke"].client.get("/apps", headers={"Accept-Language": "en"})    # a member of no organisation
    assert femke.status_code == 200 and 'id="publish-form"' not in femke.text
    assert 'id="publish-needs-membership"' in femke.text and "not a member of any organisation" in femke.text
    done = anna.post_form("/apps", PANEL)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=published")
    listed = anna.client.get("/apps")
    assert "Verkoop per maand" in listed.text and "/apps/" in listed.text
    refused = anna.post_form("/apps", {**PANEL, "framework": "voila", "title": "Voila app", "entry": "x.py"})
    assert refused.status_code == 422 and 'id="problem"' in refused.text
