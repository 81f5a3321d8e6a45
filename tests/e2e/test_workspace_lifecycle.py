"""The workspace lifecycle in Chromium against the real hub (issue 12): anna launches, names, stops (after a
confirmation), restarts the same named server, and deletes (after ticking the box); dana (organisation admin of
minfin) stops anna's workspace with a reason, which anna's page then shows; femke (platform admin) sees it; bram
(another organisation) is refused. Then the hub goes off the network and comes back: the page says so in words a
user understands, and recovers by itself. Screenshots in ``tests/e2e/artifacts/<test>/``."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from gereedschapskist.dev.processes import free_port
from gereedschapskist.portal.main import create_app
from gereedschapskist.dev.devstack import hub_api
from tests.portal.support import PortalServer, TcpRelay
from tests.portal.test_workspaces_hub import stack_settings

RUNNING = 240_000      # ms: a first start may build the bundle's environment


def log_in(page: Page, portal: PortalServer, issuer: str, account, path: str) -> None:
    page.goto(f"{portal.url}/login?next={path}")
    page.wait_for_url(re.compile(re.escape(issuer)))
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.get_by_role("button", name="Inloggen / Log in").click()
    page.wait_for_url(re.compile(re.escape(portal.url)))


def hub_server(hub_stack, username: str, server: str) -> dict | None:
    with hub_api(hub_stack.hub, hub_stack.portal_api_token) as hub:
        servers = hub.get(f"/users/{username}", params={"include_stopped_servers": "1"}).json()["servers"]
    return servers.get(server)


def test_lifecycle_as_owner_admins_and_another_organisation(chromium: Browser, browser_page: Page, shots, database,
                                                             tmp_path, hub_stack, demo_accounts):
    page = browser_page
    issuer = hub_stack.provider.issuer
    with PortalServer(create_app(stack_settings(database, tmp_path, hub_stack)), hub_stack.ports.portal) as portal, \
            shots.on_failure(page):
        # anna launches tiny-cowsay (through the hub's single sign-on the first time)
        log_in(page, portal, issuer, demo_accounts["anna"], "/catalogue/tiny-cowsay")
        page.get_by_label("Formaat").select_option("small")
        page.get_by_role("button", name="Start werkplek").click()
        page.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/\d+$"), timeout=60_000)
        workspace_url = page.url
        workspace_id = int(workspace_url.rsplit("/", 1)[1])
        expect(page.locator("#status")).to_have_text("actief", timeout=RUNNING)
        with portal.app.state.portal.sessions() as session:
            from gereedschapskist.portal.models import Workspace
            server = session.get(Workspace, workspace_id).server_name

        # a name of her own
        page.fill("#name", "Kwartaalcijfers")
        page.get_by_role("button", name="Naam opslaan").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Werkplek Kwartaalcijfers")
        shots(page, "anna-running-named")

        # stop: first the confirmation page, then stopped; the hub keeps the named server (stopped)
        page.get_by_role("link", name="Stop werkplek").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Werkplek stoppen?")
        expect(page.locator("#reason")).to_have_count(0)
        shots(page, "anna-confirm-stop")
        page.get_by_role("button", name="Ja, stop de werkplek").click()
        page.wait_for_url(workspace_url)
        expect(page.locator("#status")).to_have_text("gestopt", timeout=60_000)
        kept = hub_server(hub_stack, "anna", server)
        assert kept is not None and not kept["ready"], kept
        shots(page, "anna-stopped")

        # restart: the same named server at the hub runs again
        page.get_by_role("button", name="Opnieuw starten").click()
        expect(page.locator("#status")).to_have_text("actief", timeout=RUNNING)
        assert (hub_server(hub_stack, "anna", server) or {}).get("ready") is True
        shots(page, "anna-restarted")

        # dana (organisation admin of minfin) stops it, giving a reason
        dana_context = chromium.new_context(locale="nl-NL")
        dana = dana_context.new_page()
        log_in(dana, portal, issuer, demo_accounts["dana"], f"/workspaces/{workspace_id}")
        expect(dana.get_by_role("heading", level=1)).to_have_text("Werkplek Kwartaalcijfers")
        expect(dana.locator("#restart")).to_have_count(0)
        dana.get_by_role("link", name="Stop werkplek").click()
        expect(dana.locator("#reason")).to_be_visible()
        dana.get_by_role("button", name="Ja, stop de werkplek").click()      # empty: the browser asks for it
        expect(dana).to_have_url(re.compile(r"/stop$"))
        dana.fill("#reason", "Onderhoud aan de hub vanavond")
        shots(dana, "dana-confirm-stop-with-reason")
        dana.get_by_role("button", name="Ja, stop de werkplek").click()
        expect(dana.locator("#status")).to_have_text("gestopt", timeout=60_000)
        dana_context.close()

        # anna reads who stopped it and why
        page.goto(workspace_url)
        notice = page.locator("#stopped-by")
        expect(notice).to_contain_text("heeft deze werkplek gestopt op")
        expect(notice).to_contain_text("organisatiebeheerder")
        expect(notice).to_contain_text("Reden: Onderhoud aan de hub vanavond")
        shots(page, "anna-reads-who-stopped")

        # femke (platform admin) sees the workspace and who stopped it; no restart or delete (not hers)
        femke_context = chromium.new_context(locale="nl-NL")
        femke = femke_context.new_page()
        log_in(femke, portal, issuer, demo_accounts["femke"], f"/workspaces/{workspace_id}")
        expect(femke.locator("#stopped-by")).to_be_visible()
        expect(femke.locator("#restart")).to_have_count(0)
        expect(femke.locator("#delete")).to_have_count(0)
        shots(femke, "femke-sees-it")
        femke_context.close()

        # bram (cbs) may not see it, nor its stop or delete confirmation
        bram_context = chromium.new_context(locale="nl-NL")
        bram = bram_context.new_page()
        log_in(bram, portal, issuer, demo_accounts["bram"], f"/workspaces/{workspace_id}")
        expect(bram.get_by_role("heading", level=1)).to_have_text("Dit is niet uw werkplek")
        shots(bram, "bram-refused")
        for action in ("stop", "delete"):
            response = bram.goto(f"{portal.url}/workspaces/{workspace_id}/{action}")
            assert response is not None and response.status == 403
        bram_context.close()

        # my workspaces: nothing running, the stopped one under History; delete it after ticking the box
        page.goto(f"{portal.url}/workspaces")
        history = page.locator("details.history")
        expect(history).to_have_count(1)
        history.locator("summary").click()
        shots(page, "anna-history")
        history.get_by_role("link", name=re.compile("^Verwijderen")).first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Werkplek verwijderen?")
        page.get_by_role("button", name="Verwijder de werkplek").click()      # not ticked: the browser stops it
        expect(page).to_have_url(re.compile(r"/delete$"))
        page.get_by_label(re.compile("Ik begrijp dat")).check()
        shots(page, "anna-confirm-delete")
        page.get_by_role("button", name="Verwijder de werkplek").click()
        page.wait_for_url(f"{portal.url}/workspaces")
        expect(page.locator(f'tr[data-workspace="{workspace_id}"]')).to_have_count(0)
        assert hub_server(hub_stack, "anna", server) is None
        shots(page, "anna-deleted")
    assert all(p.stat().st_size > 1000 for p in shots.taken)


def test_the_pages_say_the_hub_may_be_restarting_and_recover_by_themselves(browser_page: Page, shots, database,
                                                                            tmp_path, hub_stack, demo_accounts):
    """The hub goes off the network (a relay closes) and comes back; the portal is not restarted, and the page
    reloads itself (every 15 s, no JavaScript needed) until the notice is gone."""
    page = browser_page
    relay = TcpRelay(int(hub_stack.url.rsplit(":", 1)[1]), free_port()).up()
    settings = stack_settings(database, tmp_path, hub_stack, hub_url=f"http://127.0.0.1:{relay.port}")
    try:
        with PortalServer(create_app(settings), hub_stack.ports.portal) as portal, shots.on_failure(page):
            log_in(page, portal, hub_stack.provider.issuer, demo_accounts["anna"], "/workspaces")
            expect(page.locator("#hub-down")).to_have_count(0)
            relay.down()
            page.goto(f"{portal.url}/workspaces")
            notice = page.locator("#hub-down")
            expect(notice).to_contain_text("Werkplekken zijn op dit moment niet beschikbaar")
            expect(notice).to_contain_text("misschien wordt hij net opnieuw gestart")
            expect(notice).to_contain_text("Uw werkplekken en hun bestanden blijven bewaard")
            assert "/hub/api" not in page.content()
            shots(page, "hub-down-nl")
            page.goto(f"{portal.url}/language/en?next=/workspaces")
            expect(page.locator("#hub-down")).to_contain_text("it may be restarting")
            shots(page, "hub-down-en")
            relay.up()
            expect(page.locator("#hub-down")).to_have_count(0, timeout=30_000)    # the page's own reload
            shots(page, "hub-back-en")
    finally:
        relay.down()
