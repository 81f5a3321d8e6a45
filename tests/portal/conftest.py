"""Fixtures of the portal tests: a migrated database per test run (SQLite, and PostgreSQL when
GEREEDSCHAPSKIST_TEST_DATABASE_URL is set — unreachable means the run fails), the app, a client and
logged-in users."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.support import (  # noqa: F401 - fixtures
    TestDatabase, database, database_backends, database_server, journey_backend, make_user, session_cookie,
)


def closed_port() -> int:
    """A port nobody listens on (bound and released): a hub that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def hub_port() -> int:
    return closed_port()


@pytest.fixture
def settings(database: TestDatabase, tmp_path: Path, hub_port: int) -> PortalSettings:
    return PortalSettings(database_url=database.url, state_dir=tmp_path, session_secret="s" * 40,
                          organisations="cbs minfin",
                          hub_url=f"http://127.0.0.1:{hub_port}", hub_api_token="t" * 40,
                          reconcile_interval_seconds=0, hub_timeout_seconds=5, hub_status_ttl_seconds=0,
                          provisioning_interval_seconds=0)   # the worker is tested on its own (test_provisioning)


@pytest.fixture
def app(settings: PortalSettings):
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def started(client: TestClient, response):
    """``response``, once the hub's half of every launch the portal answered has run (issue 13: a launch answers
    before its hub is asked, on a start thread); the answer itself is as the portal gave it."""
    assert client.app.state.portal.hubs.wait_starts(30), "a background start did not end within 30 s"
    return response


class LoggedIn:
    """A user logged in on a client: ``csrf`` is the token the session carries. Its posts return once the
    background starts they began have run (:func:`started`), so a test reads what the hub was told."""

    def __init__(self, client: TestClient, user_id: int, csrf: str):
        self.client, self.user_id, self.csrf = client, user_id, csrf

    def post_form(self, url: str, data: dict, **kwargs):
        return started(self.client, self.client.post(url, data={"csrf_token": self.csrf, **data},
                                                     follow_redirects=False, **kwargs))

    def post_json(self, url: str, body: dict | None = None, **kwargs):
        return started(self.client, self.client.post(url, json=body, headers={"X-CSRF-Token": self.csrf}, **kwargs))


@pytest.fixture
def login(app, settings: PortalSettings, client: TestClient) -> Callable[..., LoggedIn]:
    """Log a user in on the client (the session the OIDC callback would create; the flow itself is tested
    against the real provider in test_auth_oidc.py)."""

    def _login(username: str, groups: list[str], *, on: TestClient | None = None) -> LoggedIn:
        target = on or client
        user_id = make_user(app.state.portal.sessions, username=username, groups=groups)
        csrf = secrets.token_urlsafe(16)
        target.cookies.set(settings.session_cookie, session_cookie(settings, {"uid": user_id, "csrf": csrf}),
                          domain="127.0.0.1")
        return LoggedIn(target, user_id, csrf)

    return _login


@pytest.fixture
def second_client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres`` exercise what only PostgreSQL has (roles, TRUNCATE): they run against the
    PostgreSQL server and are left out of the SQLite run (deselected, not skipped: nothing is missing there).

    Tests marked ``one_database`` test what does not depend on the database (a journey through the real hub, the
    language of every page): with both configured, a stable hash of the test's name picks one
    (:func:`journey_backend`, as tests/e2e picks one per browser journey) and the other variant is deselected; the
    database's own behaviour is tested by the unmarked tests, on both."""
    backends = database_backends()
    keep, drop = [], []
    for item in items:
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("database_server")
        if item.get_closest_marker("postgres") and backend != "postgresql":
            drop.append(item)
        elif (backend and len(backends) > 1 and item.get_closest_marker("one_database")
              and backend != journey_backend(getattr(item, "originalname", item.name), backends)):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
