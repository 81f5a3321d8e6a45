"""How each role's seed tool's job is done here (issue 17), in a real browser: the README's roles section shows
these screenshots.

Each bundle's environment is built as the local hub builds it (:func:`gereedschapskist.hub.prepare.bundle_env_spec`,
uv, the bundle's pins, the hub's JupyterLab); its home folder is prepared by the hub's own first start
(:func:`gereedschapskist.hub.workspace_home.write_first_start`: README, sample data and the bundle's example
notebooks) and JupyterLab runs from that environment under a workspace's URL (``/user/<name>/<server>/``), with
the environment variables the local spawner sets. Debian's Chromium, driven by Playwright, then does what a member
does: runs the example notebook from JupyterLab's Run menu, follows the Spark UI link, types in a terminal.
The hub itself is not in this test (the journeys through the portal and the hub are ``test_portal_journey.py`` and
``test_inside_workspace.py``, with tiny bundles): a real bundle's environment is what it is about.

- BI (Excel): ``bi-sql-duckdb``'s ``excel.ipynb`` writes and reads a two-sheet workbook and shows it in
  ipydatagrid's grid, rendered by the widget in the browser.
- BI (RStudio → R in JupyterLab): ``bi-r-jupyter``'s ``r-excel.ipynb`` with the bundle's R kernel (IRkernel on this
  machine's R, installed into the environment as the hub installs it): the summary table and the workbook written
  with openxlsx and read back with readxl.
- ML (Databricks → Spark): ``ml-spark``'s ``spark-groupby.ipynb`` (8 MB here) and its Spark UI link, opened
  through jupyter-server-proxy under the workspace's URL while the session runs.
- Development (GitHub, CircleCI): in ``dev-python``'s terminal, ``copier copy`` of the project template and the
  forge's git credential helper (``hub/forge.py``), for that host only.

Environments come from uv's cache after the first build (``tests/hub/test_examples.py`` builds the same ones).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Page, expect

from gereedschapskist.catalogue import load
from gereedschapskist.hub.forge import TOKEN_VARIABLE, git_credential_env
from gereedschapskist.hub.workspace_home import write_first_start

pytestmark = pytest.mark.network

CATALOGUE = load()
PORTAL = "http://127.0.0.1:8000"
FORGE = "https://github.com/minfin"
TEMPLATE = CATALOGUE.root / "project-templates" / "python-package"


@pytest.fixture(scope="module")
def environments(bundle_environments):
    """bundle id → its built environment, skipped where this machine lacks the bundle's tools (tests/conftest.py: built once per run, shared with the other module that runs bundles)."""
    return bundle_environments


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def workspace(env: Path, home: Path, bundle_id: str, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """JupyterLab of ``env`` on ``home`` after the hub's first start of ``bundle_id``; yields its URL (with the
    token). The process ends with the block."""
    bundle = CATALOGUE.bundles[bundle_id]
    write_first_start(home, bundle, portal_url=PORTAL, catalogue_dir=CATALOGUE.root)
    prefix = f"/user/anna/{bundle_id}-1/"
    port, token = _free_port(), secrets.token_hex(16)
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    environment.update({
        "PATH": f"{env / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(env), "HOME": str(home),
        "GEREEDSCHAPSKIST_BUNDLE": bundle.id, "GEREEDSCHAPSKIST_BUNDLE_VERSION": bundle.version,
        "JUPYTERHUB_SERVICE_PREFIX": prefix, **(extra_env or {})})
    log = open(home.parent / f"{bundle_id}-lab.log", "wb")
    lab = subprocess.Popen([str(env / "bin" / "jupyter-lab"), "--no-browser", "--allow-root", f"--port={port}",
                            "--ServerApp.ip=127.0.0.1", f"--ServerApp.base_url={prefix}",
                            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}"],
                           cwd=home, env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}{prefix}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert lab.poll() is None, (home.parent / f"{bundle_id}-lab.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=10):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"{url} never answered"
                time.sleep(0.5)
        yield url, token
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait()
        log.close()


def open_notebook(page: Page, url: str, token: str, path: str) -> None:
    page.goto(f"{url}lab/tree/{path}?reset&token={token}")
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=180_000)
    # the example is stored with the generic kernel name "python3": JupyterLab may ask which kernel, offering the
    # bundle's own, or start that one itself
    title = CATALOGUE.bundles[path.split("/")[0]].title.en
    choose = page.get_by_role("dialog").filter(has_text="Select Kernel")
    status = page.get_by_role("contentinfo").get_by_role("button", name=re.compile(r" \| Idle$"))
    expect(choose.or_(status).first).to_be_visible(timeout=180_000)
    if choose.count():
        expect(choose.locator("select")).to_contain_text(title)
        choose.get_by_role("button", name="Select").click()
    expect(page.get_by_role("contentinfo").get_by_role("button", name=re.compile(rf"^{re.escape(title)} .* \| Idle$"))
           ).to_be_visible(timeout=180_000)


def run_menu(page: Page, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def test_bi_excel_in_jupyterlab_with_openpyxl_and_ipydatagrid(browser_page: Page, shots, environments, tmp_path):
    env = environments("bi-sql-duckdb")
    page = browser_page
    with workspace(env, tmp_path / "home", "bi-sql-duckdb") as (url, token), shots.on_failure(page):
        open_notebook(page, url, token, "bi-sql-duckdb/excel.ipynb")
        run_menu(page, "Run All Cells")
        outputs = page.locator(".jp-OutputArea-output")
        expect(outputs.filter(has_text="opmaak bewaard / formatting kept: maand A2")).to_have_count(1,
                                                                                                  timeout=180_000)
        grid = page.locator(".jp-OutputArea-output .lm-DataGrid, .jp-OutputArea-output .p-DataGrid").first
        expect(grid).to_be_visible(timeout=120_000)
        xlsx = page.locator(".jp-DirListing-item[title*='aanvragen.xlsx']")
        expect(xlsx).to_be_visible(timeout=60_000)     # the file browser shows new files at its next poll
        grid.scroll_into_view_if_needed()
        shots(page, "excel-grid")
    assert (tmp_path / "home" / "bi-sql-duckdb" / "aanvragen.xlsx").stat().st_size > 1000


def test_bi_r_in_jupyterlab_with_irkernel_readxl_and_openxlsx(browser_page: Page, shots, environments, tmp_path):
    env = environments("bi-r-jupyter")
    page = browser_page
    with workspace(env, tmp_path / "home", "bi-r-jupyter") as (url, token), shots.on_failure(page):
        open_notebook(page, url, token, "bi-r-jupyter/r-excel.ipynb")
        # the notebook names the kernelspec "ir", the bundle's own R kernel: no question, the R kernel starts
        expect(page.get_by_role("contentinfo").get_by_role(
            "button", name=re.compile(r"^R in JupyterLab 1\.0\.0 \(R\) \| Idle$"))).to_be_visible()
        run_menu(page, "Run All Cells")
        outputs = page.locator(".jp-OutputArea-output")
        # the summary: IRkernel's HTML table of the data frame, one row per municipality with its sum
        table = outputs.get_by_role("table", name="A data.frame: 3 × 2")
        expect(table).to_be_visible(timeout=180_000)
        for row in ("gemeente aanvragen", "Amsterdam 1650", "Utrecht 2106", "Zwolle 2562"):
            expect(table.get_by_role("row", name=row, exact=True)).to_be_visible()
        expect(outputs.filter(has_text="geschreven / written: aanvragen-r.xlsx")).to_have_count(1, timeout=120_000)
        # the read-back: readxl read both sheets openxlsx wrote (the notebook's stopifnot() passed), 36 rows
        expect(outputs.filter(has_text=re.compile(r"^R 4 [\d.]+ - rijen / rows: 36\s*$"))).to_have_count(
            1, timeout=120_000)
        expect(page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
               .filter(has_text="Error")).to_have_count(0)
        expect(page.locator(".jp-DirListing-item[title*='aanvragen-r.xlsx']")).to_be_visible(timeout=60_000)
        # JupyterLab scrolls inside its panel (a full-page shot is the window): a taller window shows the whole
        # notebook, from the summary table to the read-back
        page.set_viewport_size({"width": 1280, "height": 1120})
        read_back = outputs.filter(has_text="rijen / rows: 36")
        read_back.scroll_into_view_if_needed()
        expect(read_back).to_be_in_viewport()
        expect(table).to_be_in_viewport()
        shots(page, "r-excel")
    assert (tmp_path / "home" / "bi-r-jupyter" / "aanvragen-r.xlsx").stat().st_size > 1000


def test_ml_spark_example_and_its_spark_ui_through_the_workspace(browser_page: Page, shots, environments,
                                                                 tmp_path):
    env = environments("ml-spark")
    page = browser_page
    with workspace(env, tmp_path / "home", "ml-spark", {"GEREEDSCHAPSKIST_SPARK_EXAMPLE_MB": "8"}) as (url, token), \
            shots.on_failure(page):
        open_notebook(page, url, token, "ml-spark/spark-groupby.ipynb")
        # every cell but the last (spark.stop()): the Spark UI lives as long as the session
        page.locator(".jp-Notebook .jp-Cell").last.click()
        run_menu(page, "Run All Above Selected Cell")
        expect(page.locator(".jp-OutputArea-output", has_text="group-by over")).to_have_count(1, timeout=480_000)
        link = page.get_by_role("link", name="Open de Spark UI / open the Spark UI")
        href = link.get_attribute("href")
        assert re.fullmatch(r"/user/anna/ml-spark-1/proxy/\d+/jobs/", href or ""), href
        link.scroll_into_view_if_needed()
        shots(page, "spark-notebook")
        with page.context.expect_page() as opened:
            link.click()
        ui = opened.value
        ui.wait_for_load_state()
        assert ui.url.startswith(f"{url}proxy/"), ui.url
        expect(ui.locator("body")).to_contain_text("Spark Jobs", timeout=60_000)
        expect(ui.locator("body")).to_contain_text("gereedschapskist-voorbeeld")
        expect(ui.locator("#completed-summary, #completedJob-table, body").first).to_contain_text("toPandas")
        shots(ui, "spark-ui")
        ui.close()
        page.locator(".jp-Notebook .jp-Cell").last.click()
        run_menu(page, "Run Selected Cell")
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=120_000)


def test_development_project_template_and_forge_credentials_in_a_terminal(browser_page: Page, shots, environments,
                                                                          tmp_path):
    env = environments("dev-python")
    page = browser_page
    forge = {TOKEN_VARIABLE: "voorbeeld-token", **git_credential_env(FORGE)}
    home = tmp_path / "home"
    (home / "sjablonen").mkdir(parents=True)
    shutil.copytree(TEMPLATE, home / "sjablonen" / "python-package")
    with workspace(env, home, "dev-python", forge) as (url, token), shots.on_failure(page):
        page.goto(f"{url}lab?reset&token={token}")
        page.locator(".jp-LauncherCard[title*='Terminal'], .jp-LauncherCard:has-text('Terminal')").first.click()
        terminal = page.locator(".jp-Terminal").first
        expect(terminal).to_be_visible(timeout=120_000)
        page.wait_for_timeout(1000)
        terminal.click()
        # plain `copier`: the environment's terminal keeps its bin/ on PATH (hub/kernelspecs.py TERMINAL_SHELL)
        for line in ("copier copy --defaults --data project_name=begroting-analyse "
                     "sjablonen/python-package begroting-analyse",
                     "ls -A begroting-analyse begroting-analyse/.github/workflows",
                     "git config --get-regexp '^credential'"):
            page.keyboard.type(line)
            page.keyboard.press("Enter")
        project = home / "begroting-analyse"
        deadline = time.monotonic() + 180
        while not (project / "pyproject.toml").is_file():
            assert time.monotonic() < deadline, "copier made no project in the terminal"
            time.sleep(1)
        page.wait_for_timeout(3000)
        shots(page, "terminal-copier-git")
    # what the terminal showed, checked outside the browser: the project and git's configuration for the forge
    assert (project / "tests").is_dir() and (project / ".pre-commit-config.yaml").is_file()
    config = subprocess.run(["git", "config", "--get-regexp", "^credential"], cwd=home, capture_output=True,
                            text=True, env={**os.environ, **forge}).stdout
    assert "\ncredential.https://github.com.helper !f() {" in f"\n{config}", config
    assert "credential.https://github.com.usehttppath false" in config
