"""Every app framework a published app may use (issue 17, section 1; ``gereedschapskist.core.apps.FRAMEWORKS``) serves
an app with the command the app server gives it (``hub/app_server.app_command``): its real server, from the real
environment of a catalogue bundle that pins it (built as the local hub builds it, uv and the bundle's pins from PyPI:
``bundle_environments`` in tests/conftest.py), run from the app's folder with the extra environment, under a server
prefix like the hub's, answers at the address the app proxy forwards to (the prefix, or ``/`` where the proxy strips
it) with the app's own text.

Not here: the hub, its OAuth and the app proxy in front (tests/hub/test_apps.py runs a Panel app through a real hub;
tests/e2e/test_publish_app.py in a browser). A command that a framework version no longer understands fails here
instead of at a user's first publish. Which bundle serves a framework comes from the catalogue (the first bundle, by
id, that pins the framework's package), so a new framework or bundle is tested without a change here."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gereedschapskist.catalogue import load
from gereedschapskist.core.apps import FRAMEWORKS, bundle_frameworks
from gereedschapskist.hub.app_server import app_command
from tests.apps_support import stop_group

CATALOGUE = load()
#: framework id → the first offered bundle (by id) that pins its package
BUNDLE_OF = {framework: next(b.id for b in sorted(CATALOGUE.bundles.values(), key=lambda b: b.id)
                             if b.offered and framework in bundle_frameworks(b))
             for framework in FRAMEWORKS
             if any(b.offered and framework in bundle_frameworks(b) for b in CATALOGUE.bundles.values())}
PREFIX = "/user/anna/app-verkoop/"
TEXT = "Verkoop per maand"
ANSWER_WITHIN = 90      # seconds from the start until the app answers (a cold import of Voilà or Dash takes ~10 s)

APPS: dict[str, tuple[str, str]] = {
    "panel": ("verkoop.py", f'import panel as pn\n\npn.pane.Markdown("# {TEXT}").servable(title="{TEXT}")\n'),
    "streamlit": ("verkoop.py", f'import streamlit as st\n\nst.title("{TEXT}")\n'),
    "dash": ("verkoop.py", "from dash import Dash, html\n\n"
                           "app = Dash(__name__)\n"
                           f'app.layout = html.Div([html.H1("{TEXT}")])\n\n'
                           'if __name__ == "__main__":\n'
                           "    app.run()\n"),
    "shiny": ("verkoop.py", f'from shiny import App, ui\n\napp = App(ui.page_fluid(ui.h1("{TEXT}")), None)\n'),
    "voila": ("verkoop.ipynb", json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
                   "source": [f'print("{TEXT}: " + str(6 * 7))']}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5})),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(env_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """The app's environment as the local hub's spawner gives it (``hub/spawner.get_env``: the bundle environment
    first on PATH, no interpreter variables of the hub's), plus the command's own variables."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(env_dir / "bin"), env.get("PATH", os.defpath)])
    env["VIRTUAL_ENV"] = str(env_dir)
    env.update(extra)
    return env


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def _wait_for(url: str, child: subprocess.Popen, log: Path) -> tuple[int, str]:
    deadline = time.monotonic() + ANSWER_WITHIN
    while True:
        if child.poll() is not None:
            pytest.fail(f"the server exited with code {child.returncode} before it answered:\n"
                        f"{log.read_text(errors='replace')[-4000:]}")
        try:
            return _get(url)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer within {ANSWER_WITHIN} s:\n"
                            f"{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.25)


def test_every_framework_has_a_bundle_to_run_on():
    assert set(BUNDLE_OF) == set(FRAMEWORKS), f"no offered bundle pins {set(FRAMEWORKS) - set(BUNDLE_OF)}"
    assert set(APPS) == set(FRAMEWORKS)


@pytest.mark.network        # the bundles' environments are built from PyPI (with uv's cache: seconds)
@pytest.mark.parametrize("framework", sorted(BUNDLE_OF), ids=lambda f: f"{f}@{BUNDLE_OF[f]}")
def test_the_framework_serves_an_app_with_the_app_servers_command(framework, bundle_environments, tmp_path):
    env_dir = bundle_environments(BUNDLE_OF[framework])
    folder = tmp_path / "dashboards"
    folder.mkdir()
    entry, source = APPS[framework]
    (folder / entry).write_text(source, encoding="utf-8")
    port = _free_port()
    argv, extra, strip = app_command(framework, python=str(env_dir / "bin" / "python"), entry=entry, port=port,
                                     prefix=PREFIX)
    base = f"http://127.0.0.1:{port}{'/' if strip else PREFIX}"
    log = tmp_path / f"{framework}.log"
    with log.open("wb") as out:
        # from the app's folder, as the app server starts it (GEREEDSCHAPSKIST_APP_DIR); a group of its own to stop
        child = subprocess.Popen(argv, cwd=folder, env=_environment(env_dir, extra), stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.monotonic()
        status, page = _wait_for(base, child, log)
        print(f"\n{framework} ({BUNDLE_OF[framework]}): answered at {base} after {time.monotonic() - started:.1f} s")
        assert status == 200, f"{base}: {status}\n{page[:2000]}"
        if framework == "panel":
            assert "bokeh" in page.lower() and TEXT in page       # the title; the Markdown arrives over the socket
        elif framework == "streamlit":
            # the page is Streamlit's JavaScript shell; the app answers under the prefix
            assert "<title>Streamlit</title>" in page, page[:2000]
            assert _get(f"{base}_stcore/health") == (200, "ok")
        elif framework == "dash":
            config = json.loads(re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>',
                                          page, re.S).group(1))
            assert config["requests_pathname_prefix"] == PREFIX      # DASH_URL_BASE_PATHNAME reached the app
            status, layout = _get(f"{base}_dash-layout")
            assert status == 200 and TEXT in layout, layout[:2000]
        elif framework == "shiny":
            assert f"<h1>{TEXT}</h1>" in page, page[:2000]
        elif framework == "voila":
            assert f"{TEXT}: 42" in page, page[-3000:]      # the notebook ran in the bundle's kernel
    finally:
        stop_group(child)
