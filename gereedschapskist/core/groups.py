"""The group names of the groups claim, shared by the provider, the hub and the portal.

``org:<organisation>`` member of an organisation (a data scientist), ``role:<role>`` workbench role
(bi/ml/streaming/dev), ``org-admin:<organisation>`` organisation admin, ``data-owner:<organisation>``
data owner, and the platform admin group ``gereedschapskist:admins``.
"""

from __future__ import annotations

from typing import Iterable

ORG_PREFIX = "org:"
ROLE_PREFIX = "role:"
ORG_ADMIN_PREFIX = "org-admin:"
DATA_OWNER_PREFIX = "data-owner:"
#: Prefixes of the groups the platform manages (kept in step with the identity provider).
MANAGED_PREFIXES = (ORG_PREFIX, ROLE_PREFIX, ORG_ADMIN_PREFIX, DATA_OWNER_PREFIX)
#: Membership prefixes that name an organisation, by what the member is in it.
MEMBER_PREFIXES = {"member": ORG_PREFIX, "organisation-admin": ORG_ADMIN_PREFIX, "data-owner": DATA_OWNER_PREFIX}
#: Members of this group are platform admins (the default; a deployment may name another).
PLATFORM_ADMINS = "gereedschapskist:admins"


def split(group: str) -> tuple[str, str] | None:
    """``"org:cbs"`` → ``("org:", "cbs")``; ``None`` for a group the platform does not manage."""
    for prefix in MANAGED_PREFIXES:
        if group.startswith(prefix) and len(group) > len(prefix):
            return prefix, group[len(prefix):]
    return None


def with_prefix(groups: Iterable[str], prefix: str) -> list[str]:
    """The values of the groups with ``prefix``, sorted and unique."""
    return sorted({g[len(prefix):] for g in groups if g.startswith(prefix) and len(g) > len(prefix)})


def roles_of(groups: Iterable[str]) -> list[str]:
    """``["org:cbs", "role:ml"]`` → ``["ml"]``."""
    return with_prefix(groups, ROLE_PREFIX)


def organisations_of(groups: Iterable[str]) -> list[str]:
    return with_prefix(groups, ORG_PREFIX)


def is_managed(group: str) -> bool:
    return split(group) is not None


def role_group(role: str) -> str:
    return f"{ROLE_PREFIX}{role}"


def organisation_group(organisation: str) -> str:
    return f"{ORG_PREFIX}{organisation}"


def org_admin_group(organisation: str) -> str:
    return f"{ORG_ADMIN_PREFIX}{organisation}"


def data_owner_group(organisation: str) -> str:
    return f"{DATA_OWNER_PREFIX}{organisation}"
