"""Each image's Python environment resolves, from PyPI, exactly as its Dockerfile asks.

Runs ``uv pip compile`` (the uv version the images use) on the committed ``tooling.txt`` and
``pypi.txt`` of every bundle with the image's CPython, platform, cut-off date and wheels-only rule.
This is the part of an image build that can run without Docker: if a pin has no wheel for the
image's Python (bytewax 0.21.1 has none for 3.13) or conflicts with the tooling, it fails here.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gereedschapskist.catalogue import Ecosystem, Status, load
from gereedschapskist.images import toolchain as tc
from gereedschapskist.images.render import source_builds

from .conftest import CATALOGUE, IMAGES

UV = Path(sys.executable).with_name("uv")
WITH_PYTHON = sorted(b.id for b in load(CATALOGUE).bundles.values() if b.lifecycle.status is not Status.RETIRED)


def test_the_project_venv_has_the_images_uv():
    out = subprocess.run([str(UV), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == tc.UV_VERSION


def _compile(bundle_id: str, out: Path) -> subprocess.CompletedProcess:
    """Resolve from uv's cache when it holds everything (PyPI before the cut-off does not change), else online."""
    folder = IMAGES / "bundles" / bundle_id
    inputs = [str(folder / "tooling.txt")] + ([str(folder / "pypi.txt")] if (folder / "pypi.txt").exists() else [])
    command = [str(UV), "pip", "compile", "--quiet", "--no-header", *inputs, "--output-file", str(out),
               "--python-version", tc.PYTHON_VERSION, "--python-platform", tc.MANYLINUX,
               "--exclude-newer", tc.RESOLVED_AT, "--only-binary", tc.ONLY_BINARY]
    for name in source_builds(load(CATALOGUE).bundles[bundle_id]):   # as the Dockerfile: no wheels exist for these
        command += ["--no-binary", name]
    cached = subprocess.run(command + ["--offline"], capture_output=True, text=True, timeout=300)
    if cached.returncode == 0:
        return cached
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory):
    """Every bundle resolved at once (the work is waiting on PyPI, so in parallel)."""
    folder = tmp_path_factory.mktemp("resolved")
    with ThreadPoolExecutor(max_workers=len(WITH_PYTHON)) as pool:
        futures = {b: pool.submit(_compile, b, folder / f"{b}.txt") for b in WITH_PYTHON}
    return {b: (f.result(), folder / f"{b}.txt") for b, f in futures.items()}


@pytest.mark.network
@pytest.mark.parametrize("bundle_id", WITH_PYTHON)
def test_the_bundle_environment_resolves_with_wheels_for_the_image(catalogue, bundle_id, resolutions):
    result, out = resolutions[bundle_id]
    assert result.returncode == 0, f"{bundle_id}: {result.stderr}"
    resolved = {line.split("==")[0].lower(): line.split("==")[1].split()[0]
                for line in out.read_text().splitlines() if "==" in line and not line.startswith(("#", " "))}
    bundle = catalogue.bundles[bundle_id]
    for package in bundle.packages_of(Ecosystem.PYPI):
        assert resolved.get(package.key) == package.version, package.requirement
    for pin in tc.BASE_TOOLS:
        assert resolved.get(pin.name) == pin.version
