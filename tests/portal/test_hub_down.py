"""The hub being down: the portal still serves pages and says plainly that workspaces are unavailable;
launching changes nothing. (The hub here is a closed port on 127.0.0.1: a real refused connection.)"""

from __future__ import annotations

from sqlalchemy import func, select

from gereedschapskist.portal.main import create_app

from gereedschapskist.portal.models import Environment, EnvironmentKind, EnvironmentStage, RegisterEntry, Workspace


def test_the_default_environment_is_registered_at_start(app, client, settings):
    with app.state.portal.sessions() as session:
        [environment] = session.scalars(select(Environment)).all()
    assert environment.name == "local" and environment.kind is EnvironmentKind.LOCAL
    assert environment.stage is EnvironmentStage.DEVELOPMENT and environment.organisation_id is None
    assert environment.hub_url == settings.hub_url and environment.hub_api_url == f"{settings.hub_url}/hub/api"


def test_pages_work_and_say_workspaces_are_unavailable(client, login, settings):
    login("lea", ["role:bi", "org:cbs"])
    headers = {"Accept-Language": "en"}
    assert client.get("/", headers=headers).status_code == 200
    assert client.get("/catalogue", headers=headers).status_code == 200
    bundle = client.get("/catalogue/bi-sql-duckdb", headers=headers)
    assert bundle.status_code == 200 and "Workspaces are unavailable right now" in bundle.text
    mine = client.get("/workspaces", headers=headers)
    assert mine.status_code == 200 and "Workspaces are unavailable right now" in mine.text
    # the reason's text, never the hub's (internal) API address that the adapter's message names
    for page in (bundle, mine):
        assert "your organisation&#39;s hub does not answer" in page.text
        assert settings.hub_url not in page.text and "/hub/api" not in page.text
    [environment] = client.get("/api/v1/environments").json()
    assert environment["available"] is False and "cannot be reached" in environment["message"]


def test_launching_while_the_hub_is_down_is_a_clear_503_and_stores_nothing(app, client, login):
    me = login("lea", ["role:bi", "org:cbs"])
    response = me.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    assert response.status_code == 503
    assert response.json()["reason"] == "hub-unavailable" and "cannot be reached" in response.json()["message"]
    assert "/hub/api" not in response.json()["message"] and "http" not in response.json()["message"]
    page = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"},
                        headers={"Accept-Language": "en"})
    assert page.status_code == 503 and "Workspaces are unavailable" in page.text
    assert "your organisation&#39;s hub does not answer" in page.text and "/hub/api" not in page.text
    with app.state.portal.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 0
        assert session.scalar(select(func.count()).select_from(RegisterEntry)) == 0


def test_without_a_hub_token_workspaces_are_unavailable_not_broken(settings, tmp_path):
    from fastapi.testclient import TestClient

    from gereedschapskist.portal.main import create_app
    from tests.portal.support import make_user, session_cookie

    app = create_app(settings.model_copy(update={"hub_api_token": None}))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        user_id = make_user(app.state.portal.sessions, username="max", groups=["role:bi", "org:cbs"])
        client.cookies.set(settings.session_cookie, session_cookie(settings, {"uid": user_id, "csrf": "c"}),
                           domain="127.0.0.1")
        response = client.post("/api/v1/workspaces", json={"bundle": "bi-sql-duckdb"}, headers={"X-CSRF-Token": "c"})
        assert response.status_code == 503 and response.json()["reason"] == "hub-not-configured"
        assert "GEREEDSCHAPSKIST_PORTAL_HUB_API_TOKEN" in response.json()["message"]


def test_several_workers_starting_at_once_register_the_environment_once(settings):
    """Production runs several uvicorn workers: each registers the default environment at start."""
    from concurrent.futures import ThreadPoolExecutor

    from gereedschapskist.portal.main import startup

    apps = [create_app(settings) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda app: startup(app.state.portal), apps))
    with apps[0].state.portal.sessions() as session:
        assert len(session.scalars(select(Environment)).all()) == 1
    for app in apps:
        app.state.portal.engine.dispose()
