"""OpenID Connect login (authlib): the adapter between the portal and any OIDC issuer.

Authorization code flow with PKCE (S256); the client secret goes to the token endpoint as
``OIDC_TOKEN_ENDPOINT_AUTH_METHOD`` says. The groups claim is read from the userinfo endpoint as well as
the ID token (many issuers, the development provider included, send groups only through userinfo), and a
userinfo answer without ``sub`` is refused. The issuer's tokens stay server-side (in the session row):
:meth:`OidcLogin.refresh` reads the user's claims again with the access token (or, once it has expired,
with a fresh one from the refresh token), so groups removed at the issuer stop counting within
``GROUPS_MAX_AGE_SECONDS``. :meth:`OidcLogin.logout_token` verifies an OpenID Connect Back-Channel Logout 1.0
logout token (signed with a key of the issuer's JWKS, as authlib verifies ID tokens). Failures become :class:`LoginUnavailable` (issuer down or not configured),
:class:`LoginFailed`, or :class:`LoginExpired` (the issuer no longer vouches for the session).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from joserfc import jws, jwt            # authlib's own JOSE library (authlib verifies ID tokens with it)
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import RedirectResponse

from .errors import LoginExpired, LoginFailed, LoginUnavailable
from .services.identity import Identity, identity_from_claims
from .settings import PortalSettings

log = logging.getLogger(__name__)
CLIENT = "issuer"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: A logout token issued longer ago than this (or this far in the future: clock skew) is refused.
LOGOUT_TOKEN_MAX_AGE_SECONDS = 300
LOGOUT_TOKEN_LEEWAY_SECONDS = 60
#: Signature algorithms a logout token may use: asymmetric only (never "none", never a shared-secret HMAC).
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class LogoutTokenInvalid(Exception):
    """A back-channel logout token the portal does not accept; the message says why (sent to the issuer)."""


@dataclass(frozen=True)
class LogoutRequest:
    """Whom a verified logout token logs out: the issuer's user ``sub`` and/or its session ``sid``."""

    issuer: str
    subject: str | None
    sid: str | None


class OidcLogin:
    def __init__(self, settings: PortalSettings):
        self.settings = settings
        self.issuer = settings.oidc_issuer
        self._oauth = OAuth()
        if self.issuer:
            secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
            self._oauth.register(
                CLIENT, server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
                client_id=settings.oidc_client_id, client_secret=secret,
                client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256",
                               "token_endpoint_auth_method":
                                   settings.oidc_token_endpoint_auth_method if secret else "none",
                               "timeout": 10.0})

    @property
    def configured(self) -> bool:
        return bool(self.issuer)

    def _client(self) -> Any:
        if not self.issuer:
            raise LoginUnavailable("login is not configured: set GEREEDSCHAPSKIST_PORTAL_OIDC_ISSUER",
                                   reason="login-not-configured")
        return self._oauth.create_client(CLIENT)

    async def redirect(self, request: Request, *, redirect_uri: str) -> RedirectResponse:
        client = self._client()
        try:
            return await client.authorize_redirect(request, redirect_uri)
        except (httpx.HTTPError, OAuthError, ValueError) as exc:
            raise LoginUnavailable(f"the login service at {self.issuer} does not answer: "
                                   f"{exc.__class__.__name__}") from exc

    async def identity(self, request: Request) -> tuple[Identity, dict[str, Any]]:
        """Finish the code flow: the identity and the tokens to keep server-side (refresh, logout)."""
        client = self._client()
        if "error" in request.query_params:
            description = request.query_params.get("error_description") or request.query_params["error"]
            raise LoginFailed(f"the login service refused: {description}", reason="login-refused")
        try:
            token = await client.authorize_access_token(request)
            claims: dict[str, Any] = dict(token.get("userinfo") or {})
            userinfo = await client.userinfo(token=token)
        except OAuthError as exc:
            raise LoginFailed(f"login did not complete: {exc.error}: {exc.description or ''}".strip(),
                              reason="login-failed") from exc
        except httpx.HTTPError as exc:
            raise LoginUnavailable(f"the login service at {self.issuer} stopped answering: "
                                   f"{exc.__class__.__name__}") from exc
        if not userinfo.get("sub"):
            raise LoginFailed("the issuer's userinfo answer has no 'sub' claim", reason="claim-missing")
        if claims.get("sub") and userinfo["sub"] != claims["sub"]:
            raise LoginFailed("the userinfo endpoint answered for another user than the ID token",
                              reason="login-failed")
        claims.update(dict(userinfo))
        identity = self._identity(claims)
        kept = _kept(token, subject=identity.subject)
        sid = (token.get("userinfo") or {}).get("sid")      # the issuer's session, named in logout tokens
        if isinstance(sid, str) and sid:
            kept["sid"] = sid
        return identity, kept

    def _identity(self, claims: dict[str, Any]) -> Identity:
        return identity_from_claims(claims, issuer=self.issuer or "", username_claim=self.settings.oidc_username_claim,
                                    groups_claim=self.settings.oidc_groups_claim)

    async def refresh(self, tokens: dict[str, Any]) -> tuple[Identity, dict[str, Any]]:
        """The user's claims as the issuer gives them now, and the tokens to keep (renewed when needed).

        :class:`LoginExpired` when the issuer no longer accepts the session's tokens (or it has none);
        :class:`LoginUnavailable` when the issuer does not answer."""
        if not tokens.get("sub") or not (tokens.get("access_token") or tokens.get("refresh_token")):
            raise LoginExpired("your login has no tokens the portal can check with the login service; log in again")
        client = self._client()
        try:
            metadata = await client.load_server_metadata()
            async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
                userinfo = None
                if tokens.get("access_token"):
                    userinfo = await self._userinfo(http, metadata, tokens["access_token"])
                if userinfo is None:
                    tokens = await self._refreshed(http, metadata, tokens)
                    userinfo = await self._userinfo(http, metadata, tokens["access_token"])
        except (httpx.HTTPError, OAuthError, ValueError) as exc:
            raise LoginUnavailable(f"the login service at {self.issuer} does not answer: "
                                   f"{exc.__class__.__name__}") from exc
        if userinfo is None:
            raise LoginExpired("the login service no longer accepts your login; log in again")
        if userinfo.get("sub") != tokens["sub"]:
            raise LoginExpired("the login service answered for another user; log in again")
        return self._identity(userinfo), tokens

    async def _userinfo(self, http: httpx.AsyncClient, metadata: dict, access_token: str) -> dict | None:
        response = await http.get(metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code in (400, 401, 403):
            return None
        response.raise_for_status()
        return response.json()

    async def _refreshed(self, http: httpx.AsyncClient, metadata: dict, tokens: dict[str, Any]) -> dict[str, Any]:
        refresh_token = tokens.get("refresh_token")
        if not refresh_token:
            raise LoginExpired("your login at the login service has expired; log in again")
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        auth = None
        secret = self.settings.oidc_client_secret.get_secret_value() if self.settings.oidc_client_secret else None
        if secret and self.settings.oidc_token_endpoint_auth_method == "client_secret_basic":
            auth = httpx.BasicAuth(quote(self.settings.oidc_client_id, safe=""), quote(secret, safe=""))
        else:
            form["client_id"] = self.settings.oidc_client_id
            if secret:
                form["client_secret"] = secret
        response = await http.post(metadata["token_endpoint"], data=form, auth=auth)
        if response.status_code in (400, 401):
            raise LoginExpired("the login service no longer renews your login; log in again")
        response.raise_for_status()
        return _kept(response.json(), subject=tokens["sub"], previous=tokens)

    async def end_session_url(self, *, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """The issuer's end-session URL (RP-initiated logout), or None when it has none."""
        if not self.issuer:
            return None
        client = self._client()
        try:
            metadata = await client.load_server_metadata()
        except (httpx.HTTPError, OAuthError, ValueError):
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"client_id": self.settings.oidc_client_id, "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token:
            params["id_token_hint"] = id_token
        return str(httpx.URL(endpoint, params=params))

    async def logout_token(self, value: str | None, *, now: float | None = None) -> LogoutRequest:
        """Verify a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, section 2.6).

        :class:`LogoutTokenInvalid` unless it is a JWT signed with a key of the issuer's JWKS (an asymmetric
        algorithm the issuer announces), from this issuer, for this client, issued within
        ``LOGOUT_TOKEN_MAX_AGE_SECONDS``, not expired, with the back-channel logout event, a ``sub`` and/or a
        ``sid``, and no ``nonce``. :class:`LoginUnavailable` when the issuer's keys cannot be read."""
        if not self.issuer:
            raise LogoutTokenInvalid("login is not configured at this portal")
        if not value or not isinstance(value, str):
            raise LogoutTokenInvalid("no logout_token")
        try:
            header = jws.extract_compact(value.encode()).headers()
        except (JoseError, ValueError, TypeError) as exc:
            raise LogoutTokenInvalid(f"the logout token is not a signed JWT: {exc.__class__.__name__}") from exc
        client = self._client()
        try:
            metadata = await client.load_server_metadata()
            algorithms = [a for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
                          if a in ASYMMETRIC_ALGORITHMS]
            if header.get("alg") not in algorithms:
                raise LogoutTokenInvalid(f"the logout token's algorithm {header.get('alg')!r} is not accepted")
            registry = jws.JWSRegistry(algorithms=algorithms, strict_check_header=False)
            try:
                token = jwt.decode(value, KeySet.import_key_set(await client.fetch_jwk_set()), registry=registry)
            except InvalidKeyIdError:            # the issuer may have rotated its keys: read them once more
                token = jwt.decode(value, KeySet.import_key_set(await client.fetch_jwk_set(force=True)),
                                   registry=registry)
        except LogoutTokenInvalid:
            raise
        except JoseError as exc:
            raise LogoutTokenInvalid(f"the logout token's signature does not verify: {exc.__class__.__name__}") \
                from exc
        except (httpx.HTTPError, OAuthError, RuntimeError) as exc:
            raise LoginUnavailable(f"the login service at {self.issuer} does not give its keys: "
                                   f"{exc.__class__.__name__}") from exc
        except ValueError as exc:
            raise LogoutTokenInvalid(f"the logout token cannot be read: {exc.__class__.__name__}") from exc
        return self._logout_claims(token.claims, issuer=metadata.get("issuer") or self.issuer,
                                   now=time.time() if now is None else now)

    def _logout_claims(self, claims: dict[str, Any], *, issuer: str, now: float) -> LogoutRequest:
        if claims.get("iss") != issuer:
            raise LogoutTokenInvalid("the logout token is from another issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.settings.oidc_client_id not in audiences:
            raise LogoutTokenInvalid("the logout token is not for this portal (aud)")
        if len(audiences) > 1 and claims.get("azp") not in (None, self.settings.oidc_client_id):
            raise LogoutTokenInvalid("the logout token is for another client (azp)")
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or isinstance(iat, bool):
            raise LogoutTokenInvalid("the logout token has no 'iat'")
        if iat > now + LOGOUT_TOKEN_LEEWAY_SECONDS or now - iat > LOGOUT_TOKEN_MAX_AGE_SECONDS:
            raise LogoutTokenInvalid("the logout token is too old (or from the future): 'iat'")
        exp = claims.get("exp")
        if exp is not None and (not isinstance(exp, (int, float)) or now > exp + LOGOUT_TOKEN_LEEWAY_SECONDS):
            raise LogoutTokenInvalid("the logout token has expired")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
            raise LogoutTokenInvalid(f"the logout token's 'events' has no {BACKCHANNEL_LOGOUT_EVENT}")
        if "nonce" in claims:
            raise LogoutTokenInvalid("a logout token must not carry a 'nonce'")
        subject, sid = claims.get("sub"), claims.get("sid")
        subject = subject if isinstance(subject, str) and subject else None
        sid = sid if isinstance(sid, str) and sid else None
        if subject is None and sid is None:
            raise LogoutTokenInvalid("the logout token names neither a 'sub' nor a 'sid'")
        return LogoutRequest(issuer=self.issuer or issuer, subject=subject, sid=sid)


def _kept(token: dict[str, Any], *, subject: str, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the session keeps of a token response (server-side only, never in the cookie)."""
    previous = previous or {}
    kept = {"sub": subject}
    for name in ("access_token", "refresh_token", "id_token"):
        value = token.get(name) or previous.get(name)
        if isinstance(value, str):
            kept[name] = value
    if isinstance(previous.get("sid"), str):
        kept["sid"] = previous["sid"]
    return kept
