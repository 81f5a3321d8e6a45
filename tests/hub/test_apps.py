"""Published apps at the hub (issue 17, section 1; ``hub/apps.py``, ``hub/app_server.py``): the launch option
``app`` and its checks, and — against a real hub with a bundle that has Panel — an app server that serves the Panel
app to its owner and to whom it is shared with through JupyterHub's sharing, refuses everyone else with 403, and
never exposes the owner's Jupyter server."""

from __future__ import annotations

import re

import httpx
import pytest

from gereedschapskist.catalogue import load
from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.hub.apps import AppRefused, check_framework, parse_app
from gereedschapskist.hub.launch import LaunchForbidden, authorise_request
from gereedschapskist.hub.interfaces import InterfaceAvailability
from tests.apps_support import PANEL_APP, apps_catalogue, apps_stack  # noqa: F401 - fixture
from tests.devclient import HubUser, oidc_login

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("value, server, wrong", [
    ("panel", "app-sales", "send an object"),
    ({"framework": "flask", "entry": "app.py"}, "app-sales", "framework 'flask'"),
    ({"framework": "panel", "entry": "../anna/app.py"}, "app-sales", "inside the folder"),
    ({"framework": "panel", "entry": "/etc/passwd.py"}, "app-sales", "inside the folder"),
    ({"framework": "voila", "entry": "app.py"}, "app-sales", ".ipynb file"),
    ({"framework": "panel", "entry": "app.py"}, "sales-a1b2c3", "app-<slug>"),
    ({"framework": "panel", "entry": "app.py", "git": "git@github.com:x/y.git", "commit": COMMIT}, "app-s", "git"),
    ({"framework": "panel", "entry": "app.py", "git": "https://example.org/x.git", "commit": "main"}, "app-s",
     "40-character"),
    ({"framework": "panel", "entry": "app.py", "shell": "rm"}, "app-s", "unknown field"),
])
def test_the_app_option_is_checked_field_by_field(value, server, wrong):
    with pytest.raises(AppRefused) as refused:
        parse_app(value, server_name=server)
    assert refused.value.status_code == 400 and wrong in refused.value.message


def test_a_framework_the_bundle_lacks_is_refused_naming_bundle_and_framework(tmp_path):
    catalogue = load(apps_catalogue(tmp_path / "catalogue"))
    app = parse_app({"framework": "streamlit", "entry": "app.py"}, server_name="app-sales")
    with pytest.raises(AppRefused) as refused:
        check_framework(catalogue.bundles["tiny-panel"], app)
    assert refused.value.refusal == "framework-not-in-bundle"
    assert "tiny-panel 1.0.0" in refused.value.message and "Streamlit" in refused.value.message
    assert "its app frameworks: panel" in refused.value.message
    check_framework(catalogue.bundles["tiny-panel"], parse_app({"framework": "panel", "entry": "app.py"},
                                                              server_name="app-sales"))


def test_only_the_portal_may_start_an_app(tmp_path):
    catalogue = load(apps_catalogue(tmp_path / "catalogue"))
    options = {"bundle": "tiny-panel", "size": "small", "app": {"framework": "panel", "entry": "app.py"}}
    kwargs = dict(interfaces=InterfaceAvailability(catalogue.bundles.values()), server_name="app-sales")
    with pytest.raises(LaunchForbidden) as refused:
        authorise_request(catalogue, ["org:minfin", "role:bi"], options, **kwargs)
    assert refused.value.refusal == "apps-from-portal-only"
    request = authorise_request(catalogue, ["org:minfin", "role:bi"], options, from_portal=True, **kwargs)
    assert request.app.framework.id == "panel" and request.as_user_options()["app"] == {"framework": "panel",
                                                                                        "entry": "app.py"}


def _browser_login(hub_url: str, account) -> httpx.Client:
    return oidc_login(f"{hub_url}/hub/oauth_login?next=/hub/home", account.username, account.password)


@pytest.mark.network        # the first build of tiny-panel's environment downloads Panel from PyPI
def test_an_app_server_serves_its_audience_only(apps_stack, accounts_file):  # noqa: F811 - fixture
    accounts = load_accounts(accounts_file)
    portal = hub_api(apps_stack.hub, apps_stack.secrets.portal_api_token)
    anna = HubUser.login(apps_stack.url, "anna", accounts["anna"].password, starter=portal)
    dana_browser = _browser_login(apps_stack.url, accounts["dana"])
    bram_browser = _browser_login(apps_stack.url, accounts["bram"])
    try:
        folder = apps_stack.home("anna") / "dashboards"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sales.py").write_text(PANEL_APP, encoding="utf-8")
        # a framework the bundle lacks: refused before anything starts
        refused = portal.post("/users/anna/servers/app-cows", json={"user_options": {
            "bundle": "tiny-cowsay", "size": "small", "app": {"framework": "panel", "entry": "dashboards/sales.py"}}})
        assert refused.status_code == 409, refused.text
        assert refused.headers["X-Gereedschapskist-Reason"] == "framework-not-in-bundle"
        anna.start_server("app-sales", {"bundle": "tiny-panel", "size": "small",
                                        "app": {"framework": "panel", "entry": "dashboards/sales.py"}})
        anna.wait_until_ready("app-sales")
        url = anna.server_url("app-sales")
        page = anna.browser.get(url, follow_redirects=True)
        assert page.status_code == 200 and "bokeh" in page.text.lower(), page.text[:500]
        # no Jupyter server behind it: its API is the app's 404, not a kernel or file list
        assert anna.browser.get(f"{url}api/contents", follow_redirects=True).status_code == 404
        # not shared yet: dana is refused by the hub's OAuth
        assert dana_browser.get(url, follow_redirects=True).status_code == 403
        shared = portal.post("/gereedschapskist/apps/anna/app-sales/audience",
                             json={"groups": ["org:minfin"], "users": ["nobody-here"]})
        assert shared.status_code == 200, shared.text
        # the group, and its members who are at the hub (anna, the owner, needs no share)
        assert shared.json() == {"shared": ["dana", "group:org:minfin"],
                                 "missing": {"users": ["nobody-here"], "groups": []}}
        opened = dana_browser.get(url, follow_redirects=True)
        assert opened.status_code == 200 and "bokeh" in opened.text.lower()
        assert bram_browser.get(url, follow_redirects=True).status_code == 403
        # a workspace is never shared through the apps endpoint
        not_app = portal.post("/gereedschapskist/apps/anna/tiny-cowsay-abcdef/audience", json={"users": ["dana"]})
        assert not_app.status_code == 403 and not_app.headers["X-Gereedschapskist-Reason"] == "not-an-app"
        logs = portal.get("/gereedschapskist/apps/anna/app-sales/logs").json()
        assert any("app proxy: listening" in line for line in logs["lines"])
        assert re.search(r"panel", " ".join(logs["lines"]))
    finally:
        anna.stop_server("app-sales", remove=True) if "app-sales" in anna.model()["servers"] else None
        for client in (dana_browser, bram_browser):
            client.close()
        anna.close()
        portal.close()


def test_the_app_server_is_one_standalone_file():
    """A bundle image carries a copy of ``hub/app_server.py`` and runs it with its own Python, so the file may import
    only the standard library, JupyterHub and Tornado (never this project); checked on the file's syntax tree, and by
    running its import in a fresh interpreter with the project off the path."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    from gereedschapskist.hub.spawner import APP_SERVER_FILE

    tree = ast.parse(Path(APP_SERVER_FILE).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module}
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree)), "relative import"
    outside = sorted(imported - set(sys.stdlib_module_names) - {"jupyterhub", "tornado", "__future__"})
    assert outside == []
    code = ("import runpy, sys; sys.path = [p for p in sys.path if 'work' not in p or 'site-packages' in p]; "
            f"ns = runpy.run_path({APP_SERVER_FILE!r}, run_name='app_server'); print(sorted(ns)[:1])")
    run = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd="/", timeout=60)
    assert run.returncode == 0, run.stderr
