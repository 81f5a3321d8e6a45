"""Standard contracts in a real browser (issue 14): dana, admin of minfin, orders a contract — the estimate shows per
size, per month and for the period, a budget of 0 is refused with the field marked and nothing stored — then
submits it; femke, platform admin, finds it among all contracts, approves it with a reason, and dana sees it
approved with its history.

Real parts: the development OIDC provider and JupyterHub of the shared fixtures (the demo accounts log in for real),
the portal served by uvicorn with the project's catalogue (the prices of its partners), Debian's Chromium.
Screenshots go to tests/e2e/artifacts/test_contracts/ (the README uses them).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from gereedschapskist.catalogue import load
from gereedschapskist.portal.main import create_app
from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.portal.models import Contract, ContractState, Workspace, WorkspaceSession
from gereedschapskist.portal.services import contracts as contract_service
from tests.e2e.conftest import Screenshots, fixed_shots, log_in
from tests.portal.support import PortalServer
from tests.portal.test_workspaces_hub import stack_settings

CATALOGUE = load()


@pytest.fixture
def shots() -> Screenshots:
    return fixed_shots("test_contracts")


def _login(browser: Browser, portal: PortalServer, hub_stack, account, next_path: str) -> Page:
    return log_in(browser, portal.url, hub_stack.provider.issuer, account, next_path)


def _euros(amount: float) -> str:
    return f"€ {amount:.2f}"


def test_dana_orders_with_an_estimate_and_femke_approves(chromium: Browser, shots, database, tmp_path: Path,
                                                         hub_stack, demo_accounts):
    app = create_app(stack_settings(database, tmp_path, hub_stack), catalogue_model=CATALOGUE)
    start, end = date.today() + timedelta(days=1), date.today() + timedelta(days=90)
    order = {"partner": "aws", "region": "eu-central-1", "stage": "development", "roles": ["bi"],
             "bundles": ["bi-sql-duckdb"], "sizes": ["bi-sql-duckdb/small", "bi-sql-duckdb/large"],
             "expected_users": "4", "hours_per_week": "10", "budget_eur": "5000", "starts_on": start.isoformat(),
             "ends_on": end.isoformat(), "contact": "Dana de Vries", "cost_centre": "KP-4711"}
    _, expected = contract_service.price(catalogue=CATALOGUE, data=order)
    with PortalServer(app, hub_stack.ports.portal) as portal:
        # ---- dana orders
        page = _login(chromium, portal, hub_stack, demo_accounts["dana"], "/")
        with shots.on_failure(page):
            page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Contracten").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Standaardcontracten — minfin")
            expect(page.locator("#no-contracts")).to_be_visible()
            page.get_by_role("link", name="Een standaardcontract bestellen").click()
            page.select_option("#partner", "aws")
            page.select_option("#region", "eu-central-1")
            page.get_by_role("radio", name="ontwikkeling").check()
            page.locator('#roles input[value="bi"]').check()
            page.locator('input[name="bundles"][value="bi-sql-duckdb"]').check()
            page.locator('input[name="sizes"][value="bi-sql-duckdb/small"]').check()
            page.locator('input[name="sizes"][value="bi-sql-duckdb/large"]').check()
            page.fill("#expected_users", "4")
            page.fill("#hours_per_week", "10")
            page.fill("#budget_eur", "0")
            page.fill("#starts_on", start.isoformat())
            page.fill("#ends_on", end.isoformat())
            page.fill("#contact", "Dana de Vries")
            page.fill("#cost_centre", "KP-4711")
            page.get_by_role("button", name="Prijsschatting berekenen").click()
            # a budget of 0: refused, the field marked, what was entered kept, nothing stored
            expect(page.locator("#problem")).to_contain_text("Ongeldig budget")
            expect(page.locator("#problem")).to_contain_text("Budget in euro")
            expect(page.locator("#budget_eur")).to_have_attribute("aria-invalid", "true")
            expect(page.locator("#cost_centre")).to_have_value("KP-4711")
            expect(page.locator('input[name="sizes"][value="bi-sql-duckdb/large"]')).to_be_checked()
            shots(page, "dana-budget-refused")
            page.fill("#budget_eur", "5000")
            page.get_by_role("button", name="Prijsschatting berekenen").click()
            estimate = page.locator("#estimate")
            expect(estimate).to_be_visible()
            expect(page.locator("#estimate-month")).to_have_text(_euros(expected.per_month))
            expect(page.locator("#estimate-period")).to_have_text(_euros(expected.period))
            for line in expected.lines:
                row = page.locator(f'tr[data-size="{line.bundle}/{line.size}"]')
                expect(row).to_contain_text(_euros(line.per_month))
                expect(row).to_contain_text(line.machine)
            expect(page.locator("#within-budget")).to_be_visible()
            shots(page, "dana-estimate")
            with app.state.portal.sessions() as session:
                assert session.scalars(select(Contract)).all() == []      # an estimate stores nothing
            page.get_by_role("button", name="Indienen ter goedkeuring").click()
            expect(page.locator("#done")).to_contain_text("ingediend")
            expect(page.locator("#contract-state")).to_have_text("aangevraagd")
            expect(page.locator("#estimate-period")).to_have_text(_euros(expected.period))
            expect(page.locator("#decide")).to_have_count(0)             # dana does not decide
            shots(page, "dana-requested")
            contract_url = page.url.split("?")[0]

        # ---- femke approves
        admin = _login(chromium, portal, hub_stack, demo_accounts["femke"], "/")
        with shots.on_failure(admin):
            admin.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Contracten").click()
            expect(admin.get_by_role("heading", level=1)).to_have_text("Alle standaardcontracten")
            row = admin.locator("#contracts tbody tr").first
            expect(row).to_have_attribute("data-state", "requested")
            expect(row).to_contain_text("minfin")
            expect(row).to_contain_text("€ 5000.00")
            shots(admin, "femke-all-contracts")
            row.get_by_role("link").first.click()
            expect(admin.locator("#estimate-period")).to_have_text(_euros(expected.period))
            admin.fill("#reason", "Binnen het raamcontract; budget past bij de schatting")
            shots(admin, "femke-decides")
            admin.get_by_role("button", name="Goedkeuren").click()
            expect(admin.locator("#done")).to_contain_text("goedgekeurd")
            # approval starts provisioning; the local provisioner makes the environment at once (test_provisioning)
            expect(admin.locator("#contract-state")).to_have_text("actief")
            expect(admin.locator("#provisioning")).to_have_attribute("data-status", "done")
            approved = admin.locator('#history tr[data-to="approved"]')
            expect(approved).to_contain_text("Femke")
            expect(approved).to_contain_text("Binnen het raamcontract")
            shots(admin, "femke-approved")
            admin.goto(f"{portal.url}/admin/contracts")
            admin.select_option("#state", "active")
            admin.get_by_role("button", name="Filteren").click()
            expect(admin.locator("#contracts tbody tr")).to_have_count(1)
            shots(admin, "femke-filtered-approved")

        # ---- dana sees it approved
        with shots.on_failure(page):
            page.goto(contract_url)
            expect(page.locator("#contract-state")).to_have_text("actief")
            expect(page.locator("#history tbody tr")).to_have_count(5)
        with app.state.portal.sessions() as session:
            contract = session.scalars(select(Contract)).one()
            assert contract.state is ContractState.ACTIVE
            assert [t.to_state for t in contract.transitions] == [
                ContractState.DRAFT, ContractState.REQUESTED, ContractState.APPROVED, ContractState.PROVISIONING,
                ContractState.ACTIVE]


FLOW_RUNNING = 240_000      # ms: a first start may build the bundle's environment


def test_from_order_to_a_member_working_under_the_contract_with_spend_visible(
        chromium: Browser, database, tmp_path: Path, hub_stack, demo_accounts):
    """The whole path on the real hub: dana orders (estimate first), femke approves, the local provisioner makes the
    contract's environment on the local hub (its file in the hub's environments folder), anna sees the contract's
    offer and starts a workspace under it, the hub runs it in the contract's environment, and dana's contract page
    shows it running and what it costs per hour. The hub's test catalogue (partner azure, bundle tiny-cowsay) keeps
    the first start short. The contract file is removed afterwards: the session's hub is shared by other tests."""
    shots = fixed_shots("test_contract_flow")
    folder = Path(hub_stack.state_dir) / "hub" / "environments"
    settings = stack_settings(database, tmp_path, hub_stack).model_copy(update={"local_environments_dir": folder})
    app = create_app(settings)
    start, end = date.today(), date.today() + timedelta(days=60)
    before = set(folder.glob("*.json")) if folder.is_dir() else set()
    try:
        with PortalServer(app, hub_stack.ports.portal) as portal:
            # ---- dana orders tiny-cowsay at azure, sees the estimate, submits
            dana = _login(chromium, portal, hub_stack, demo_accounts["dana"], "/organisations/minfin/contracts/new")
            with shots.on_failure(dana):
                dana.select_option("#partner", "azure")
                dana.select_option("#region", "westeurope")
                dana.get_by_role("radio", name="ontwikkeling").check()
                dana.locator('#roles input[value="bi"]').check()
                dana.locator('input[name="bundles"][value="tiny-cowsay"]').check()
                dana.locator('input[name="sizes"][value="tiny-cowsay/small"]').check()
                dana.fill("#expected_users", "3")
                dana.fill("#hours_per_week", "8")
                dana.fill("#budget_eur", "250")
                dana.fill("#starts_on", start.isoformat())
                dana.fill("#ends_on", end.isoformat())
                dana.fill("#contact", "Dana de Vries")
                dana.fill("#cost_centre", "KP-0815")
                dana.get_by_role("button", name="Prijsschatting berekenen").click()
                expect(dana.locator('tr[data-size="tiny-cowsay/small"]')).to_be_visible()
                shots(dana, "dana-estimate")
                dana.get_by_role("button", name="Indienen ter goedkeuring").click()
                expect(dana.locator("#contract-state")).to_have_text("aangevraagd")
                contract_url = dana.url.split("?")[0]

            # ---- femke approves: the local provisioner makes the environment at once
            femke = _login(chromium, portal, hub_stack, demo_accounts["femke"], contract_url.replace(portal.url, ""))
            with shots.on_failure(femke):
                femke.fill("#reason", "Past binnen het raamcontract")
                femke.get_by_role("button", name="Goedkeuren").click()
                expect(femke.locator("#contract-state")).to_have_text("actief")
                expect(femke.locator("#provisioning")).to_have_attribute("data-status", "done")
                shots(femke, "femke-approved-provisioned")
            with app.state.portal.sessions() as session:
                contract = session.scalars(select(Contract)).one()
                environment = contract.environment.name
                contract_id = contract.id
            file = folder / f"{environment}.json"
            assert file.is_file(), file                 # the hub's folder now holds the contract's environment
            assert '"state": "active"' in file.read_text(encoding="utf-8")

            # ---- anna sees the contract's offer and starts a workspace under it
            anna = _login(chromium, portal, hub_stack, demo_accounts["anna"], "/catalogue/tiny-cowsay")
            with shots.on_failure(anna):
                expect(anna.get_by_label("Formaat").locator("option")).to_have_count(1)   # the contract's one size
                expect(anna.locator("#contract-offer")).to_have_attribute("data-contract", str(contract_id))
                shots(anna, "anna-contract-offer")
                anna.get_by_label("Formaat").select_option("small")
                anna.get_by_role("button", name="Start werkplek").click()
                anna.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/\d+$"), timeout=60_000)
                workspace_url = anna.url
                expect(anna.locator("#status")).to_have_text("actief", timeout=FLOW_RUNNING)
                shots(anna, "anna-working-under-contract")
            with app.state.portal.sessions() as session:
                workspace = session.get(Workspace, int(workspace_url.rsplit("/", 1)[1]))
                assert workspace.contract_id == contract_id and workspace.environment.name == environment
                server = workspace.server_name
            with hub_api(hub_stack.hub, hub_stack.portal_api_token) as hub:
                options = hub.get("/users/anna").json()["servers"][server]["user_options"]
            assert options.get("environment") == environment and options.get("organisation") == "minfin"

            # ---- dana sees it running under the contract, and what it costs
            with shots.on_failure(dana):
                dana.goto(contract_url)
                running = dana.locator("#spend-running")
                expect(running).to_have_attribute("data-workspaces", "1")
                price = float(running.get_attribute("data-eur-per-hour"))
                assert price > 0
                expect(dana.locator("#spend-chart")).to_be_visible()
                dana.locator("#spend").scroll_into_view_if_needed()
                shots(dana, "dana-spend")

            # ---- anna stops it: the run is metered and closed
            with shots.on_failure(anna):
                anna.goto(workspace_url)
                anna.get_by_role("link", name="Stop werkplek").click()
                anna.get_by_role("button", name="Ja, stop de werkplek").click()
                expect(anna.locator("#status")).to_have_text("gestopt", timeout=60_000)
            with app.state.portal.sessions() as session:
                runs = session.scalars(select(WorkspaceSession).where(WorkspaceSession.contract_id == contract_id)).all()
            assert len(runs) == 1 and runs[0].stopped_at is not None and runs[0].price_per_hour == Decimal(str(price))
    finally:
        for leftover in set(folder.glob("*.json")) - before:
            leftover.unlink()
