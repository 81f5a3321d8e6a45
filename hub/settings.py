"""The hub's one settings object (environment prefix ``GEREEDSCHAPSKIST_HUB_``).

Nothing else in :mod:`gereedschapskist.hub` reads ``os.environ``. ``make up`` and the test
fixtures (:mod:`gereedschapskist.dev.devstack`) pass these variables to the ``jupyterhub`` process; on Kubernetes the
rendered Helm values set them through ``hub.extraEnv``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gereedschapskist.core.groups import PLATFORM_ADMINS, GroupMapping
from gereedschapskist.core.refusal import Refusal
from gereedschapskist.core.settings import unknown_variables
from gereedschapskist.core.streaming import KafkaAccess, local_environment

from .kubernetes_data import DATASETS_CLAIM

ENV_PREFIX = "GEREEDSCHAPSKIST_HUB_"
HUB_DIR = Path(__file__).resolve().parent
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "placeholder", "development"})
#: Settings that shape login and that, on Kubernetes, come from the environment's stack file through the Helm
#: values (``hub.config.GenericOAuthenticator``, ``hub.loadRoles``): setting them on the hub pod is refused.
FROM_THE_STACK_FILE = {
    "oidc_scopes": "oidc.scopes", "oidc_username_claim": "oidc.username_claim",
    "oidc_groups_claim": "oidc.groups_claim", "oidc_token_endpoint_auth_method": "oidc.token_endpoint_auth_method",
    "allowed_groups": "organisation and admin_group", "admin_group": "admin_group",
    "organisations": "organisation", "oidc_group_mapping": "oidc.group_mapping",
}

#: A list setting: space-separated (as OAuth writes scopes; commas work too) or a JSON array.
Words = Annotated[tuple[str, ...], NoDecode]


def _words(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return tuple(json.loads(text))
        return tuple(word for word in text.replace(",", " ").split() if word)
    return value


class HubSettingsInvalid(Refusal):
    """The hub's settings cannot work; the message names the variable."""

    reason = "invalid-settings"

    def __init__(self, message: str):
        super().__init__(None, message)


class HubSettings(BaseSettings):
    """Everything an operator can set for the hub, with its default."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    backend: Literal["local", "kubernetes"] = Field(
        default="local", description="local: bundle virtualenvs as local processes; kubernetes: KubeSpawner pods")
    stage: Literal["development", "production"] = Field(
        default="development", description="production refuses placeholder secrets")
    state_dir: Path = Field(default=Path(".state"),
                            description="the one directory holding all state of `make up` (hub db, envs, homes)")
    public_url: str = Field(default="http://127.0.0.1:8000", description="the URL users open (the proxy)")
    hub_port: int = Field(default=8081, ge=1, le=65535, description="the hub's own API port on 127.0.0.1")
    proxy_api_port: int = Field(default=8001, ge=1, le=65535, description="configurable-http-proxy's API port")
    catalogue_dir: Path | None = Field(default=None, description="the catalogue tree; the bundled one when unset")
    roles: Words | None = Field(
        default=None, description="Kubernetes backend: the roles this environment offers, space-separated "
                                  "(or a JSON list); every role of the catalogue when unset")
    bundles: Words | None = Field(
        default=None, description="Kubernetes backend: the bundles this environment offers, space-separated "
                                  "(or a JSON list); every offered bundle of its roles when unset")

    oidc_issuer: str = Field(default="", description="OpenID Connect issuer URL (discovery is read from it)")
    oidc_client_id: str = Field(default="hub", description="the hub's client id at the issuer")
    oidc_client_secret: SecretStr = Field(default=SecretStr(""), description="the hub's client secret")
    oidc_username_claim: str = Field(default="preferred_username", description="claim that becomes the user name")
    oidc_groups_claim: str = Field(default="groups", description="claim listing org:/role:/… groups")
    oidc_scopes: Words = Field(default=("openid", "profile", "email", "groups", "offline_access"),
                               description="scopes asked for, space-separated (offline_access: a refresh token, "
                                           "so the hub can re-read groups)")
    oidc_token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = Field(
        default="client_secret_basic", description="how the hub authenticates at the token endpoint, as registered "
                                                   "at the issuer")
    oidc_group_mapping: GroupMapping = Field(
        default_factory=dict,
        description="the issuer's groups/entitlements → our group names (JSON object), as the portal's setting of "
                    "the same name; a key ending in * maps a prefix (its value ends in * too). Empty: our own names "
                    "(org:, role:, …) are taken as they are. With a mapping, unmapped groups are dropped")
    allowed_groups: Words = Field(
        default=(), description="only members of these groups may log in (space-separated); empty: everyone the "
                                "issuer accepts. Checked at login and at every refresh")
    admin_group: str = Field(default=PLATFORM_ADMINS, description="members get the platform-admin role (see users "
                                                                  "and servers, stop servers; never open them)")
    organisations: Words = Field(
        default=(), description="organisations whose org-admin:<org> members get an admin role for org:<org> "
                                "(space-separated)")
    portal_url: str = Field(default="", description="the portal's public URL: /hub/spawn sends people there "
                                                    "(only the portal starts servers)")
    auth_refresh_age_seconds: int = Field(
        default=600, ge=0, description="groups are re-read from the issuer when older than this (and before "
                                       "every start)")
    cookie_max_age_days: float = Field(default=0.5, gt=0, le=14, description="lifetime of the hub's login cookie")
    kafka: dict[str, str] | None = Field(
        default=None, description="streaming environments on Kubernetes: the Kafka a streaming workspace reaches, "
                                  "as JSON {bootstrap, ca_secret, user_secret} (set by infra; "
                                  "gereedschapskist.core.streaming)")
    kafka_local_bootstrap: str = Field(
        default="", description="local backend: host:port of the local Kafka-compatible broker make up starts "
                                "(gereedschapskist.dev.kafka); workspaces of streaming bundles get it as "
                                "KAFKA_BOOTSTRAP_SERVERS with KAFKA_SECURITY_PROTOCOL=PLAINTEXT. Unset: none")
    forge_url: str = Field(default="", description="the environment's git forge (https://github.com/<org>, a GitLab "
                                                   "or Forgejo): git in every workspace gets a credential helper for "
                                                   "that host only (hub/forge.py); unset: none")
    forge_token: SecretStr | None = Field(default=None, description="the environment's token at FORGE_URL, given to "
                                                                    "workspaces as GEREEDSCHAPSKIST_FORGE_TOKEN")

    portal_api_token: SecretStr | None = Field(
        default=None, description="API token of the `portal` service (role gereedschapskist-portal); "
                                  "no portal service when unset")
    portal_api_url: str = Field(
        default="", description="the portal's URL as the hub reaches it (e.g. http://127.0.0.1:8080 or "
                                "http://portal.gereedschapskist.svc): at every start the hub asks it for the user's "
                                "dataset grants with the portal service's token (PORTAL_API_TOKEN) and mounts "
                                "exactly those read-only; a start is refused when it cannot be asked. Unset: no "
                                "data in workspaces")
    datasets_dir: Path | None = Field(
        default=None, description="local backend: the data store the granted datasets' files are read from "
                                  "(make up writes the sample's files there); <state_dir>/datasets when unset")
    data_reconcile_seconds: float = Field(
        default=15.0, ge=0.5, le=30, description="how often a running server's ~/data is checked against the "
                                                 "portal's grants (expired or revoked datasets are taken away)")
    data_stale_seconds: float = Field(
        default=40.0, ge=1, le=45, description="when the portal has not answered for this long, a running "
                                               "server's data is taken away until it answers again (fail closed); "
                                               "with data_reconcile_seconds at most 60 s in all")
    data_read_only: Literal["auto", "bind", "copy"] = Field(
        default="auto", description="local backend: how ~/data is made read-only — bind: a read-only bind mount "
                                    "(needs root with CAP_SYS_ADMIN; refused to start otherwise), copy: files 0444 in "
                                    "folders 0555 (does not stop a server running as root), auto: bind where this "
                                    "machine allows it, else copy")
    datasets_claim: str = Field(
        default=DATASETS_CLAIM, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Kubernetes backend: the PersistentVolumeClaim holding the data store; each granted dataset's "
                    "files are mounted from it read-only (subPath) into ~/data/<identifier>/")
    image_mirror: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9.:-]*(/[a-z0-9._-]+)*$",
        description="Kubernetes backend: the environment's registry cache (issue 16); workspace images are pulled "
                    "through it (gereedschapskist.core.registry.mirrored). Unset: from their own registries")
    idle_timeout_seconds: int = Field(default=3600, ge=60, description="stop servers idle this long")
    cull_every_seconds: int = Field(default=300, ge=10, description="how often the idle culler looks")
    named_server_limit: int = Field(default=10, ge=1, le=50,
                                    description="named servers a user may have, running or stopped: a stopped "
                                                "workspace keeps its server (and home) for a restart, so this is "
                                                "the user's history; deleting a workspace frees one")
    running_server_limit: int = Field(default=3, ge=1, le=20,
                                      description="servers a user may run (or start) at once")
    start_timeout_seconds: int = Field(default=900, ge=10,
                                       description="a start (including a first environment build) may take this long")
    slow_spawn_timeout_seconds: float = Field(
        default=0.5, ge=0.05, le=10,
        description="a start request answers 202 after this and the start continues in the background (follow GET "
                    "…/progress): short, so the portal shows its progress page soon (it was 2 s). Long enough that "
                    "the launch rule refuses within it (403 with its reason header): on a busy 2-core machine the "
                    "refusal comes ~0.2 s into the start, after 0.1 s it did not. A refusal that comes later still "
                    "ends the progress stream as failed with the hub's message, and the portal removes the server")
    http_timeout_seconds: int = Field(default=120, ge=5, description="a started server must answer within this")
    prepare_environments: bool = Field(
        default=True, description="local backend: build every offered bundle's environment in the background when "
                                  "the hub starts (and what a catalogue change brings), so first launches find it "
                                  "ready; the local analogue of z2jh's image pre-puller")
    catalogue_watch_seconds: float = Field(
        default=30.0, ge=0, description="local backend, with prepare_environments: how often the catalogue folder "
                                        "is looked at for bundle versions to prepare; 0: only at the hub's start")

    contract_environments_dir: Path | None = Field(
        default=None, description="local backend: the folder of standard contracts' environment files the hub "
                                  "enforces at every launch (written by the portal's local provisioner; "
                                  "hub/launch.py); <state_dir>/hub/environments when unset")

    proxy_command: tuple[str, ...] = Field(
        default=(str(HUB_DIR / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"),),
        description="command that starts configurable-http-proxy")

    @field_validator("kafka")
    @classmethod
    def _kafka(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            KafkaAccess.from_json(value)  # ValueError names what is missing
        return value

    @field_validator("kafka_local_bootstrap")
    @classmethod
    def _kafka_local_bootstrap(cls, value: str) -> str:
        if value:
            local_environment(value)  # ValueError: not host:port
        return value

    @property
    def kafka_access(self) -> KafkaAccess | None:
        return None if self.kafka is None else KafkaAccess.from_json(self.kafka)

    @field_validator("portal_api_url")
    @classmethod
    def _portal_api_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL like http://127.0.0.1:8080")
        return value.rstrip("/")

    @field_validator("public_url", "oidc_issuer", "portal_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("roles", "bundles", "oidc_scopes", "allowed_groups", "organisations", mode="before")
    @classmethod
    def _split_words(cls, value: Any) -> Any:
        return _words(value)

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_variables(cls, data: Any) -> Any:
        """A misspelt ``GEREEDSCHAPSKIST_HUB_*`` variable is an error, not silently ignored."""
        unknown = unknown_variables(os.environ, prefix=ENV_PREFIX, fields=cls.model_fields, what="hub")
        if unknown:
            raise ValueError("; ".join(unknown))
        return data

    @model_validator(mode="after")
    def _production_secrets(self) -> "HubSettings":
        if self.stage == "production" and self.backend == "local":
            raise ValueError("stage=production needs backend=kubernetes: the local backend has no isolation "
                             "between users")
        if self.backend == "kubernetes":
            stacked = sorted(name for name in FROM_THE_STACK_FILE if name in self.model_fields_set)
            if stacked:
                where = "; ".join(f"{ENV_PREFIX}{name.upper()} (set {FROM_THE_STACK_FILE[name]} in the environment's "
                                  "stack file, infra/)" for name in stacked)
                raise ValueError(f"with backend=kubernetes these come from the stack file through the Helm values, "
                                 f"not from the hub's variables: {where}")
        return self

    @property
    def hub_state_dir(self) -> Path:
        return self.state_dir / "hub"

    @property
    def environments_dir(self) -> Path:
        """Standard contracts' environment files (:mod:`gereedschapskist.core.contract_environment`)."""
        return self.contract_environments_dir or self.hub_state_dir / "environments"

    @property
    def data_store_dir(self) -> Path:
        """The granted datasets' files (local backend)."""
        return self.datasets_dir or self.state_dir / "datasets"

    @property
    def envs_dir(self) -> Path:
        """Bundle virtualenvs, one per bundle version and package list."""
        return self.state_dir / "envs"

    @property
    def homes_dir(self) -> Path:
        """Home directories of local users' servers."""
        return self.state_dir / "users"

    def require_oidc(self) -> None:
        """Refuse to configure a hub nobody can log in to (or one with a placeholder secret)."""
        if not self.oidc_issuer:
            raise HubSettingsInvalid(f"{ENV_PREFIX}OIDC_ISSUER is not set: the hub needs an OpenID Connect issuer")
        secret = self.oidc_client_secret.get_secret_value()
        if not secret:
            raise HubSettingsInvalid(f"{ENV_PREFIX}OIDC_CLIENT_SECRET is not set")
        if self.stage == "production" and secret.lower() in PLACEHOLDER_SECRETS:
            raise HubSettingsInvalid(f"{ENV_PREFIX}OIDC_CLIENT_SECRET is a placeholder; production needs the real "
                                     "secret")
        token = self.portal_api_token.get_secret_value() if self.portal_api_token else None
        if token is not None and (len(token) < 32 or token.lower() in PLACEHOLDER_SECRETS):
            raise HubSettingsInvalid(f"{ENV_PREFIX}PORTAL_API_TOKEN must be a random string of at least 32 "
                                     "characters")
        if self.portal_api_url and token is None:
            raise HubSettingsInvalid(f"{ENV_PREFIX}PORTAL_API_URL is set but {ENV_PREFIX}PORTAL_API_TOKEN is not: the "
                                     "hub asks the portal for grants with the portal service's token")
