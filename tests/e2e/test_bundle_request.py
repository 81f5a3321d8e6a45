"""Request a bundle in Chromium (issue 17, supply model d): as anna types, the form's script checks the draft on the
server (the catalogue's one loader) and shows each problem at its field, and the drafted YAML; once every field is
right she submits, the portal writes the pull request as a local branch (no GitHub token here) and the request's page
shows its state and the pull request's text with the ``catalogue diff``. Without the script the submit shows the same
problems (tests/portal/test_bundle_requests.py). The portal runs on uvicorn; anna's session is made as a login makes
it (the OIDC flow is the journeys' business). Screenshots in ``tests/e2e/artifacts/<test>/``."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.conftest import closed_port
from tests.portal.support import PortalServer, make_user, session_cookie
from tests.portal.test_gitops import git, repo  # noqa: F401  (fixture)


def test_problems_show_at_their_fields_as_anna_types_and_the_request_opens_a_branch(
        browser_page: Page, shots, database, tmp_path: Path, repo: Path):  # noqa: F811
    page = browser_page
    settings = PortalSettings(database_url=database.url, state_dir=tmp_path, session_secret="s" * 40,
                              organisations="cbs minfin", hub_url=f"http://127.0.0.1:{closed_port()}",
                              hub_api_token="t" * 40, reconcile_interval_seconds=0, provisioning_interval_seconds=0,
                              gitops_repo_dir=repo)
    app = create_app(settings)
    with PortalServer(app, closed_port()) as portal, shots.on_failure(page):
        user_id = make_user(app.state.portal.sessions, username="anna", groups=["org:minfin", "role:bi"])
        page.context.add_cookies([{"name": settings.session_cookie, "url": portal.url,
                                   "value": session_cookie(settings, {"uid": user_id, "csrf": "c" * 22})}])
        page.goto(f"{portal.url}/bundle-requests")
        page.fill("#title", "Geodata met GeoPandas")
        page.select_option("#role", "bi")
        page.fill("#packages", "geopandas>=1\npandas==2.3.3")
        page.fill("#sizes", "small één 4Gi")
        page.fill("#why", "kort")
        expect(page.locator("#problems-packages")).to_contain_text(
            "regel 1 'geopandas>=1': zet precies één versie vast")
        expect(page.locator("#problems-sizes")).to_contain_text("$.sizes[0].cpu")
        expect(page.locator("#problems-why")).to_contain_text("10–2000")
        expect(page.locator("#packages")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#problems-title li")).to_have_count(0)
        page.locator("#draft summary").click()
        expect(page.locator("#draft-yaml")).to_contain_text("id: bi-geodata-met-geopandas")
        shots(page, "problems-at-their-fields")

        page.fill("#packages", "geopandas==1.0.1\npandas==2.3.3")
        page.fill("#sizes", "small 1 4Gi")
        page.fill("#why", "Kaarten van gemeentegrenzen voor de begroting, met open data.")
        expect(page.locator("#problems-packages li")).to_have_count(0)
        expect(page.locator("#problems-sizes li")).to_have_count(0)
        expect(page.locator("#problems-why li")).to_have_count(0)
        expect(page.locator("#packages")).not_to_have_attribute("aria-invalid", "true")
        page.get_by_role("button", name="Aanvragen").click()
        page.wait_for_url(re.compile(rf"{re.escape(portal.url)}/bundle-requests/\d+\?done=requested$"))
        expect(page.locator("#state")).to_have_text("pull request geopend")
        expect(page.locator("#pr-text")).to_contain_text("## Catalogue changes for users")
        expect(page.locator("#pr-files")).to_contain_text("images/bundles/bi-geodata-met-geopandas/Dockerfile")
        shots(page, "request-with-local-pull-request")
    request_id = page.url.split("/")[-1].split("?")[0]
    assert git(repo, "branch", "--list", f"bundle-request/{request_id}-bi-geodata-met-geopandas") != ""
