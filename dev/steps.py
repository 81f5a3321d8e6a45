"""The steps of ``gereedschapskist up``, each registered under the entry-point group ``gereedschapskist.up``::

    [project.entry-points."gereedschapskist.up"]
    oidc-provider = "gereedschapskist.dev.steps:provider"   # order 10
    kafka = "gereedschapskist.dev.steps:kafka"               # order 15, only with a streaming bundle
    jupyterhub = "gereedschapskist.dev.steps:hub"            # order 20
    portal = "gereedschapskist.dev.steps:portal"             # order 30

They start the services as processes and talk to them only through their documented configuration
(``GEREEDSCHAPSKIST_HUB_*``, ``GEREEDSCHAPSKIST_PORTAL_*``) and commands, never by importing them. The
portal is the place to begin, so ``up`` prints its URL as the one to open.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from .datasets import load_sample
from .demo import load_accounts
from .devstack import HubProcess, OidcProvider, hub_client, portal_client
from .kafka import KafkaBroker, streaming_in_use
from .processes import ManagedProcess, ProcessFailed, port_is_free
from .up import Running, UpContext, UpStep

#: The portal's configuration contract: its documented ``GEREEDSCHAPSKIST_PORTAL_*`` variables (see the README).
PORTAL_ENV_PREFIX = "GEREEDSCHAPSKIST_PORTAL_"


# --------------------------------------------------------------------------- the OIDC provider and the hub


def wait_for_free_port(name: str, port: int, *, timeout: float = 15.0) -> None:
    """Before a (re)start on a fixed port: wait until what a dead predecessor left there is gone."""
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() > deadline:
            raise ProcessFailed(f"{name}: port {port} on 127.0.0.1 is still in use after {timeout:.0f} s; "
                                "stop what uses it")
        time.sleep(0.1)


def start_provider(ctx: UpContext) -> Running:
    clients = [hub_client(ctx.ports["hub"], ctx.secrets), portal_client(ctx.ports["portal"], ctx.secrets)]
    if ctx.ports.get("provider"):
        wait_for_free_port("oidc-provider", ctx.ports["provider"])
    ctx.provider = OidcProvider.start(ctx.state_dir, clients, port=ctx.ports["provider"])
    provider = ctx.provider
    # a restart must come back on the same address: the hub and the portal know the issuer by its URL
    ctx.ports["provider"] = urlsplit(provider.issuer).port or ctx.ports["provider"]
    return Running("oidc-provider", provider.stop, lambda: provider.process.running, provider.issuer,
                   [f"OpenID Connect provider (development): {provider.issuer}"],
                   log_path=provider.process.log_path)


def start_kafka(ctx: UpContext) -> Running:
    """The local Kafka-compatible broker (:mod:`.kafka`, Tansu) when the catalogue offers a streaming bundle; its
    port is chosen once and kept in ``ctx.ports["kafka"]``, so a restarted broker is found where the hub's
    streaming workspaces look (``KAFKA_BOOTSTRAP_SERVERS``). Memory storage: a restart starts without topics."""
    from gereedschapskist.catalogue import load

    if not streaming_in_use(load(ctx.catalogue_dir)):
        ctx.ports.pop("kafka", None)
        return Running("kafka", lambda: None, lambda: True, None,
                       ["Kafka: not started (the catalogue offers no bundle with the streaming role)"])
    if "kafka" in ctx.ports:
        wait_for_free_port("kafka", ctx.ports["kafka"])
    else:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ctx.ports["kafka"] = sock.getsockname()[1]
    broker = KafkaBroker.start(ctx.state_dir / "logs" / "kafka.log", ctx.ports["kafka"])
    return Running("kafka", broker.stop, lambda: broker.process.running, f"kafka://{broker.bootstrap}",
                   [f"Kafka (Tansu, in memory; streaming workspaces get KAFKA_BOOTSTRAP_SERVERS): {broker.bootstrap}"],
                   log_path=broker.process.log_path)


def start_hub(ctx: UpContext) -> Running:
    assert ctx.provider is not None, "the hub needs the provider step first"
    wait_for_free_port("jupyterhub", ctx.ports["hub"])  # after a crash its proxy may just be going
    # the hub asks the portal for each user's dataset grants at every start and mounts them read-only from the data
    # store <state>/datasets (issue 15); the portal trusts the portal service's token it also holds (HUB_API_TOKEN)
    ctx.hub = HubProcess.start(ctx.state_dir, ctx.provider, secrets=ctx.secrets, port=ctx.ports["hub"],
                               catalogue_dir=ctx.catalogue_dir, portal_url=portal_url(ctx),
                               extra_env={"GEREEDSCHAPSKIST_HUB_PORTAL_API_URL": portal_url(ctx),
                                          # streaming workspaces reach the local broker (start_kafka), if it runs
                                          "GEREEDSCHAPSKIST_HUB_KAFKA_LOCAL_BOOTSTRAP":
                                              f"127.0.0.1:{ctx.ports['kafka']}" if "kafka" in ctx.ports else ""})
    hub = ctx.hub
    return Running("jupyterhub", hub.stop, lambda: hub.process.running, f"{hub.url}/hub/",
                   [f"JupyterHub: {hub.url}/hub/  (log in, pick a bundle of your role, start it)"], primary=True,
                   log_path=hub.process.log_path)


# --------------------------------------------------------------------------- the portal


def session_secret(state_dir: Path) -> str:
    """A random session key kept in the state folder, so restarts keep people logged in."""
    path = state_dir / "portal-session-secret"
    if path.is_file():
        value = path.read_text(encoding="utf-8").strip()
        if len(value) >= 32:
            return value
    value = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value, encoding="utf-8")
    path.chmod(0o600)
    return value


def portal_url(ctx: UpContext) -> str:
    """The portal's public URL: the portal serves it, and the hub sends people there (``/hub/spawn``, also back
    after the hub's single sign-on of a first launch)."""
    return f"http://127.0.0.1:{ctx.ports['portal']}"


def portal_environment(ctx: UpContext) -> dict[str, str]:
    """The portal's settings for the local workbench, as ``GEREEDSCHAPSKIST_PORTAL_*`` variables."""
    assert ctx.provider is not None and ctx.hub is not None, "the portal starts after the provider and the hub"
    values = {
        "STATE_DIR": str(ctx.state_dir),
        "PUBLIC_URL": portal_url(ctx),
        "SESSION_SECRET": session_secret(ctx.state_dir),
        "OIDC_ISSUER": ctx.provider.issuer,
        "OIDC_CLIENT_ID": "portal",
        "OIDC_CLIENT_SECRET": ctx.secrets.portal_client_secret,
        "HUB_URL": ctx.hub.url,
        "HUB_API_TOKEN": ctx.secrets.portal_api_token,
        "ENVIRONMENT_NAME": "local",
        "ENVIRONMENT_KIND": "local",
        "ENVIRONMENT_STAGE": "development",
        # standard contracts' local environments: written where the hub reads them (its <state>/hub/environments)
        "LOCAL_ENVIRONMENTS_DIR": str(ctx.state_dir.resolve() / "hub" / "environments"),
        # the organisations of the demo accounts: the portal accepts no organisation it is not told of
        "ORGANISATIONS": " ".join(sorted({org for account in load_accounts(ctx.provider.accounts_file).values()
                                          for org in account.organisations})),
    }
    if ctx.catalogue_dir is not None:
        values["CATALOGUE_DIR"] = str(Path(ctx.catalogue_dir).resolve())
    if "smtp" in ctx.ports:             # the local SMTP catcher (start_smtp_catcher): the budget warnings' e-mail
        values.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(ctx.ports["smtp"]),
                       "SMTP_FROM": "gereedschapskist@127.0.0.1"})
    return {f"{PORTAL_ENV_PREFIX}{key}": value for key, value in values.items()}


def mail_folder(ctx: UpContext) -> Path:
    """Where the local SMTP catcher keeps the portal's e-mail, one ``.eml`` file per message."""
    return ctx.state_dir / "mail"


def start_smtp_catcher(ctx: UpContext) -> ManagedProcess:
    """The local SMTP catcher (``dev/smtp_catcher.py``) on a free loopback port, kept in ``ctx.ports["smtp"]`` so a
    restarted portal finds it again; the portal's e-mail lands in :func:`mail_folder` instead of being sent."""
    if "smtp" not in ctx.ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ctx.ports["smtp"] = sock.getsockname()[1]
    process = ManagedProcess(
        "smtp-catcher", [sys.executable, "-m", "gereedschapskist.dev.smtp_catcher", "--port", str(ctx.ports["smtp"]),
                         "--folder", str(mail_folder(ctx))],
        log_path=ctx.state_dir / "logs" / "smtp-catcher.log", cwd=ctx.state_dir)
    process.start()
    deadline = time.monotonic() + 15
    while not port_in_use(ctx.ports["smtp"]):
        if not process.running or time.monotonic() > deadline:
            process.stop()
            raise ProcessFailed(f"smtp-catcher: did not listen on 127.0.0.1:{ctx.ports['smtp']}; see "
                                f"{process.log_path}")
        time.sleep(0.05)
    return process


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def migrate_portal_database(env: dict[str, str], log_path: Path, *, cwd: Path) -> None:
    """``gereedschapskist db upgrade`` as a child process with the portal's settings; its output goes to the log."""
    argv = [sys.executable, "-m", "gereedschapskist", "db", "upgrade"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n--- {' '.join(argv)}\n".encode())
        log.flush()
        try:
            result = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, timeout=300)
        except subprocess.TimeoutExpired:
            raise ProcessFailed(f"portal: `gereedschapskist db upgrade` did not finish within 300 s; "
                                f"see {log_path}") from None
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()[-15:])
        raise ProcessFailed(f"portal: `gereedschapskist db upgrade` failed (exit code {result.returncode}); "
                            f"end of {log_path}:\n{tail}")


def start_portal(ctx: UpContext) -> Running:
    catcher = start_smtp_catcher(ctx)
    env = {k: v for k, v in os.environ.items() if not k.startswith(PORTAL_ENV_PREFIX)}
    env.update(portal_environment(ctx))
    log_path = ctx.state_dir / "logs" / "portal.log"
    wait_for_free_port("portal", ctx.ports["portal"])
    migrate_portal_database(env, log_path, cwd=ctx.state_dir)
    # the sample datasets (issue 15): generated data files in <state>/datasets, their metadata imported
    load_sample(ctx.state_dir, env=env, log=log_path)
    url = env[f"{PORTAL_ENV_PREFIX}PUBLIC_URL"]
    process = ManagedProcess(
        "portal", [sys.executable, "-m", "uvicorn", "gereedschapskist.portal.main:app", "--host", "127.0.0.1",
                   "--port", str(ctx.ports["portal"]), "--no-access-log"],
        log_path=log_path, env=env, cwd=ctx.state_dir)
    process.start()
    try:
        process.wait_for_http(f"{url}/healthz", timeout=60, ok=lambda r: r.status_code == 200)
    except BaseException:
        process.stop()
        catcher.stop()
        raise

    def stop() -> None:
        process.stop()
        catcher.stop()

    return Running("portal", stop, lambda: process.running and catcher.running, f"{url}/",
                   [f"Portal (start here / begin hier): {url}/  — catalogue, workspaces, your organisation",
                    f"Portal API: {url}/api/docs  (OpenAPI: {url}/api/openapi.json)",
                    f"E-mail of the portal (budget warnings / budgetwaarschuwingen): {mail_folder(ctx)}/*.eml "
                    f"(local SMTP catcher on 127.0.0.1:{ctx.ports['smtp']})"], primary=True,
                   log_path=log_path)


provider = UpStep("oidc-provider", 10, start_provider)
kafka = UpStep("kafka", 15, start_kafka)
hub = UpStep("jupyterhub", 20, start_hub)
portal = UpStep("portal", 30, start_portal)
