"""Who grants workbench roles, and workspace handover (issue 12, item 10), in a real browser:

- dana, organisation admin of minfin without a workbench role, reads on her home page the real next step (not
  "ask your organisation admin": she is that admin), follows it to the roles page and grants anna the role ml
  until a date, with a reason; a second, wrong grant shows the problem on the page;
- anna sees the granted role on her home page and starts a bundle of that role: the real hub accepts it (the portal
  passes the grant with the launch), after the hub's single sign-on;
- dana tries to hand anna's workspaces over while one runs (refused, saying why), anna stops it, dana hands over
  to a colleague: the hub moves anna's home folder into the colleague's home, the colleague sees the workspace,
  anna's session has ended and her next login is refused for minfin — until dana re-admits her.

Real parts: the development OIDC provider and JupyterHub from the shared fixtures (fresh accounts with anna's
groups, so the shared hub's demo users are left alone), the portal served by uvicorn, Debian's Chromium.
Screenshots: tests/e2e/artifacts/test_roles_handover/.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select

from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import RegisterEntry
from tests.e2e.conftest import Screenshots, fixed_shots, log_in
from tests.portal.support import PortalServer
from tests.portal.test_workspaces_hub import stack_settings


@pytest.fixture
def shots() -> Screenshots:
    """One folder for the whole walk (the README links these)."""
    return fixed_shots("test_roles_handover")


def _login(browser: Browser, portal: PortalServer, hub_stack, account, next_path: str = "/") -> Page:
    return log_in(browser, portal.url, hub_stack.provider.issuer, account, next_path)


def _named(accounts_file: Path, account, name: str):
    """The fresh account under a name of its own (the provider reads the file again when it changes)."""
    data = json.loads(accounts_file.read_text(encoding="utf-8"))
    next(a for a in data["accounts"] if a["username"] == account.username)["name"] = name
    before = accounts_file.stat().st_mtime
    accounts_file.write_text(json.dumps(data), encoding="utf-8")
    os.utime(accounts_file, (before + 2, before + 2))
    return load_accounts(accounts_file)[account.username]


def test_roles_and_handover_as_organisation_admin_and_data_scientist(chromium: Browser, shots, database,
                                                                     tmp_path: Path, hub_stack, demo_accounts,
                                                                     new_account, accounts_file):
    app = create_app(stack_settings(database, tmp_path, hub_stack))
    anna_account = new_account("anna")
    colleague_account = _named(accounts_file, new_account("anna"), "Carla Jansen")   # anna's groups, her own name
    homes = hub_stack.state_dir / "users"
    with PortalServer(app, hub_stack.ports.portal) as portal:
        anna = _login(chromium, portal, hub_stack, anna_account)
        colleague = _login(chromium, portal, hub_stack, colleague_account)
        dana = _login(chromium, portal, hub_stack, demo_accounts["dana"])

        # 1. dana has no workbench role: her home page names the real next step, and where she grants roles
        with shots.on_failure(dana):
            advice = dana.locator("#role-advice")
            expect(advice).to_contain_text("U beheert minfin, maar uzelf geeft u geen rol")
            expect(advice).not_to_contain_text("Vraag uw organisatiebeheerder")
            shots(dana, "dana-home-advice")
            expect(advice.get_by_role("link", name="Rollen toekennen en werkplekken overdragen")).to_have_attribute(
                "href", "/organisations/minfin/roles")
            dana.get_by_role("navigation").get_by_role("link", name="Organisatie minfin").click()   # or from here
            dana.wait_for_url(f"{portal.url}/organisations/minfin")
            dana.locator("#roles-link").click()
            dana.wait_for_url(f"{portal.url}/organisations/minfin/roles")
            expect(dana.get_by_role("heading", level=1)).to_have_text("Rollen en overdracht — minfin")
            shots(dana, "dana-roles-page")

            # 2. a grant that cannot be: anna already has bi from the identity provider
            dana.get_by_label("Lid", exact=True).select_option(anna_account.username)
            dana.get_by_label("Rol", exact=True).select_option("bi")
            dana.get_by_label("Reden").fill("Dashboard voor de begroting")
            dana.get_by_role("button", name="Rol toekennen").click()
            expect(dana.locator("#problem")).to_contain_text("Heeft deze rol al")
            expect(dana.get_by_label("Reden")).to_have_value("Dashboard voor de begroting")     # nothing typed lost
            shots(dana, "dana-grant-refused")

            # 3. the grant: ml, until a date, with a reason
            until = (date.today() + timedelta(days=60)).isoformat()
            dana.get_by_label("Lid", exact=True).select_option(anna_account.username)
            dana.get_by_label("Rol", exact=True).select_option("ml")
            dana.get_by_label("Tot en met").fill(until)
            dana.get_by_label("Reden").fill("Fraudemodel voor toeslagen, Q1")
            dana.get_by_role("button", name="Rol toekennen").click()
            expect(dana.locator("#done")).to_contain_text("De rol is toegekend")
            row = dana.locator(f'tr[data-member="{anna_account.username}"]')
            expect(row).to_contain_text(f"tot en met {until}, door Dana Visser: Fraudemodel voor toeslagen, Q1")
            shots(dana, "dana-granted")

        # 4. anna sees the role and starts a bundle of it; the real hub accepts the portal's grant
        with shots.on_failure(anna):
            anna.goto(f"{portal.url}/")
            expect(anna.get_by_role("heading", name="Uw rollen")).to_be_visible()
            expect(anna.locator("ul.tags")).to_contain_text(f"toegekend tot en met {until}")
            shots(anna, "anna-home-granted-role")
            anna.goto(f"{portal.url}/catalogue/tiny-ml")
            anna.get_by_role("button", name="Start werkplek").click()
            anna.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/\d+$"), timeout=120_000)
            expect(anna.locator("#status")).to_have_text("actief", timeout=600_000)
            shots(anna, "anna-granted-bundle-running")
            workspace_page = anna.url

        # 5. dana cannot hand over while it runs
        with shots.on_failure(dana):
            dana.goto(f"{portal.url}/organisations/minfin/roles")
            dana.get_by_label("Vertrekkend lid").select_option(anna_account.username)
            dana.get_by_label("Collega die overneemt").select_option(colleague_account.username)
            dana.get_by_role("button", name="Overdragen en lidmaatschap beëindigen").click()
            expect(dana.locator("#problem")).to_contain_text("Er draaien nog werkplekken")
            shots(dana, "dana-handover-refused-running")

        # 6. anna stops it (her home folder stays: a README of the bundle's first start is there)
        with shots.on_failure(anna):
            try:
                anna.goto(workspace_page)
            except PlaywrightError as interrupted:    # the page may reload itself once it sees the workspace run
                assert "interrupted by another navigation" in str(interrupted), interrupted
                anna.goto(workspace_page)
            anna.get_by_role("link", name="Stop werkplek").click()
            anna.get_by_role("button", name="Ja, stop de werkplek").click()
            anna.wait_for_url(workspace_page)
            expect(anna.locator("#status")).to_have_text("gestopt", timeout=120_000)
        assert (homes / anna_account.username / "tiny-ml" / "README.md").is_file()

        # 7. the handover: the hub moves the home folder, the colleague gets the workspace, anna's access ends
        with shots.on_failure(dana):
            dana.goto(f"{portal.url}/organisations/minfin/roles")
            dana.get_by_label("Vertrekkend lid").select_option(anna_account.username)
            dana.get_by_label("Collega die overneemt").select_option(colleague_account.username)
            dana.get_by_role("button", name="Overdragen en lidmaatschap beëindigen").click()
            expect(dana.locator("#done")).to_contain_text(f"De overdracht van {anna_account.username} is gedaan")
            folder = f"overgedragen-van-{anna_account.username}-{date.today().isoformat()}"
            expect(dana.locator("#done")).to_contain_text(folder)
            expect(dana.locator(f'tr[data-former="{anna_account.username}"]')).to_be_visible()
            expect(dana.locator(f'tr[data-member="{anna_account.username}"]')).to_have_count(0)
            shots(dana, "dana-handed-over")
        assert (homes / colleague_account.username / folder / "tiny-ml" / "README.md").is_file()
        assert not (homes / anna_account.username).exists()

        with shots.on_failure(colleague):
            colleague.goto(f"{portal.url}/workspaces")
            history = colleague.locator("details", has_text="ML-testbundel")
            history.locator("summary").click()
            expect(history).to_contain_text("gestopt")
            shots(colleague, "colleague-has-the-workspace")

        # 8. anna's session has ended; logging in again (the provider still sends org:minfin) is refused
        with shots.on_failure(anna):
            anna.goto(f"{portal.url}/workspaces")
            anna.wait_for_url(re.compile(r"/login|/auth/callback|" + re.escape(hub_stack.provider.issuer)))
            anna.wait_for_load_state()
            if anna.locator("#username").count():
                anna.fill("#username", anna_account.username)
                anna.fill("#password", anna_account.password)
                anna.get_by_role("button", name="Inloggen / Log in").click()
            expect(anna.locator("main")).to_contain_text("Uw lidmaatschap is beëindigd", timeout=60_000)
            shots(anna, "anna-login-refused")

        # 9. dana re-admits her; anna's next login makes her a member again
        with shots.on_failure(dana):
            dana.locator(f'tr[data-former="{anna_account.username}"]').get_by_role("button",
                                                                                   name="Weer toelaten").click()
            expect(dana.locator("#done")).to_contain_text("wordt bij de volgende keer inloggen weer lid")
            shots(dana, "dana-readmitted")
        with shots.on_failure(anna):
            anna.goto(f"{portal.url}/login?next=/")
            anna.wait_for_url(f"{portal.url}/")
            expect(anna.locator("main")).to_contain_text("minfin")
            shots(anna, "anna-back")

        with app.state.portal.sessions() as session:        # every step is in the register, in order
            actions = [e.action.value for e in session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence))]
        steps = ["role-granted", "workspace-launched", "workspace-stopped", "workspace-handed-over", "role-revoked",
                 "member-handed-over", "member-readmitted"]
        assert [a for a in actions if a in steps] == steps, actions
