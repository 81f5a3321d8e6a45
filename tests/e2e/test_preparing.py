"""The bundle page says when the hub is preparing that bundle's environment (issue 13): starting is possible, the
first start waits for the build. The hub here is a fake that answers the interfaces document with the bundle
``preparing`` — a page state the real hub shows only for the seconds of a build (the real hub's preparation and its
``environments`` document are tested with a real hub in ``tests/hub/test_prepare.py``); login is the real provider's,
the browser real Chromium."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.workspace_hub import InterfaceState, InterfaceStates
from tests.portal.fakehub import FakeHub
from tests.portal.support import PortalServer
from tests.portal.test_workspaces_hub import stack_settings


class PreparingHub(FakeHub):
    """Says tiny-cowsay 1.0.0 is being prepared; everything else as the fake hub."""

    preparing = {"tiny-cowsay": ("1.0.0", "preparing"), "tiny-fresh": ("1.0.0", "ready")}

    def interfaces(self):
        return InterfaceStates({"jupyterlab": InterfaceState("jupyterlab", True)}, {}, dict(self.preparing))


def test_the_bundle_page_says_its_environment_is_being_prepared(browser_page: Page, shots, database, tmp_path,
                                                                hub_stack, demo_accounts):
    page = browser_page
    settings = stack_settings(database, tmp_path, hub_stack)
    account = demo_accounts["anna"]
    with PortalServer(create_app(settings, hub_factory=PreparingHub), hub_stack.ports.portal) as portal, \
            shots.on_failure(page):
        page.goto(f"{portal.url}/login?next=/catalogue/tiny-cowsay")
        page.wait_for_url(re.compile(re.escape(hub_stack.provider.issuer)))
        page.fill("#username", account.username)
        page.fill("#password", account.password)
        page.get_by_role("button", name="Inloggen / Log in").click()
        page.wait_for_url(f"{portal.url}/catalogue/tiny-cowsay")
        note = page.locator("#environment-preparing")
        expect(note).to_have_text("De omgeving van deze bundel wordt nu klaargezet. Starten kan al; de eerste start "
                                  "wacht tot de omgeving klaar is.")
        expect(page.get_by_role("button", name="Start werkplek")).to_be_enabled()
        shots(page, "preparing")
        page.goto(f"{portal.url}/catalogue/tiny-fresh")                 # ready: nothing said
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator("#environment-preparing")).to_have_count(0)
