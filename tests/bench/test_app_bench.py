"""Published apps (issue 17, section 1), measured and printed, not asserted: the time from "publish" (the portal's
start of the app server, with the ``app`` launch option) to the Panel app answering its owner, once with
``tiny-panel``'s environment still to build and once built, and the wake-from-idle time: a stopped app server (as
the idle culler leaves it) started again until it answers. Against a real hub (``tests/apps_support.py``)."""

from __future__ import annotations

import time

import pytest

from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.dev.devstack import hub_api
from tests.apps_support import PANEL_APP, apps_stack  # noqa: F401 - fixture
from tests.devclient import HubUser

pytestmark = pytest.mark.network


def _answering(user: HubUser, server: str, timeout: float = 900.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = user.browser.get(user.server_url(server), follow_redirects=True)
        if page.status_code == 200 and "bokeh" in page.text.lower():
            return
        time.sleep(0.2)
    raise AssertionError(f"{server} did not answer within {timeout} s")


def test_time_to_a_published_app_and_to_wake_it(apps_stack, accounts_file):  # noqa: F811
    accounts = load_accounts(accounts_file)
    portal = hub_api(apps_stack.hub, apps_stack.secrets.portal_api_token)
    anna = HubUser.login(apps_stack.url, "anna", accounts["anna"].password, starter=portal)
    folder = apps_stack.home("anna") / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(PANEL_APP, encoding="utf-8")
    options = {"bundle": "tiny-panel", "size": "small", "app": {"framework": "panel", "entry": "bench/app.py"}}
    times = {}
    try:
        for label, server in (("first publish (environment built)", "app-bench-one"),
                              ("publish (environment ready)", "app-bench-two")):
            began = time.monotonic()
            anna.start_server(server, options)
            anna.wait_until_ready(server)
            _answering(anna, server)
            times[label] = time.monotonic() - began
        anna.stop_server("app-bench-two")       # as the idle culler stops it: the server is kept
        began = time.monotonic()
        anna.start_server("app-bench-two", options)
        anna.wait_until_ready("app-bench-two")
        _answering(anna, "app-bench-two")
        times["wake from stopped"] = time.monotonic() - began
    finally:
        for server in ("app-bench-one", "app-bench-two"):
            if server in anna.model()["servers"]:
                anna.stop_server(server, remove=True)
        anna.close()
        portal.close()
    print("\n" + "\n".join(f"{label}: {seconds:.1f} s to the Panel app answering" for label, seconds in times.items()))
