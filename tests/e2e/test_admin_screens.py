"""The admin screens in a real browser, walked as three people (issue 12):

- femke, platform admin: the header's Beheer link, organisations with their members, environments with the real
  hub's health (and a second environment whose hub is down), usage with its plot, the register with a filter and a
  CSV export (downloaded, then found in the register itself), and /hub/admin sending her here;
- dana, organisation admin of minfin: from her organisation page to minfin's usage and register only; the
  platform admin's pages refuse her;
- anna, data scientist: no admin link, and /admin refuses her.

Real parts: the development OIDC provider and JupyterHub from the shared fixtures, the portal served by uvicorn,
Debian's Chromium. Workspace hours and register entries of other members are written to the database first (the
register through its real service), so the screens have a few weeks of history to show. Screenshots go to
tests/e2e/artifacts/test_admin_screens/ (the README uses them).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import (
    Environment, EnvironmentKind, EnvironmentStage, Organisation, RegisterAction, User, Workspace, WorkspaceStatus,
)
from gereedschapskist.portal.services.environments import register_environment
from gereedschapskist.portal.services.register import append, record
from tests.e2e.conftest import Screenshots, fixed_shots, log_in
from tests.portal.conftest import closed_port
from tests.portal.support import PortalServer, make_user
from tests.portal.test_workspaces_hub import stack_settings

BUNDLES = ("tiny-cowsay", "tiny-fresh", "tiny-ml")


@pytest.fixture
def shots() -> Screenshots:
    """One folder for the whole walk (the README links these)."""
    return fixed_shots("test_admin_screens")


def _history(app, environment_name: str) -> None:
    """Three weeks of workspaces of members of minfin and cbs (not the demo accounts: they log in for real below),
    with their register entries, and a cbs environment whose hub does not answer."""
    state = app.state.portal
    people = {"joost": "minfin", "lotte": "minfin", "karin": "cbs", "ruben": "cbs"}
    for username, org in people.items():
        make_user(state.sessions, username=username, groups=[f"org:{org}", "role:bi", "role:ml"],
                  issuer="http://127.0.0.1:1/history", name=username.title() + " de Vries")
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    with state.sessions() as session:
        shared = session.scalar(select(Environment).where(Environment.name == environment_name))
        cbs = session.scalar(select(Organisation).where(Organisation.slug == "cbs"))
        register_environment(session, name="cbs-cloud", kind=EnvironmentKind.CLOUD,
                             stage=EnvironmentStage.PRODUCTION, hub_url="https://werkplek.cbs.example",
                             hub_api_url=f"http://127.0.0.1:{closed_port()}/hub/api", organisation=cbs)
        users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(list(people))))}
        orgs = {o.slug: o for o in session.scalars(select(Organisation))}
        count = 0
        for day in range(20, 0, -1):
            for index, (username, org) in enumerate(people.items()):
                if (day + index) % 3 == 0:
                    continue
                start = now - timedelta(days=day, hours=index * 2 + 1)
                hours = 1 + (day * 7 + index * 3) % 6
                count += 1
                workspace = Workspace(user=users[username], organisation=orgs[org], environment=shared,
                                      server_name=f"history-{count}", bundle_id=BUNDLES[(day + index) % 3],
                                      bundle_version="1.0.0", size_id="small", interface="jupyterlab",
                                      status=WorkspaceStatus.STOPPED, created_at=start, started_at=start,
                                      stopped_at=start + timedelta(hours=hours), updated_at=start + timedelta(hours=hours))
                session.add(workspace)
                session.flush()
                record(session, action=RegisterAction.WORKSPACE_LAUNCHED, workspace=workspace, actor=users[username],
                       purpose="analyse van de begroting" if org == "minfin" else None)
                record(session, action=RegisterAction.WORKSPACE_STOPPED, workspace=workspace, actor=users[username])
        # two running now
        for username in ("lotte", "karin"):
            count += 1
            session.add(Workspace(user=users[username], organisation=orgs[people[username]], environment=shared,
                                  server_name=f"history-{count}", bundle_id="tiny-cowsay", bundle_version="1.0.0",
                                  size_id="small", interface="jupyterlab", status=WorkspaceStatus.RUNNING,
                                  started_at=now - timedelta(hours=3)))
        append(session, action=RegisterAction.WORKSPACE_FAILED, subject="bundle tiny-broken 1.0.0 (small) in shared",
               actor_id=users["ruben"].id, organisation_id=orgs["cbs"].id)
        session.commit()


def _login(browser: Browser, portal: PortalServer, hub_stack, account, next_path: str = "/") -> Page:
    return log_in(browser, portal.url, hub_stack.provider.issuer, account, next_path, accept_downloads=True)


def test_admin_screens_as_platform_admin_organisation_admin_and_data_scientist(chromium: Browser, shots, database,
                                                                               tmp_path: Path, hub_stack,
                                                                               demo_accounts):
    settings = stack_settings(database, tmp_path, hub_stack)
    app = create_app(settings)
    with PortalServer(app, hub_stack.ports.portal) as portal:
        _history(app, settings.environment_name)

        # ---- femke, platform admin
        page = _login(chromium, portal, hub_stack, demo_accounts["femke"], "/")
        with shots.on_failure(page):
            nav = page.get_by_role("navigation", name="Hoofdmenu")
            nav.get_by_role("link", name="Beheer").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Beheer")
            shots(page, "femke-admin-start")

            page.get_by_role("link", name="Organisaties en leden").click()
            minfin = page.locator('section[data-organisation="minfin"]')
            expect(minfin).to_contain_text("Joost de Vries")
            expect(minfin).to_contain_text("Lotte de Vries")
            expect(page.locator('section[data-organisation="cbs"]')).to_contain_text("Karin de Vries")
            expect(minfin).not_to_contain_text("Karin")
            shots(page, "femke-organisations")

            page.goto(f"{portal.url}/admin/environments")
            shared = page.locator(f'tr[data-environment="{settings.environment_name}"]')
            expect(shared).to_have_attribute("data-available", "yes")
            expect(shared.locator("td.health")).to_have_text("antwoordt")
            expect(shared).to_contain_text(re.compile(r"\b\d+\.\d+\.\d+\b"))    # the real hub's version
            expect(shared).to_contain_text(re.compile(r"\d+ ms"))
            down = page.locator('tr[data-environment="cbs-cloud"]')
            expect(down).to_have_attribute("data-available", "no")
            expect(down.locator("td.health")).to_contain_text("antwoordt niet")
            shots(page, "femke-environments")

            page.goto(f"{portal.url}/admin/usage")
            expect(page.locator("#usage-chart")).to_be_visible()
            bars = page.locator("#usage-chart rect.bar")
            expect(bars).to_have_count(30)
            heights = [float(bars.nth(i).get_attribute("height")) for i in range(30)]
            assert sum(1 for h in heights if h > 0) >= 15, heights
            expect(page.locator("#hours-per-organisation tbody tr")).to_have_count(2)
            expect(page.locator("#hours-per-bundle tbody tr")).to_have_count(3)
            expect(page.locator("#running tbody tr")).to_have_count(2)
            shots(page, "femke-usage")

            page.goto(f"{portal.url}/admin/register")
            expect(page.locator("#chain-status")).to_have_attribute("data-chain", "intact")
            expect(page.locator("#register tbody tr")).to_have_count(50)
            shots(page, "femke-register")
            page.select_option("#organisation", "cbs")
            page.select_option("#action", "workspace-failed")
            page.get_by_role("button", name="Filter").click()
            expect(page.locator("#register tbody tr")).to_have_count(1)
            expect(page.locator("#register")).to_contain_text("tiny-broken")
            shots(page, "femke-register-filtered")
            with page.expect_download() as download_info:
                page.get_by_role("button", name="Exporteer als CSV").click()
            download = download_info.value
            assert re.fullmatch(r"register-cbs-\d{8}T\d{6}Z\.csv", download.suggested_filename)
            rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
            assert [(r["actor"], r["organisation"], r["action"]) for r in rows] == [("ruben", "cbs", "workspace-failed")]
            page.goto(f"{portal.url}/admin/register?action=register-exported")
            expect(page.locator("#register tbody tr")).to_have_count(1)
            expect(page.locator("#register tbody tr")).to_contain_text("femke")
            expect(page.locator("#register tbody tr")).to_contain_text("register geëxporteerd")

            # the hub's own admin page sends her here
            page.goto(f"{hub_stack.url}/hub/admin")
            page.wait_for_url(f"{portal.url}/admin")
            expect(page.get_by_role("heading", level=1)).to_have_text("Beheer")
        page.context.close()

        # ---- dana, organisation admin of minfin: a scoped view
        page = _login(chromium, portal, hub_stack, demo_accounts["dana"], "/organisations/minfin")
        with shots.on_failure(page):
            expect(page.locator("header.site").get_by_role("link", name="Beheer")).to_have_count(0)
            page.locator("#organisation-admin-links").get_by_role("link", name="Gebruik").click()
            expect(page.locator("#hours-per-organisation tbody tr")).to_have_count(1)
            expect(page.locator('#hours-per-organisation tr[data-organisation="minfin"]')).to_have_count(1)
            expect(page.locator("#running tbody tr")).to_have_count(1)
            expect(page.locator("#running")).to_contain_text("Lotte")
            shots(page, "dana-usage-minfin")
            page.goto(f"{portal.url}/admin/register")
            expect(page.locator("#register")).not_to_contain_text("cbs")
            expect(page.locator("#register")).to_contain_text("minfin")
            shots(page, "dana-register-minfin")
            page.goto(f"{portal.url}/admin/usage?organisation=cbs")
            expect(page.get_by_role("heading", level=1)).to_have_text("Alleen voor organisatiebeheerders")
            page.goto(f"{portal.url}/admin/organisations")
            expect(page.get_by_role("heading", level=1)).to_have_text("Alleen voor platformbeheerders")
            shots(page, "dana-organisations-refused")
        page.context.close()

        # ---- anna, data scientist: no admin screens
        page = _login(chromium, portal, hub_stack, demo_accounts["anna"], "/")
        with shots.on_failure(page):
            expect(page.locator("header.site").get_by_role("link", name="Beheer")).to_have_count(0)
            response = page.goto(f"{portal.url}/admin")
            assert response.status == 403
            expect(page.get_by_role("heading", level=1)).to_have_text("Alleen voor beheerders")
            assert page.goto(f"{portal.url}/admin/register").status == 403
            shots(page, "anna-refused")
        page.context.close()
