"""Server-side sessions (issue 11, findings 1 and 4): the cookie holds a random id only; a forged cookie, a
cookie from before logout, an expired session are all worthless; /language never prolongs a session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import PortalSession, utcnow
from gereedschapskist.portal.settings import PLACEHOLDER_SECRET
from tests.portal.support import forged_cookie


def _rows(app) -> list[PortalSession]:
    with app.state.portal.sessions() as session:
        return list(session.scalars(select(PortalSession)))


def _age(app, *, created: timedelta = timedelta(0), idle: timedelta = timedelta(0)) -> None:
    """Make every session look older: created ``created`` ago, last used ``idle`` ago."""
    with app.state.portal.sessions() as session:
        session.execute(update(PortalSession).values(created_at=utcnow() - created, last_seen_at=utcnow() - idle))
        session.commit()


def test_a_cookie_forged_with_the_placeholder_key_is_rejected(settings, login):
    """The attack of finding 1: a cookie signed with the public placeholder claiming a platform admin."""
    app = create_app(settings.model_copy(update={"session_secret": SecretStr(PLACEHOLDER_SECRET)}))  # loopback
    with TestClient(app, base_url="http://127.0.0.1") as client:
        admin = login("root", ["gereedschapskist:admins", "org:cbs"], on=client)
        for data in ({"uid": admin.user_id, "csrf": "x", "platform_admin": True}, {"uid": admin.user_id}):
            client.cookies.clear()
            client.cookies.set(settings.session_cookie, forged_cookie(PLACEHOLDER_SECRET, data), domain="127.0.0.1")
            assert client.get("/api/v1/me").status_code == 401
            response = client.post("/api/v1/workspaces", json={"bundle": "bi-sql-duckdb"},
                                   headers={"X-CSRF-Token": "x"})
            assert response.status_code in (401, 403)


def test_the_cookie_holds_only_a_signed_random_id(app, client, login, settings):
    login("kim", ["role:bi", "org:cbs"])
    value = client.cookies.get(settings.session_cookie)
    raw, _, signature = value.rpartition(".")
    assert len(raw) == 43 and signature and "." not in raw           # 32 random bytes, base64url
    [row] = _rows(app)
    assert row.id != raw and len(row.id) == 64                      # the table keeps its SHA-256 only
    client.cookies.set(settings.session_cookie, f"{raw}.forged", domain="127.0.0.1")
    assert client.get("/api/v1/me").status_code == 401


def test_a_cookie_captured_before_logout_is_rejected_afterwards(app, client, second_client, login, settings):
    me = login("kim", ["role:bi", "org:cbs"])
    captured = client.cookies.get(settings.session_cookie)
    assert me.post_form("/logout", {}).status_code == 303
    assert _rows(app) == []
    second_client.cookies.set(settings.session_cookie, captured, domain="127.0.0.1")
    assert second_client.get("/api/v1/me").status_code == 401
    assert second_client.post("/api/v1/workspaces", json={"bundle": "bi-sql-duckdb"},
                              headers={"X-CSRF-Token": me.csrf}).status_code in (401, 403)


def test_a_session_ends_after_its_absolute_lifetime_whatever_happens(app, client, login, settings):
    login("kim", ["role:bi", "org:cbs"])
    _age(app, created=timedelta(seconds=settings.session_max_age_seconds - 60))
    assert client.get("/api/v1/me").status_code == 200
    _age(app, created=timedelta(seconds=settings.session_max_age_seconds + 1))
    assert client.get("/api/v1/me").status_code == 401
    assert _rows(app) == []


def test_a_session_unused_for_its_idle_lifetime_ends(app, client, login, settings):
    login("kim", ["role:bi", "org:cbs"])
    _age(app, idle=timedelta(seconds=settings.session_idle_seconds - 120))
    assert client.get("/api/v1/me").status_code == 200                 # used: counts as activity
    [row] = _rows(app)
    assert utcnow() - row.last_seen_at < timedelta(seconds=5)
    _age(app, idle=timedelta(seconds=settings.session_idle_seconds + 1))
    assert client.get("/api/v1/me").status_code == 401


def test_choosing_a_language_never_prolongs_a_session(app, client, login, settings):
    """Finding 4: /language re-signed a 7-hour-old cookie with a fresh timestamp."""
    login("kim", ["role:bi", "org:cbs"])
    _age(app, created=timedelta(hours=7), idle=timedelta(seconds=settings.session_idle_seconds - 120))
    before = client.cookies.get(settings.session_cookie)
    response = client.get("/language/en?next=/", follow_redirects=False)
    assert response.status_code == 303 and "set-cookie" not in response.headers
    assert client.cookies.get(settings.session_cookie) == before
    [row] = _rows(app)
    assert row.data["lang"] == "en"
    assert utcnow() - row.last_seen_at > timedelta(seconds=settings.session_idle_seconds - 130)   # not touched
    _age(app, created=timedelta(hours=8, seconds=1))
    assert client.get("/language/nl", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_a_login_gets_a_fresh_session_id(app, client, settings):
    """No fixation: the id a visitor had before logging in is not the logged-in session's."""
    client.get("/language/en")
    anonymous = client.cookies.get(settings.session_cookie)
    store = app.state.portal.session_store
    loaded = store.load(anonymous)
    assert loaded is not None and loaded.user_id is None
    fresh = store.save(loaded, {**loaded.data, "uid": _user(app)}, touch=True)
    assert fresh and fresh != anonymous and store.load(anonymous) is None


def _user(app) -> int:
    from tests.portal.support import make_user
    return make_user(app.state.portal.sessions, username="fix", groups=["org:cbs"])


def test_expired_sessions_are_purged(app, client, login, settings):
    login("kim", ["role:bi", "org:cbs"])
    login("lea", ["role:bi", "org:cbs"], on=TestClient(app, base_url="http://127.0.0.1"))
    _age(app, idle=timedelta(seconds=settings.session_idle_seconds + 1))
    assert app.state.portal.session_store.purge() == 2
    with app.state.portal.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PortalSession)) == 0


@pytest.mark.parametrize("path", ["/", "/api/v1/me", "/api/docs", "/static/portal.css", "/nowhere"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in headers                # plain-HTTP development URL


def test_hsts_when_the_public_url_is_https(settings):
    app = create_app(settings.model_copy(update={"public_url": "https://portal.example.nl"}))
    with TestClient(app, base_url="https://portal.example.nl") as client:
        assert client.get("/").headers["strict-transport-security"].startswith("max-age=31536000")


def test_no_page_has_an_inline_script_or_handler(client, login):
    import re
    login("kim", ["role:bi", "org:cbs"])
    for path in ("/", "/catalogue", "/catalogue/bi-sql-duckdb", "/workspaces", "/api/docs"):
        page = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\son[a-z]+\s*=", page), path


def test_the_api_docs_are_served_without_a_cdn(client):
    page = client.get("/api/docs").text
    assert "cdn" not in page.lower() and "https://" not in page
    for asset in ("/api/docs/assets/swagger-ui-bundle.js", "/api/docs/assets/swagger-ui.css",
                  "/static/swagger-init.js"):
        assert asset in page
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 100, asset
