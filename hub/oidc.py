"""Adapter for an OpenID Connect issuer's discovery document.

The hub is configured by issuer URL only; the endpoints come from
``<issuer>/.well-known/openid-configuration``. Failures become :class:`OidcUnavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx


class OidcUnavailable(Exception):
    """The issuer cannot be reached or its discovery document is unusable."""

    reason = "oidc-unavailable"


@dataclass(frozen=True, slots=True)
class OidcEndpoints:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    end_session_endpoint: str | None = None


def discover(issuer: str, *, timeout: float = 10.0) -> OidcEndpoints:
    """Read the issuer's discovery document (synchronously: the hub's config file is not async)."""
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcUnavailable(f"cannot read the OpenID Connect discovery document {url}: {exc}") from exc
    missing = [key for key in ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint")
               if not isinstance(document.get(key), str)]
    if missing:
        raise OidcUnavailable(f"{url}: the discovery document lacks {', '.join(missing)}")
    if document["issuer"].rstrip("/") != issuer.rstrip("/"):
        raise OidcUnavailable(f"{url}: issuer is {document['issuer']!r}, expected {issuer!r}")
    return OidcEndpoints(
        issuer=document["issuer"],
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        userinfo_endpoint=document["userinfo_endpoint"],
        end_session_endpoint=document.get("end_session_endpoint"),
    )
