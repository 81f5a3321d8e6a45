"""The hub's one settings object (environment prefix ``GEREEDSCHAPSKIST_HUB_``).

Nothing else in :mod:`gereedschapskist.hub` reads ``os.environ``. ``make up`` and the test
fixtures (:mod:`gereedschapskist.dev.devstack`) pass these variables to the ``jupyterhub`` process; on Kubernetes the
rendered Helm values set them through ``hub.extraEnv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gereedschapskist.core.groups import PLATFORM_ADMINS
from gereedschapskist.core.refusal import Refusal

ENV_PREFIX = "GEREEDSCHAPSKIST_HUB_"
HUB_DIR = Path(__file__).resolve().parent
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "placeholder", "development"})


class HubSettingsInvalid(Refusal):
    """The hub's settings cannot work; the message names the variable."""

    reason = "invalid-settings"

    def __init__(self, message: str):
        super().__init__(None, message)


class HubSettings(BaseSettings):
    """Everything an operator can set for the hub, with its default."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

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
    roles: tuple[str, ...] | None = Field(
        default=None, description="Kubernetes backend: the roles this environment offers, as a JSON list "
                                  "(e.g. [\"bi\", \"ml\"]); every role of the catalogue when unset")
    bundles: tuple[str, ...] | None = Field(
        default=None, description="Kubernetes backend: the bundles this environment offers, as a JSON list; "
                                  "every offered bundle of its roles when unset")

    oidc_issuer: str = Field(default="", description="OpenID Connect issuer URL (discovery is read from it)")
    oidc_client_id: str = Field(default="hub", description="the hub's client id at the issuer")
    oidc_client_secret: SecretStr = Field(default=SecretStr(""), description="the hub's client secret")
    oidc_username_claim: str = Field(default="preferred_username", description="claim that becomes the user name")
    oidc_groups_claim: str = Field(default="groups", description="claim listing org:/role:/… groups")
    oidc_scopes: tuple[str, ...] = Field(default=("openid", "profile", "email", "groups"))
    allowed_groups: tuple[str, ...] = Field(
        default=(), description="only members of these groups may log in; empty: everyone the issuer accepts")
    admin_group: str = Field(default=PLATFORM_ADMINS, description="members become hub admins")

    portal_api_token: SecretStr | None = Field(
        default=None, description="API token of the `portal` service (role gereedschapskist-portal); "
                                  "no portal service when unset")
    idle_timeout_seconds: int = Field(default=3600, ge=60, description="stop servers idle this long")
    cull_every_seconds: int = Field(default=300, ge=10, description="how often the idle culler looks")
    named_server_limit: int = Field(default=3, ge=1, le=20, description="named servers a user may have "
                                                                                 "(running or stopped)")
    start_timeout_seconds: int = Field(default=900, ge=10,
                                       description="a start (including a first environment build) may take this long")
    slow_spawn_timeout_seconds: float = Field(
        default=2.0, ge=0.5, description="a start still running after this answers 202 and continues in the "
                                         "background (follow GET …/progress); refusals come sooner, as 403")
    http_timeout_seconds: int = Field(default=120, ge=5, description="a started server must answer within this")

    proxy_command: tuple[str, ...] = Field(
        default=(str(HUB_DIR / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"),),
        description="command that starts configurable-http-proxy")

    @field_validator("public_url", "oidc_issuer")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _production_secrets(self) -> "HubSettings":
        if self.stage == "production" and self.backend == "local":
            raise ValueError("stage=production needs backend=kubernetes: the local backend has no isolation "
                             "between users")
        return self

    @property
    def hub_state_dir(self) -> Path:
        return self.state_dir / "hub"

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
