"""The group names of the groups claim, shared by the provider, the hub and the portal.

``org:<organisation>`` member of an organisation (a data scientist), ``role:<role>`` workbench role
(bi/ml/streaming/dev), ``org-admin:<organisation>`` organisation admin, ``data-owner:<organisation>``
data owner, and the platform admin group ``gereedschapskist:admins``.

:func:`accept_groups` is the one rule of what hub and portal take from an issuer's groups claim (a
:class:`GroupPolicy`): mapped to our names, then only configured organisations, catalogue roles and the admin
group; the rest is dropped, never created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Iterable, Mapping

from pydantic import AfterValidator

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


# --------------------------------------------------------------------------- what is accepted from an issuer

#: An organisation or role id as it may appear in a group name.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def mapping_problems(mapping: Mapping[str, str]) -> list[str]:
    """What is wrong with an issuer group mapping (``OIDC_GROUP_MAPPING`` of hub and portal); empty when fine.

    A key ending in ``*`` maps a prefix to a prefix (its value ends in ``*`` too), any other key one exact name."""
    return [f"{key!r} → {target!r}: a prefix (ending in *) maps to a prefix, an exact name to an exact name"
            for key, target in mapping.items() if key.endswith("*") != target.endswith("*")]


def _checked(mapping: dict[str, str]) -> dict[str, str]:
    problems = mapping_problems(mapping)
    if problems:
        raise ValueError("; ".join(problems))
    return mapping


#: A settings field holding an issuer group mapping, checked by :func:`mapping_problems` (hub, portal, stack file).
GroupMapping = Annotated[dict[str, str], AfterValidator(_checked)]


@dataclass(frozen=True)
class GroupPolicy:
    """What hub and portal accept from one issuer's groups claim — the one rule both apply.

    ``mapping``: the issuer's group → ours; a key ending in ``*`` maps a prefix (``"urn:x:org:*": "org:*"``
    turns ``urn:x:org:cbs`` into ``org:cbs``). Empty: our own group names are taken as they are.
    ``organisations``: the organisation ids accepted (``ORGANISATIONS``); ``roles``: the workbench roles (the
    catalogue's); ``admin_group``: the platform admins' group.
    """

    admin_group: str
    organisations: frozenset[str]
    roles: frozenset[str]
    mapping: Mapping[str, str] = field(default_factory=dict)

    def translate(self, group: str) -> str | None:
        """The issuer's group as one of ours, or None when the mapping has no entry for it."""
        if not self.mapping:
            return group
        if group in self.mapping:
            return self.mapping[group]
        best = max((k for k in self.mapping if k.endswith("*") and group.startswith(k[:-1])), key=len, default=None)
        if best is None:
            return None
        return self.mapping[best][:-1] + group[len(best) - 1:]


@dataclass
class Accepted:
    """The issuer's groups sorted by :func:`accept_groups`.

    ``groups``: the accepted groups under our names (what the hub keeps as its groups); ``roles``: workbench
    roles; ``organisations``: organisation id → the membership kinds (keys of :data:`MEMBER_PREFIXES`);
    ``ignored``: names that are not ours at all; ``refused``: ours, but naming an organisation or role that is
    not accepted (or, with a mapping, an issuer group it has no entry for) — each with the reason.
    """

    groups: list[str] = field(default_factory=list)
    roles: set[str] = field(default_factory=set)
    organisations: dict[str, set[str]] = field(default_factory=dict)
    platform_admin: bool = False
    ignored: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def admitted(self) -> bool:
        """May this user use hub and portal: a member of an accepted organisation, or a platform admin."""
        return self.platform_admin or bool(self.organisations)

    def dropped(self) -> str:
        """The refused and ignored groups for a log line (``""`` when none)."""
        parts = [f"{g}: {why}" for g, why in sorted(self.refused.items())]
        parts += [f"{g}: not a group the platform uses" for g in sorted(self.ignored)]
        return "; ".join(parts)


_KIND_OF_PREFIX = {prefix: kind for kind, prefix in MEMBER_PREFIXES.items()}


def accept_groups(groups: Iterable[str], *, policy: GroupPolicy) -> Accepted:
    """Sort the issuer's groups into what the platform accepts and what it drops (never creates)."""
    found = Accepted()
    accepted: set[str] = set()
    for raw in groups:
        group = policy.translate(raw)
        if group is None:
            found.refused[raw] = "no entry in OIDC_GROUP_MAPPING"
            continue
        if group == policy.admin_group:
            found.platform_admin = True
            accepted.add(group)
            continue
        prefix, value = split(group) or ("", "")
        if not prefix or not _ID.match(value):
            found.ignored.append(raw)
        elif prefix == ROLE_PREFIX:
            if value in policy.roles:
                found.roles.add(value)
                accepted.add(group)
            else:
                found.refused[raw] = f"role {value!r} is not in the catalogue"
        elif prefix in _KIND_OF_PREFIX:
            if value in policy.organisations:
                found.organisations.setdefault(value, set()).add(_KIND_OF_PREFIX[prefix])
                accepted.add(group)
            else:
                found.refused[raw] = f"organisation {value!r} is not in ORGANISATIONS"
        else:
            found.ignored.append(raw)
    found.groups = sorted(accepted)
    return found
