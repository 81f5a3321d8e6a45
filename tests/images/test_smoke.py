"""The smoke test CI runs inside each image, generated from the catalogue.

The full script needs the image (non-root user, /opt/venv, RStudio …), which cannot be built here
(no Docker engine, no registry). What can run here runs for real: the script's bash syntax, and
the in-image Python checker against a real virtualenv built with uv from PyPI, including the
tooling of a vscode bundle and the exact ``jupyter server extension list`` probe of the script.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gereedschapskist.catalogue import Ecosystem, Package, Status
from gereedschapskist.cli import build_app
from gereedschapskist.images.render import tooling
from gereedschapskist.images.smoke import smoke_script

UV = Path(sys.executable).with_name("uv")
CHECKER = Path(__import__("gereedschapskist.images.smoke_python", fromlist=["x"]).__file__)


def active(catalogue):
    return [b for b in catalogue.bundles.values() if b.lifecycle.status is not Status.RETIRED]


def test_every_script_is_valid_bash(catalogue, tmp_path):
    for bundle in active(catalogue):
        path = tmp_path / f"{bundle.id}.sh"
        path.write_text(smoke_script(bundle), encoding="utf-8")
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{bundle.id}: {result.stderr}"


def _specs(script: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r"^python - '(\{.*\})' <<'PYCODE'$", script, re.M)]


def test_the_script_expects_every_declared_package_at_its_pin(catalogue):
    for bundle in active(catalogue):
        script = smoke_script(bundle)
        specs = {spec.get("label", "conda"): spec["pins"] for spec in _specs(script)}
        assert specs["interface tooling"] == {p.name: p.version for p in tooling(bundle)}
        pypi = {p.name: p.version for p in bundle.packages_of(Ecosystem.PYPI)}
        assert specs.get("PyPI packages", {}) == pypi, bundle.id
        for package in bundle.packages_of(Ecosystem.CRAN):
            assert f'"{package.name}" = "{package.version}"' in script
        assert "jupyterhub-singleuser --help" in script
        assert 'if [ "$uid" -eq 0 ]' in script
        if any(i.value == "vscode" for i in bundle.interfaces):
            assert "code-server --version" in script
        if any(i.value == "rstudio" for i in bundle.interfaces):
            assert "get_rstudio_executable" in script


def test_conda_forge_packages_are_checked_with_mamba(catalogue):
    bundle = catalogue.bundles["streaming-kafka"]
    script = smoke_script(dataclasses.replace(
        bundle, packages=bundle.packages + (Package(Ecosystem.CONDA_FORGE, "librdkafka", "2.6.1"),)))
    assert {"librdkafka": "2.6.1"} in [spec["pins"] for spec in _specs(script)]
    assert '"mamba", "list", "--json"' in script


def test_the_cli_prints_the_script_and_refuses_unknown_bundles():
    runner = CliRunner()
    ok = runner.invoke(build_app(), ["images", "smoke-test", "bi-sql-duckdb"])
    assert ok.exit_code == 0 and ok.output.startswith("#!/usr/bin/env bash")
    unknown = runner.invoke(build_app(), ["images", "smoke-test", "no-such-bundle"])
    assert unknown.exit_code == 2 and "no bundle 'no-such-bundle'" in unknown.output


# --------------------------------------------------------------------------- against a real environment


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A real virtualenv with a vscode bundle's tooling and two small PyPI packages (uv, from PyPI)."""
    target = tmp_path_factory.mktemp("smoke") / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(target)], check=True)
    requirements = ["jupyterhub==6.1.1", "jupyterlab==4.6.6", "ipykernel==7.4.0", "jupyter-server-proxy==4.6.0",
                    "jupyter-vscode-proxy==0.7", "six==1.17.0", "python-dateutil==2.9.0.post0"]
    subprocess.run([str(UV), "pip", "install", "--quiet", "--python", str(target / "bin" / "python"),
                    *requirements], check=True)
    return target


def run_checker(venv, pins):
    spec = json.dumps({"label": "test packages", "pins": pins})
    return subprocess.run([str(venv / "bin" / "python"), str(CHECKER), spec], capture_output=True, text=True)


@pytest.mark.network
def test_checker_passes_when_every_pin_is_installed_and_imports(venv, catalogue):
    pins = {p.name: p.version for p in tooling(catalogue.bundles["dev-python"])}
    pins.update({"six": "1.17.0", "python-dateutil": "2.9.0.post0"})
    result = run_checker(venv, pins)
    assert result.returncode == 0, result.stderr
    assert "ok  python-dateutil==2.9.0.post0  imports dateutil" in result.stdout
    assert "ok  jupyter-vscode-proxy==0.7  imports jupyter_vscode_proxy" in result.stdout
    assert "ok  jupyterhub==6.1.1  imports jupyterhub" in result.stdout


@pytest.mark.network
def test_checker_fails_naming_the_package_with_the_wrong_version_or_missing(venv):
    result = run_checker(venv, {"six": "1.16.0", "pandas": "2.3.3", "jupyterhub": "6.1.1"})
    assert result.returncode == 1
    assert "six==1.16.0: installed version is 1.17.0" in result.stderr
    assert "pandas==2.3.3: not installed" in result.stderr
    assert "2 of 3 package(s)" in result.stderr


@pytest.mark.network
def test_the_scripts_server_probes_work_on_a_real_environment(venv, catalogue):
    script = smoke_script(catalogue.bundles["dev-python"])
    probe = next(line for line in script.splitlines() if line.startswith("jupyter server extension list"))
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(venv.parent)}
    listed = subprocess.run(["bash", "-c", f"set -euo pipefail; {probe}"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    helped = subprocess.run(["bash", "-c", "jupyterhub-singleuser --help > /dev/null"], env=env,
                            capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr
    imported = subprocess.run(["bash", "-c", "python -c 'import jupyter_vscode_proxy'"], env=env)
    assert imported.returncode == 0
