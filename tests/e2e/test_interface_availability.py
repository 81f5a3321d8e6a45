"""The bundle page shows which interfaces the environment's hub can run, and why one cannot (issue 12, defect 4):
the portal asks the real hub (``/hub/api/gereedschapskist/interfaces``), here for a bundle that offers RStudio and
VS Code on a machine that may lack ``rserver`` and ``code-server``."""

from __future__ import annotations

import re
import shutil

from playwright.sync_api import Page, expect

from gereedschapskist.portal.main import create_app
from tests.portal.support import PortalServer
from tests.portal.test_workspaces_hub import skewed_catalogue, stack_settings


def test_the_bundle_page_disables_an_interface_the_hub_cannot_run(browser_page: Page, shots, database, tmp_path,
                                                                 hub_stack, demo_accounts):
    page = browser_page
    settings = stack_settings(database, tmp_path, hub_stack).model_copy(
        update={"catalogue_dir": skewed_catalogue(hub_stack, tmp_path)})
    account = demo_accounts["anna"]
    with PortalServer(create_app(settings), hub_stack.ports.portal) as portal, shots.on_failure(page):
        page.goto(f"{portal.url}/login?next=/catalogue/tiny-cowsay")
        page.wait_for_url(re.compile(re.escape(hub_stack.provider.issuer)))
        page.fill("#username", account.username)
        page.fill("#password", account.password)
        page.get_by_role("button", name="Inloggen / Log in").click()
        page.wait_for_url(f"{portal.url}/catalogue/tiny-cowsay")

        availability = page.locator("#interface-availability")
        expect(availability.locator('li[data-interface="jupyterlab"]')).to_have_text("JupyterLab: kan hier starten")
        for value, label, binary in (("rstudio", "RStudio", "rserver"), ("vscode", "VS Code", "code-server")):
            option = page.locator(f'#interface option[value="{value}"]')
            item = availability.locator(f'li[data-interface="{value}"]')
            if shutil.which(binary):
                expect(option).to_be_enabled()
                expect(item).to_have_text(f"{label}: kan hier starten")
            else:
                expect(option).to_be_disabled()
                expect(option).to_contain_text(f"{binary} is niet geïnstalleerd op de machine van de hub")
                expect(item).to_have_text(f"{label}: kan hier niet starten: {binary} is niet geïnstalleerd op "
                                          "de machine van de hub")
        expect(page.locator("#interface")).to_have_value("jupyterlab")     # the first one that can start
        shots(page, "interfaces")
