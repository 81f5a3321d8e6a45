"""``catalogue check --resolve``: a bundle without a GPU size must not pull CUDA wheels (issue 12, item 5).

The rule is tested offline against a folder of small wheels made here (uv's ``UV_FIND_LINKS`` and
``UV_NO_INDEX``: the same resolver, another index); the project's own ML bundle against the real PyPI."""

from __future__ import annotations

import dataclasses
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gereedschapskist.catalogue import Ecosystem, Package, Size, load
from gereedschapskist.catalogue.cli import app
from gereedschapskist.catalogue.resolution import cuda_problems, resolve

FIXTURES = Path(__file__).resolve().parents[1] / "hub" / "fixtures" / "catalogue"


def wheel(folder: Path, name: str, version: str, *requires: str) -> None:
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{dist}.dist-info/METADATA", metadata)
        whl.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                 "Tag: py3-none-any\n")
        whl.writestr(f"{dist}.dist-info/RECORD", "")


@pytest.fixture
def index(tmp_path, monkeypatch) -> Path:
    """A package index of four wheels: gk-boost pulls an NVIDIA library, gk-boost-cpu does not."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    wheel(folder, "gk-boost", "1.0", "nvidia-nccl-cu12", "gk-numbers")
    wheel(folder, "gk-boost-cpu", "1.0", "gk-numbers")
    wheel(folder, "gk-numbers", "2.0")
    wheel(folder, "nvidia-nccl-cu12", "2.32.3")
    monkeypatch.setenv("UV_FIND_LINKS", str(folder))
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    return folder


def catalogue_with(tmp_path, **pins: str):
    root = tmp_path / "catalogue"
    shutil.copytree(FIXTURES, root)
    for bundle_id, pin in pins.items():
        path = next(root.glob(f"bundles/*/{bundle_id}.yaml"))
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("    - cowsay==6.1\n", f"    - {pin}\n"), encoding="utf-8")
    return root


def test_resolve_names_what_pulled_each_package(index):
    resolved = {r.name: r for r in resolve(["gk-boost==1.0"])}
    assert set(resolved) == {"gk-boost", "gk-numbers", "nvidia-nccl-cu12"}
    assert resolved["nvidia-nccl-cu12"].via == ("gk-boost",) and resolved["nvidia-nccl-cu12"].cuda
    assert not resolved["gk-numbers"].cuda


def test_a_cpu_bundle_pulling_cuda_wheels_is_warned_about_and_the_cpu_build_is_not(index, tmp_path):
    catalogue = load(catalogue_with(tmp_path, **{"tiny-cowsay": "gk-boost==1.0", "tiny-fresh": "gk-boost-cpu==1.0"}))
    problems = [p for p in cuda_problems(catalogue) if p.code == "packages.cuda-without-gpu"]
    assert [(p.file, p.path, p.code, p.severity.value, p.value) for p in problems] == [
        ("bundles/bi/tiny-cowsay.yaml", "$.packages.pypi[0]", "packages.cuda-without-gpu", "warning", "gk-boost==1.0")]
    assert "nvidia-nccl-cu12==2.32.3 (via gk-boost)" in problems[0].message


def test_a_gpu_bundle_may_pull_cuda(index, tmp_path):
    catalogue = load(catalogue_with(tmp_path, **{"tiny-cowsay": "gk-boost==1.0"}))
    bundle = catalogue.bundles["tiny-cowsay"]
    gpu = dataclasses.replace(bundle, sizes=bundle.sizes + (Size("gpu", 4, "16Gi", gpu=1),))
    assert cuda_problems(dataclasses.replace(catalogue, bundles={"tiny-cowsay": gpu})) == []


def test_pins_that_do_not_resolve_are_named(index, tmp_path):
    catalogue = load(catalogue_with(tmp_path, **{"tiny-cowsay": "gk-missing==9.9"}))
    unresolvable = {p.file: p for p in cuda_problems(catalogue) if p.code == "packages.unresolvable"}
    assert "gk-missing==9.9" in unresolvable["bundles/bi/tiny-cowsay.yaml"].message
    assert "cowsay==999.0.1" in unresolvable["bundles/bi/tiny-broken.yaml"].message


def test_the_cli_reports_it_only_when_asked_to_resolve(index, tmp_path):
    root = catalogue_with(tmp_path, **{"tiny-cowsay": "gk-boost==1.0", "tiny-fresh": "gk-boost-cpu==1.0"})
    runner = CliRunner()
    plain = runner.invoke(app, ["check", str(root)])
    assert plain.exit_code == 0 and "cuda" not in plain.output.lower()
    resolved = runner.invoke(app, ["check", str(root), "--resolve"])
    assert resolved.exit_code == 0, resolved.output            # a warning, not an error
    assert "warning: $.packages.pypi[0] = \"gk-boost==1.0\": the bundle has no GPU size" in resolved.output
    strict = runner.invoke(app, ["check", str(root), "--resolve", "--strict"])
    assert strict.exit_code == 1


@pytest.mark.network
def test_the_projects_cpu_ml_bundle_pulls_no_cuda_from_pypi():
    """Against the real PyPI: the ML bundle without a GPU resolves without nvidia-* wheels (it pins xgboost-cpu;
    xgboost itself pulls nvidia-nccl-cu12), and the rule would have caught the old pin."""
    catalogue = load()
    bundle = catalogue.bundles["ml-python"]
    assert not bundle.needs_gpu
    assert cuda_problems(dataclasses.replace(catalogue, bundles={bundle.id: bundle})) == []
    old = dataclasses.replace(bundle, packages=tuple(
        Package(Ecosystem.PYPI, "xgboost", p.version) if p.name == "xgboost-cpu" else p for p in bundle.packages))
    (problem,) = cuda_problems(dataclasses.replace(catalogue, bundles={bundle.id: old}))
    assert "nvidia-nccl-cu12" in problem.message and "(via xgboost)" in problem.message
