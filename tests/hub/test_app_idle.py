"""A published app that nobody uses is stopped by the idle culler, and one in use is not (issue 17, section 1;
``hub/app_server.py``: the app server reports its last use to the hub, ``POST /hub/api/users/<owner>/activity``).

Real parts only: a provider and JupyterHub of their own (``tests/apps_support.py``, the hub with bundle
``tiny-panel``), anna's app server ``app-idle`` running tiny-panel's Panel app, dana opening it through the hub's
OAuth (shared with her through the portal's audience endpoint), and the real ``jupyterhub-idle-culler`` — the package
the hub runs as its managed service ``idle-culler`` — run here as the hub runs it
(``python -m jupyterhub_idle_culler --timeout=… --cull-every=…`` against the hub's API with
``JUPYTERHUB_API_TOKEN``), with a short timeout: the product's settings allow no timeout under 60 s
(``hub/settings.py``). Its token has exactly the culler's scopes (``CULLER_SCOPES`` of ``hub/roles.py``): a token
femke, a platform admin, makes for herself through the hub's REST API (the hub's own culler service gets its token
from the hub at start, in its environment only). Its log level is DEBUG, so its log shows each look at the server.

What it shows:

1. while dana keeps using the app (a page request every ~1.5 s) for longer than the culler's timeout, the culler
   looks at it every few seconds and does not stop it: the hub's last activity of the server keeps advancing, by the
   app server's reports (every ``_ACTIVITY_EVERY`` = 10 s; the hub polls its proxy's activity only every 300 s);
2. once nobody uses it, the culler stops it within timeout + cull_every + a margin after the last use, and not
   before the timeout;
3. nothing else stopped it: the test never stops it itself, and the hub's own culler runs with the product's
   defaults (read from the hub's usage endpoint), whose timeout is far longer than the server ever lived.

No mocks of the hub or the app server; nothing is simulated."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from jupyterhub.scopes import expand_scopes

from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.hub.roles import CULLER_SCOPES
from tests.apps_support import PANEL_APP, apps_stack, stop_group  # noqa: F401 - fixture
from tests.devclient import HubUser, oidc_login

pytestmark = pytest.mark.network    # the first start builds tiny-panel's environment (Panel from PyPI)

SERVER = "app-idle"
#: The app server reports use every 10 s (``hub/app_server.py``, ``_ACTIVITY_EVERY``; the spawner passes no
#: ``JUPYTERHUB_ACTIVITY_INTERVAL`` to it): twice that, so the hub's record of an app in use is never near the limit.
CULL_TIMEOUT = 20
CULL_EVERY = 2
#: Using the app for this long is longer than the timeout, with a few of the culler's looks to spare.
USE_FOR = CULL_TIMEOUT + 3 * CULL_EVERY
USE_EVERY = 1.5
#: Beyond timeout + cull_every: the app server's stop (SIGINT, then the Panel child's exit) and the hub's records.
STOP_MARGIN = 15


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({path} unreadable: {exc})"


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _culler_token(femke: HubUser) -> str:
    """A token of femke (platform admin) with exactly the culler's scopes, made through the hub's REST API."""
    made = femke.api.post(f"/users/{femke.name}/tokens",
                          json={"note": "test: idle culler", "scopes": list(CULLER_SCOPES), "expires_in": 600})
    assert made.status_code == 201, made.text
    # the hub reports a token's scopes expanded (list:users gives read:users:name), with its owner's identity
    culler = set(expand_scopes(CULLER_SCOPES))
    identity = {f"read:users:{field}!user={femke.name}" for field in ("name", "groups")}
    assert culler <= set(made.json()["scopes"]) <= culler | identity, made.json()["scopes"]
    return made.json()["token"]


def _start_culler(hub_api_url: str, token: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "JPY_"))}
    env["JUPYTERHUB_API_TOKEN"] = token
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "jupyterhub_idle_culler", f"--url={hub_api_url}",
                                 f"--timeout={CULL_TIMEOUT}", f"--cull-every={CULL_EVERY}",
                                 "--IdleCuller.log_level=DEBUG"],
                                env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def test_the_idle_culler_stops_an_unused_app_and_never_one_in_use(apps_stack, accounts_file,  # noqa: F811
                                                                   tmp_path):
    accounts = load_accounts(accounts_file)
    portal = hub_api(apps_stack.hub, apps_stack.secrets.portal_api_token)
    anna = HubUser.login(apps_stack.url, "anna", accounts["anna"].password, starter=portal)
    femke = HubUser.login(apps_stack.url, "femke", accounts["femke"].password)
    dana = oidc_login(f"{apps_stack.url}/hub/oauth_login?next=/hub/home", "dana", accounts["dana"].password)
    # the hub's own API address, as the hub gives it to its managed culler (JUPYTERHUB_API_URL)
    hub_api_url = f"http://127.0.0.1:{apps_stack.hub.env['GEREEDSCHAPSKIST_HUB_HUB_PORT']}/hub/api"
    culler_log = tmp_path / "idle-culler.log"
    culler: subprocess.Popen | None = None

    def server() -> dict | None:
        got = portal.get("/users/anna")
        assert got.status_code == 200, got.text
        return got.json()["servers"].get(SERVER)

    def evidence() -> str:
        logs = portal.get(f"/gereedschapskist/apps/anna/{SERVER}/logs")
        app_log = "\n".join(logs.json()["lines"][-15:]) if logs.status_code == 200 else logs.text
        return (f"\n--- culler log:\n{_tail(culler_log)}\n--- app server log:\n{app_log}\n--- hub log:\n"
                f"{_tail(apps_stack.state_dir / 'logs' / 'jupyterhub.log', 25)}")

    try:
        # 1. anna's app server with tiny-panel's Panel app, shared with dana, who opens it
        folder = apps_stack.home("anna") / "dashboards"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "idle.py").write_text(PANEL_APP, encoding="utf-8")
        anna.start_server(SERVER, {"bundle": "tiny-panel", "size": "small",
                                   "app": {"framework": "panel", "entry": "dashboards/idle.py"}})
        anna.wait_until_ready(SERVER)
        started = time.time()
        shared = portal.post(f"/gereedschapskist/apps/anna/{SERVER}/audience", json={"users": ["dana"]})
        assert shared.status_code == 200, shared.text
        url = anna.server_url(SERVER)
        opened = dana.get(url, follow_redirects=True)
        assert opened.status_code == 200 and "bokeh" in opened.text.lower(), opened.text[:500]

        # the hub's own culler: the product's settings (no override in the dev stack), far too slow to act here
        usage = portal.get(f"/gereedschapskist/usage/anna/{SERVER}")
        assert usage.status_code == 200, usage.text
        hub_timeout, hub_every = usage.json()["idle_timeout_seconds"], usage.json()["cull_every_seconds"]
        assert hub_timeout >= 60 and hub_every >= 10, usage.json()

        # 2. the real culler, with a short timeout; dana keeps using the app for longer than it
        culler = _start_culler(hub_api_url, _culler_token(femke), culler_log)
        first = server()
        assert first and first["ready"], first
        seen = {first["last_activity"]}
        use_until = time.monotonic() + USE_FOR
        while time.monotonic() < use_until:
            last_use = time.time()          # no later than the app server's record of this request
            page = dana.get(url)
            assert page.status_code == 200, f"{page.status_code}: {page.text[:300]}"
            now = server()
            assert now is not None and now["ready"] and not now["pending"], \
                f"the culler stopped an app in use, {time.time() - started:.0f} s after its start: {now}{evidence()}"
            seen.add(now["last_activity"])
            assert culler.poll() is None, f"the culler exited ({culler.returncode}){evidence()}"
            time.sleep(USE_EVERY)
        looks = _tail(culler_log, 10_000).count(f"Not culling server anna/{SERVER}")
        assert looks >= USE_FOR // CULL_EVERY - 3, f"the culler looked at the app only {looks} times{evidence()}"
        # the app server's reports: the hub's last activity advanced during the use (the hub's poll of its proxy's
        # activity comes every 300 s, so at most once in this window) and is recent at its end
        assert len(seen) >= 3, f"the hub's last activity of the app hardly changed: {sorted(seen)}{evidence()}"
        recorded = _stamp(server()["last_activity"])
        assert last_use - recorded < 10 + 2 * USE_EVERY + 1, \
            f"the hub's last activity is {last_use - recorded:.1f} s behind the last use{evidence()}"

        # 3. nobody uses it: the culler stops it within timeout + cull_every + a margin after the last use
        deadline = last_use + CULL_TIMEOUT + CULL_EVERY + STOP_MARGIN
        while (now := server()) is not None and time.time() < deadline:
            time.sleep(0.25)
        stopped = time.time()
        assert now is None, (f"the app was not stopped {stopped - last_use:.0f} s after its last use (culler timeout "
                             f"{CULL_TIMEOUT} s, every {CULL_EVERY} s): {now}{evidence()}")
        assert stopped - last_use >= CULL_TIMEOUT - 1.5, \
            f"stopped {stopped - last_use:.1f} s after its last use, before the timeout{evidence()}"
        assert f"Culling server anna/{SERVER}" in _tail(culler_log, 10_000), f"who stopped it?{evidence()}"
        # the hub's own culler cannot have: the server never lived as long as that culler's timeout
        assert stopped - started < hub_timeout, (stopped - started, hub_timeout)
        stopped_model = portal.get("/users/anna", params={"include_stopped_servers": "1"}).json()["servers"]
        assert SERVER in stopped_model and not stopped_model[SERVER]["ready"]   # stopped, kept for a restart
        print(f"\napp {SERVER}: in use {USE_FOR} s with culler timeout {CULL_TIMEOUT} s (hub's {hub_timeout} s, "
              f"every {hub_every} s), stopped {stopped - last_use:.1f} s after its last use; the hub recorded "
              f"{len(seen)} last-activity values, the culler looked {looks} times while it was in use")
    finally:
        if culler is not None:
            stop_group(culler)
        try:
            if SERVER in anna.model()["servers"]:
                anna.stop_server(SERVER)
        except httpx.HTTPError:
            pass
        for client in (dana, femke, anna, portal):
            client.close()
