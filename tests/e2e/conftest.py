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

from tests.portal.support import database, database_server  # noqa: F401 - fixtures

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


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
