"""The hub's configuration as code: one :func:`configure` for both backends.

``hub/jupyterhub_config.py`` (local, ``make up``) and the z2jh hub pod (``hub.extraConfig`` in the
rendered Helm values) both run ``configure(c)``. The pieces that also appear in the Helm values
are built once and used by :mod:`.values` too: the authenticator settings here, the services' roles in
:mod:`.roles`. On Kubernetes the profiles are rendered here, in the hub, from the catalogue it loads.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from pathlib import Path
from typing import Any, Iterable

from gereedschapskist.catalogue import Catalogue, load
from gereedschapskist.core.capacity import Capacity
from gereedschapskist.core.streaming import local_environment

from .forge import TOKEN_VARIABLE as FORGE_TOKEN_VARIABLE, git_credential_env
from .authenticator import GereedschapskistAuthenticator
from .api import INTERFACES_PATH, extra_handlers
from .apps import CUSTOM_SCOPES as APP_SCOPES, app_handlers
from .handover import CUSTOM_SCOPES, LocalHomeFolders, handover_handlers
from .interfaces import InterfaceAvailability, LocalInterfaces
from .lab_static import lab_static_handlers
from .limits import KubernetesLimits, Limits, machine_capacity, probe_limits
from .launch import ContractEnvironments, make_apply_user_options
from .oidc import discover
from .options import contract_choices, options_from_form, render_form
from .roles import CULLER_SERVICE, PORTAL_SERVICE, culler_role, hub_roles
from .settings import HubSettings


def authenticator_settings(*, client_id: str, public_url: str, scopes: Iterable[str], username_claim: str,
                           groups_claim: str, allowed_groups: Iterable[str], admin_group: str,
                           token_endpoint_auth_method: str = "client_secret_basic") -> dict[str, Any]:
    """GenericOAuthenticator settings (without endpoints and secret): groups from the token.

    No ``admin_groups``: nobody gets JupyterHub's ``admin`` role; the admin group's members get the
    platform-admin role of :mod:`.roles` instead. When logins are limited to ``allowed_groups``, the admin group
    is one of them.
    """
    allowed = sorted(set(allowed_groups) | {admin_group}) if allowed_groups else []
    return {
        "client_id": client_id,
        "oauth_callback_url": f"{public_url.rstrip('/')}/hub/oauth_callback",
        "scope": list(scopes),
        "username_claim": username_claim,
        "manage_groups": True,
        "auth_state_groups_key": f"oauth_user.{groups_claim}",
        "allowed_groups": allowed,
        "admin_groups": [],
        "allow_all": not allowed,
        "basic_auth": token_endpoint_auth_method == "client_secret_basic",  # else client_secret_post
        "enable_pkce": True,
        "login_service": "Gereedschapskist",
        "auto_login": True,  # /hub/login goes straight to the issuer (single sign-on with the portal)
    }


def configure(c, settings: HubSettings | None = None, catalogue: Catalogue | None = None) -> None:
    """Configure JupyterHub (``c``) from the settings; the catalogue decides what users may start."""
    settings = settings or HubSettings()
    settings.require_oidc()
    catalogue = catalogue or load(settings.catalogue_dir)
    endpoints = discover(settings.oidc_issuer)

    c.JupyterHub.authenticator_class = GereedschapskistAuthenticator
    auth = c.GenericOAuthenticator
    if settings.backend == "local":  # on Kubernetes the Helm values carry these (from the stack file)
        for name, value in authenticator_settings(
            client_id=settings.oidc_client_id, public_url=settings.public_url, scopes=settings.oidc_scopes,
            username_claim=settings.oidc_username_claim, groups_claim=settings.oidc_groups_claim,
            allowed_groups=settings.allowed_groups, admin_group=settings.admin_group,
            token_endpoint_auth_method=settings.oidc_token_endpoint_auth_method,
        ).items():
            setattr(auth, name, value)
        # the groups accepted from the issuer (on Kubernetes the Helm values carry these, from the stack file)
        c.GereedschapskistAuthenticator.organisations = sorted(set(settings.organisations))
        c.GereedschapskistAuthenticator.platform_admin_group = settings.admin_group
        c.GereedschapskistAuthenticator.group_mapping = dict(settings.oidc_group_mapping)
    c.GereedschapskistAuthenticator.workbench_roles = sorted(catalogue.roles)
    configure_freshness(c, settings)
    auth.client_secret = settings.oidc_client_secret.get_secret_value()
    auth.authorize_url = endpoints.authorization_endpoint
    auth.token_url = endpoints.token_endpoint
    auth.userdata_url = endpoints.userinfo_endpoint
    if endpoints.end_session_endpoint:
        auth.logout_redirect_url = (f"{endpoints.end_session_endpoint}?client_id={settings.oidc_client_id}"
                                    f"&post_logout_redirect_uri={settings.public_url}/hub/login")

    # which interfaces this hub can serve, for the portal (``/hub/api/gereedschapskist/interfaces``, :mod:`.api`)
    bundles = catalogue.bundles.values()
    interfaces = LocalInterfaces(bundles=bundles) if settings.backend == "local" else InterfaceAvailability(bundles)
    capacity = None
    if settings.backend == "kubernetes":   # pods get their size as requests and limits; node pools decide the fit
        c.JupyterHub.extra_handlers = extra_handlers(interfaces, limits=KubernetesLimits())
    else:
        capacity = _configure_sizes(c, settings, interfaces)

    # the portal's workspace handover (:mod:`.handover`): local home folders move; Kubernetes answers 501
    homes = LocalHomeFolders(settings.homes_dir.resolve()) if settings.backend == "local" else None
    c.JupyterHub.extra_handlers = [*c.JupyterHub.extra_handlers, *handover_handlers(homes)]
    # published apps (issue 17, :mod:`.apps`): their audience through JupyterHub's sharing, their log (local only)
    logs = str((settings.hub_state_dir.resolve() / "logs")) if settings.backend == "local" else None
    c.JupyterHub.extra_handlers = [*c.JupyterHub.extra_handlers, *app_handlers(logs)]
    c.JupyterHub.custom_scopes = {**CUSTOM_SCOPES, **APP_SCOPES}

    configure_forge(c, settings)
    if settings.backend == "kubernetes":
        from .kubernetes import configure_kubernetes  # KubeSpawner: only the Kubernetes hub needs it

        configure_kubernetes(c, catalogue, roles=settings.roles, bundles=settings.bundles,
                             kafka=settings.kafka_access, image_mirror=settings.image_mirror, stage=settings.stage)
        if settings.portal_api_url and settings.portal_api_token is not None:   # granted datasets (issue 15)
            from .kubernetes import configure_data

            configure_data(c, portal_api_url=settings.portal_api_url,
                           token=settings.portal_api_token.get_secret_value(), claim=settings.datasets_claim,
                           interval=settings.data_reconcile_seconds, stale_after=settings.data_stale_seconds)
        return
    _configure_local(c, settings, catalogue, interfaces, capacity)


def configure_forge(c, settings: HubSettings) -> None:
    """git in every workspace knows the environment's forge (issue 17, :mod:`.forge`); a bad URL stops the hub."""
    env = git_credential_env(settings.forge_url)
    if not env:
        return
    if settings.forge_token is not None:
        env[FORGE_TOKEN_VARIABLE] = settings.forge_token.get_secret_value()
    current = c.Spawner.get("environment")
    c.Spawner.environment = {**(current if isinstance(current, dict) else {}), **env}


def configure_freshness(c, settings: HubSettings) -> None:
    """Access ends soon after the issuer withdraws it: groups kept in the (encrypted) auth_state and re-read
    before every start and when older than ``auth_refresh_age``; a short hub cookie. Both backends."""
    c.Authenticator.enable_auth_state = True
    c.Authenticator.refresh_pre_spawn = True
    c.Authenticator.auth_refresh_age = settings.auth_refresh_age_seconds
    c.JupyterHub.cookie_max_age_days = settings.cookie_max_age_days
    c.GereedschapskistAuthenticator.portal_url = settings.portal_url


def crypt_key(path: Path) -> str:
    """The local hub's auth_state key (``JUPYTERHUB_CRYPT_KEY``), made once in its state folder (mode 600).
    On Kubernetes the hub pod gets it from a Secret (see :mod:`.values`)."""
    if path.is_file():
        return path.read_text(encoding="ascii").strip()
    key = secrets.token_hex(32)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key, encoding="ascii")
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


def _configure_sizes(c, settings: HubSettings, interfaces: LocalInterfaces) -> Capacity:
    """The local backend: this machine's capacity, how sizes are enforced here (probed, :mod:`.limits`), and the
    usage endpoint; the spawner, the launch rule and the form get the same objects."""
    from .usage import UsageBook

    capacity = machine_capacity()
    state = str(settings.hub_state_dir.resolve()).encode()
    limits: Limits = probe_limits(hashlib.sha256(state).hexdigest()[:10])   # one group per hub (state folder)
    limits.remove_stale()
    book = UsageBook()
    c.JupyterHub.extra_handlers = extra_handlers(
        interfaces, capacity=capacity, limits=limits,
        usage={"book": book, "idle_timeout_seconds": settings.idle_timeout_seconds,
               "cull_every_seconds": settings.cull_every_seconds})
    c.BundleSpawner.limits = limits
    c.BundleSpawner.usage_book = book
    return capacity


def _configure_local(c, settings: HubSettings, catalogue: Catalogue, interfaces: LocalInterfaces,
                     capacity: Capacity | None) -> None:
    from .spawner import BundleSpawner, kill_recorded_servers, single_user_requirements

    state = settings.hub_state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    kill_recorded_servers(state / "servers")  # left over from a hub of this state folder that was killed
    c.JupyterHub.bind_url = settings.public_url
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings.hub_port}"
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.CryptKeeper.keys = [crypt_key(state / "jupyterhub_crypt_key")]
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = list(settings.proxy_command)
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    c.ConfigurableHTTPProxy.should_start = True
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = settings.named_server_limit
    c.JupyterHub.default_url = "/hub/home"
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": settings.slow_spawn_timeout_seconds}
    # JupyterLab's files, one URL per environment for every server of it (the spawner points JupyterLab there)
    c.JupyterHub.extra_handlers = [*c.JupyterHub.extra_handlers, *lab_static_handlers(settings.envs_dir.resolve())]

    c.JupyterHub.spawner_class = BundleSpawner
    c.Spawner.start_timeout = settings.start_timeout_seconds
    c.Spawner.http_timeout = settings.http_timeout_seconds
    c.BundleSpawner.envs_dir = str(settings.envs_dir.resolve())
    c.BundleSpawner.logs_dir = str((state / "logs").resolve())
    c.BundleSpawner.pids_dir = str((state / "servers").resolve())
    c.BundleSpawner.home_dir_template = str(settings.homes_dir.resolve() / "{username}")
    c.BundleSpawner.build_timeout = float(settings.start_timeout_seconds)
    c.BundleSpawner.interfaces = interfaces
    c.BundleSpawner.portal_url = settings.portal_url  # linked from each bundle's first-start README
    c.BundleSpawner.catalogue_dir = str(catalogue.root)  # its example notebooks are copied at a first start
    if settings.kafka_local_bootstrap:   # the local broker make up starts (issue 17, gereedschapskist.dev.kafka)
        c.BundleSpawner.streaming_environment = local_environment(settings.kafka_local_bootstrap)
    _configure_data(c, settings, state)
    if settings.prepare_environments:
        _prepare_environments(c, settings, catalogue, interfaces, capacity, single_user_requirements())

    contracts = ContractEnvironments(settings.environments_dir.resolve())   # standard contracts (issue 14)

    def options_form(spawner) -> str:
        groups = [group.name for group in spawner.user.groups]
        offer = contract_choices(catalogue, groups, interfaces, contracts, username=spawner.user.name,
                                 capacity=capacity)
        return render_form(offer.choices, previous=spawner.user_options or {}, contract=offer)

    c.Spawner.options_form = options_form
    c.Spawner.options_from_form = lambda formdata: options_from_form(formdata)
    c.Spawner.apply_user_options = make_apply_user_options(catalogue, interfaces, capacity=capacity,
                                                           running_limit=settings.running_server_limit,
                                                           contract_environments=contracts)

    services: list[dict[str, Any]] = [{
        "name": CULLER_SERVICE,
        # ends with the hub: a killed hub would leave it running, one more on every restart (hub/parent_guard.py)
        "command": [sys.executable, "-m", "gereedschapskist.hub.parent_guard", "jupyterhub_idle_culler",
                    f"--timeout={settings.idle_timeout_seconds}", f"--cull-every={settings.cull_every_seconds}"],
    }]
    if settings.portal_api_token is not None:
        services.append({"name": PORTAL_SERVICE, "api_token": settings.portal_api_token.get_secret_value()})
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = [culler_role(), *hub_roles(admin_group=settings.admin_group,
                                                         organisations=settings.organisations,
                                                         portal=settings.portal_api_token is not None)]


def _configure_data(c, settings: HubSettings, state: Path) -> None:
    """Granted datasets in ~/data (issue 15, :mod:`.datasets`), when the hub knows where to ask the portal; how they
    are made read-only is probed here (``data_read_only=bind`` refuses to start where bind mounts are not allowed).
    ``~/data`` mounts a killed hub left are released first."""
    from .datasets import DataAccess, LocalDataMounts, PortalGrants, probe_read_only_mounts
    from .settings import HubSettingsInvalid

    if not settings.portal_api_url:
        return
    mechanism, why = probe_read_only_mounts(state / "data-probe")
    if settings.data_read_only == "bind" and mechanism != "bind":
        raise HubSettingsInvalid(f"GEREEDSCHAPSKIST_HUB_DATA_READ_ONLY=bind: {why}")
    if settings.data_read_only == "copy":
        mechanism, why = "copy", "files 0444 in folders 0555 (a server running as root can still change them)"
    elif mechanism == "copy":
        why = f"files 0444 in folders 0555 (a server running as root can still change them): {why}"
    mounts = LocalDataMounts(store=settings.data_store_dir.resolve(), views=state / "data-views",
                             mechanism=mechanism, why=why)
    mounts.release_leftovers(settings.homes_dir)
    token = settings.portal_api_token.get_secret_value() if settings.portal_api_token else ""
    c.BundleSpawner.data_access = DataAccess(portal=PortalGrants(settings.portal_api_url, token), mounts=mounts,
                                             interval=settings.data_reconcile_seconds,
                                             stale_after=settings.data_stale_seconds)


def _prepare_environments(c, settings: HubSettings, catalogue: Catalogue, interfaces: LocalInterfaces,
                          capacity: Capacity | None, base: tuple[str, ...]) -> None:
    """The local pre-puller (:mod:`.prepare`): every offered bundle's environment built in the background, by the
    spawners' own builder, and reported in the interfaces document. Started on the hub's event loop, which runs
    while JupyterHub loads this configuration (a configuration loaded without one prepares nothing)."""
    import asyncio

    from uv import find_uv_bin

    from .envbuilder import shared_builder
    from .prepare import EnvironmentPreparer, bundle_env_spec, offered, startable_here

    uv, python = find_uv_bin(), sys.executable
    c.BundleSpawner.uv_command, c.BundleSpawner.env_python = uv, python    # the same builder as the spawners'
    builder = shared_builder(settings.envs_dir.resolve(), uv=uv, python=python,
                             timeout=float(settings.start_timeout_seconds))
    preparer = EnvironmentPreparer(builder, spec_for=lambda bundle: bundle_env_spec(bundle, interfaces, base),
                                   startable=lambda bundle: startable_here(bundle, interfaces, capacity))
    preparer.add(offered(catalogue))
    for handler in c.JupyterHub.extra_handlers:
        if handler[0] == INTERFACES_PATH:
            handler[2]["environments"] = preparer
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    preparer.start(catalogue_dir=catalogue.root, watch_seconds=settings.catalogue_watch_seconds)
