"""Honest sizes, live usage and right-sizing advice in Chromium against the real hub (issue 12).

The portal sees the hub's test catalogue with one more size for ``tiny-cowsay``, ``xlarge`` (8 CPU, 64 GiB),
larger than this machine: the bundle page shows it as not available here, with why, from the capacity the real hub
reports. Anna starts the small size; the workspace page shows its live CPU and memory against the size, the uptime
and the idle countdown, refreshing by itself; after the stop it shows the run's peaks and the advice.
Screenshots in ``tests/e2e/artifacts/<test>/``.
"""

from __future__ import annotations

import re
import shutil

from playwright.sync_api import Page, expect

from gereedschapskist.hub.limits import machine_capacity
from gereedschapskist.portal.main import create_app
from tests.e2e.test_workspace_lifecycle import RUNNING, log_in
from tests.portal.support import PortalServer
from tests.portal.test_workspaces_hub import stack_settings

XLARGE = "  - id: xlarge\n    cpu: 8\n    memory: 64Gi\n"


def catalogue_with_xlarge(hub_stack, tmp_path):
    folder = tmp_path / "portal-catalogue"
    shutil.copytree(hub_stack.catalogue_dir, folder)
    cowsay = folder / "bundles" / "bi" / "tiny-cowsay.yaml"
    text = cowsay.read_text()
    cowsay.write_text(text.replace("licence:", XLARGE + "licence:", 1))
    return folder


def test_sizes_that_do_not_fit_live_usage_and_advice(browser_page: Page, shots, database, tmp_path, hub_stack,
                                                      demo_accounts):
    page = browser_page
    capacity = machine_capacity()
    assert capacity.cpu < 8 or capacity.memory_bytes < 64 * 2**30, "this machine holds xlarge: nothing to show"
    settings = stack_settings(database, tmp_path, hub_stack).model_copy(
        update={"catalogue_dir": catalogue_with_xlarge(hub_stack, tmp_path)})
    with PortalServer(create_app(settings), hub_stack.ports.portal) as portal, shots.on_failure(page):
        log_in(page, portal, hub_stack.provider.issuer, demo_accounts["anna"], "/catalogue/tiny-cowsay")

        # the size larger than the machine is there, not available, and says why; the others can start
        xlarge = page.locator('#size option[value="xlarge"]')
        expect(xlarge).to_be_disabled()
        expect(xlarge).to_contain_text("niet beschikbaar hier: vraagt 8 CPU, 64.0 GiB, deze machine heeft "
                                       f"{capacity.describe()}")
        expect(page.locator('#size option[value="small"]')).to_be_enabled()
        expect(page.locator('#size-list li[data-size="xlarge"]')).to_have_attribute("data-available", "false")
        page.locator("#size-list").scroll_into_view_if_needed()
        shots(page, "bundle-page-sizes")

        page.get_by_label("Formaat").select_option("small")
        page.get_by_role("button", name="Start werkplek").click()
        page.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/\d+$"), timeout=60_000)
        workspace_url = page.url
        expect(page.locator("#status")).to_have_text("actief", timeout=RUNNING)

        # live figures against the size (the page reloads itself once the workspace runs), refreshing by itself
        section = page.locator("#usage")
        expect(section).to_have_attribute("data-running", "true", timeout=30_000)
        expect(page.locator("#sizes-enforced, #sizes-not-enforced")).to_have_count(1)
        expect(page.locator("#usage-memory")).to_have_text(re.compile(r"^\d+\.\d GiB$"))
        expect(page.locator("#usage-cpu")).to_have_text(re.compile(r"^\d+\.\d\d CPU$"))
        expect(page.locator("#usage-uptime")).to_have_text(re.compile(r"^0:0\d:\d\d$"))
        expect(page.locator("#usage-idle")).to_have_text(re.compile(r"^\d+:\d\d:\d\d$"))
        first = section.get_attribute("data-refreshed")
        expect(section).not_to_have_attribute("data-refreshed", first or "", timeout=15_000)   # it refreshes
        section.scroll_into_view_if_needed()
        shots(page, "workspace-live-usage")

        # stopped: the peaks of the run and the advice stay
        page.get_by_role("link", name="Stop werkplek").click()
        page.get_by_role("button", name="Ja, stop de werkplek").click()
        page.wait_for_url(workspace_url)
        expect(page.locator("#status")).to_have_text("gestopt", timeout=60_000)
        page.reload()
        expect(page.locator("#usage-peaks")).to_be_visible()
        expect(page.locator("#usage-memory-peak")).to_have_text(re.compile(r"^\d+\.\d GiB$"))
        advice = page.locator("#advice")
        expect(advice).to_have_attribute("data-advice", re.compile("^(fits|larger|smaller)$"))
        expect(advice).to_contain_text("Advies over het formaat")
        expect(advice).to_contain_text("klein")
        advice.scroll_into_view_if_needed()
        shots(page, "workspace-stopped-advice")

        page.goto(f"{portal.url}/language/en")
        page.goto(workspace_url)
        expect(page.locator("#advice")).to_contain_text("Right-sizing advice")
        page.locator("#advice").scroll_into_view_if_needed()
        shots(page, "workspace-stopped-advice-en")
