"""The groups claim conventions shared by hub, portal and provider.

``org:<organisation>`` member of an organisation, ``role:<role>`` (bi/ml/streaming/dev),
``org-admin:<organisation>``, ``data-owner:<organisation>``, ``gereedschapskist:admins``.
"""

from __future__ import annotations

from typing import Iterable

ROLE_PREFIX = "role:"
ORG_PREFIX = "org:"
ORG_ADMIN_PREFIX = "org-admin:"
DATA_OWNER_PREFIX = "data-owner:"
PLATFORM_ADMINS = "gereedschapskist:admins"


def _with_prefix(groups: Iterable[str], prefix: str) -> list[str]:
    found = {g[len(prefix):] for g in groups if g.startswith(prefix) and len(g) > len(prefix)}
    return sorted(found)


def roles_of(groups: Iterable[str]) -> list[str]:
    """``["org:cbs", "role:ml"]`` → ``["ml"]``."""
    return _with_prefix(groups, ROLE_PREFIX)


def organisations_of(groups: Iterable[str]) -> list[str]:
    return _with_prefix(groups, ORG_PREFIX)


def role_group(role: str) -> str:
    return f"{ROLE_PREFIX}{role}"


def organisation_group(organisation: str) -> str:
    return f"{ORG_PREFIX}{organisation}"
