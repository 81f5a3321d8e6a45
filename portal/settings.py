"""The portal's one settings object: every setting, typed, from ``GEREEDSCHAPSKIST_PORTAL_*`` variables.

Nothing else in the portal reads ``os.environ``. :func:`load_settings` is called once by
:func:`gereedschapskist.portal.main.create_app` (and by the ``db`` commands); tests pass a
:class:`PortalSettings` instance directly. The README's settings table lists every field below.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gereedschapskist.core.groups import PLATFORM_ADMINS, GroupMapping
from gereedschapskist.core.refusal import Refusal, format_validation_errors
from gereedschapskist.core.settings import unknown_variables as core_unknown_variables

ENV_PREFIX = "GEREEDSCHAPSKIST_PORTAL_"
PLACEHOLDER_SECRET = "development-only-change-me"
MIN_SECRET_BYTES = 32
#: Names the portal read before it took the hub's naming scheme: a start with one of them says what to use.
#: The provisioners of standard contracts (``services/provisioning.py`` implements each).
PROVISIONERS = ("local", "gitops")
RENAMED = {"GROUPS_CLAIM": "OIDC_GROUPS_CLAIM", "USERNAME_CLAIM": "OIDC_USERNAME_CLAIM", "SCOPES": "OIDC_SCOPES"}


class SettingsInvalid(Refusal):
    """The portal's configuration is unusable; the message names each variable and value."""

    reason = "invalid-settings"

    def __init__(self, message: str):
        super().__init__(None, message)


class PortalSettings(BaseSettings):
    """Configuration of one portal deployment. Field names are the variable names without the prefix."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    stage: Literal["development", "production"] = Field(
        default="development",
        description="production refuses placeholder secrets, plain-HTTP public URLs and SQLite")
    state_dir: Path = Field(default=Path(".state"), description="folder for local state (the SQLite database)")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db; default: SQLite in state_dir")
    public_url: str = Field(default="http://127.0.0.1:8080", description="the URL users open the portal at")
    session_secret: SecretStr = Field(default=SecretStr(PLACEHOLDER_SECRET),
                                      description="key that signs the session id in the cookie; 32+ bytes, "
                                                  "required unless PUBLIC_URL is on loopback")
    session_max_age_seconds: int = Field(default=8 * 3600, ge=300,
                                         description="absolute lifetime of a login (server-side session)")
    session_idle_seconds: int = Field(default=3600, ge=60,
                                      description="a session unused this long ends")
    groups_max_age_seconds: int = Field(default=600, ge=0,
                                        description="groups older than this are read again from the issuer "
                                                    "(userinfo, refresh token) before a request is served")
    session_cookie: str = Field(default="gereedschapskist_portal", pattern=r"^[A-Za-z0-9_-]+$",
                                description="name of the session cookie (distinct from the hub's cookies)")
    default_language: Literal["nl", "en"] = Field(default="nl", description="language for new visitors")

    oidc_issuer: str | None = Field(default=None,
                                    description="OpenID Connect issuer URL; login is disabled when unset")
    oidc_client_id: str = Field(default="portal", description="the portal's client id at the issuer")
    oidc_client_secret: SecretStr | None = Field(default=None, description="the portal's client secret")
    oidc_scopes: str = Field(default="openid profile email groups",
                             description="scopes asked at login, space-separated as OAuth writes them")
    oidc_username_claim: str = Field(default="preferred_username",
                                     description="claim that names the user (the same claim the hub uses); "
                                                 "lowercased, as the hub does")
    oidc_groups_claim: str = Field(default="groups", description="claim listing the user's groups or "
                                                                 "entitlements")
    oidc_token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = Field(
        default="client_secret_basic", description="how the client secret is sent to the token endpoint")
    oidc_group_mapping: GroupMapping = Field(
        default_factory=dict,
        description="the issuer's groups/entitlements → our group names (JSON object); a key ending in * maps a "
                    "prefix (its value ends in * too). Empty: our own names (org:, role:, …) are taken as they "
                    "are. With a mapping, unmapped groups are refused")
    organisations: str = Field(default="", pattern=r"^[A-Za-z0-9._\- ]*$",
                               description="organisation ids accepted from org:, org-admin:, data-owner: groups, "
                                           "space-separated; others are refused and never created")
    oidc_logout: Literal["provider", "portal"] = Field(
        default="provider", description="provider: logout also ends the login at the issuer (its end-session "
                                        "endpoint; register PUBLIC_URL + '/' as post-logout redirect); portal: "
                                        "only the portal's session")
    admin_group: str = Field(default=PLATFORM_ADMINS, description="group of platform admins")

    hub_url: str | None = Field(default=None, description="public URL of the default (local) hub; "
                                                          "registers the default Environment when set")
    hub_api_url: str | None = Field(default=None, description="the hub's REST API; default hub_url + /hub/api")
    hub_api_token: SecretStr | None = Field(default=None, description="the portal service's token at the hub")
    hub_tokens: dict[str, SecretStr] = Field(default_factory=dict,
                                             description="tokens of further environments' hubs by environment "
                                                         "name (JSON object)")
    environment_name: str = Field(default="local", pattern=r"^[a-z][a-z0-9-]*$",
                                  description="name of the default Environment")
    environment_kind: Literal["local", "cloud"] = Field(default="local", description="where the default hub runs")
    environment_stage: Literal["development", "production"] = Field(
        default="development", description="development = flexible, production = strict")
    hub_timeout_seconds: float = Field(default=30.0, gt=0, description="timeout of one request to a hub")
    hub_status_ttl_seconds: float = Field(default=5.0, ge=0, description="how long a hub health check is reused")
    reconcile_interval_seconds: float = Field(default=5.0, ge=0,
                                              description="how often workspace states are synced from the hubs "
                                                          "(one request per hub); 0 turns the background sync off")

    catalogue_dir: Path | None = Field(default=None, description="catalogue folder; default: the project's")

    budget_watch_interval_seconds: float = Field(
        default=60.0, ge=0, description="how often the budget watcher looks at every contract's spend (80 % "
                                        "warning, stop at 100 % or the end date), once per deployment under a "
                                        "database lease; 0 turns it off")
    grant_expiry_interval_seconds: float = Field(
        default=30.0, ge=0, description="how often expired dataset grants are written to the register as "
                                        "access-expired (once per grant, once per deployment under a database "
                                        "lease); 0 turns it off. Hubs take expired data away on their own")
    smtp_host: str | None = Field(default=None, description="SMTP server for the portal's e-mail (budget "
                                                            "warnings); no e-mail when unset")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="the SMTP server's port")
    smtp_from: str = Field(default="gereedschapskist@localhost", description="the sender of the portal's e-mail")
    smtp_user: str | None = Field(default=None, description="SMTP login name (optional)")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password (optional)")
    smtp_starttls: bool = Field(default=False, description="use STARTTLS after connecting")

    require_contract: bool = Field(
        default=False, description="members launch only under an active standard contract of their organisation; "
                                   "off: organisations that never ordered one use the shared environment (demos)")
    provisioner: str = Field(default="local", description="provisioner of approved standard contracts: local (an "
                                                          "environment on this installation's hub) or gitops (a stack "
                                                          "file in a pull request, deployed by CI)")
    provisioners_by_partner: dict[str, str] = Field(
        default_factory=dict, description="provisioner per catalogue partner id, overriding PROVISIONER (JSON "
                                          "object, e.g. {\"azure\": \"gitops\"}); an unknown partner or name stops "
                                          "the start")
    provisioning_interval_seconds: float = Field(default=5.0, ge=0,
                                                 description="how often due provisioning attempts run (once per "
                                                             "deployment: a database lease); 0 turns it off")
    local_environments_dir: Path | None = Field(
        default=None, description="where the local provisioner writes contract environment files: the local hub's "
                                  "contract environments folder (<hub state>/environments); default: "
                                  "state_dir/hub/environments")
    gitops_repo_dir: Path | None = Field(default=None, description="gitops: the git repository stack files are "
                                                                   "committed in when no GitHub token is set (a "
                                                                   "branch, never its working tree or index); "
                                                                   "default: the project's checkout")
    gitops_base_branch: str = Field(default="main", pattern=r"^[A-Za-z0-9._/-]+$",
                                    description="gitops: the branch pull requests go to")
    gitops_github_repo: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
                                           description="gitops: owner/name of the GitHub repository pull requests "
                                                       "are opened in (with GITOPS_GITHUB_TOKEN)")
    gitops_github_token: SecretStr | None = Field(default=None, description="gitops: a GitHub token that may push "
                                                                            "branches and open pull requests; unset: "
                                                                            "the branch and PR text stay local")
    gitops_github_api_url: str = Field(default="https://api.github.com", description="gitops: GitHub's REST API")
    gitops_hub_domain: str | None = Field(default=None, pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
                                          description="gitops: a contract environment's hub is "
                                                      "https://<environment>.<domain>")
    gitops_oidc_issuer: str | None = Field(default=None, description="gitops: the issuer the contract hubs log in "
                                                                     "with; default: OIDC_ISSUER")
    gitops_oidc_client_id: str = Field(default="gereedschapskist-hub", min_length=1,
                                       description="gitops: the contract hubs' client id at the issuer")
    gitops_cloud_accounts: dict[str, str] = Field(
        default_factory=dict, description="gitops: the cloud account per partner id (Azure subscription, AWS "
                                          "account, Google Cloud project) contract environments are created in "
                                          "(JSON object)")
    gitops_acme_email: str | None = Field(default=None, description="gitops: contact of the hubs' ACME (Let's "
                                                                    "Encrypt) account")
    contract_activation_token_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$",
        description="sha256 (hex) of the token CI's deploy job sends to POST /api/v1/contracts/{id}/activate; "
                    "unset: the callback is refused (use gereedschapskist contracts activate)")

    @field_validator("public_url", "hub_url", "hub_api_url", "oidc_issuer", "gitops_oidc_issuer",
                     "gitops_github_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL like http://127.0.0.1:8000")
        return value.rstrip("/")

    @field_validator("provisioner")
    @classmethod
    def _known_provisioner(cls, value: str) -> str:
        if value not in PROVISIONERS:
            raise ValueError(f"{value!r}: choose one of {', '.join(PROVISIONERS)}")
        return value

    @field_validator("provisioners_by_partner")
    @classmethod
    def _known_provisioners(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = [f"{partner} = {name!r}" for partner, name in value.items() if name not in PROVISIONERS]
        if wrong:
            raise ValueError(f"{'; '.join(wrong)}: choose one of {', '.join(PROVISIONERS)}")
        return value

    @field_validator("oidc_scopes")
    @classmethod
    def _space_separated(cls, value: str) -> str:
        scopes = value.split()
        if not scopes or any(not s.isprintable() or any(c in s for c in ',[]"\'') for s in scopes):
            raise ValueError(f"{value!r}: write the scopes space-separated, as OAuth does: openid profile groups")
        if "openid" not in scopes:
            raise ValueError(f"{value!r}: the scopes must include openid")
        return " ".join(scopes)

    @model_validator(mode="after")
    def _fail_closed(self) -> "PortalSettings":
        problems = []
        secret = self.session_secret.get_secret_value()
        if (secret == PLACEHOLDER_SECRET or len(secret.encode()) < MIN_SECRET_BYTES) and not _loopback(self.public_url):
            problems.append(f"{ENV_PREFIX}SESSION_SECRET: set a random secret of {MIN_SECRET_BYTES}+ bytes "
                            f"(the placeholder or a short one only serves a portal on loopback, and "
                            f"PUBLIC_URL is {self.public_url!r})")
        if self.stage == "production":
            problems.extend(self._production_problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _production_problems(self) -> list[str]:
        problems = []
        issuer = self.oidc_issuer
        if issuer is None:
            problems.append(f"{ENV_PREFIX}OIDC_ISSUER: production needs an issuer")
        elif not issuer.startswith("https://") or _loopback(issuer):
            problems.append(f"{ENV_PREFIX}OIDC_ISSUER = {issuer!r}: production needs an https issuer that is "
                            "not on loopback")
        if issuer is not None and (self.oidc_client_secret is None or not self.oidc_client_secret.get_secret_value()):
            problems.append(f"{ENV_PREFIX}OIDC_CLIENT_SECRET: production needs the portal's client secret")
        if self.hub_url and (self.hub_api_token is None or not self.hub_api_token.get_secret_value()):
            problems.append(f"{ENV_PREFIX}HUB_API_TOKEN: production needs the portal's token at the hub")
        if not self.public_url.startswith("https://"):
            problems.append(f"{ENV_PREFIX}PUBLIC_URL = {self.public_url!r}: production needs https://")
        if self.resolved_database_url.startswith("sqlite"):
            problems.append(f"{ENV_PREFIX}DATABASE_URL: production needs PostgreSQL, "
                            "e.g. postgresql+psycopg://portal@db/portal")
        return problems

    @property
    def accepted_organisations(self) -> frozenset[str]:
        return frozenset(self.organisations.split())

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'portal.sqlite').resolve()}"

    @property
    def resolved_hub_api_url(self) -> str | None:
        if self.hub_api_url:
            return self.hub_api_url
        return f"{self.hub_url}/hub/api" if self.hub_url else None

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def resolved_local_environments_dir(self) -> Path:
        return (self.local_environments_dir or self.state_dir / "hub" / "environments").resolve()

    def provisioner_for(self, partner: str) -> str:
        """The provisioner of a contract with ``partner``: the partner's own, else the deployment's."""
        return self.provisioners_by_partner.get(partner, self.provisioner)

    def hub_token(self, environment_name: str, hub_api_url: str | None = None) -> str | None:
        """The portal's token at an environment's hub: ``hub_tokens`` by name, else ``hub_api_token`` for the
        default environment and for every environment on the same hub (a standard contract's local environment
        shares the local hub: same ``hub_api_url``)."""
        if environment_name in self.hub_tokens:
            return self.hub_tokens[environment_name].get_secret_value()
        local = environment_name == self.environment_name or (
            hub_api_url is not None and self.hub_url is not None
            and hub_api_url.rstrip("/") == (self.resolved_hub_api_url or "").rstrip("/"))
        if local and self.hub_api_token is not None:
            return self.hub_api_token.get_secret_value()
        return None


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """``GEREEDSCHAPSKIST_PORTAL_*`` variables that name no setting, each with what was probably meant.

    pydantic-settings ignores unknown variables (``extra="forbid"`` only covers keyword arguments), so a
    misspelt or renamed variable would silently leave its default in place."""
    return core_unknown_variables(os.environ if environ is None else environ, prefix=ENV_PREFIX,
                                  fields=PortalSettings.model_fields, what="portal", renamed=RENAMED)


def load_settings(**overrides: object) -> PortalSettings:
    """Read the settings from the environment; a clear :class:`SettingsInvalid` names each bad variable,
    and a ``GEREEDSCHAPSKIST_PORTAL_*`` variable that names no setting stops the start."""
    unknown = unknown_variables()
    if unknown:
        raise SettingsInvalid("invalid portal settings:\n  " + "\n  ".join(unknown))
    try:
        return PortalSettings(**overrides)
    except ValidationError as exc:
        lines = format_validation_errors(
            exc, name=lambda field: f"{ENV_PREFIX}{field.upper()}" if field else "settings",
            show_value=lambda field, value: not isinstance(value, dict))
        raise SettingsInvalid("invalid portal settings:\n  " + "\n  ".join(lines)) from exc
