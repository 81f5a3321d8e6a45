"""Rendering: the committed definitions are exactly what the catalogue renders to, byte for byte."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib

import pytest

from gereedschapskist.catalogue import Ecosystem, Image, Interface, Package, Status, load
from gereedschapskist.images import toolchain as tc
from gereedschapskist.images.render import (
    DOCKERFILE, PACKAGE_FILES, TOOLING_FILE, read_package_file, render_bundle, tooling,
)
from gereedschapskist.images.tree import render_all

from .conftest import CATALOGUE, IMAGES, REPO

ACTIVE = sorted(b.id for b in load(CATALOGUE).bundles.values() if b.lifecycle.status is not Status.RETIRED)


@pytest.mark.parametrize("bundle_id", ACTIVE)
def test_committed_definition_equals_the_rendering(catalogue, bundle_id):
    definition = render_bundle(catalogue.bundles[bundle_id])
    folder = IMAGES / definition.folder
    assert sorted(p.name for p in folder.iterdir()) == sorted(definition.files)
    for name, text in definition.files.items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"{definition.folder}/{name} differs"


def test_project_image_definitions_equal_the_rendering(catalogue):
    rendered = render_all(catalogue)
    for folder in ("portal", "hub"):
        for name, text in rendered.definitions[folder].files.items():
            assert (IMAGES / folder / name).read_text(encoding="utf-8") == text, f"{folder}/{name}"


def test_retired_bundles_get_no_definition(catalogue):
    retired = [b.id for b in catalogue.bundles.values() if b.lifecycle.status is Status.RETIRED]
    assert retired, "the catalogue has a retired bundle to test with"
    rendered = render_all(catalogue)
    for bundle_id in retired:
        assert f"bundles/{bundle_id}" not in rendered.definitions
        assert not (IMAGES / "bundles" / bundle_id).exists()


def _digest_of_rendering() -> str:
    code = ("import hashlib, json; from gereedschapskist.catalogue import load; "
            "from gereedschapskist.images.tree import render_all; "
            f"r = render_all(load({str(CATALOGUE)!r})); "
            "print(hashlib.sha256(json.dumps({k: dict(d.files) for k, d in r.definitions.items()}, "
            "sort_keys=True).encode()).hexdigest())")
    return code


def test_rendering_is_deterministic_across_processes(catalogue):
    """Same catalogue, same bytes — also under different hash seeds (no set/dict-order leaks)."""
    here = render_all(catalogue)
    expected = hashlib.sha256(json.dumps({k: dict(d.files) for k, d in here.definitions.items()},
                                         sort_keys=True).encode()).hexdigest()
    for seed in ("4242",):
        out = subprocess.run([sys.executable, "-c", _digest_of_rendering()], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        assert out.stdout.strip() == expected


def test_package_order_and_digest_do_not_change_the_definition(catalogue):
    bundle = catalogue.bundles["ml-python"]
    shuffled = dataclasses.replace(bundle, packages=tuple(reversed(bundle.packages)),
                                   image=Image(bundle.image.repository, bundle.image.tag, "sha256:" + "a" * 64))
    assert render_bundle(shuffled).files == render_bundle(bundle).files


@pytest.mark.parametrize("bundle_id", ACTIVE)
def test_package_lists_hold_exactly_the_bundle_pins(catalogue, bundle_id):
    bundle = catalogue.bundles[bundle_id]
    files = render_bundle(bundle).files
    for ecosystem, name in PACKAGE_FILES.items():
        pins = {p.name: p.version for p in bundle.packages_of(ecosystem)}
        if pins:
            assert read_package_file(files[name]) == pins
        else:
            assert name not in files


def test_a_pin_in_the_bundle_wins_over_the_tooling(catalogue):
    bundle = catalogue.bundles["bi-sql-duckdb"]
    own = dataclasses.replace(bundle, packages=bundle.packages + (Package(Ecosystem.PYPI, "JupyterLab", "4.5.0"),))
    files = render_bundle(own).files
    assert "jupyterlab" not in read_package_file(files[TOOLING_FILE])
    assert read_package_file(files["pypi.txt"])["JupyterLab"] == "4.5.0"
    assert "jupyterlab" in read_package_file(render_bundle(bundle).files[TOOLING_FILE])


def test_tooling_follows_the_interfaces(catalogue):
    names = lambda b: {p.name for p in tooling(b)}  # noqa: E731
    assert {"jupyterhub", "jupyterlab", "ipykernel"} <= names(catalogue.bundles["ml-python"])
    assert "jupyter-rsession-proxy" in names(catalogue.bundles["bi-r-analysis"])
    assert "jupyter-vscode-proxy" in names(catalogue.bundles["dev-python"])
    assert not names(catalogue.bundles["ml-python"]) & {"jupyter-rsession-proxy", "jupyter-vscode-proxy"}


def test_tooling_pins_match_the_project_pins():
    """The single-user server speaks the hub's version; uv is the one the project pins."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    pins = {}
    for extra in project["project"]["optional-dependencies"].values():
        for requirement in extra:
            name, _, version = requirement.partition("==")
            pins[name.split("[")[0].lower()] = version
    tools = {p.name: p.version for p in tc.BASE_TOOLS}
    assert tools["jupyterhub"] == pins["jupyterhub"]
    assert tools["jupyterlab"] == pins["jupyterlab"]
    assert tc.UV_VERSION == pins["uv"]


def _instructions(dockerfile: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    return [line for line in joined.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("bundle_id", ACTIVE)
def test_dockerfile_is_pinned_non_root_and_starts_the_single_user_server(catalogue, bundle_id):
    bundle = catalogue.bundles[bundle_id]
    lines = _instructions(render_bundle(bundle).files[DOCKERFILE])
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert froms and all(re.fullmatch(r"[a-z0-9./-]+:[A-Za-z0-9._-]+", ref) for ref in froms)
    assert not any(ref.endswith(":latest") for ref in froms)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users[-1] == str(tc.USER_UID)
    assert lines[-1] == 'CMD ["jupyterhub-singleuser"]'
    label = next(line for line in lines if line.startswith("LABEL "))
    assert f'nl.gereedschapskist.bundle.id="{bundle.id}"' in label
    assert f'nl.gereedschapskist.bundle.version="{bundle.version}"' in label
    assert f'org.opencontainers.image.version="{bundle.version}"' in label
    install = next(line for line in lines if "uv pip install" in line)
    assert f"--exclude-newer {tc.RESOLVED_AT}" in install and "--only-binary :all:" in install
    if bundle.packages_of(Ecosystem.PYPI):
        assert f"--requirement {tc.IMAGE_SHARE}/pypi.txt" in install


def test_interfaces_and_gpu_shape_the_dockerfile(catalogue):
    vscode = render_bundle(catalogue.bundles["dev-python"]).files[DOCKERFILE]
    assert f"--checksum=sha256:{tc.CODE_SERVER.sha256}" in vscode and tc.CODE_SERVER.url in vscode
    assert "/opt/code-server/bin" in vscode
    gpu = render_bundle(catalogue.bundles["ml-pytorch-gpu"]).files[DOCKERFILE]
    assert "NVIDIA_VISIBLE_DEVICES=all" in gpu
    cpu = render_bundle(catalogue.bundles["ml-python"]).files[DOCKERFILE]
    assert "NVIDIA" not in cpu and "code-server" not in cpu
    r = render_bundle(catalogue.bundles["bi-r-analysis"]).files
    assert "IRkernel::installspec" in r[DOCKERFILE] and "install-cran.R" in r
    assert "userdel --remove rstudio" in r[DOCKERFILE]


def test_conda_forge_packages_are_installed_with_mamba(catalogue):
    bundle = catalogue.bundles["streaming-kafka"]
    with_conda = dataclasses.replace(
        bundle, packages=bundle.packages + (Package(Ecosystem.CONDA_FORGE, "librdkafka", "2.6.1"),))
    files = render_bundle(with_conda).files
    assert read_package_file(files["conda-forge.txt"]) == {"librdkafka": "2.6.1"}
    assert "mamba install --yes --override-channels --channel conda-forge --file " in files[DOCKERFILE]


def test_rstudio_interface_alone_adds_r_tooling_without_cran(catalogue):
    bundle = dataclasses.replace(catalogue.bundles["ml-python"], interfaces=(Interface.RSTUDIO, Interface.JUPYTERLAB))
    files = render_bundle(bundle).files
    assert "FROM rocker/rstudio:" in files[DOCKERFILE]
    assert "cran.txt" not in files and "Rscript" not in files[DOCKERFILE]
    assert 'default-url="/rstudio/"' in files[DOCKERFILE]
