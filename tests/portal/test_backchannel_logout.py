"""OpenID Connect Back-Channel Logout 1.0 at the portal (issue 11, finding 4): logging out at the issuer ends
the portal's sessions.

Against the real development provider, with the portal's ``backchannel_logout_uri`` registered there: a user
logs in to the portal, logs out at the provider, and the portal cookie is refused afterwards; a second login
(another session at the provider) stays. Logout tokens made here with the provider's own signing key (its key
file is in the test's state folder) check each rule of the specification: a forged, expired, wrong-audience …
token is answered with 400 and ends no session.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from sqlalchemy import func, select

from gereedschapskist.dev.devstack import OidcClient, OidcProvider
from gereedschapskist.dev.processes import free_port
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import PortalSession
from gereedschapskist.portal.oidc import BACKCHANNEL_LOGOUT_EVENT
from gereedschapskist.portal.settings import PortalSettings
from tests.devclient import oidc_login
from tests.portal.support import PortalServer, make_user, session_cookie

CLIENT_ID = "portal-bc"
SECRET = "backchannel-portal-secret-0123456789abcdef"
PATH = "/auth/backchannel-logout"


class Issuer:
    def __init__(self, provider: OidcProvider, state: Path, portal_port: int):
        self.provider, self.portal_port = provider, portal_port
        self.keys = KeySet.import_key_set(json.loads((state / "oidc" / "jwks.json").read_text(encoding="utf-8")))

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def token(self, *, key=None, alg: str = "RS256", drop: tuple[str, ...] = (), **claims) -> str:
        """A logout token as the provider makes one (signed with its key unless ``key`` says otherwise)."""
        now = int(time.time())
        body = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex,
                "events": {BACKCHANNEL_LOGOUT_EVENT: {}}, "sub": "sub-kim", **claims}
        for name in drop:
            body.pop(name, None)
        signing = key or self.keys.keys[0]
        header = {"alg": alg, "typ": "logout+jwt"}
        if getattr(signing, "kid", None):
            header["kid"] = signing.kid
        return jwt.encode(header, body, signing, algorithms=[alg])


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> Iterator[Issuer]:
    state = tmp_path_factory.mktemp("backchannel-issuer")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = OidcClient(CLIENT_ID, SECRET, (f"{base}/auth/callback",), (f"{base}/",),
                        backchannel_logout_uri=f"{base}{PATH}")
    provider = OidcProvider.start(state, [client])
    try:
        yield Issuer(provider, state, port)
    finally:
        provider.stop()


@pytest.fixture
def settings(settings: PortalSettings, issuer: Issuer) -> PortalSettings:
    return settings.model_copy(update={
        "oidc_issuer": issuer.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": SecretStr(SECRET),
        "public_url": f"http://127.0.0.1:{issuer.portal_port}", "oidc_logout": "portal", "hub_url": None})


@pytest.fixture
def app(settings: PortalSettings):
    app = create_app(settings)
    try:
        yield app
    finally:
        app.state.portal.engine.dispose()      # the next test's database replaces this one's file


def _sessions(app) -> int:
    with app.state.portal.sessions() as session:
        return session.scalar(select(func.count()).select_from(PortalSession))


def _log_in(app, settings, issuer: Issuer, username: str, *, sid: str | None = None) -> TestClient:
    """A session as the login callback makes it (tokens with the ID token's ``sid``), on a client of its own."""
    user_id = make_user(app.state.portal.sessions, username=username, groups=["org:cbs", "role:bi"],
                        issuer=issuer.issuer)
    tokens = {"sub": f"sub-{username}", "access_token": "a", **({"sid": sid} if sid else {})}
    client = TestClient(app, base_url="http://127.0.0.1")
    client.cookies.set(settings.session_cookie, session_cookie(settings, {"uid": user_id, "csrf": "c",
                                                                          "tokens": tokens}), domain="127.0.0.1")
    assert client.get("/api/v1/me").status_code == 200
    return client


# ------------------------------------------------------------------------------------------ the real provider

def _logout_at_the_provider(client: httpx.Client, issuer: str) -> None:
    """The provider's own logout: its end-session page, then "Yes, sign me out" (logs out every client)."""
    page = client.get(f"{issuer}/session/end", follow_redirects=True)
    assert page.status_code == 200, page.text[:300]
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
    action = re.search(r'<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"', page.text) or \
        re.search(r'<form[^>]*action="([^"]+)"[^>]*id="op.logoutForm"', page.text)
    assert xsrf and action, page.text[:500]
    done = client.post(urljoin(str(page.url), action.group(1)), data={"xsrf": xsrf.group(1), "logout": "yes"},
                       follow_redirects=True)
    assert done.status_code == 200, done.text[:300]


def test_logging_out_at_the_provider_ends_that_portal_session(settings, issuer):
    app = create_app(settings)
    with PortalServer(app, issuer.portal_port) as portal:
        first = oidc_login(f"{portal.url}/login", "anna", "anna-demo")
        second = oidc_login(f"{portal.url}/login", "anna", "anna-demo")     # another session at the provider
        try:
            for client in (first, second):
                assert client.get(f"{portal.url}/api/v1/me").json()["username"] == "anna"
            with app.state.portal.sessions() as session:
                sids = session.scalars(select(PortalSession.oidc_sid)).all()
            assert len(sids) == 2 and all(sids) and len(set(sids)) == 2       # the ID tokens' sid, kept
            captured = first.cookies.get(settings.session_cookie)

            _logout_at_the_provider(first, issuer.issuer)

            assert first.get(f"{portal.url}/api/v1/me").status_code == 401
            replay = httpx.get(f"{portal.url}/api/v1/me", cookies={settings.session_cookie: captured})
            assert replay.status_code == 401                                   # the captured cookie too
            assert second.get(f"{portal.url}/api/v1/me").status_code == 200   # the other provider session stays
            assert _sessions(app) == 1
        finally:
            first.close()
            second.close()


def test_the_provider_announces_back_channel_logout_and_the_portal_is_registered(issuer):
    metadata = httpx.get(issuer.provider.discovery_url).json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    assert issuer.provider.clients[CLIENT_ID].backchannel_logout_uri.endswith(PATH)


# ------------------------------------------------------------------------------------------ the token's rules

def test_a_valid_token_for_a_user_ends_all_their_sessions_and_no_one_elses(app, settings, issuer):
    kim = [_log_in(app, settings, issuer, "kim", sid=s) for s in ("sid-1", "sid-2")]
    lea = _log_in(app, settings, issuer, "lea", sid="sid-1")
    response = lea.post(PATH, data={"logout_token": issuer.token(drop=("sid",))})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    assert [c.get("/api/v1/me").status_code for c in kim] == [401, 401]
    assert lea.get("/api/v1/me").status_code == 200


def test_a_token_with_a_sid_ends_only_that_issuer_session(app, settings, issuer):
    one, two = (_log_in(app, settings, issuer, "kim", sid=s) for s in ("sid-1", "sid-2"))
    assert TestClient(app).post(PATH, data={"logout_token": issuer.token(sid="sid-1")}).status_code == 200
    assert one.get("/api/v1/me").status_code == 401
    assert two.get("/api/v1/me").status_code == 200
    # a sid alone (no sub) names the session too
    response = TestClient(app).post(PATH, data={"logout_token": issuer.token(sid="sid-2", drop=("sub",))})
    assert response.status_code == 200
    assert two.get("/api/v1/me").status_code == 401


def test_a_token_for_an_unknown_user_is_accepted_and_ends_nothing(app, settings, issuer):
    _log_in(app, settings, issuer, "kim", sid="sid-1")
    response = TestClient(app).post(PATH, data={"logout_token": issuer.token(sub="sub-nobody", sid="sid-1")})
    assert response.status_code == 200
    assert _sessions(app) == 1


def _other_rsa_key_with_the_providers_kid(issuer: Issuer) -> RSAKey:
    forged = RSAKey.generate_key(2048, private=True)
    return RSAKey.import_key(forged.as_dict(private=True) | {"kid": issuer.keys.keys[0].kid})


BAD_TOKENS = {
    "forged signature": lambda i: i.token(key=_other_rsa_key_with_the_providers_kid(i)),
    "unknown key": lambda i: i.token(key=RSAKey.generate_key(2048, private=True, parameters={"kid": "other"})),
    "shared-secret HMAC": lambda i: i.token(key=OctKey.generate_key(256), alg="HS256"),
    "old iat": lambda i: i.token(iat=int(time.time()) - 3600, exp=int(time.time()) + 3600),
    "iat in the future": lambda i: i.token(iat=int(time.time()) + 3600),
    "no iat": lambda i: i.token(drop=("iat",)),
    "expired": lambda i: i.token(iat=int(time.time()) - 200, exp=int(time.time()) - 100),
    "wrong audience": lambda i: i.token(aud="hub"),
    "wrong audience among several": lambda i: i.token(aud=["hub", "other"]),
    "another issuer": lambda i: i.token(iss="http://127.0.0.1:1/evil"),
    "no events": lambda i: i.token(drop=("events",)),
    "another event": lambda i: i.token(events={"http://schemas.openid.net/event/other": {}}),
    "a nonce": lambda i: i.token(nonce="n"),
    "neither sub nor sid": lambda i: i.token(drop=("sub", "sid")),
    "not a JWT": lambda i: "not-a-token",
    "missing": lambda i: None,
    "empty": lambda i: "",
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_a_bad_token_is_refused_with_400_and_ends_no_session(app, settings, issuer, case):
    kim = _log_in(app, settings, issuer, "kim", sid="sid-1")
    value = BAD_TOKENS[case](issuer)
    response = TestClient(app).post(PATH, data={} if value is None else {"logout_token": value})
    assert response.status_code == 400, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "invalid_request" and response.json()["error_description"]
    assert _sessions(app) == 1 and kim.get("/api/v1/me").status_code == 200


def test_an_unsigned_token_is_refused(app, settings, issuer):
    _log_in(app, settings, issuer, "kim", sid="sid-1")
    body = {"iss": issuer.issuer, "aud": CLIENT_ID, "iat": int(time.time()), "sub": "sub-kim",
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}}}
    import base64

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{part({'alg': 'none'})}.{part(body)}."
    assert TestClient(app).post(PATH, data={"logout_token": unsigned}).status_code == 400
    assert _sessions(app) == 1


def test_the_route_needs_no_csrf_token_and_no_session(app, issuer):
    """It is called by the issuer, server to server: no cookie, no CSRF token, and it makes no session."""
    response = TestClient(app).post(PATH, data={"logout_token": issuer.token()})
    assert response.status_code == 200 and "set-cookie" not in response.headers
    assert _sessions(app) == 0


def test_without_login_configured_every_token_is_refused(settings, issuer):
    app = create_app(settings.model_copy(update={"oidc_issuer": None}))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.post(PATH, data={"logout_token": issuer.token()}).status_code == 400
