"""The first launch after login: the hub does not know the user yet (users and groups come from the issuer at hub
login), so it refuses with ``hub-login-needed``. The API says where to log in (``login_url``); a page launch sends
the browser through the hub's single sign-on and back to a form that resumes the launch — only a launch the same
session posted (CSRF-checked), never one named in a link. The real browser journey is ``tests/e2e``."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gereedschapskist.portal.errors import HubLoginNeeded, HubUnavailable, NotFound
from gereedschapskist.portal.jupyterhub import JupyterHubAdapter
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import Workspace
from tests.portal.fakehub import FakeHub

HUB = "http://hub.example.test"


class FirstLoginHub(FakeHub):
    """A hub that knows only the users in ``known`` (those who logged in there)."""

    known: set[str] = set()

    def ensure_user(self, *, username, groups):
        if username not in self.known:
            raise HubLoginNeeded(f"{username} has not logged in to the hub yet", login_url_to=self.login_url)
        super().ensure_user(username=username, groups=groups)

    login_url = JupyterHubAdapter.login_url       # the real adapter's: only its public URL is needed


@pytest.fixture
def hub_class():
    return FirstLoginHub


@pytest.fixture
def status_ttl() -> float:
    return 0.0


@pytest.fixture
def app(settings, hub_class, status_ttl):
    FirstLoginHub.known = set()
    return create_app(settings.model_copy(update={"hub_url": HUB, "hub_status_ttl_seconds": status_ttl}),
                      hub_factory=hub_class)


def _return_path(login_url: str) -> str:
    """Where the hub sends the browser back to: the portal path in ``/hub/spawn?next=…`` in the login's ``next``."""
    spawn = parse_qs(urlsplit(login_url).query)["next"][0]
    assert spawn.startswith("/hub/spawn?"), spawn
    return parse_qs(urlsplit(spawn).query)["next"][0]


def _marker(login_url: str) -> str:
    path = _return_path(login_url)
    assert path.startswith("/workspaces/resume?launch="), path
    return parse_qs(urlsplit(path).query)["launch"][0]


def _workspaces(app) -> int:
    with app.state.portal.sessions() as session:
        return session.scalar(select(func.count()).select_from(Workspace))


def test_the_api_answers_403_with_the_reason_and_where_to_log_in(app, login):
    me = login("lea", ["role:bi", "org:cbs"])
    response = me.client.post("/api/v1/workspaces", json={"bundle": "bi-sql-duckdb", "size": "small"},
                              headers={"X-CSRF-Token": me.csrf, "Accept-Language": "en"})
    assert response.status_code == 403
    body = response.json()
    assert body["reason"] == "hub-login-needed" and body["title"].startswith("Sign in at the hub first")
    assert body["login_url"].startswith(f"{HUB}/hub/oauth_login?")
    # through the hub's sign-on, then its /hub/spawn sends the browser back to the portal's "my workspaces"
    assert parse_qs(urlsplit(body["login_url"]).query)["next"] == ["/hub/spawn?next=%2Fworkspaces"]
    assert _workspaces(app) == 0


def test_a_page_launch_goes_through_the_hubs_sign_on_and_resumes_with_a_csrf_checked_form(app, client, login):
    me = login("lea", ["role:bi", "org:cbs"])
    refused = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    assert refused.status_code == 303 and refused.headers["location"].startswith(f"{HUB}/hub/oauth_login?next=")
    marker = _marker(refused.headers["location"])
    assert _workspaces(app) == 0

    # back from the hub (the hub's /hub/spawn sends the browser to the portal's resume page)
    FirstLoginHub.known.add("lea")
    page = client.get(f"/workspaces/resume?launch={marker}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Starting your workspace" in page.text
    assert f'name="csrf_token" value="{me.csrf}"' in page.text
    assert 'name="bundle" value="bi-sql-duckdb"' in page.text and 'name="size" value="small"' in page.text
    assert f'name="resumed" value="{marker}"' in page.text and '<script src="/static/resume.js"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert _workspaces(app) == 0                    # a GET starts nothing

    assert client.get("/workspaces/resume?launch=another", follow_redirects=False).headers["location"] == \
        "/workspaces"
    started = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small", "resumed": marker})
    assert started.status_code == 303 and re.fullmatch(r"/workspaces/\d+", started.headers["location"])
    assert _workspaces(app) == 1
    # the marker is used up
    assert client.get(f"/workspaces/resume?launch={marker}", follow_redirects=False).status_code == 303
    # and the resume form without the session's CSRF token starts nothing
    forged = client.post("/workspaces", data={"bundle": "bi-sql-duckdb", "resumed": marker}, follow_redirects=False)
    assert forged.status_code == 403 and _workspaces(app) == 1


def test_a_resumed_launch_still_refused_asks_for_a_click_instead_of_looping(app, login):
    me = login("lea", ["role:bi", "org:cbs"])
    first = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    marker = _marker(first.headers["location"])
    again = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small", "resumed": marker},
                         headers={"Accept-Language": "en"})
    assert again.status_code == 403 and "Sign in at the hub first" in again.text
    assert f'href="{HUB}/hub/oauth_login?next=' in again.text
    assert _workspaces(app) == 0


def test_a_resume_link_from_another_session_shows_nothing(app, settings, login):
    me = login("lea", ["role:bi", "org:cbs"])
    first = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    marker = _marker(first.headers["location"])
    with TestClient(app, base_url="http://127.0.0.1") as other_client:
        login("lea", ["role:bi", "org:cbs"], on=other_client)   # lea again, in another browser (another session)
        page = other_client.get(f"/workspaces/resume?launch={marker}", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/workspaces"


PANEL = {"title": "Verkoop per maand", "framework": "panel", "bundle": "bi-dashboards",
         "entry": "dashboards/verkoop.py", "audience": "organisation"}


def _apps(app) -> int:
    from gereedschapskist.portal.models import PublishedApp

    with app.state.portal.sessions() as session:
        return session.scalar(select(func.count()).select_from(PublishedApp))


def test_a_publish_goes_through_the_hubs_sign_on_and_resumes_with_one_press(app, client, login):
    """A user new to the hub presses "Publish" once: through the hub's sign-on and back to a page that publishes
    what this session posted (``static/resume.js`` submits it; the form carries the session's CSRF token), as a
    launch resumes; before, they came back to the filled-in form and had to press again."""
    me = login("anna", ["role:bi", "org:minfin"])
    refused = me.post_form("/apps", PANEL)
    assert refused.status_code == 303 and refused.headers["location"].startswith(f"{HUB}/hub/oauth_login?next=")
    path = _return_path(refused.headers["location"])
    assert path.startswith("/apps/resume?publish="), path
    marker = parse_qs(urlsplit(path).query)["publish"][0]
    assert _apps(app) == 0

    FirstLoginHub.known.add("anna")         # back from the hub: it knows her now
    for language, title in (("en", "Publishing the app"), ("nl", "De app wordt gepubliceerd")):
        page = client.get(f"/apps/resume?publish={marker}", headers={"Accept-Language": language})
        assert page.status_code == 200 and title in page.text, language
    assert f'name="csrf_token" value="{me.csrf}"' in page.text and 'action="/apps"' in page.text
    for name, value in PANEL.items():
        assert f'name="{name}" value="{value}"' in page.text, name
    assert f'name="resumed" value="{marker}"' in page.text and '<script src="/static/resume.js"' in page.text
    assert _apps(app) == 0                  # a GET publishes nothing
    assert client.get("/apps/resume?publish=another", follow_redirects=False).headers["location"] == "/apps"

    published = me.post_form("/apps", {**PANEL, "resumed": marker})
    assert published.status_code == 303 and published.headers["location"].endswith("?done=published")
    assert _apps(app) == 1
    assert client.get(f"/apps/resume?publish={marker}", follow_redirects=False).status_code == 303   # used up


def test_a_resumed_publish_still_refused_asks_for_a_click_instead_of_looping(app, login):
    me = login("anna", ["role:bi", "org:minfin"])
    first = me.post_form("/apps", PANEL)
    marker = parse_qs(urlsplit(_return_path(first.headers["location"])).query)["publish"][0]
    again = me.post_form("/apps", {**PANEL, "resumed": marker}, headers={"Accept-Language": "en"})
    assert again.status_code == 403 and "Sign in at the hub first" in again.text
    assert f'href="{HUB}/hub/oauth_login?next=' in again.text
    assert _apps(app) == 0


class ForgetfulHub(FirstLoginHub):
    """A hub that counts how often the portal asks whether it knows a user, and refuses to start a server for a
    user it does not know as JupyterHub does (404: no such user)."""

    asked: list[str] = []

    def ensure_user(self, *, username, groups):
        ForgetfulHub.asked.append(username)
        super().ensure_user(username=username, groups=groups)

    def start(self, *, username, server_name, options):
        if username not in self.known:
            raise NotFound(f"the hub has no /users/{username}/servers/{server_name}", reason="hub-not-found")
        return super().start(username=username, server_name=server_name, options=options)


@pytest.mark.parametrize(("hub_class", "status_ttl"), [(ForgetfulHub, 60.0)])
def test_a_known_user_is_not_asked_again_and_one_the_hub_lost_ends_failed_then_signs_on(app, client, login):
    """Issue 13: the launch's question "does the hub know this user" was a tenth of its answer. A yes is remembered
    (``Hubs.ensure_user``) while the hub's health check is fresh; a hub that lost the user after all refuses the
    start (JupyterHub's 404), the workspace ends failed with ``hub-login-needed`` and the next launch asks again,
    and is sent through the hub's sign-on."""
    ForgetfulHub.known, ForgetfulHub.asked = {"lea"}, []
    me = login("lea", ["role:bi", "org:cbs"])
    client.get("/catalogue/bi-sql-duckdb")                 # the bundle page checks the hub's health
    first = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    second = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    assert first.status_code == second.status_code == 303 and ForgetfulHub.asked == ["lea"]
    assert client.get(second.headers["location"]).status_code == 200

    ForgetfulHub.known = set()                              # the hub lost her (an admin removed her there)
    lost = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    assert lost.status_code == 303 and ForgetfulHub.asked == ["lea"]          # remembered: not asked
    page = client.get(lost.headers["location"], headers={"Accept-Language": "en"})
    assert 'data-status="failed"' in page.text and 'data-reason="hub-login-needed"' in page.text
    assert "the hub does not know your login (any more)" in page.text

    again = me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    assert ForgetfulHub.asked == ["lea", "lea"]
    assert again.status_code == 303 and again.headers["location"].startswith(f"{HUB}/hub/oauth_login?next=")
    assert _workspaces(app) == 3


@pytest.mark.parametrize(("hub_class", "status_ttl"), [(ForgetfulHub, 5.0)])
def test_a_remembered_user_is_asked_again_once_the_hubs_health_check_is_stale(app, client, login, monkeypatch):
    """Only a fresh health check lets a remembered yes stand in for the hub (``hub_status_ttl_seconds``; every page
    shows that check), and no yes outlives ``KNOWN_USER_SECONDS``; a hub that does not answer is reported down and
    the launch is a 503 that stores nothing, as before."""
    from gereedschapskist.portal import workspace_hub

    clock = [float(int(time.monotonic()) + 100)]      # later than anything the app's start remembered
    monkeypatch.setattr(workspace_hub.time, "monotonic", lambda: clock[0])
    ForgetfulHub.known, ForgetfulHub.asked = {"lea"}, []
    me = login("lea", ["role:bi", "org:cbs"])

    def launch() -> int:
        client.get("/catalogue/bi-sql-duckdb")         # the page a launch is made from: the hub's health
        return me.post_form("/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"}).status_code

    assert launch() == 303 and launch() == 303 and len(ForgetfulHub.asked) == 1
    clock[0] += 4
    assert me.post_form("/workspaces", {"bundle": "bi-sql-duckdb"}).status_code == 303
    assert len(ForgetfulHub.asked) == 1                     # the health check is 4 s old: fresh
    clock[0] += 2
    assert me.post_form("/workspaces", {"bundle": "bi-sql-duckdb"}).status_code == 303
    assert len(ForgetfulHub.asked) == 2                     # 6 s old: stale, the hub is asked
    clock[0] += workspace_hub.KNOWN_USER_SECONDS + 1
    assert launch() == 303 and len(ForgetfulHub.asked) == 3    # the yes itself has run out

    def down(self, *, username, groups):
        raise HubUnavailable("the hub at http://hub.example.test/hub/api does not answer")

    monkeypatch.setattr(ForgetfulHub, "ensure_user", down)
    clock[0] += 6
    before = _workspaces(app)
    refused = me.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    assert refused.status_code == 503 and refused.json()["reason"] == "hub-unavailable"
    assert _workspaces(app) == before
    assert 'id="hub-down"' in client.get("/workspaces").text      # reported down: pages say so
