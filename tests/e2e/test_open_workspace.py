"""From "Start" to JupyterLab in a real browser (issue 13): feedback at once, and "Open" straight to the server.

- The click on "Start werkplek" shows at once that the workspace is being started (``static/launch.js``) — while
  the portal still waits for the hub — and a second click starts no second workspace.
- "Open werkplek" sends the browser to the server's own URL: with the hub's session cookie (set by the first
  launch's single sign-on) the server's OAuth with the hub passes without the hub's login or the issuer; without
  that cookie the hub's login comes first — single sign-on at the issuer, no password form — and JupyterLab
  still opens. No token appears in any URL.
- JupyterLab's own files come from the hub's URL of the environment (``hub/lab_static.py``), so the second open
  takes them from the browser's cache.

Real parts only: the shared development OIDC provider and JupyterHub (local backend), the portal under uvicorn,
Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.support import PortalServer


#: Reports (``window.launchShown``) the moment the bundle page shows its "starting" box, with its text and whether
#: the start button says it is busy.
WATCH_LAUNCH = """
new MutationObserver(() => {
  const box = document.getElementById('launch-progress');
  if (box && !box.hidden && !window.__launchShown) {
    window.__launchShown = true;
    const button = document.querySelector('form[data-launch] button[type=submit]');
    window.launchShown({text: box.innerText.trim(), busy: button && button.getAttribute('aria-disabled')});
  }
}).observe(document, {subtree: true, attributes: true, childList: true});
"""


#: JupyterLab's files this page loaded from the hub's per-environment URL (hub/lab_static.py), how many of them
#: came from the browser's cache, and whether its main script is among them.
LAB_FILES = r"""
(() => {
  const files = performance.getEntriesByType('resource').filter(r => r.name.includes('/hub/gereedschapskist/lab-static/'));
  return {from_hub: files.length, cached: files.filter(r => r.transferSize === 0).length,
          main: files.some(r => /\/main\.[0-9a-f]+\.js/.test(r.name))};
})()
"""


def navigations(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.is_navigation_request() and r.frame == page.main_frame
            else None)
    return seen


def test_start_shows_progress_at_once_and_open_goes_straight_to_the_server(browser_page: Page, shots, database,
                                                                          tmp_path, hub_stack, new_account):
    page = browser_page
    settings = PortalSettings(
        database_url=database.url, state_dir=tmp_path, session_secret="o" * 40,
        public_url=f"http://127.0.0.1:{hub_stack.ports.portal}", oidc_issuer=hub_stack.provider.issuer,
        oidc_client_id="portal", oidc_client_secret=hub_stack.secrets.portal_client_secret,
        organisations="cbs minfin", hub_url=hub_stack.url, hub_api_token=hub_stack.portal_api_token,
        catalogue_dir=hub_stack.catalogue_dir, reconcile_interval_seconds=0)
    account = new_account("anna")
    issuer = hub_stack.provider.issuer
    with PortalServer(create_app(settings), hub_stack.ports.portal) as portal, shots.on_failure(page):
        page.goto(f"{portal.url}/")
        page.get_by_role("link", name="Inloggen").first.click()
        page.wait_for_url(re.compile(re.escape(issuer)))
        page.fill("#username", account.username)
        page.fill("#password", account.password)
        page.get_by_role("button", name="Inloggen / Log in").click()
        page.wait_for_url(f"{portal.url}/")

        # 1. "Start": the page says at once that the workspace is being started, while the portal is still busy
        #    (its answer is held here; the page's own script reports what it shows, as the browser is navigating)
        shown: list[dict] = []
        page.expose_binding("launchShown", lambda _source, state: shown.append(state))
        page.add_init_script(WATCH_LAUNCH)
        page.goto(f"{portal.url}/catalogue/tiny-cowsay")
        progress = page.locator("#launch-progress")
        expect(progress).to_be_hidden()
        posts: list[Route] = []
        page.route(f"{portal.url}/workspaces", lambda route: posts.append(route)
                   if route.request.method == "POST" else route.continue_())
        box = page.get_by_role("button", name="Start werkplek").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.click(x, y)
        for _ in range(100):
            if shown and posts:
                break
            page.wait_for_timeout(50)
        assert posts and shown, (posts, shown)
        assert shown[0]["text"].startswith("Uw werkplek wordt gestart…") and shown[0]["busy"] == "true", shown
        page.mouse.click(x, y)                      # impatient: a second click
        page.wait_for_timeout(500)
        assert len(posts) == 1, "a second click sent a second launch"
        posts[0].continue_()
        page.unroute(f"{portal.url}/workspaces")

        # 2. first launch: the hub's single sign-on, back to the portal, live progress until ready
        page.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/\d+$"), timeout=600_000)
        workspace_page = page.url
        open_link = page.get_by_role("link", name="Open werkplek")
        expect(open_link).to_be_visible(timeout=600_000)
        shots(page, "ready")

        # 3. open with the hub's session cookie: straight to the server, no hub login and no issuer on the way
        seen = navigations(page)
        open_link.click()
        page.wait_for_url(re.compile(rf"/user/{account.username}/tiny-cowsay-[0-9a-f]+/lab"), timeout=120_000)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
        shots(page, "jupyterlab-with-hub-session")
        hops = list(seen)
        assert hops[0].endswith("/open") and urlsplit(hops[1]).path.startswith(f"/user/{account.username}/"), hops
        assert any("/hub/api/oauth2/authorize" in url for url in hops), hops     # the server's own OAuth stays
        assert not any("/hub/oauth_login" in url or url.startswith(issuer) for url in hops), hops
        assert not any("token=" in url for url in hops), hops
        assert len(hops) <= 7, hops
        # JupyterLab's own files come from the hub, one URL per environment, for the browser to keep
        files = page.evaluate(LAB_FILES)
        assert files["from_hub"] >= 10 and files["main"], files

        # 4. without the hub's cookies (its session ended): the hub's login first, single sign-on, no password form
        context = page.context
        hub_cookies = {c["name"] for c in context.cookies() if c["name"].startswith("jupyterhub-")}
        assert "jupyterhub-session-id" in hub_cookies and any(n.startswith("jupyterhub-user-") for n in hub_cookies)
        for name in hub_cookies:            # the hub's session and the server's own (path /user/<name>/<server>/)
            context.clear_cookies(name=name)
        assert not [c for c in context.cookies() if c["name"].startswith("jupyterhub-")]
        page.goto(workspace_page)
        seen.clear()
        open_link.click()
        page.wait_for_url(re.compile(rf"/user/{account.username}/tiny-cowsay-[0-9a-f]+/lab"), timeout=120_000)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=120_000)
        shots(page, "jupyterlab-after-hub-login")
        hops = list(seen)
        assert any("/hub/oauth_login" in url for url in hops) and any(url.startswith(issuer) for url in hops), hops
        assert any("/hub/api/oauth2/authorize" in url for url in hops), hops
        assert not any("token=" in url for url in hops), hops
        again = page.evaluate(LAB_FILES)        # the second time JupyterLab's files come from the browser's cache
        assert again["from_hub"] >= 10 and again["cached"] >= again["from_hub"] - 2, again

        # 5. stop it (the hub keeps the stopped server for a restart)
        page.goto(workspace_page)
        page.get_by_role("link", name="Stop werkplek").click()
        page.get_by_role("button", name="Ja, stop de werkplek").click()
        page.wait_for_url(workspace_page)
        expect(page.locator("#status")).to_have_text(re.compile("gestopt|wordt gestopt"))

        # 6. what the "starting" box looks like (a screenshot cannot be taken while the browser navigates: this
        #    time a listener after launch.js's keeps the form from being sent)
        page.goto(f"{portal.url}/catalogue/tiny-cowsay")
        page.evaluate("document.querySelector('form[data-launch]').addEventListener('submit', e => e.preventDefault())")
        page.get_by_role("button", name="Start werkplek").click()
        expect(progress).to_be_visible()
        expect(progress).to_contain_text("Uw werkplek wordt gestart…")
        shots(page, "starting-at-once")
