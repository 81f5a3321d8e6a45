"""What one deployed hub (an Environment) looks like, as one typed, validated object.

An environment is defined in the Pulumi stack file of its contract,
``infra/Pulumi.<name>.yaml``, under the key ``gereedschapskist:environment``.
The hub (``gereedschapskist hub values``), the portal (``db register-environment``) and the
infrastructure program read it through :func:`load_environment` (or :func:`environment_from`, for a
stack file already read), so the definition is parsed in one place; :func:`environment_offer` is the one
rule of what an environment offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from gereedschapskist.catalogue import Bundle, Catalogue

from .groups import PLATFORM_ADMINS, GroupMapping
from .refusal import Refusal, format_validation_errors

ENVIRONMENT_KEY = "gereedschapskist:environment"
NAME_PATTERN = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"


class EnvironmentInvalid(Refusal):
    """An environment definition is missing or invalid; the message names file, field and value."""

    reason = "invalid-environment"

    def __init__(self, message: str):
        super().__init__(None, message)


class OidcSpec(BaseModel):
    """The OpenID Connect issuer users log in with (SURFconext, SRAM, Keycloak, Entra ID, …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: HttpUrl = Field(description="the issuer URL; its /.well-known/openid-configuration must be reachable")
    client_id: str = Field(min_length=1, description="the hub's client id at the issuer")
    client_secret_name: str = Field(
        default="hub-oidc-client", pattern=r"^[a-z0-9][a-z0-9.-]{0,252}$",
        description="name of the Kubernetes Secret holding the client secret (key client-secret) and the hub's "
                    "auth_state key (key crypt-key)",
    )
    username_claim: str = Field(default="preferred_username", description="the claim that becomes the user name")
    groups_claim: str = Field(default="groups", description="the claim listing the user's groups "
                                                            "(org:<id>, role:<id>, …)")
    scopes: tuple[str, ...] = Field(default=("openid", "profile", "email", "groups"),
                                    description="scopes asked for (add offline_access where the issuer gives refresh "
                                                "tokens only then: the hub re-reads groups with them)")
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = Field(
        default="client_secret_basic", description="how the hub authenticates at the token endpoint, as registered "
                                                   "at the issuer")
    group_mapping: GroupMapping = Field(
        default_factory=dict,
        description="the issuer's groups/entitlements → our group names, as the portal's OIDC_GROUP_MAPPING (a key "
                    "ending in * maps a prefix to a prefix, e.g. urn:mace:example.nl:org:* → org:*); empty: the "
                    "issuer sends our names (org:<id>, role:<id>, …). Unmapped groups are dropped at the hub")


class EnvironmentSpec(BaseModel):
    """One hub for one organisation's contract: where it runs, who may log in, what it offers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="the environment's id, equal to the stack name")
    organisation: str = Field(pattern=NAME_PATTERN, description="the organisation that owns it (group org:<id>)")
    contract: str | None = Field(default=None, description="the contract it was ordered under")
    stage: Literal["development", "production"] = Field(
        description="development is flexible; production is strict (catalogue images only, egress allow-list)")
    public_url: HttpUrl = Field(description="the URL users open, e.g. https://hub.minfin.gereedschapskist.nl")
    portal_url: HttpUrl | None = Field(
        default=None, description="the portal's public URL (the platform stack's public_url, e.g. "
                                  "https://portal.gereedschapskist.nl): the hub's /hub/spawn sends people there, also "
                                  "back after the single sign-on of a first launch; left out, /hub/spawn only says "
                                  "that workspaces start from the portal")
    oidc: OidcSpec
    admin_group: str = Field(default=PLATFORM_ADMINS, min_length=1,
                             description="members of this group are hub admins")
    roles: tuple[str, ...] | None = Field(default=None, description="roles offered here; all when left out")
    bundles: tuple[str, ...] | None = Field(default=None,
                                            description="bundles offered here; all of the roles' when left out")
    idle_timeout_seconds: int = Field(default=3600, ge=300, le=7 * 24 * 3600,
                                      description="stop servers idle this long")
    max_servers_per_user: int = Field(default=3, ge=1, le=20, description="named servers a user may run at once")


def stack_file(name: str, infra_dir: Path) -> Path:
    """``infra_dir/Pulumi.<name>.yaml``, or :class:`EnvironmentInvalid` naming the stacks that exist."""
    file = infra_dir / f"Pulumi.{name}.yaml"
    if not file.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in infra_dir.glob("Pulumi.*.yaml"))
        raise EnvironmentInvalid(f"no environment {name!r}: {file} does not exist; known: {', '.join(known) or 'none'}")
    return file


def read_stack(file: Path) -> dict:
    """The ``config:`` mapping of a stack file (safe YAML), or :class:`EnvironmentInvalid`."""
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EnvironmentInvalid(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("config") or {}, dict):
        raise EnvironmentInvalid(f"{file}: must be a mapping with a `config:` mapping")
    return data.get("config") or {}


def environment_from(config: dict, *, name: str, file: Path) -> EnvironmentSpec:
    """Validate the ``gereedschapskist:environment`` section of a stack's ``config`` (already read)."""
    section = config.get(ENVIRONMENT_KEY)
    if section is None:
        raise EnvironmentInvalid(f"{file}: config.{ENVIRONMENT_KEY} is missing")
    try:
        spec = EnvironmentSpec.model_validate(section)
    except ValidationError as exc:
        raise EnvironmentInvalid("\n".join(format_validation_errors(
            exc, name=lambda field: f"{file}: config.{ENVIRONMENT_KEY}.{field}",
            show_value=lambda field, value: True))) from exc
    if spec.name != name:
        raise EnvironmentInvalid(f"{file}: config.{ENVIRONMENT_KEY}.name = {spec.name!r}: must equal the stack "
                                 f"name {name!r}")
    return spec


def load_environment(name: str, infra_dir: Path) -> EnvironmentSpec:
    """Read ``infra/Pulumi.<name>.yaml`` and return its environment section, validated."""
    file = stack_file(name, infra_dir)
    return environment_from(read_stack(file), name=name, file=file)


# --------------------------------------------------------------------------- what an environment offers


@dataclass(frozen=True)
class OfferProblem:
    """One reason an environment's roles/bundles cannot be offered: the field, its value, what is wrong."""

    field: str  # "roles" or "bundles"
    value: str
    message: str


class OfferInvalid(Refusal):
    """The environment's roles or bundles do not fit the catalogue; ``problems`` lists every one."""

    def __init__(self, reason: str, problems: list[OfferProblem]):
        # reason: unknown-role | unknown-bundle | nothing-offered
        self.problems = problems
        super().__init__(reason, "; ".join(f"{p.field} {p.value!r} {p.message}" for p in problems))


@dataclass(frozen=True)
class Offer:
    roles: tuple[str, ...]
    bundles: tuple[Bundle, ...]

    @property
    def bundle_ids(self) -> tuple[str, ...]:
        return tuple(b.id for b in self.bundles)


def environment_offer(spec: EnvironmentSpec, catalogue: Catalogue) -> Offer:
    """The roles and bundles an environment offers: all roles / all their offered bundles when left out.

    Read by the hub's Helm values and by the infrastructure's node pools; the hub itself applies the same
    rule (:func:`offer_of`) to the roles and bundles its settings name.
    """
    return offer_of(catalogue, roles=spec.roles, bundles=spec.bundles)


def offer_of(catalogue: Catalogue, *, roles: Iterable[str] | None, bundles: Iterable[str] | None) -> Offer:
    """The one rule of what an environment offers, for its ``roles`` and ``bundles`` (``None``: left out).

    Roles must be in the catalogue (all of them when left out); bundles must be offered and be for one of
    the roles (all the roles' offered bundles when left out); something must be offered. Otherwise
    :class:`OfferInvalid` lists every problem.
    """
    roles = tuple(roles) if roles is not None else tuple(sorted(catalogue.roles))
    unknown = [OfferProblem("roles", r, f"is not in the catalogue (known: {', '.join(sorted(catalogue.roles))})")
               for r in roles if r not in catalogue.roles]
    if unknown:
        raise OfferInvalid("unknown-role", unknown)
    if bundles is None:
        chosen_bundles = catalogue.offered_for(roles)
    else:
        problems, chosen = [], []
        for bundle_id in bundles:
            bundle = catalogue.bundles.get(bundle_id)
            if bundle is None:
                problems.append(OfferProblem("bundles", bundle_id, "is not in the catalogue"))
            elif not bundle.offered:
                problems.append(OfferProblem("bundles", bundle_id,
                                             "is not offered (retired or its security review expired)"))
            elif not set(bundle.roles) & set(roles):
                problems.append(OfferProblem("bundles", bundle_id,
                                             f"is for role {' or '.join(bundle.roles)}, which this environment does "
                                             f"not offer (roles: {', '.join(roles)})"))
            else:
                chosen.append(bundle)
        if problems:
            raise OfferInvalid("unknown-bundle", problems)
        chosen_bundles = tuple(sorted(chosen, key=lambda b: b.id))
    if not chosen_bundles:
        raise OfferInvalid("nothing-offered", [OfferProblem("roles", ", ".join(roles), "are offered no bundle")])
    return Offer(roles=roles, bundles=chosen_bundles)
