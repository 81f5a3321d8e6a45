"""Publish an app or dashboard (issue 17, section 1) in a real browser: anna (minfin) publishes a Panel dashboard
from a folder of her home for her organisation; dana (minfin) opens it and sees it rendered (Bokeh over the app
server's WebSocket); bram (cbs) does not see it in the portal and gets 403 from the hub at its URL; anna unpublishes
it and it is gone. The times from "publish" to the app answering and from opening a stopped app to its answering are
printed (not asserted; tests/bench/test_app_bench.py measures them too).

Real parts only: a provider and JupyterHub of their own (``tests/apps_support.py``: the test catalogue plus
``tiny-panel``, whose environment is built from PyPI at the first start), the portal under uvicorn, Debian's
Chromium driven by Playwright."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.settings import PortalSettings
from tests.apps_support import PANEL_APP, apps_stack  # noqa: F401 - fixture
from tests.e2e.conftest import fixed_shots, log_in
from tests.portal.support import PortalServer

pytestmark = pytest.mark.network    # the first start builds tiny-panel's environment (Panel from PyPI)


def test_publish_open_refuse_and_unpublish_an_app(chromium, database, tmp_path, apps_stack,  # noqa: F811
                                                  accounts_file):
    shots = fixed_shots("publish-app")
    accounts = load_accounts(accounts_file)
    settings = PortalSettings(
        database_url=database.url, state_dir=tmp_path, session_secret="p" * 40,
        public_url=f"http://127.0.0.1:{apps_stack.portal_port}", oidc_issuer=apps_stack.provider.issuer,
        oidc_client_id="portal", oidc_client_secret=apps_stack.secrets.portal_client_secret,
        organisations="cbs minfin", hub_url=apps_stack.url, hub_api_token=apps_stack.secrets.portal_api_token,
        catalogue_dir=apps_stack.catalogue_dir, reconcile_interval_seconds=0)
    folder = apps_stack.home("anna") / "dashboards"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "verkoop.py").write_text(PANEL_APP, encoding="utf-8")     # as anna saved it in her workspace
    issuer = apps_stack.provider.issuer
    with PortalServer(create_app(settings), apps_stack.portal_port) as portal:
        anna = log_in(chromium, portal.url, issuer, accounts["anna"], next_path="/apps")
        with shots.on_failure(anna):
            # 1. anna publishes, with one press: the first time the hub's single sign-on comes first, then the
            #    portal's resume page publishes what she posted
            anna.fill("#title", "Verkoop per maand")
            anna.select_option("#framework", "panel")
            anna.select_option("#bundle", "tiny-panel")
            anna.fill("#entry", "dashboards/verkoop.py")
            shots(anna, "anna-publish-form")
            visited: list[str] = []
            anna.on("request", lambda r: visited.append(r.url) if r.is_navigation_request() else None)
            anna.get_by_role("button", name="Publiceren").click()
            published_at = time.monotonic()
            anna.wait_for_url(re.compile(r"/apps/\d+\?done=published"), timeout=900_000)
            assert any("/apps/resume?publish=" in url for url in visited), visited   # through the hub's sign-on
            app_page = anna.url.split("?")[0]
            app_id = int(app_page.rsplit("/", 1)[1])
            expect(anna.locator("#app-url")).to_contain_text("/user/anna/app-verkoop-per-maand/")
            # 2. anna opens it: a "starting" page while the environment is built and the app starts, then the app
            anna.goto(f"{portal.url}/apps/{app_id}/open")
            expect(anna.get_by_text("Verkoop per maand").first).to_be_visible(timeout=900_000)
            anna.wait_for_url(re.compile(r"/user/anna/app-verkoop-per-maand/"), timeout=900_000)
            expect(anna.get_by_text("Gepubliceerd vanuit een werkplek")).to_be_visible(timeout=120_000)
            answered = time.monotonic() - published_at
            shots(anna, "anna-sees-her-app")

            # 3. dana, a colleague of minfin, sees it in the list and opens it (the hub's sign-on on the way)
            dana = log_in(chromium, portal.url, issuer, accounts["dana"], next_path="/apps")
            expect(dana.locator("#apps")).to_contain_text("Verkoop per maand")
            shots(dana, "dana-apps-list")
            dana.get_by_role("link", name="Openen").first.click()
            dana.wait_for_url(re.compile(r"/user/anna/app-verkoop-per-maand/"), timeout=120_000)
            expect(dana.get_by_text("Gepubliceerd vanuit een werkplek")).to_be_visible(timeout=120_000)
            shots(dana, "dana-opens-the-app")
            # she gets the app, not anna's Jupyter server
            assert dana.request.get(f"{apps_stack.url}/user/anna/app-verkoop-per-maand/api/contents").status == 404

            # 4. bram (cbs) does not see it, the portal does not open it for him, and the hub refuses him: 403
            bram = log_in(chromium, portal.url, issuer, accounts["bram"], next_path="/apps")
            expect(bram.locator("#no-apps")).to_be_visible()
            assert bram.goto(f"{portal.url}/apps/{app_id}/open").status == 404
            refused = bram.goto(f"{apps_stack.url}/user/anna/app-verkoop-per-maand/")
            assert refused.status == 403, refused.status
            expect(bram.get_by_text("Verkoop per maand")).to_have_count(0)
            shots(bram, "bram-refused")

            # 5. stopped (as the idle culler stops it), the next open shows "starting" and wakes it
            anna.goto(app_page)
            anna.get_by_role("button", name="Stoppen").click()
            anna.wait_for_url(re.compile(r"done=stopped"))
            woken_at = time.monotonic()
            anna.goto(f"{portal.url}/apps/{app_id}/open")
            if "/apps/" in anna.url:
                expect(anna.locator("#app-starting")).to_be_visible()
                shots(anna, "anna-app-starting")
            anna.wait_for_url(re.compile(r"/user/anna/app-verkoop-per-maand/"), timeout=300_000)
            expect(anna.get_by_text("Gepubliceerd vanuit een werkplek")).to_be_visible(timeout=120_000)
            woke = time.monotonic() - woken_at

            # 6. anna unpublishes it: gone from the list, and its URL no longer serves it
            anna.goto(app_page)
            anna.get_by_role("button", name="Publicatie intrekken").click()
            anna.wait_for_url(re.compile(r"/apps\?done=unpublished"))
            expect(anna.locator("#no-apps")).to_be_visible()
            shots(anna, "anna-unpublished")
            dana.goto(f"{portal.url}/apps")
            expect(dana.locator("#no-apps")).to_be_visible()
            assert dana.goto(f"{portal.url}/apps/{app_id}/open").status == 404
            dana.goto(f"{apps_stack.url}/user/anna/app-verkoop-per-maand/")
            expect(dana.get_by_text("Gepubliceerd vanuit een werkplek")).to_have_count(0)
    print(f"\npublish → app answering (first start, environment build included): {answered:.1f} s; "
          f"wake from stopped → answering: {woke:.1f} s")
