"""A development stack for published apps (issue 17, section 1): the test catalogue plus ``tiny-panel``, a bundle
with Panel, and ``tiny-apps``, one with Streamlit, Dash and Shiny for Python (real frameworks, at ``dev-apps``'s pins,
built from PyPI like any bundle at their first launch), and a provider and hub of its own — the shared
``hub_stack`` keeps the plain test catalogue, whose bundles other tests count and build.

``apps_stack`` (module-scoped) gives the provider, the hub, the ports (hub, portal) and the catalogue folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from gereedschapskist.dev.devstack import DevSecrets, HubProcess, OidcProvider, free_port, hub_client, portal_client

TESTS = Path(__file__).resolve().parent
PANEL_VERSION = "1.8.5"     # as bi-dashboards pins it
#: Streamlit, Dash and Shiny for Python at the versions the catalogue's ``dev-apps`` pins (one environment for all)
APP_FRAMEWORK_PINS = ("streamlit==1.67.0", "dash==4.4.1", "shiny==1.8.0")


def _tiny_bundle(bundle_id: str, with_nl: str, with_en: str, pins: tuple[str, ...], spdx: str) -> str:
    packages = "".join(f"    - {pin}\n" for pin in pins)
    return f"""# A small bundle with {with_en}, for the published-apps tests (issue 17): the framework an app runs on.
id: {bundle_id}
title:
  nl: Testbundel met {with_nl}
  en: Test bundle with {with_en}
description:
  nl: Alleen voor tests van gepubliceerde apps.
  en: Only for the tests of published apps.
roles: [bi]
version: "1.0.0"
lifecycle:
  status: active
interfaces: [jupyterlab]
image:
  repository: ghcr.io/gereedschapskist/{bundle_id}
  tag: "1.0.0"
packages:
  pypi:
{packages}sizes:
  - id: small
    cpu: 1
    memory: 2Gi
licence:
  spdx: {spdx}
  open_source: true
security_review:
  reviewer: Hub tests
  date: 2026-10-01
  valid_until: 2099-10-01
supply_model: standard-contract
maintainers:
  - name: Team Dataplatform
    email: dataplatform@gereedschapskist.nl
"""


TINY_PANEL = _tiny_bundle("tiny-panel", "Panel", "Panel", (f"panel=={PANEL_VERSION}",), "BSD-3-Clause")
TINY_APPS = _tiny_bundle("tiny-apps", "Streamlit, Dash en Shiny", "Streamlit, Dash and Shiny", APP_FRAMEWORK_PINS,
                         "Apache-2.0 AND MIT")
#: A Panel app whose text appears only once Bokeh's JavaScript has rendered it over the WebSocket.
PANEL_APP = '''import panel as pn

pn.extension()
pn.Column(pn.pane.Markdown("# Verkoop per maand"), pn.widgets.IntSlider(name="Maand", start=1, end=12, value=3),
          pn.pane.Markdown("Gepubliceerd vanuit een werkplek")).servable(title="Verkoop")
'''


def apps_catalogue(folder: Path) -> Path:
    """A copy of the hub's test catalogue with ``tiny-panel`` and ``tiny-apps`` added."""
    shutil.copytree(TESTS / "hub" / "fixtures" / "catalogue", folder)
    (folder / "bundles" / "bi" / "tiny-panel.yaml").write_text(TINY_PANEL, encoding="utf-8")
    (folder / "bundles" / "bi" / "tiny-apps.yaml").write_text(TINY_APPS, encoding="utf-8")
    return folder


@dataclass(frozen=True)
class AppsStack:
    provider: OidcProvider
    hub: HubProcess
    secrets: DevSecrets
    hub_port: int
    portal_port: int
    catalogue_dir: Path
    state_dir: Path

    @property
    def url(self) -> str:
        return self.hub.url

    def home(self, username: str) -> Path:
        return self.state_dir / "users" / username


@pytest.fixture(scope="module")
def apps_stack(tmp_path_factory, accounts_file) -> Iterator[AppsStack]:
    state = tmp_path_factory.mktemp("apps-stack")
    catalogue = apps_catalogue(state / "catalogue")
    hub_port, portal_port = free_port(), free_port()
    while portal_port == hub_port:
        portal_port = free_port()
    secrets = DevSecrets.load_or_create(state)
    provider = OidcProvider.start(state, [hub_client(hub_port, secrets), portal_client(portal_port, secrets)],
                                  accounts_file=accounts_file)
    try:
        hub = HubProcess.start(state, provider, secrets=secrets, port=hub_port, catalogue_dir=catalogue,
                               portal_url=f"http://127.0.0.1:{portal_port}",
                               extra_env={"GEREEDSCHAPSKIST_HUB_PREPARE_ENVIRONMENTS": "false"})
        try:
            yield AppsStack(provider, hub, secrets, hub_port, portal_port, catalogue, state)
        finally:
            hub.stop()
    finally:
        provider.stop()


def stop_group(child: subprocess.Popen) -> None:
    """A child started with ``start_new_session=True`` and whatever it started (Voilà's kernel, Streamlit's
    watchers): its whole process group, SIGTERM first, then SIGKILL."""
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(10)
        except ProcessLookupError:
            pass
    try:
        os.killpg(child.pid, signal.SIGKILL)    # a kernel left behind by a server that did exit
    except (ProcessLookupError, PermissionError):
        pass
