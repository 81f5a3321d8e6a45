"""The typed configuration of one stack: the only input of the infrastructure program.

A stack file ``infra/Pulumi.<stack>.yaml`` holds, under ``config:``, either

* a **contract environment**: ``gereedschapskist:environment`` (what the hub offers, parsed only by
  :func:`gereedschapskist.core.environment.environment_from`) and ``gereedschapskist:cloud`` (where and how
  big, parsed here); or
* the **central platform**: ``gereedschapskist:platform`` and ``gereedschapskist:cloud``.

:func:`load_stack` reads the file once (:func:`gereedschapskist.core.environment.read_stack`) and returns a :class:`ContractStack` or :class:`PlatformStack`; every
problem is reported at once, each naming file, field and value. Nothing here reads the catalogue:
partner, region and machine sizes are checked against it by :mod:`.plan`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

from gereedschapskist import __version__
from gereedschapskist.core.environment import (
    ENVIRONMENT_KEY, NAME_PATTERN, EnvironmentInvalid, EnvironmentSpec, environment_from, read_stack, stack_file,
)
from gereedschapskist.core.groups import PLATFORM_ADMINS
from gereedschapskist.core.refusal import format_validation_errors

from . import versions
from .errors import INVALID_CONFIG, StackInvalid
from .stages import SECRET_CONFIG_KEYS

CLOUD_KEY = "gereedschapskist:cloud"
PLATFORM_KEY = "gereedschapskist:platform"
KNOWN_KEYS = (ENVIRONMENT_KEY, CLOUD_KEY, PLATFORM_KEY)

_QUANTITY = r"^[1-9][0-9]*(Mi|Gi|Ti)$"
_COST_CENTRE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_MACHINE_SIZE = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"
_DOMAIN = r"(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolSpec(_Model):
    """Overrides for one workspace node pool (a role id, or ``gpu``)."""

    machine_size: str | None = Field(
        default=None, pattern=_MACHINE_SIZE,
        description="a machine size id of the partner (catalogue partners/<id>.yaml); default: the cheapest "
                    "that fits every workspace size of the pool")
    max_nodes: int = Field(default=3, ge=1, le=100, description="the pool scales from 0 up to this many nodes")


class CorePoolSpec(_Model):
    """The pool that runs the hub, the proxy and cluster services (never workspaces)."""

    machine_size: str | None = Field(default=None, pattern=_MACHINE_SIZE,
                                     description="a machine size id of the partner; default: the cheapest with "
                                                 "at least 4 CPU and 16Gi")
    min_nodes: int = Field(default=2, ge=1, le=10, description="nodes always running (two for availability)")
    max_nodes: int = Field(default=4, ge=1, le=20)

    @model_validator(mode="after")
    def _max_at_least_min(self) -> "CorePoolSpec":
        if self.max_nodes < self.min_nodes:
            raise ValueError(f"max_nodes ({self.max_nodes}) must be at least min_nodes ({self.min_nodes})")
        return self


class KafkaSpec(_Model):
    """The size of the Kafka cluster of a streaming environment, as the contract says."""

    brokers: int = Field(default=3, ge=1, le=9, description="Kafka nodes (each broker and KRaft controller)")
    storage: str = Field(default="100Gi", pattern=_QUANTITY, description="disk per broker, e.g. 100Gi")
    cpu: float = Field(default=2, gt=0, le=64, description="CPU cores per broker")
    memory: str = Field(default="8Gi", pattern=_QUANTITY, description="memory per broker, e.g. 8Gi")
    retention_hours: int = Field(default=168, ge=1, le=24 * 365, description="how long messages are kept")
    machine_size: str | None = Field(default=None, pattern=_MACHINE_SIZE,
                                     description="a machine size id of the partner for the Kafka pool")


class EgressRule(_Model):
    """One destination workspaces may reach in a production environment."""

    cidr: str = Field(description="an IPv4 network, e.g. 145.21.0.0/16")
    ports: tuple[int, ...] = Field(default=(443,), min_length=1, description="TCP/UDP ports, e.g. [443]")
    protocol: Literal["TCP", "UDP"] = "TCP"
    description: str = Field(min_length=3, description="what lives there and why workspaces need it")

    @field_validator("cidr")
    @classmethod
    def _network(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 network like 145.21.0.0/16: {exc}") from None
        if network.prefixlen < 8:
            raise ValueError("an allow-list entry may not open more than a /8 (that is not an allow-list)")
        return str(network)

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [p for p in value if not 1 <= p <= 65535]
        if bad:
            raise ValueError(f"ports must be between 1 and 65535, not {bad}")
        return value


class TlsSpec(_Model):
    """Certificates for the public host: cert-manager with an ACME issuer (Let's Encrypt by default)."""

    acme_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", description="contact for the ACME account")
    acme_server: HttpUrl = Field(default=HttpUrl("https://acme-v02.api.letsencrypt.org/directory"))


class VmSpec(_Model):
    """A certified virtual machine the contract's users manage themselves (supply model c, :mod:`.vms`)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$",
                      description="lowercase letters, digits and hyphens, 2-20 characters, unique in the stack")
    size: str = Field(pattern=_MACHINE_SIZE, description="a machine size id of the partner (catalogue "
                                                         "partners/<id>.yaml: machine_sizes)")
    ends_on: date = Field(description="its last day: from 23:59 (Europe/Amsterdam) that day on it is stopped, "
                                      "every day; no later than contract_ends_on")
    disk_gib: int = Field(default=64, ge=30, le=4096, description="the encrypted system disk in GiB")


class CloudSpec(_Model):
    """Where an environment (or the platform) runs and how big it may get: section ``gereedschapskist:cloud``."""

    partner: str = Field(pattern=NAME_PATTERN, description="an approved partner id from catalogue partners/")
    region: str = Field(min_length=2, description="one of the partner's EU regions")
    account: str = Field(min_length=1, description="Azure subscription id, AWS account id or Google Cloud project id")
    cost_centre: str = Field(pattern=_COST_CENTRE, description="lowercase cost-centre code tagged on every resource")
    budget_eur_per_month: int = Field(ge=1, description="the contract's monthly budget in euros (tagged; the "
                                                        "preview warns when the pools' maximum exceeds it)")
    kubernetes_version: str = Field(default=versions.KUBERNETES_VERSION, pattern=r"^1\.[0-9]{2}$",
                                    description="Kubernetes minor version, e.g. 1.33")
    network_cidr: str = Field(default="10.20.0.0/16", description="private address range of the environment")
    core_pool: CorePoolSpec = CorePoolSpec()
    pools: dict[str, PoolSpec] = Field(default_factory=dict, description="overrides per workspace pool")
    kafka: KafkaSpec | None = Field(default=None, description="Kafka sizing; streaming environments only")
    egress_allow_list: tuple[EgressRule, ...] = Field(
        default=(), description="networks workspaces may reach in production (development allows all)")
    egress_domains: tuple[str, ...] = Field(
        default=(), description="production: domains workspaces may reach over HTTPS through the egress proxy, e.g. "
                                "pypi.org or *.example.org (a CDN is named by domain, never by its address range)")
    tls: TlsSpec = Field(description="how certificates for the public host are obtained (cert-manager, ACME)")
    contract_ends_on: date | None = Field(default=None, description="the contract's last day; needed by vms")
    vms: tuple[VmSpec, ...] = Field(default=(), description="certified virtual machines (supply model c)")

    @model_validator(mode="after")
    def _vms_within_contract(self) -> "CloudSpec":
        problems = []
        seen: set[str] = set()
        for i, vm in enumerate(self.vms):
            if vm.name in seen:
                problems.append(f"vms[{i}].name = {vm.name!r}: another VM has this name")
            seen.add(vm.name)
            if self.contract_ends_on is None:
                problems.append(f"vms[{i}].ends_on = {vm.ends_on}: contract_ends_on (missing) is needed to check "
                                f"that the VM ends with the contract; set it to the contract's last day")
            elif vm.ends_on > self.contract_ends_on:
                problems.append(f"vms[{i}].ends_on = {vm.ends_on}: after the contract's end (contract_ends_on = "
                                f"{self.contract_ends_on}); a VM ends with the contract at the latest")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("egress_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in value if not re.fullmatch(_DOMAIN, d)]
        if bad:
            raise ValueError(f"not a domain like pypi.org or *.example.org: {bad}")
        return tuple(sorted(set(value)))

    @field_validator("kubernetes_version")
    @classmethod
    def _supported(cls, value: str) -> str:
        if _version_tuple(value) < _version_tuple(versions.KUBERNETES_MINIMUM):
            raise ValueError(f"Kubernetes {value} is out of support; use {versions.KUBERNETES_MINIMUM} or newer "
                             f"(default {versions.KUBERNETES_VERSION})")
        return value

    @field_validator("network_cidr")
    @classmethod
    def _private(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 network like 10.20.0.0/16: {exc}") from None
        if not network.is_private or network.prefixlen > 16:
            raise ValueError("must be a private range of at least a /16, e.g. 10.20.0.0/16")
        return str(network)


class DatabaseSpec(_Model):
    """The portal's managed PostgreSQL."""

    instance_class: str | None = Field(default=None, min_length=2,
                                       description="the partner's instance class; default: the recipe's smallest "
                                                   "general-purpose class")
    storage_gib: int = Field(default=64, ge=20, le=16384)
    backup_retention_days: int = Field(default=14, ge=7, le=35, description="backups and point-in-time restore "
                                                                            "window in days")
    high_availability: bool = Field(default=True, description="a standby in a second zone")


class PortalOidcSpec(_Model):
    issuer: HttpUrl = Field(description="the OpenID Connect issuer URL")
    client_id: str = Field(min_length=1)
    client_secret_secret: str = Field(default="portal-oidc-client-secret", pattern=r"^[a-z0-9][a-z0-9-]{1,60}$",
                                      description="name of the secret in the cloud's secret store that holds the "
                                                  "client secret (put there by the operator)")
    groups_claim: str = "groups"


class PlatformSpec(_Model):
    """The central platform (portal and its database): section ``gereedschapskist:platform``."""

    name: str = Field(pattern=NAME_PATTERN, description="equal to the stack name")
    organisation: str = Field(pattern=NAME_PATTERN, description="the operator's organisation id")
    contract: str = Field(pattern=NAME_PATTERN, description="the operating agreement the spend is booked on")
    stage: Literal["development", "production"]
    public_url: HttpUrl = Field(description="the portal's https URL")
    portal_version: str = Field(default=__version__, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+([.-][0-9A-Za-z.-]+)?$",
                                description="tag of ghcr.io/gereedschapskist/portal")
    replicas: int = Field(default=3, ge=2, le=20, description="portal pods (at least two)")
    admin_group: str = Field(default=PLATFORM_ADMINS, min_length=1)
    oidc: PortalOidcSpec
    database: DatabaseSpec = DatabaseSpec()

    @field_validator("public_url")
    @classmethod
    def _https(cls, value: HttpUrl) -> HttpUrl:
        if value.scheme != "https":
            raise ValueError("the portal is served over https only")
        return value


@dataclass(frozen=True)
class ContractStack:
    """A contract's environment: the hub for one organisation, on one partner."""

    name: str
    environment: EnvironmentSpec
    cloud: CloudSpec
    source: str = ""
    kind: Literal["contract"] = "contract"

    @property
    def production(self) -> bool:
        return self.environment.stage == "production"


@dataclass(frozen=True)
class PlatformStack:
    """The central platform, one per operator."""

    name: str
    platform: PlatformSpec
    cloud: CloudSpec
    source: str = ""
    kind: Literal["platform"] = "platform"

    @property
    def production(self) -> bool:
        return self.platform.stage == "production"


StackConfig = Union[ContractStack, PlatformStack]


def _format_errors(file: Path | str, key: str, exc: ValidationError) -> list[str]:
    return format_validation_errors(exc, name=lambda field: f"{file}: config.{key}{'.' + field if field else ''}",
                                    show_value=lambda field, value: True)


def parse_cloud(section: Any, file: Path | str) -> CloudSpec:
    try:
        return CloudSpec.model_validate(section)
    except ValidationError as exc:
        raise StackInvalid(INVALID_CONFIG, _format_errors(file, CLOUD_KEY, exc)) from None


def _encrypted(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str)


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value and not _encrypted(value):
        return [leaf for key, item in value.items() for leaf in _leaves(item, f"{path}.{key}" if path else key)]
    return [(path, value)]


def _plain_secrets(file: Path | str, config: dict) -> list[str]:
    """Secrets (issue 16) may only be in the file encrypted (``pulumi config set --secret``), never in plain text."""
    problems = []
    for key in SECRET_CONFIG_KEYS:
        if key not in config:
            continue
        for sub, leaf in _leaves(config[key]):  # hub_tokens and registry_credentials are objects (--path)
            if not _encrypted(leaf):
                where, path = (f"{key}.{sub}", " --path") if sub else (key, "")
                problems.append(f"{file}: config.{where}: a secret must be set with "
                                f"`pulumi config set --secret{path} {where} <value>`, not in plain text")
    return problems


def load_stack(name: str, infra_dir: Path) -> StackConfig:
    """Read ``Pulumi.<name>.yaml`` in ``infra_dir`` into one typed stack configuration, or raise StackInvalid."""
    try:
        file = stack_file(name, infra_dir)
        config = read_stack(file)
    except EnvironmentInvalid as exc:
        raise StackInvalid(INVALID_CONFIG, exc.message) from None
    if not config:
        raise StackInvalid(INVALID_CONFIG, f"{file}: config: missing; a stack file needs a config: mapping")
    problems: list[str] = []
    unknown = sorted(k for k in config if str(k).startswith("gereedschapskist:")
                     and k not in KNOWN_KEYS and k not in SECRET_CONFIG_KEYS)
    for key in unknown:
        problems.append(f"{file}: config.{key}: unknown section; known: {', '.join(KNOWN_KEYS)} and the secrets "
                        f"{', '.join(SECRET_CONFIG_KEYS)}")
    problems += _plain_secrets(file, config)
    has_env, has_platform = ENVIRONMENT_KEY in config, PLATFORM_KEY in config
    if has_env == has_platform:
        problems.append(f"{file}: config: needs exactly one of {ENVIRONMENT_KEY} (a contract environment) or "
                        f"{PLATFORM_KEY} (the central platform)")
    if CLOUD_KEY not in config:
        problems.append(f"{file}: config.{CLOUD_KEY} = (missing): every stack says where it runs "
                        f"(partner, region, account, cost_centre, budget_eur_per_month)")
    cloud = environment = platform = None
    if CLOUD_KEY in config:
        try:
            cloud = parse_cloud(config[CLOUD_KEY], file)
        except StackInvalid as exc:
            problems.extend(exc.problems)
    if has_env and not has_platform:
        try:
            environment = environment_from(config, name=name, file=file)
        except EnvironmentInvalid as exc:
            problems.extend(exc.message.splitlines())
        else:
            if environment.contract is None:
                problems.append(f"{file}: config.{ENVIRONMENT_KEY}.contract = (missing): a cloud environment is "
                                f"ordered under a contract, which is tagged on every resource")
    if has_platform and not has_env:
        try:
            platform = PlatformSpec.model_validate(config[PLATFORM_KEY])
        except ValidationError as exc:
            problems.extend(_format_errors(file, PLATFORM_KEY, exc))
        else:
            if platform.name != name:
                problems.append(f"{file}: config.{PLATFORM_KEY}.name = {platform.name!r}: must equal the stack "
                                f"name {name!r}")
    if platform is not None and cloud is not None:
        for field in ("pools", "kafka", "egress_allow_list", "egress_domains", "vms", "contract_ends_on"):
            if field in cloud.model_fields_set:
                problems.append(f"{file}: config.{CLOUD_KEY}.{field}: belongs to contract environments, not to "
                                f"the platform stack; remove it")
    if problems:
        raise StackInvalid(INVALID_CONFIG, problems)
    if environment is not None:
        return ContractStack(name=name, environment=environment, cloud=cloud, source=str(file))
    return PlatformStack(name=name, platform=platform, cloud=cloud, source=str(file))
