"""A new user's first day, in a real browser: log in through the OIDC provider, pick a bundle of their
role, launch it — the first launch passes the hub's single sign-on (no second password) and comes back to the
portal, which starts the workspace — watch the live progress, land in JupyterLab, run a cell, stop the workspace.

Real parts only: the development OIDC provider and JupyterHub (local backend) from the shared fixtures,
the portal served by uvicorn, Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.settings import PortalSettings
from tests.devclient import end_servers_started_ahead
from tests.portal.support import PortalServer

# What the progress box shows, message by message, kept across the page's own reload (static/usage.js reloads a
# workspace page whose start it showed once the workspace runs, with ?ready=1: then there is no progress box)
RECORD_PROGRESS = """
window.__progress = JSON.parse(sessionStorage.getItem('__progress') || '[]');
new MutationObserver(() => {
  const el = document.getElementById('progress-message');
  const bar = document.getElementById('progress');
  if (el && el.textContent && bar) {
    window.__progress.push([bar.value, el.textContent]);
    sessionStorage.setItem('__progress', JSON.stringify(window.__progress));
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


# The text colour of an element and the first opaque background behind it, as [r, g, b] lists.
COLOURS = """
(el) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const text = rgb(getComputedStyle(el).color);
  for (let node = el; node; node = node.parentElement) {
    const bg = rgb(getComputedStyle(node).backgroundColor);
    if (bg.length === 3 || (bg.length === 4 && bg[3] > 0)) return [text.slice(0, 3), bg.slice(0, 3)];
  }
  return [text.slice(0, 3), [255, 255, 255]];
}
"""


def contrast_ratio(text: list[float], background: list[float]) -> float:
    """WCAG 2's contrast ratio of two sRGB colours (1 to 21)."""
    def luminance(rgb: list[float]) -> float:
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    light, dark = sorted((luminance(text), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_ratio_follows_wcag():
    assert round(contrast_ratio([255, 255, 255], [255, 255, 255]), 2) == 1.0
    assert round(contrast_ratio([0, 0, 0], [255, 255, 255]), 1) == 21.0
    assert 9 < contrast_ratio([0x15, 0x42, 0x73], [255, 255, 255]) < 11   # the accent blue on white


def _box(page: Page) -> list:
    """[reloaded with ?ready=1, the progress bar's value (None when there is none), the progress messages seen], read
    in one go: the page reloads itself once the workspace is ready, which may happen between two separate reads (a
    read of the bar then waited for a bar the reloaded page no longer has)."""
    for _ in range(5):
        try:
            return page.evaluate("() => [location.search.includes('ready=1'), "
                                 "document.querySelector('#progress') ? document.querySelector('#progress').value "
                                 ": null, window.__progress]")
        except PlaywrightError:                         # reloading at that moment: read the reloaded page
            page.wait_for_load_state()
    raise AssertionError("the workspace page kept reloading")


def test_new_user_launches_a_bundle_and_runs_a_cell(browser_page: Page, shots, database, tmp_path, hub_stack,
                                                   new_account):
    page = browser_page
    started = time.monotonic()
    settings = PortalSettings(
        database_url=database.url, state_dir=tmp_path, session_secret="e" * 40,
        public_url=f"http://127.0.0.1:{hub_stack.ports.portal}", oidc_issuer=hub_stack.provider.issuer,
        oidc_client_id="portal", oidc_client_secret=hub_stack.secrets.portal_client_secret,
        organisations="cbs minfin",
        hub_url=hub_stack.url, hub_api_token=hub_stack.portal_api_token, catalogue_dir=hub_stack.catalogue_dir,
        reconcile_interval_seconds=0)
    account = new_account("anna")              # anna's groups (role bi, organisation minfin); never at the hub before
    with PortalServer(create_app(settings), hub_stack.ports.portal) as portal, shots.on_failure(page):
        page.add_init_script(RECORD_PROGRESS)

        # 1. the start page, in Dutch
        page.goto(f"{portal.url}/")
        expect(page.get_by_role("heading", level=1)).to_have_text("Welkom bij de Gereedschapskist")
        shots(page, "start")
        login_button = page.locator("header.site").get_by_role("link", name="Inloggen")
        expect(login_button).to_be_visible()
        ratio = contrast_ratio(*page.evaluate(COLOURS, login_button.element_handle()))
        assert ratio >= 4.5, f"the header's login button has a contrast of {ratio:.2f}:1 (WCAG AA needs 4.5:1)"

        # 2. log in through the OIDC provider's form
        page.get_by_role("link", name="Inloggen").first.click()
        page.wait_for_url(re.compile(re.escape(hub_stack.provider.issuer)))
        page.fill("#username", account.username)
        page.fill("#password", account.password)
        shots(page, "provider-login")
        page.get_by_role("button", name="Inloggen / Log in").click()
        page.wait_for_url(f"{portal.url}/")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Hallo {account.name}")
        shots(page, "logged-in")

        # 3. the catalogue shows the bundles of anna's role (bi), not the ml one
        page.get_by_role("navigation").get_by_role("link", name="Catalogus").click()
        expect(page.get_by_role("heading", name="Voor de rol", exact=False)).to_be_visible()
        expect(page.locator('a[href="/catalogue/tiny-cowsay"]')).to_be_visible()
        expect(page.locator('a[href="/catalogue/tiny-ml"]')).to_have_count(0)
        shots(page, "catalogue")

        # 4. pick the bundle, see its packages, choose a size and launch
        page.locator('a[href="/catalogue/tiny-cowsay"]').click()
        expect(page.get_by_role("cell", name="cowsay")).to_be_visible()
        page.get_by_label("Formaat").select_option("small")
        shots(page, "bundle")

        # 5. anna has never been at the hub: the launch takes her through the hub's single sign-on (the provider
        #    knows her from the portal's login: no form) and back to the portal, which starts the workspace
        visited: list[str] = []
        page.on("request", lambda request: visited.append(request.url) if request.is_navigation_request() else None)
        held: list = []     # hold the resume page's script for a moment, to see the page it submits
        page.route("**/static/resume.js", lambda route: held.append(route))
        end_servers_started_ahead(hub_stack.state_dir)  # a new process: the user sees each step of its start
        page.get_by_role("button", name="Start werkplek").click()
        page.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/resume\?launch=[\w-]+$"),
                          wait_until="commit")
        expect(page.get_by_role("heading", level=1)).to_have_text("Uw werkplek wordt gestart")
        expect(page.locator("#resume-form input[name=bundle]")).to_have_value("tiny-cowsay")
        expect(page.locator("#resume-form input[name=size]")).to_have_value("small")
        shots(page, "hub-sso-resume")
        assert held, "the resume page did not ask for its script"
        held[0].continue_()
        page.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/\d+$"))
        page.unroute("**/static/resume.js")
        hub_hops = [url for url in visited if url.startswith(hub_stack.url)]
        assert any("/hub/oauth_login" in url for url in hub_hops), visited
        assert any("/hub/oauth_callback" in url for url in hub_hops), visited
        shots(page, "progress")

        # 6. live progress until the workspace is ready
        open_link = page.get_by_role("link", name="Open werkplek")
        expect(page.locator("#status")).to_have_text("actief", timeout=600_000)
        expect(open_link).to_be_visible()
        expect(page.locator("#progress-message")).to_have_text("Uw werkplek is klaar.")   # reloaded or not
        reloaded, bar, seen = _box(page)                # seen: what the user saw, message by message
        if not reloaded:                                # not reloaded yet: the box ends at 100 %
            assert bar == 100
            assert seen[-1] == [100, "Uw werkplek is klaar."], seen
        assert any(text.startswith("Starting Test bundle with cowsay") for _, text in seen), seen
        assert len({text for _, text in seen}) >= 3, seen
        shots(page, "ready")
        workspace_page = page.url.split("?")[0]         # /workspaces/<id>, with ?ready=1 once reloaded

        # 7. open it: through the hub's login (single sign-on, no second password) into JupyterLab
        open_link.click()
        page.wait_for_url(re.compile(rf"/user/{account.username}/tiny-cowsay-[0-9a-f]+/lab"), timeout=120_000)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
        # JupyterLab restores anna's last layout (her home folder outlives the server); start from the Launcher
        page.goto(re.sub(r"/lab.*$", "/lab?reset", page.url))
        launcher_card = page.locator(".jp-LauncherCard[data-category='Notebook']").first
        expect(launcher_card).to_be_visible(timeout=120_000)
        shots(page, "jupyterlab")

        # 8. run a cell that imports the bundle's own package
        launcher_card.click()
        expect(page.locator(".jp-StatusBar-TextItem", has_text="Idle").first).to_be_visible(timeout=120_000)
        editor = page.locator(".jp-Notebook .jp-Cell").first.locator(".cm-content")
        code = 'import cowsay; print(cowsay.get_output_string("cow", "Gereedschapskist"))'
        editor.click()
        editor.fill(code)
        expect(editor).to_have_text(code)
        page.keyboard.press("Shift+Enter")
        output = page.locator(".jp-OutputArea-output").first
        expect(output).to_contain_text("Gereedschapskist", timeout=120_000)
        expect(output).to_contain_text("^__^")
        shots(page, "cell")

        # 9. back in the portal: stop the workspace
        page.goto(workspace_page)
        page.get_by_role("link", name="Stop werkplek").click()      # first a confirmation (issue 12)
        expect(page.get_by_role("heading", level=1)).to_have_text("Werkplek stoppen?")
        page.get_by_role("button", name="Ja, stop de werkplek").click()
        page.wait_for_url(workspace_page)                # the stop answers with the page itself, no ?ready
        expect(page.locator("#status")).to_have_text(re.compile("gestopt|wordt gestopt"))
        page.goto(f"{portal.url}/workspaces")
        expect(page.locator(".status").first).to_have_text("gestopt", timeout=60_000)
        shots(page, "stopped")

    with hub_api(hub_stack.hub, hub_stack.portal_api_token) as hub:
        servers = hub.get(f"/users/{account.username}").json()["servers"]
        assert not any(name.startswith("tiny-cowsay-") for name in servers), servers
    assert len(shots.taken) == 11 and all(p.stat().st_size > 1000 for p in shots.taken)
    print(f"\nbrowser journey took {time.monotonic() - started:.1f} s; screenshots in {shots.folder}")
