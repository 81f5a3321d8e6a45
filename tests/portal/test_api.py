"""The JSON API and its OpenAPI document; bad input gets a clear error and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gereedschapskist.catalogue import load
from gereedschapskist.portal.models import RegisterEntry, Workspace

CATALOGUE = load()


def counts(app) -> tuple[int, int]:
    with app.state.portal.sessions() as session:
        return (session.scalar(select(func.count()).select_from(Workspace)),
                session.scalar(select(func.count()).select_from(RegisterEntry)))


def test_openapi_document_describes_every_api_operation(client):
    document = client.get("/api/openapi.json").json()
    paths = document["paths"]
    expected = {("get", "/api/v1/me"), ("get", "/api/v1/roles"), ("get", "/api/v1/environments"),
                ("get", "/api/v1/bundles"), ("get", "/api/v1/bundles/{bundle_id}"),
                ("get", "/api/v1/workspaces"), ("post", "/api/v1/workspaces"),
                ("get", "/api/v1/workspaces/{workspace_id}"), ("get", "/api/v1/workspaces/{workspace_id}/progress"),
                ("post", "/api/v1/workspaces/{workspace_id}/stop"), ("get", "/api/v1/organisations/{slug}"),
                ("get", "/api/v1/organisations/{slug}/workspaces"), ("get", "/healthz")}
    found = {(method, path) for path, ops in paths.items() for method in ops}
    assert expected <= found
    assert not any(path.startswith(("/catalogue", "/workspaces", "/login")) for path in paths)  # pages stay out
    for method, path in expected:
        operation = paths[path][method]
        assert operation.get("summary"), (method, path)
        assert "200" in operation["responses"] or "202" in operation["responses"], (method, path)
        if path.startswith("/api/"):
            assert operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorOut")
    progress = paths["/api/v1/workspaces/{workspace_id}/progress"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in progress
    launch_body = document["components"]["schemas"]["LaunchIn"]
    assert set(launch_body["properties"]) == {"bundle", "size", "interface", "organisation"}


def test_api_needs_a_login(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json() == {"reason": "login-required", "title": "Log eerst in",
                               "message": "log in to use this page"}
    english = client.get("/api/v1/me", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.json()["title"] == "Please log in first"


def test_me_reports_roles_memberships_and_the_csrf_token(client, login):
    me = login("cas", ["org:cbs", "role:ml", "org-admin:cbs", "data-owner:minfin"])
    body = client.get("/api/v1/me").json()
    assert body["username"] == "cas" and body["roles"] == ["ml"] and body["csrf_token"] == me.csrf
    assert {o["organisation"]: sorted(o["roles"]) for o in body["organisations"]} == {
        "cbs": ["data-scientist", "organisation-admin"], "minfin": ["data-owner"]}


@pytest.mark.parametrize("role", sorted(CATALOGUE.roles))
def test_bundles_for_my_roles(client, login, role):
    login("dan", [f"role:{role}"])
    body = client.get("/api/v1/bundles").json()
    assert [b["id"] for b in body] == [b.id for b in CATALOGUE.offered_for([role])]


def test_bundles_of_an_unknown_role_is_a_clear_404(client, login):
    login("dan", ["role:bi"])
    response = client.get("/api/v1/bundles?role=astrology")
    assert response.status_code == 404 and response.json()["reason"] == "unknown-role"


@pytest.mark.parametrize("bundle_id", sorted(CATALOGUE.bundles))
def test_bundle_detail(client, login, bundle_id):
    login("dan", ["role:bi"])
    bundle = CATALOGUE.bundles[bundle_id]
    body = client.get(f"/api/v1/bundles/{bundle_id}").json()
    assert body["version"] == bundle.version and body["lifecycle"]["status"] == bundle.lifecycle.status.value
    assert {(p["name"], p["version"]) for p in body["packages"]} == {(p.name, p.version) for p in bundle.packages}
    assert body["supply_model"]["letter"] == bundle.supply_model.letter
    assert body["security_review"]["valid_until"] == bundle.security_review.valid_until.isoformat()
    may = bundle.offered and "bi" in bundle.roles
    assert body["may_launch"] is may
    assert (body["refusal"] is None) is may


@pytest.mark.parametrize("body, status, reason", [
    ({"bundle": "no-such-bundle"}, 403, "unknown-bundle"),
    ({"bundle": "bi-sql-duckdb", "size": "gigantic"}, 403, "unknown-size"),
    ({"bundle": "ml-python"}, 403, "role"),
    ({"bundle": "bi-sql-classic"}, 403, "not-offered"),
    ({"bundle": "bi-sql-duckdb", "interface": "excel"}, 403, "unknown-interface"),
    ({"bundle": "bi-sql-duckdb", "organisation": "minfin"}, 403, "not-a-member"),
    ({"bundle": "bi-sql-duckdb", "colour": "blue"}, 422, "invalid-input"),
    ({}, 422, "invalid-input"),
])
def test_bad_launches_are_refused_clearly_and_change_nothing(app, client, login, body, status, reason):
    me = login("eva", ["org:cbs", "role:bi"])
    before = counts(app)
    response = me.post_json("/api/v1/workspaces", body)
    assert response.status_code == status, response.text
    assert response.json()["reason"] == reason
    assert response.json()["message"]
    assert counts(app) == before


def test_the_size_error_lists_the_choices(client, login):
    me = login("eva", ["org:cbs", "role:bi"])
    message = me.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb", "size": "xxl"}).json()["message"]
    assert "'xxl'" in message and "small, medium, large" in message


def test_no_organisation_means_nowhere_to_run(client, login):
    me = login("fay", ["role:bi"])
    response = me.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb"})
    assert response.status_code == 403 and response.json()["reason"] == "no-organisation"


def test_two_organisations_need_a_choice(client, login):
    me = login("gus", ["role:bi", "org:cbs", "org:minfin"])
    response = me.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb"})
    assert response.status_code == 422 and response.json()["reason"] == "organisation-required"
    assert "cbs, minfin" in response.json()["message"]


def test_api_post_without_the_csrf_header_is_refused(app, client, login):
    login("eva", ["org:cbs", "role:bi"])
    before = counts(app)
    response = client.post("/api/v1/workspaces", json={"bundle": "bi-sql-duckdb"})
    assert response.status_code == 403 and response.json()["reason"] == "csrf"
    assert counts(app) == before


def test_organisation_admin_sees_members_and_their_roles(client, second_client, login):
    login("hal", ["org:cbs", "role:ml"], on=second_client)
    login("ida", ["org:minfin", "role:bi"], on=second_client)
    login("boss", ["org:cbs", "org-admin:cbs", "role:bi"])
    body = client.get("/api/v1/organisations/cbs").json()
    assert body["id"] == "cbs"
    members = {m["username"]: m for m in body["members"]}
    assert set(members) == {"hal", "boss"}
    assert members["hal"]["member_roles"] == ["data-scientist"] and members["hal"]["workbench_roles"] == ["ml"]
    assert sorted(members["boss"]["member_roles"]) == ["data-scientist", "organisation-admin"]
    assert client.get("/api/v1/organisations/cbs/workspaces").json() == []


def test_members_and_other_organisations_admins_may_not_see_an_organisation(client, login):
    login("jan", ["org:cbs", "org-admin:minfin", "role:bi"])
    response = client.get("/api/v1/organisations/cbs")
    assert response.status_code == 403 and response.json()["reason"] == "not-organisation-admin"
    assert client.get("/api/v1/organisations/nowhere").json()["reason"] == "unknown-organisation"


def test_health(client):
    assert client.get("/healthz").json()["status"] == "ok"
