"""How a person at the issuer becomes a user name, the one rule hub and portal share.

- A user *is* the issuer's subject (``sub``): an answer without ``sub`` is refused (:class:`SubjectMissing`).
- The *name* the hub and the portal show and address is the value of the configured user-name claim
  (``preferred_username``, ``uid``, …), passed through :func:`hub_username`: surrounding white space
  removed and lowercased — what JupyterHub's ``Authenticator.normalize_username`` does at OAuth login.
  The hub applies it at login (its authenticator) and the portal's hub adapter applies it to every name it
  sends to the hub's REST API, so "Anna" and "anna" are one hub user on both paths.
"""

from __future__ import annotations

from typing import Any, Mapping

from .refusal import Refusal


#: The refusal reason (hub → portal, in the reason header) when the hub must see the user log in again first:
#: the hub does not know the user yet, or could not re-read their groups at the issuer before a start.
HUB_LOGIN_NEEDED = "hub-login-needed"


class SubjectMissing(Refusal):
    """The issuer's answer (userinfo or ID token) has no ``sub``: there is no one to key the user on."""

    reason = "claim-missing"

    def __init__(self, message: str = "the identity provider's answer has no subject (sub)"):
        super().__init__(None, message)


def hub_username(claim_value: str) -> str:
    """The hub's user name for a user-name claim's value: stripped and lowercased (``" Anna "`` → ``"anna"``)."""
    return claim_value.strip().lower()


def subject_of(claims: Mapping[str, Any]) -> str:
    """The issuer's ``sub`` of a userinfo answer or ID token; :class:`SubjectMissing` when absent or empty."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise SubjectMissing()
    return sub
