"""Session cookies and CSRF protection on every form (server-side sessions: see test_sessions.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from gereedschapskist.portal.deps import check_csrf_form, check_csrf_header
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import PortalSession, User, Workspace


def test_session_cookie_is_signed_httponly_lax_and_named_for_the_portal(client):
    response = client.get("/")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("gereedschapskist_portal=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()          # plain-HTTP development URL


def test_session_cookie_is_secure_behind_https(settings):
    app = create_app(settings.model_copy(update={"public_url": "https://portal.example.nl"}))
    with TestClient(app, base_url="https://portal.example.nl") as client:
        assert "; secure" in client.get("/").headers["set-cookie"].lower()


def test_a_tampered_session_cookie_counts_as_logged_out(client, login, settings):
    login("kim", ["role:bi"])
    value = client.cookies.get(settings.session_cookie)
    client.cookies.set(settings.session_cookie, value[:-3] + "AAA", domain="127.0.0.1")
    assert client.get("/api/v1/me").status_code == 401


def test_every_form_carries_the_csrf_token(client, login):
    me = login("kim", ["role:bi", "org:cbs"])
    page = client.get("/catalogue/bi-sql-duckdb").text
    forms = page.count("<form")
    assert forms >= 2                               # launch + logout
    assert page.count(f'name="csrf_token" value="{me.csrf}"') == forms


def test_a_form_post_without_or_with_a_wrong_token_is_refused_and_changes_nothing(app, client, login):
    me = login("kim", ["role:bi", "org:cbs"])
    for data in ({"bundle": "bi-sql-duckdb"}, {"bundle": "bi-sql-duckdb", "csrf_token": "forged"}):
        response = client.post("/workspaces", data=data, follow_redirects=False, headers={"Accept-Language": "en"})
        assert response.status_code == 403
        assert "The form has expired" in response.text
    with app.state.portal.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 0
    assert client.get("/api/v1/me").json()["username"] == "kim"     # still logged in
    assert me.csrf


def _dependencies(dependant) -> set:
    found = set()
    for dependency in dependant.dependencies:
        found |= {dependency.call} | _dependencies(dependency)
    return found


def test_every_post_route_checks_the_csrf_token_except_the_issuers_back_channel_logout(app):
    """The back-channel logout comes from the issuer, server to server (its logout token is its
    authentication); CI's contract activation (issue 14) likewise, with the deploy's bearer token and no session, and
    a hub registering a start's dataset mounts (issue 15) with its service token: the only routes without a CSRF
    check, and each is held to its token."""
    try:
        from fastapi.routing import iter_route_contexts   # FastAPI keeps included routers as such
        routes = list(iter_route_contexts(app.routes))
    except ImportError:                                   # pragma: no cover - older FastAPI: a flat list
        routes = list(app.routes)
    posts = [r for r in routes if (r.methods or set()) - {"GET", "HEAD", "OPTIONS"}]
    assert len(posts) >= 5
    unchecked = sorted(r.path for r in posts
                       if not _dependencies(r.dependant) & {check_csrf_form, check_csrf_header})
    assert unchecked == ["/api/v1/contracts/{contract_id}/activate", "/api/v1/hub/grants/{username}/start",
                         "/auth/backchannel-logout"]
    from gereedschapskist.portal.api.contracts import activation_token
    (activate,) = [r for r in posts if r.path == "/api/v1/contracts/{contract_id}/activate"]
    assert activation_token in _dependencies(activate.dependant)
    # a hub registers a start's mounts with its service token (issue 15), server to server, no session
    from gereedschapskist.portal.api.dataset_grants import hub_service
    (mounted,) = [r for r in posts if r.path == "/api/v1/hub/grants/{username}/start"]
    assert hub_service in _dependencies(mounted.dependant)


def test_logout_needs_the_token_and_ends_the_session(client, login):
    me = login("kim", ["role:bi"])
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert client.get("/api/v1/me").status_code == 200
    response = me.post_form("/logout", {})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert client.get("/api/v1/me").status_code == 401


def test_a_session_of_a_user_that_no_longer_exists_is_dropped(app, client, login):
    me = login("kim", ["role:bi"])
    with app.state.portal.sessions() as session:
        session.execute(delete(User).where(User.id == me.user_id))
        session.commit()
        assert session.scalar(select(func.count()).select_from(PortalSession)) == 0     # ended with the user
    assert client.get("/api/v1/me").status_code == 401


def test_pages_send_people_to_the_login_and_back(settings, hub_port):
    app = create_app(settings.model_copy(update={"oidc_issuer": f"http://127.0.0.1:{hub_port}"}))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = client.get("/workspaces?x=1", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fworkspaces%3Fx%3D1"
        assert client.get("/api/v1/workspaces").status_code == 401          # the API never redirects


def test_login_with_the_issuer_down_is_a_clear_503(settings, hub_port):
    app = create_app(settings.model_copy(update={"oidc_issuer": f"http://127.0.0.1:{hub_port}"}))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = client.get("/login", headers={"Accept-Language": "en"})
        assert response.status_code == 503
        assert "Login is unavailable" in response.text and f"127.0.0.1:{hub_port}" in response.text


def test_login_redirects_only_to_local_pages(client):
    from gereedschapskist.portal.routes.home import safe_next

    assert safe_next("/catalogue?role=bi") == "/catalogue?role=bi"
    for bad in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "catalogue", None, ""):
        assert safe_next(bad) == "/"
