"""The development OpenID Connect provider and the hub's login through it (real processes)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.devclient import LoginFailed, oidc_login
from gereedschapskist.dev.devstack import DevSecrets, OidcProvider, hub_client
from gereedschapskist.dev.processes import ManagedProcess, ProcessFailed


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def authorize(provider, client, username, password, *, pkce=True, scope="openid profile email groups"):
    """Run the authorization request and the login form by hand; return the redirect's query."""
    verifier = secrets.token_urlsafe(48)
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uris[0],
              "scope": scope, "state": "s1", "nonce": "n1"}
    if pkce:
        params.update(code_challenge=b64url(hashlib.sha256(verifier.encode()).digest()), code_challenge_method="S256")
    http = httpx.Client(trust_env=False, timeout=30)
    discovery = http.get(provider.discovery_url).json()
    response = http.get(f"{discovery['authorization_endpoint']}?{urlencode(params)}", follow_redirects=False)
    while response.is_redirect and not response.headers["location"].startswith(client.redirect_uris[0]):
        response = http.get(httpx.URL(str(response.url)).join(response.headers["location"]), follow_redirects=False)
    if response.is_redirect:  # straight back to the client, e.g. with an error
        return http, discovery, verifier, parse_qs(urlparse(response.headers["location"]).query)
    assert 'id="login"' in response.text, response.text[:500]
    action = response.text.split('action="', 1)[1].split('"', 1)[0]
    response = http.post(httpx.URL(str(response.url)).join(action), data={"username": username, "password": password})
    while response.is_redirect and not response.headers["location"].startswith(client.redirect_uris[0]):
        response = http.get(httpx.URL(str(response.url)).join(response.headers["location"]), follow_redirects=False)
    assert response.is_redirect, (response.status_code, response.text[:300])
    return http, discovery, verifier, parse_qs(urlparse(response.headers["location"]).query)


def verify_rs256(token: str, jwks: dict) -> dict:
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(unb64url(header_b64))
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = rsa.RSAPublicNumbers(int.from_bytes(unb64url(key["e"]), "big"),
                                  int.from_bytes(unb64url(key["n"]), "big")).public_key()
    public.verify(unb64url(signature_b64), f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(),
                  hashes.SHA256())
    return json.loads(unb64url(payload_b64))


def test_discovery_advertises_code_flow_pkce_and_groups(oidc_provider):
    document = httpx.get(oidc_provider.discovery_url, trust_env=False).json()
    assert document["issuer"] == oidc_provider.issuer
    assert oidc_provider.issuer.startswith("http://127.0.0.1:")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "groups" in document["scopes_supported"] and "groups" in document["claims_supported"]
    assert document["response_types_supported"] == ["code"]
    assert document["userinfo_endpoint"] and document["jwks_uri"] and document["end_session_endpoint"]


def test_code_flow_with_pkce_gives_signed_tokens_and_groups_via_userinfo(oidc_provider):
    portal = oidc_provider.clients["portal"]
    http, discovery, verifier, query = authorize(oidc_provider, portal, "bram", "bram-demo")
    assert query["state"] == ["s1"] and "code" in query
    tokens = http.post(discovery["token_endpoint"], auth=(portal.client_id, portal.client_secret), data={
        "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": portal.redirect_uris[0],
        "code_verifier": verifier}).json()
    claims = verify_rs256(tokens["id_token"], http.get(discovery["jwks_uri"]).json())
    assert claims["iss"] == oidc_provider.issuer and claims["aud"] == "portal" and claims["sub"] == "bram"
    assert claims["nonce"] == "n1"
    info = http.get(discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json() == {"sub": "bram", "name": "Bram Jansen", "preferred_username": "bram",
                           "email": "bram@cbs.example.nl", "email_verified": True, "groups": ["org:cbs", "role:ml"]}


def test_pkce_is_required(oidc_provider):
    _, _, _, query = authorize(oidc_provider, oidc_provider.clients["portal"], "bram", "bram-demo", pkce=False)
    assert query["error"] == ["invalid_request"]
    assert "requires PKCE" in query["error_description"][0]


def test_a_wrong_password_is_refused_and_nothing_is_granted(hub_stack):
    http = httpx.Client(trust_env=False, timeout=30)
    form = http.get(f"{hub_stack.url}/hub/oauth_login", follow_redirects=True)
    assert 'id="login"' in form.text
    action = form.text.split('action="', 1)[1].split('"', 1)[0]
    refused = http.post(httpx.URL(str(form.url)).join(action), data={"username": "bram", "password": "not-bram"})
    assert refused.status_code == 401
    assert "Unknown user or wrong password" in refused.text and 'id="login"' in refused.text
    assert "location" not in refused.headers
    assert http.get(f"{hub_stack.url}/hub/api/user").status_code == 403  # no hub session


def test_login_helper_reports_refusal(hub_stack):
    with pytest.raises(LoginFailed, match="refused 'anna'"):
        oidc_login(f"{hub_stack.url}/hub/oauth_login", "anna", "wrong")


def test_provider_cookies_have_names_of_their_own(hub_stack):
    client = oidc_login(f"{hub_stack.url}/hub/oauth_login", "eva", "eva-demo")
    provider_port = urlparse(hub_stack.provider.issuer).port
    names = {c.name for c in client.cookies.jar if c.port in (None, str(provider_port))}
    assert {"gk_oidc_session"} <= names
    assert not {"_session", "_interaction"} & names


def test_signing_keys_survive_a_restart(tmp_path):
    secrets_ = DevSecrets.load_or_create(tmp_path)
    client = hub_client(8999, secrets_)
    kids = []
    for _ in range(2):
        with OidcProvider.start(tmp_path, [client]) as provider:
            discovery = httpx.get(provider.discovery_url, trust_env=False).json()
            kids.append([k["kid"] for k in httpx.get(discovery["jwks_uri"], trust_env=False).json()["keys"]])
    assert kids[0] == kids[1] and len(kids[0]) == 1
    assert (tmp_path / "oidc" / "jwks.json").stat().st_mode & 0o777 == 0o600


def test_the_provider_log_says_when_it_listened_and_was_ready(tmp_path):
    """A slow start can be read from the log: the seconds since node started at listening and at ready."""
    with OidcProvider.start(tmp_path, [hub_client(8999, DevSecrets.load_or_create(tmp_path))]) as provider:
        log = provider.process.log_path.read_text(encoding="utf-8")
    port = urlparse(provider.issuer).port
    assert re.search(rf"oidc-provider: listening on 127\.0\.0\.1:{port} at \d+\.\d\d s\n", log), log
    assert re.search(r"oidc-provider: ready at \d+\.\d\d s\n", log), log


def test_a_start_that_does_not_come_says_how_busy_the_process_and_machine_were(tmp_path):
    """A process that never gets ready: the error names its CPU time and the load, to tell stuck from starved."""
    process = ManagedProcess("sleeper", ["sleep", "30"], log_path=tmp_path / "sleeper.log").start()
    try:
        with pytest.raises(ProcessFailed) as failed:
            process.wait_until(lambda: False, timeout=0.2, what="did not say hello")
    finally:
        process.stop()
    assert re.search(r"sleeper did not say hello within 0 s \(is running, \d+\.\d s CPU used, "
                     r"load average \d+\.\d on \d+ cores\)", str(failed.value)), failed.value


def test_single_sign_on_and_tokens_survive_a_provider_restart(tmp_path):
    """Issue 12, defect 8: after `make up` was stopped and started again, "Open workspace" asked anna to log in
    a second time — the provider kept sessions and tokens in memory, so the hub's check of her access token at
    userinfo failed and its login found no session. Now they are in the state folder: after a restart on the
    same port the access token still answers at userinfo, a new authorization request with the browser's
    session cookie goes straight back to the client with no login form."""
    secrets_ = DevSecrets.load_or_create(tmp_path)
    client = hub_client(8999, secrets_)
    with OidcProvider.start(tmp_path, [client]) as provider:
        port = httpx.URL(provider.issuer).port
        http, discovery, verifier, query = authorize(provider, client, "anna", "anna-demo",
                                                     scope="openid profile groups")
        tokens = http.post(discovery["token_endpoint"], auth=(client.client_id, client.client_secret), data={
            "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": client.redirect_uris[0],
            "code_verifier": verifier}).json()
    store = tmp_path / "oidc" / "store.json"
    assert store.stat().st_mode & 0o777 == 0o600     # as secret as the signing keys beside it (jwks.json)

    with OidcProvider.start(tmp_path, [client], port=port) as provider:
        info = http.get(discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert info.status_code == 200 and info.json()["sub"] == "anna", info.text
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uris[0],
                  "scope": "openid", "state": "s2", "code_challenge": b64url(hashlib.sha256(b"v" * 43).digest()),
                  "code_challenge_method": "S256"}
        response = http.get(f"{discovery['authorization_endpoint']}?{urlencode(params)}", follow_redirects=False)
        while response.is_redirect and not response.headers["location"].startswith(client.redirect_uris[0]):
            response = http.get(httpx.URL(str(response.url)).join(response.headers["location"]),
                                follow_redirects=False)
        assert response.is_redirect, "the provider asked anna to log in again after its restart"
        assert "code" in parse_qs(urlparse(response.headers["location"]).query)


def test_hub_groups_and_admins_come_from_the_token(hub_user):
    bram = hub_user("bram")
    assert bram.groups() == ["org:cbs", "role:ml"]
    assert bram.model()["admin"] is False
    femke = hub_user("femke")
    # role:dev is not in the test catalogue (bi, ml): the hub drops it, as the portal would
    assert femke.groups() == ["gereedschapskist:admins"]
    # platform admins get the hub's platform-admin role through their group, never JupyterHub's admin role
    assert femke.model()["admin"] is False
    assert "delete:servers" in femke.api.get("/user").json()["scopes"]


def test_user_without_roles_sees_that_no_bundle_is_offered(hub_stack, hub_user):
    from gereedschapskist.catalogue import load
    from gereedschapskist.hub.interfaces import LocalInterfaces
    from gereedschapskist.hub.options import choices_for, render_form

    dana = hub_user("dana")  # organisation admin without a role; servers start from the portal, not /hub/spawn
    form = render_form(choices_for(load(hub_stack.catalogue_dir), dana.groups(), LocalInterfaces()), previous={})
    assert "Your roles give access to no bundles" in form
    assert 'name="bundle"' not in form


def test_hub_login_page_goes_straight_to_the_issuer(hub_stack):
    page = httpx.get(f"{hub_stack.url}/hub/login?next=/hub/home", follow_redirects=True, trust_env=False)
    assert page.url.host == "127.0.0.1" and page.url.port == urlparse(hub_stack.provider.issuer).port
    assert 'id="login"' in page.text


def test_idle_culler_runs_as_a_hub_service(hub_user):
    femke = hub_user("femke")  # platform admin
    services = femke.api.get("/services").json()
    culler = services["idle-culler"]
    assert culler["pid"] > 0 and "--timeout=3600" in culler["command"]
    assert "portal" in services
