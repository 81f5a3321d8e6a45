"""Browser end-to-end tests: Playwright driving Debian's Chromium (Playwright's own browser download is not
reachable here; ``make test`` installs ``chromium`` with apt when /usr/bin/chromium is missing).

Screenshots of every step go to ``tests/e2e/artifacts/<test>/`` (git-ignored)."""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.portal.support import (  # noqa: F401 - fixtures
    database, database_backends, database_server, journey_backend,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """A browser journey runs on one database, not on both: what the portal does with its database is
    tests/portal's, on SQLite and on PostgreSQL; here it is the browser, the portal and the hub. When both are
    configured, each journey takes one of them by a stable hash of its name (about half each, so both databases
    are driven through browser journeys), and its other variant is deselected, not skipped; with SQLite alone
    every journey runs on SQLite. A journey's second run on the other database took a third of ``make test``'s
    browser time and tested nothing more."""
    backends = database_backends()
    if len(backends) < 2:
        return
    keep, drop = [], []
    for item in items:
        backend = getattr(getattr(item, "callspec", None), "params", {}).get("database_server")
        chosen = journey_backend(getattr(item, "originalname", item.name), backends)
        (drop if backend and HERE in item.path.parents and backend != chosen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Per test: Playwright's sync API holds an event loop in the main thread while it runs, which would break
    later tests that call ``asyncio.run`` (tests are grouped by database, not by folder)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium) or "
                    "`apt-get install -y chromium`", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> "Screenshots":
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Screenshots(folder)


class Screenshots:
    def __init__(self, folder: Path):
        self.folder = folder
        self.taken: list[Path] = []

    @contextmanager
    def on_failure(self, page: Page) -> Iterator[None]:
        """Keep a screenshot of the page where a step failed."""
        try:
            yield
        except BaseException:
            try:
                page.screenshot(path=str(self.folder / "failure.png"), full_page=True)
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
            raise

    def __call__(self, page: Page, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


def fixed_shots(name: str) -> Screenshots:
    """Screenshots in ``tests/e2e/artifacts/<name>/`` whatever the test's parameters (the README links some of
    them, see docs/screenshots/SOURCES.txt), emptied first."""
    folder = ARTIFACTS / name
    for old in folder.glob("*.png"):
        old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return Screenshots(folder)


def log_in(browser: Browser, portal_url: str, issuer: str, account, next_path: str = "/", **context_options) -> Page:
    """A new browser context (Dutch, 1280×900) in which ``account`` logs in through the provider's form and lands
    on ``next_path`` of the portal."""
    context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900}, **context_options)
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{portal_url}/login?next={next_path}")
    page.wait_for_url(re.compile(re.escape(issuer)))
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.get_by_role("button", name="Inloggen / Log in").click()
    page.wait_for_url(f"{portal_url}{next_path}")
    return page
