"""What is inside a workspace (issue 12, items 1-4), in a real browser on the real stack: an R bundle whose R
packages this machine lacks is shown as unable to start (never "ready" without its tools); a bundle that starts
opens a JupyterLab whose launcher names the kernel after the bundle, whose top bar says which bundle this is, and
whose home folder holds the bundle's README (with a link back to the portal) and sample data.

Real parts only: the development OIDC provider and JupyterHub (local backend) from the shared fixtures, the portal
served by uvicorn, Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.support import PortalServer

KERNEL = "Test bundle with cowsay 1.0.0"
LABEL = "Testbundel met cowsay / Test bundle with cowsay · 1.0.0"


def test_inside_a_workspace_kernel_label_readme_and_an_r_bundle_without_its_tools(
        browser_page: Page, shots, database, tmp_path, hub_stack, new_account):
    page = browser_page
    settings = PortalSettings(
        database_url=database.url, state_dir=tmp_path, session_secret="e" * 40,
        public_url=f"http://127.0.0.1:{hub_stack.ports.portal}", oidc_issuer=hub_stack.provider.issuer,
        oidc_client_id="portal", oidc_client_secret=hub_stack.secrets.portal_client_secret,
        organisations="cbs minfin",
        hub_url=hub_stack.url, hub_api_token=hub_stack.portal_api_token, catalogue_dir=hub_stack.catalogue_dir,
        reconcile_interval_seconds=0)
    account = new_account("anna")
    with PortalServer(create_app(settings), hub_stack.ports.portal) as portal, shots.on_failure(page):
        page.goto(f"{portal.url}/login?next=/catalogue/tiny-r")
        page.wait_for_url(re.compile(re.escape(hub_stack.provider.issuer)))
        page.fill("#username", account.username)
        page.fill("#password", account.password)
        page.get_by_role("button", name="Inloggen / Log in").click()
        page.wait_for_url(f"{portal.url}/catalogue/tiny-r")

        # 1. the R bundle: this machine lacks its tidyverse 2.0.0, so it cannot start here (and says why)
        item = page.locator('#interface-availability li[data-interface="jupyterlab"]')
        expect(item).to_have_attribute("data-available", "false")
        expect(item).to_have_text("JupyterLab: kan hier niet starten: tidyverse==2.0.0 is niet geïnstalleerd op de "
                                  "machine van de hub")
        start = page.get_by_role("button", name="Start werkplek")
        expect(start).to_be_disabled()
        # and it looks disabled: grey, no pointer (it looked like an enabled button before)
        looks = start.evaluate("b => [getComputedStyle(b).cursor, getComputedStyle(b).backgroundColor]")
        assert looks == ["not-allowed", "rgb(230, 230, 230)"], looks
        shots(page, "r-bundle-unavailable")

        # 2. a bundle that can start: launch it and open it
        page.goto(f"{portal.url}/catalogue/tiny-cowsay")
        page.get_by_label("Formaat").select_option("small")
        page.get_by_role("button", name="Start werkplek").click()
        page.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/\d+$"), timeout=120_000)
        expect(page.locator("#status")).to_have_text("actief", timeout=600_000)
        page.get_by_role("link", name="Open werkplek").click()
        page.wait_for_url(re.compile(rf"/user/{account.username}/tiny-cowsay-[0-9a-f]+/lab"), timeout=120_000)
        page.goto(re.sub(r"/lab.*$", "/lab?reset", page.url))

        # 3. the launcher names the kernel after the bundle; the top bar says which bundle this is
        # and offers only the bundle's own kernel (not the machine's R kernel: tiny-cowsay has no R)
        card = page.locator(".jp-LauncherCard[data-category='Notebook']")
        expect(card).to_have_count(1, timeout=120_000)
        expect(card).to_have_text(KERNEL)
        expect(page.locator(".jp-LauncherCard[data-category='Console']")).to_have_text(KERNEL)
        expect(page.locator("#jp-top-panel")).to_contain_text(LABEL)

        # 4. the home folder holds the bundle's folder with its README and sample data
        listing = page.locator(".jp-DirListing-content")
        expect(listing.locator(".jp-DirListing-item[title*='tiny-cowsay']")).to_be_visible()
        shots(page, "launcher-label-home")
        listing.locator(".jp-DirListing-item[title*='tiny-cowsay']").dblclick()
        expect(listing.locator(".jp-DirListing-item[title*='voorbeelddata.csv']")).to_be_visible()
        listing.locator(".jp-DirListing-item[title*='README.md']").dblclick()
        editor = page.locator(".jp-FileEditor .cm-content")
        expect(editor).to_contain_text("Testbundel met cowsay · 1.0.0", timeout=60_000)
        expect(editor).to_contain_text(f"{portal.url}/catalogue/tiny-cowsay")
        expect(editor).to_contain_text("Test bundle with cowsay · 1.0.0")
        shots(page, "readme")

    # 5. stop it at the hub (the portal's stop button has its own browser test, test_portal_journey.py)
    with hub_api(hub_stack.hub, hub_stack.portal_api_token) as hub:
        servers = hub.get(f"/users/{account.username}").json()["servers"]
        for name in [n for n in servers if n.startswith("tiny-cowsay-")]:
            stopped = hub.request("DELETE", f"/users/{account.username}/servers/{name}", json={"remove": True})
            assert stopped.status_code in (202, 204), stopped.text
    assert len(shots.taken) == 3 and all(p.stat().st_size > 1000 for p in shots.taken)
