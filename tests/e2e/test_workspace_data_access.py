"""Access to data in a real browser (issue 15): anna (minfin, role bi) asks for CBS's dataset 83625NED with a purpose,
a purpose code, a legal ground, her role and a period; eva, its data owner at CBS, approves it in her browser; anna
starts a workspace and JupyterLab's file browser shows ~/data/cbs-83625NED/ with its file; the grant expires and the
folder leaves the running workspace within a minute; the register shows the request, the approval, the grant, the
mount and the expiry; a second, identical request is approved automatically, naming the approval it relied on.

Real parts only: the development OIDC provider, JupyterHub (local backend, the test catalogue's ``tiny-cowsay``, a
real JupyterLab), the portal served by uvicorn on the test database, Debian's Chromium. The shared hub of
``tests/conftest.py`` cannot be used: it asks no portal for grants (a hub that asks refuses every start while no portal
answers, and most of its tests run without one). So, as ``tests/hub/test_data_in_workspace.py`` does, this test
starts its own provider and hub with the same ``gereedschapskist.dev.devstack`` helpers, with ``PORTAL_API_URL`` set,
``DATA_RECONCILE_SECONDS=1`` (default 15) and the portal's expiry pass every second (default 30). The bundle
environments the shared hub has built already in this test session are lent to it (linked, never written: an
environment is only linked once its build is complete), so in ``make test`` its start does not build tiny-cowsay again.

The "fast clock" is a simulation of time, said honestly: grant periods are whole days, so the test sets the grant's
``expires_at`` in the portal's database to a moment just past. Everything after that — the hub's reconciliation
taking the folder away, the portal's expiry pass writing ``access-expired`` — runs as it would a day later.

Screenshots go to tests/e2e/artifacts/test_workspace_data_access/ (the README uses them, docs/screenshots/SOURCES.txt).
"""

from __future__ import annotations

import re
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from gereedschapskist.dev.datasets import SOURCES, generate
from gereedschapskist.dev.demo import ACCOUNTS_FILE
from gereedschapskist.dev.devstack import DevSecrets, HubProcess, OidcProvider, free_port, hub_api, hub_client, \
    portal_client
from gereedschapskist.hub.datasets import mount_points
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import AccessRequest, Dataset, DatasetGrant, utcnow
from gereedschapskist.portal.services.dataset_import import import_source
from gereedschapskist.portal.settings import PortalSettings
from tests.conftest import HUB_TEST_CATALOGUE
from tests.e2e.conftest import fixed_shots, log_in
from tests.portal.support import PortalServer

DATASET = "cbs-83625NED"
PURPOSE = "Gemiddelde WOZ-waarde per gemeente naast het weer, voor de begroting"
RUNNING = 600_000           # ms: the first start of this hub builds tiny-cowsay's environment
OPENING = 300_000           # ms: the hub's sign-on and JupyterLab's first page (slow on a loaded machine)


def _fill_request(page: Page, start: date, end: date) -> None:
    page.select_option("#role", "bi")
    page.select_option("#purpose_code", "statistics")
    page.fill("#purpose", PURPOSE)
    page.select_option("#legal_ground", "avg-6-1-e-cbs-wet")
    page.fill("#starts_on", start.isoformat())
    page.fill("#ends_on", end.isoformat())


def _data_folders(page: Page, lab: str) -> list[str]:
    """The folders in ~/data as the workspace's Jupyter contents API lists them, asked from the browser (its
    cookies)."""
    response = page.request.get(f"{lab}/api/contents/data?content=1")
    assert response.ok, response.text()
    return sorted(item["name"] for item in response.json()["content"] if item["type"] == "directory")


def _lend_built_environments(shared_state: Path, state: Path) -> list[str]:
    """Link the environments the session's shared hub has finished building into this hub's environments folder."""
    envs = state / "envs"
    envs.mkdir(parents=True, exist_ok=True)
    lent = []
    for built in sorted((shared_state / "envs").glob("*/gereedschapskist-env.json")):
        (envs / built.parent.name).symlink_to(built.parent, target_is_directory=True)
        lent.append(built.parent.name)
    return lent


def test_request_approve_mount_expire_register_and_automatic_approval(chromium: Browser, database, tmp_path: Path,
                                                                      demo_accounts, dev_state_dir):
    shots = fixed_shots("test_workspace_data_access")
    accounts_file = tmp_path / "accounts.json"
    shutil.copyfile(ACCOUNTS_FILE, accounts_file)
    secrets = DevSecrets.load_or_create(tmp_path)
    hub_port = free_port()
    portal_port = free_port()
    while portal_port == hub_port:
        portal_port = free_port()
    _lend_built_environments(dev_state_dir, tmp_path)
    generate(tmp_path / "datasets")                              # the data store (make up does the same)
    portal_url = f"http://127.0.0.1:{portal_port}"
    provider = OidcProvider.start(tmp_path, [hub_client(hub_port, secrets), portal_client(portal_port, secrets)],
                                  accounts_file=accounts_file)
    try:
        settings = PortalSettings(
            database_url=database.url, state_dir=tmp_path / "portal", session_secret="a" * 40, public_url=portal_url,
            oidc_issuer=provider.issuer, oidc_client_id="portal", oidc_client_secret=secrets.portal_client_secret,
            organisations="cbs minfin", hub_url=f"http://127.0.0.1:{hub_port}",
            hub_api_token=secrets.portal_api_token, catalogue_dir=HUB_TEST_CATALOGUE, reconcile_interval_seconds=2,
            hub_status_ttl_seconds=0, hub_timeout_seconds=60, grant_expiry_interval_seconds=1)
        app = create_app(settings)
    except BaseException:
        provider.stop()
        raise
    sessions = app.state.portal.sessions
    hub = portal = None
    today = utcnow().date()
    start, end = today, today + timedelta(days=30)
    began = time.monotonic()
    phases: list[tuple[str, float]] = []

    def phase(name: str) -> None:
        phases.append((name, time.monotonic() - began))

    try:
        portal = PortalServer(app, portal_port).start()
        hub = HubProcess.start(tmp_path, provider, secrets=secrets, port=hub_port, catalogue_dir=HUB_TEST_CATALOGUE,
                               portal_url=portal_url,
                               extra_env={"GEREEDSCHAPSKIST_HUB_PORTAL_API_URL": portal_url,
                                          "GEREEDSCHAPSKIST_HUB_DATASETS_DIR": str(tmp_path / "datasets"),
                                          "GEREEDSCHAPSKIST_HUB_DATA_RECONCILE_SECONDS": "1",
                                          "GEREEDSCHAPSKIST_HUB_PREPARE_ENVIRONMENTS": "false"})

        phase("provider, portal and hub started")
        # ---- eva logs in first (the portal knows her as CBS's data owner), then the sample is imported
        eva = log_in(chromium, portal.url, provider.issuer, demo_accounts["eva"], "/access-requests")
        with sessions() as session:
            summary = import_source(session, source=str(SOURCES[0]), accepted=frozenset({"cbs", "minfin"}))
            assert summary.problems == [], summary.problems
            session.commit()
            dataset = session.scalar(select(Dataset).where(Dataset.identifier == DATASET))
            assert dataset.data_owner.username == "eva" and dataset.auto_approval
            dataset_id = dataset.id

        # ---- 1. anna asks for it: purpose, purpose code, legal ground, role, period
        anna = log_in(chromium, portal.url, provider.issuer, demo_accounts["anna"], f"/datasets/{dataset_id}")
        with shots.on_failure(anna):
            expect(anna.locator("#dataset-facts")).to_contain_text("Eva")
            _fill_request(anna, start, end)
            anna.locator("#access-request-form").scroll_into_view_if_needed()
            shots(anna, "anna-request-form")
            anna.get_by_role("button", name="Toegang aanvragen").click()
            anna.wait_for_url(f"{portal.url}/access-requests?done=requested")
            first = anna.locator("#my-access-requests tbody tr").first
            expect(first).to_have_attribute("data-state", "requested")
            first_id = int(first.get_attribute("data-request"))

        # ---- 2. eva approves it in her queue, with a reason
        with shots.on_failure(eva):
            eva.reload()
            row = eva.locator(f'#access-queue tr[data-request="{first_id}"]')
            expect(row).to_contain_text("Anna")
            expect(row).to_contain_text(PURPOSE)
            eva.fill(f"#why-{first_id}", "Statistisch doel onder de CBS-wet; past bij de dataset")
            shots(eva, "eva-queue")
            row.get_by_role("button", name="Goedkeuren").click()
            eva.wait_for_url(f"{portal.url}/access-requests?done=approved")
            expect(eva.locator("#done")).to_be_visible()
            expect(eva.locator(f'#access-queue tr[data-request="{first_id}"]')).to_have_attribute("data-state",
                                                                                                  "approved")
            shots(eva, "eva-approved")
        with sessions() as session:
            grant_id = session.scalar(select(DatasetGrant.id).where(DatasetGrant.access_request_id == first_id))
        assert grant_id is not None

        phase("requested and approved")
        # ---- 3. anna starts a workspace: ~/data/cbs-83625NED/ is in JupyterLab's file browser
        with shots.on_failure(anna):
            anna.goto(f"{portal.url}/catalogue/tiny-cowsay")
            anna.get_by_label("Formaat").select_option("small")
            anna.get_by_role("button", name="Start werkplek").click()
            anna.wait_for_url(re.compile(rf"{re.escape(portal.url)}/workspaces/\d+$"), timeout=120_000)
            expect(anna.locator("#status")).to_have_text("actief", timeout=RUNNING)
            phase("workspace running")
            anna.get_by_role("link", name="Open werkplek").click()
            anna.wait_for_url(re.compile(r"/user/anna/tiny-cowsay-[0-9a-f]+/lab"), timeout=OPENING)
            lab = re.sub(r"/lab.*$", "", anna.url)
            server = lab.rsplit("/", 1)[1]
            assert _data_folders(anna, lab) == [DATASET]
            anna.goto(f"{lab}/lab/tree/data/{DATASET}")
            listing = anna.locator(".jp-DirListing-content")
            expect(listing.locator(f".jp-DirListing-item[title*='{DATASET}.csv']")).to_be_visible(timeout=120_000)
            expect(anna.locator(".jp-BreadCrumbs")).to_contain_text(DATASET)
            shots(anna, "anna-workspace-data")

        phase("~/data shown in JupyterLab")
        # ---- 4. the fast clock: the grant's expiry set just past; the folder leaves the running workspace
        with sessions() as session:
            session.get(DatasetGrant, grant_id).expires_at = utcnow() - timedelta(seconds=1)
            session.commit()
        expired_at = time.monotonic()
        deadline = expired_at + 60
        while _data_folders(anna, lab) and time.monotonic() < deadline:
            time.sleep(0.5)
        gone_after = time.monotonic() - expired_at
        assert _data_folders(anna, lab) == [], "the expired dataset is still in the running workspace after 60 s"
        print(f"\nexpired -> gone from the running workspace: {gone_after:.1f} s (hub reconciles every 1 s)")
        with shots.on_failure(anna):
            anna.goto(f"{lab}/lab/tree/data")
            expect(anna.locator(".jp-BreadCrumbs")).to_contain_text("data")
            expect(anna.locator(".jp-DirListing-content").locator(".jp-DirListing-item[title*='GRANTS.json']")
                   ).to_be_visible(timeout=60_000)
            expect(anna.locator(f".jp-DirListing-item[title*='{DATASET}']")).to_have_count(0)
            shots(anna, "anna-workspace-data-expired")

        phase("expired and gone")
        # ---- 5. the register: request, approval, grant, mount and expiry, as the data owner and the member see it
        wanted = {"access-requested", "access-approved", "access-granted", "dataset-mounted", "access-expired"}
        deadline = time.monotonic() + 30
        while True:
            entries = eva.request.get(f"{portal.url}/api/v1/register?dataset={DATASET}").json()["entries"]
            ours = [e for e in entries if e["person"] == "anna" and e["dataset"] == DATASET]
            if wanted <= {e["action"] for e in ours} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        by_action = {e["action"]: e for e in ours}
        assert wanted <= set(by_action), sorted(by_action)
        assert by_action["access-requested"]["purpose_code"] == "statistics"
        assert by_action["access-requested"]["legal_ground"] == "avg-6-1-e-cbs-wet"
        assert by_action["access-approved"]["actor"] == "eva"
        assert by_action["dataset-mounted"]["workspace"] == server
        assert by_action["dataset-mounted"]["bundle"].startswith("tiny-cowsay")
        mine = anna.request.get(f"{portal.url}/api/v1/register?person=anna").json()["entries"]
        assert wanted <= {e["action"] for e in mine}
        with shots.on_failure(eva):
            eva.goto(f"{portal.url}/register?dataset={DATASET}")
            table = eva.locator("#register")
            for action in ("toegang tot data gevraagd", "toegang tot data goedgekeurd", "toegang tot data verleend",
                           "dataset in een werkplek gezet", "toegang tot data verlopen"):
                expect(table).to_contain_text(action)
            expect(table).to_contain_text(server)
            shots(eva, "eva-register")

        phase("register shown")
        # ---- 6. the same request again: approved automatically, naming eva's approval
        with shots.on_failure(anna):
            anna.goto(f"{portal.url}/datasets/{dataset_id}")
            _fill_request(anna, start, end)
            anna.get_by_role("button", name="Toegang aanvragen").click()
            anna.wait_for_url(f"{portal.url}/access-requests?done=approved")
            second = anna.locator("#my-access-requests tbody tr").first
            expect(second).to_have_attribute("data-state", "approved")
            expect(second.locator(".relied-on")).to_contain_text(f"op goedkeuring {first_id}")
            expect(second.locator(".relied-on")).to_have_attribute("href", f"#my-access-requests-{first_id}")
            expect(anna.locator(f"#my-access-requests-{first_id}")).to_contain_text("verlopen op")
            shots(anna, "anna-automatic-approval")
        with sessions() as session:
            again = session.scalars(select(AccessRequest).order_by(AccessRequest.id.desc())).first()
            assert again.id != first_id and again.automatic and again.relied_on_id == first_id

        with hub_api(hub, secrets.portal_api_token) as api:
            stopped = api.request("DELETE", f"/users/anna/servers/{server}", json={"remove": True})
            assert stopped.status_code in (202, 204), stopped.text
        phase("automatic approval shown, workspace stopped")
        print("phases (s since start): " + "; ".join(f"{name} {at:.1f}" for name, at in phases))
        assert len(shots.taken) == 7 and all(p.stat().st_size > 1000 for p in shots.taken)
    finally:
        if hub is not None:
            hub.stop()
        if portal is not None:
            portal.stop()
        provider.stop()
    assert not [p for p in mount_points() if tmp_path in p.parents], "mounts left behind"
