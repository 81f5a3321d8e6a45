"""Start and stop the development stack from Python: the OIDC provider and the hub (with its proxy).

Used by ``gereedschapskist up`` and by the shared pytest fixtures (``tests/conftest.py``)::

    from gereedschapskist.dev.devstack import DevSecrets, OidcProvider, HubProcess, hub_client, portal_client
    secrets = DevSecrets.load_or_create(state_dir)
    provider = OidcProvider.start(state_dir, [hub_client(hub_port, secrets), portal_client(portal_port, secrets)])
    hub = HubProcess.start(state_dir, provider, port=hub_port, secrets=secrets)
    ...
    hub.stop(); provider.stop()

Every process runs in its own session and logs to ``<state_dir>/logs/<name>.log``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets as random
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import httpx

from .demo import ACCOUNTS_FILE, load_accounts
from .processes import ManagedProcess, ProcessFailed, free_port

#: The hub's configuration contract: its documented ``GEREEDSCHAPSKIST_HUB_*`` variables (see the README).
HUB_ENV_PREFIX = "GEREEDSCHAPSKIST_HUB_"
PROVIDER_DIR = Path(__file__).resolve().parent / "oidc-provider"
#: In the hub's package folder: its configuration file for the local backend, and configurable-http-proxy
#: (a Node app installed with ``npm ci``).
HUB_CONFIG_FILE_NAME = "jupyterhub_config.py"
PROXY_FOLDER_NAME = "proxy"


class DevStackError(Exception):
    """Something the development stack needs is missing or failed; the message says what to do."""

    reason = "devstack"


def hub_package_dir() -> Path:
    """Where the installed hub package lies, found without importing (running) any hub code.

    ``find_spec`` asks the import system where ``gereedschapskist.hub`` *would* be loaded from: exactly the
    folder the ``jupyterhub`` process will import the hub from, whether that is the checkout's ``hub/``
    (through the root package's link) or an installed wheel's ``gereedschapskist/hub/``. The repository
    paths of :mod:`gereedschapskist.core.paths` would only work in a source checkout.
    """
    spec = importlib.util.find_spec("gereedschapskist.hub")
    if spec is None or not spec.submodule_search_locations:
        raise DevStackError("the hub (gereedschapskist.hub) is not installed; install the project with the "
                            "extra [hub]")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


# --------------------------------------------------------------------------- node dependencies


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise DevStackError("Node.js (20 or newer) is needed for the OIDC provider and the proxy; install it "
                            "(e.g. apt-get install nodejs npm) and try again")
    return node


def ensure_node_modules(app_dir: Path = PROVIDER_DIR) -> bool:
    """``npm ci`` in ``app_dir`` when its node_modules are missing or older than its lock file."""
    marker = app_dir / "node_modules" / ".package-lock.json"
    lock = app_dir / "package-lock.json"
    if marker.is_file() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise DevStackError("npm is needed to install the OIDC provider and the proxy (apt-get install npm)")
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=app_dir,
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise DevStackError(f"npm ci in {app_dir} failed:\n{result.stdout}\n{result.stderr}")
    return True


# --------------------------------------------------------------------------- secrets and clients


@dataclass(frozen=True)
class DevSecrets:
    """Random secrets of one state directory, kept in ``<state_dir>/secrets.json`` (mode 600)."""

    hub_client_secret: str
    portal_client_secret: str
    portal_api_token: str

    @classmethod
    def load_or_create(cls, state_dir: Path) -> "DevSecrets":
        path = Path(state_dir) / "secrets.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if set(data) == {f.name for f in cls.__dataclass_fields__.values()}:
                return cls(**data)
        made = cls(random.token_urlsafe(32), random.token_urlsafe(32), random.token_hex(32))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(made)), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)
        return made


@dataclass(frozen=True)
class OidcClient:
    """A client registered at the development provider (all are first-party: no consent page)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()
    token_endpoint_auth_method: str = "client_secret_basic"  # or client_secret_post, as some issuers register
    #: where the provider POSTs a logout token when the user logs out there (OIDC Back-Channel Logout 1.0)
    backchannel_logout_uri: str | None = None

    def as_config(self) -> dict:
        config = {"client_id": self.client_id, "client_secret": self.client_secret,
                  "redirect_uris": list(self.redirect_uris),
                  "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
                  "token_endpoint_auth_method": self.token_endpoint_auth_method}
        if self.backchannel_logout_uri:
            config["backchannel_logout_uri"] = self.backchannel_logout_uri
        return config


def hub_client(hub_port: int, secrets: DevSecrets) -> OidcClient:
    base = f"http://127.0.0.1:{hub_port}"
    return OidcClient("hub", secrets.hub_client_secret, (f"{base}/hub/oauth_callback",), (f"{base}/hub/login",))


def portal_client(portal_port: int, secrets: DevSecrets, callback_path: str = "/auth/callback") -> OidcClient:
    base = f"http://127.0.0.1:{portal_port}"
    return OidcClient("portal", secrets.portal_client_secret, (f"{base}{callback_path}",), (f"{base}/",),
                      backchannel_logout_uri=f"{base}/auth/backchannel-logout")


# --------------------------------------------------------------------------- the provider


@dataclass
class OidcProvider:
    """The running development OpenID Connect provider."""

    issuer: str
    clients: Mapping[str, OidcClient]
    process: ManagedProcess
    accounts_file: Path = ACCOUNTS_FILE
    _drain: threading.Thread | None = field(default=None, repr=False)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @classmethod
    def start(cls, state_dir: Path, clients: Iterable[OidcClient], *, port: int = 0,
              accounts_file: Path = ACCOUNTS_FILE, claim_names: Mapping[str, str] | None = None,
              timeout: float = 60.0) -> "OidcProvider":
        """Start the provider on 127.0.0.1 (``port=0``: a free port) and wait until it serves discovery.

        ``claim_names`` renames the user-name and groups claims, as another issuer releases them (e.g.
        ``{"username": "uid", "groups": "eduperson_entitlement"}``). The provider re-reads ``accounts_file`` when
        it changes, so a test can take a group away at the issuer while everything runs.
        """
        ensure_node_modules(PROVIDER_DIR)
        state = Path(state_dir).resolve() / "oidc"
        state.mkdir(parents=True, exist_ok=True)
        client_list = list(clients)
        config = {
            "host": "127.0.0.1", "port": port, "clients": [c.as_config() for c in client_list],
            "accounts_file": str(Path(accounts_file).resolve()), "jwks_file": str(state / "jwks.json"),
            "cookie_keys_file": str(state / "cookie-keys.json"),
            # sessions, grants and tokens: kept across restarts, so single sign-on holds (issue 12, defect 8)
            "store_file": str(state / "store.json"),
        }
        if claim_names:
            config["claim_names"] = dict(claim_names)
        config_file = state / "provider.json"
        config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
        config_file.chmod(0o600)
        process = ManagedProcess("oidc-provider", [node_binary(), str(PROVIDER_DIR / "server.mjs"), str(config_file)],
                                 log_path=Path(state_dir).resolve() / "logs" / "oidc-provider.log", cwd=PROVIDER_DIR)
        process.start(stdout_pipe=True)
        try:
            issuer = _read_ready_line(process, timeout)
            provider = cls(issuer, {c.client_id: c for c in client_list}, process, Path(accounts_file))
            provider._drain = _drain_to_log(process)
            process.wait_for_http(provider.discovery_url, timeout=timeout, ok=lambda r: r.status_code == 200)
        except BaseException:
            process.stop()
            raise
        return provider

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> "OidcProvider":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_ready_line(process: ManagedProcess, timeout: float) -> str:
    assert process.popen is not None and process.popen.stdout is not None
    stream = process.popen.stdout
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise process.failed(f"did not report ready within {timeout:.0f} s")
            if selector.select(remaining):
                line = stream.readline()
                if not line:
                    process.popen.wait(5)
                    raise process.failed("stopped while starting")
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "ready":
                    return event["issuer"]


def _drain_to_log(process: ManagedProcess) -> threading.Thread:
    """Keep reading the provider's stdout into its log so it never blocks on a full pipe."""
    assert process.popen is not None and process.popen.stdout is not None
    stream = process.popen.stdout

    def drain() -> None:
        try:
            with open(process.log_path, "ab") as log:
                for line in stream:
                    log.write(line)
                    log.flush()
        except (OSError, ValueError):
            pass

    thread = threading.Thread(target=drain, name="oidc-provider-stdout", daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- the hub


def stop_leftover_proxy(pid_file: Path, *, timeout: float = 10.0) -> None:
    """Stop the configurable-http-proxy named in the hub's proxy pid file, if it still runs."""
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"configurable-http-proxy" not in command:  # the pid is someone else's now
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class HubProcess:
    """The running JupyterHub (which runs configurable-http-proxy and the idle culler itself)."""

    url: str  # public, through the proxy: http://127.0.0.1:<port>
    process: ManagedProcess
    state_dir: Path
    env: Mapping[str, str]

    @property
    def api_url(self) -> str:
        return f"{self.url}/hub/api"

    @classmethod
    def start(cls, state_dir: Path, provider: OidcProvider, *, secrets: DevSecrets, port: int | None = None,
              catalogue_dir: Path | None = None, portal_api_token: str | None = None, portal_url: str | None = None,
              extra_env: Mapping[str, str] | None = None, timeout: float = 90.0) -> "HubProcess":
        """Start JupyterHub (local backend) against ``provider``; its client ``hub`` must be registered there.

        ``portal_url``: the portal's public URL, where the hub's ``/hub/spawn`` sends people — also back to the
        portal after the hub's single sign-on of a first launch."""
        hub_dir = hub_package_dir()
        ensure_node_modules(hub_dir / PROXY_FOLDER_NAME)
        state = Path(state_dir).resolve()
        port = port or free_port()
        client = provider.clients.get("hub")
        if client is None:
            raise DevStackError("the provider has no client 'hub'; start it with hub_client(port, secrets)")
        expected = f"http://127.0.0.1:{port}/hub/oauth_callback"
        if expected not in client.redirect_uris:
            raise DevStackError(f"the provider's hub client redirects to {client.redirect_uris}, not {expected}")
        # Servers left over from a hub that was killed are stopped by the hub itself when it starts
        # (gereedschapskist.hub.config, local backend): their pid files are the hub's own business.
        # two free ports in a row can be the same one (each is released before the next is picked): keep them apart
        hub_port = free_port()
        proxy_api_port = free_port()
        while proxy_api_port in (hub_port, port):
            proxy_api_port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith(HUB_ENV_PREFIX)}
        env.update({
            f"{HUB_ENV_PREFIX}STATE_DIR": str(state),
            f"{HUB_ENV_PREFIX}PUBLIC_URL": f"http://127.0.0.1:{port}",
            f"{HUB_ENV_PREFIX}HUB_PORT": str(hub_port),
            f"{HUB_ENV_PREFIX}PROXY_API_PORT": str(proxy_api_port),
            f"{HUB_ENV_PREFIX}OIDC_ISSUER": provider.issuer,
            f"{HUB_ENV_PREFIX}OIDC_CLIENT_ID": client.client_id,
            f"{HUB_ENV_PREFIX}OIDC_CLIENT_SECRET": client.client_secret,
            f"{HUB_ENV_PREFIX}PORTAL_API_TOKEN": portal_api_token or secrets.portal_api_token,
            # organisations of the provider's accounts: their org-admin:<org> members get the hub's org-admin role
            f"{HUB_ENV_PREFIX}ORGANISATIONS": " ".join(sorted({
                org for account in load_accounts(provider.accounts_file).values() for org in account.organisations})),
        })
        if portal_url:
            env[f"{HUB_ENV_PREFIX}PORTAL_URL"] = portal_url
        if catalogue_dir is not None:
            env[f"{HUB_ENV_PREFIX}CATALOGUE_DIR"] = str(Path(catalogue_dir).resolve())
        env.update(extra_env or {})
        process = ManagedProcess("jupyterhub", [sys.executable, "-m", "jupyterhub", "-f",
                                                str(hub_dir / HUB_CONFIG_FILE_NAME)],
                                 log_path=state / "logs" / "jupyterhub.log", env=env, cwd=state, stop_timeout=30)
        (state / "hub").mkdir(parents=True, exist_ok=True)
        process.start()
        hub = cls(f"http://127.0.0.1:{port}", process, state, env)
        try:
            process.wait_for_http(f"{hub.api_url}/", timeout=timeout, ok=lambda r: r.status_code == 200)
        except BaseException:
            hub.stop()
            raise
        return hub

    def stop(self) -> None:
        """Stop the hub: on SIGTERM it stops its servers, services and proxy itself (``cleanup_servers``). A hub
        that was killed leaves its proxy (a session of its own) holding the public port: stop that one too, so
        that a new hub can start on the same port at once."""
        self.process.stop()
        stop_leftover_proxy(self.state_dir / "hub" / "proxy.pid")

    def __enter__(self) -> "HubProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def hub_api(hub: HubProcess, token: str) -> httpx.Client:
    """An httpx client for the hub's REST API with a token (e.g. the portal's)."""
    return httpx.Client(base_url=hub.api_url, headers={"Authorization": f"token {token}"}, timeout=30.0,
                        trust_env=False)


__all__ = [
    "DevSecrets", "DevStackError", "HubProcess", "OidcClient", "OidcProvider", "ProcessFailed", "ensure_node_modules",
    "free_port", "hub_api", "hub_client", "portal_client",
]
