"""The portal's step in ``gereedschapskist up``: migrate the SQLite database, then serve the portal.

Registered under the entry-point group ``gereedschapskist.up`` (order 30, after the OIDC provider and
the hub). The portal is the place to begin, so ``up`` prints its URL as the one to open.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from gereedschapskist.dev.processes import ManagedProcess
from gereedschapskist.dev.up import Running, UpContext, UpStep

from .db import make_engine, upgrade
from .settings import ENV_PREFIX, PortalSettings


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


def portal_environment(ctx: UpContext) -> dict[str, str]:
    """The portal's settings for the local workbench, as ``GEREEDSCHAPSKIST_PORTAL_*`` variables."""
    assert ctx.provider is not None and ctx.hub is not None, "the portal starts after the provider and the hub"
    values = {
        "STATE_DIR": str(ctx.state_dir),
        "PUBLIC_URL": f"http://127.0.0.1:{ctx.ports['portal']}",
        "SESSION_SECRET": session_secret(ctx.state_dir),
        "OIDC_ISSUER": ctx.provider.issuer,
        "OIDC_CLIENT_ID": "portal",
        "OIDC_CLIENT_SECRET": ctx.secrets.portal_client_secret,
        "HUB_URL": ctx.hub.url,
        "HUB_API_TOKEN": ctx.secrets.portal_api_token,
        "ENVIRONMENT_NAME": "local",
        "ENVIRONMENT_KIND": "local",
        "ENVIRONMENT_STAGE": "development",
    }
    if ctx.catalogue_dir is not None:
        values["CATALOGUE_DIR"] = str(Path(ctx.catalogue_dir).resolve())
    return {f"{ENV_PREFIX}{key}": value for key, value in values.items()}


def start(ctx: UpContext) -> Running:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env.update(portal_environment(ctx))
    settings = PortalSettings(state_dir=ctx.state_dir)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)                   # what `gereedschapskist db upgrade` does
    finally:
        engine.dispose()
    url = env[f"{ENV_PREFIX}PUBLIC_URL"]
    process = ManagedProcess(
        "portal", [sys.executable, "-m", "uvicorn", "gereedschapskist.portal.main:app", "--host", "127.0.0.1",
                   "--port", str(ctx.ports["portal"]), "--no-access-log"],
        log_path=ctx.state_dir / "logs" / "portal.log", env=env, cwd=ctx.state_dir)
    process.start()
    try:
        process.wait_for_http(f"{url}/healthz", timeout=60, ok=lambda r: r.status_code == 200)
    except BaseException:
        process.stop()
        raise
    return Running("portal", process.stop, lambda: process.running, f"{url}/",
                   [f"Portal (start here / begin hier): {url}/  — catalogue, workspaces, your organisation",
                    f"Portal API: {url}/api/docs  (OpenAPI: {url}/api/openapi.json)"], primary=True)


step = UpStep("portal", 30, start)
