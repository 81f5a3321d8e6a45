"""OpenID Connect login (authlib): the adapter between the portal and any OIDC issuer.

Authorization code flow with PKCE (S256). The groups claim is read from the userinfo endpoint as well
as the ID token (many issuers, the development provider included, send groups only through userinfo).
Failures become :class:`LoginUnavailable` (issuer down or not configured) or :class:`LoginFailed`.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request
from starlette.responses import RedirectResponse

from .errors import LoginFailed, LoginUnavailable
from .services.identity import Identity, identity_from_claims
from .settings import PortalSettings

log = logging.getLogger(__name__)
CLIENT = "issuer"


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
                               "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
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

    async def identity(self, request: Request) -> tuple[Identity, str | None]:
        """Finish the code flow: the identity and the ID token (kept for logout)."""
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
        if userinfo.get("sub") and claims.get("sub") and userinfo["sub"] != claims["sub"]:
            raise LoginFailed("the userinfo endpoint answered for another user than the ID token",
                              reason="login-failed")
        claims.update(dict(userinfo))
        identity = identity_from_claims(claims, issuer=self.issuer or "", username_claim=self.settings.username_claim,
                                        groups_claim=self.settings.groups_claim)
        return identity, token.get("id_token")

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
