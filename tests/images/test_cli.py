"""``gereedschapskist images render``: writes the definitions, or with --check only reports drift."""

from __future__ import annotations

from typer.testing import CliRunner

from gereedschapskist.cli import build_app

from .conftest import copy_catalogue

RUNNER = CliRunner()


def images(*args):
    return RUNNER.invoke(build_app(), ["images", *args])


def test_the_repository_is_in_step():
    result = images("render", "--check")
    assert result.exit_code == 0, result.output
    assert "image definitions in step with the catalogue" in result.output


def test_check_reports_drift_and_changes_nothing(project):
    pypi = project.images / "bundles" / "ml-python" / "pypi.txt"
    pypi.write_text("pandas==0.1\n", encoding="utf-8")
    result = images("render", "--check", "--catalogue", str(project.catalogue))
    assert result.exit_code == 1
    assert "bundles/ml-python/: out of date: bundles/ml-python/pypi.txt" in result.output
    assert "gereedschapskist images render" in result.output
    assert pypi.read_text(encoding="utf-8") == "pandas==0.1\n"


def test_render_writes_only_what_changed(project):
    dockerfile = project.images / "hub" / "Dockerfile"
    dockerfile.unlink()
    result = images("render", "--catalogue", str(project.catalogue))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "hub" in result.output and "bundles" not in result.output
    assert dockerfile.is_file()
    again = images("render", "--catalogue", str(project.catalogue))
    assert again.exit_code == 0 and "wrote" not in again.output


def test_a_catalogue_without_images_folder_needs_one_named(tmp_path):
    root = copy_catalogue(tmp_path / "catalogue-of-tools")
    result = images("render", "--catalogue", str(root))
    assert result.exit_code == 2 and "no images/ folder" in result.output
    target = tmp_path / "out"
    target.mkdir()
    named = images("render", "--catalogue", str(root), "--images-dir", str(target))
    assert named.exit_code == 0, named.output
    assert (target / "bundles" / "ml-python" / "Dockerfile").is_file()


def test_an_invalid_catalogue_is_not_rendered(project):
    project.edit(project.bundle_file("bundles/ml/ml-python.yaml"), "memory: 8Gi", "memory: 8 GB")
    before = (project.images / "bundles" / "ml-python" / "Dockerfile").read_text(encoding="utf-8")
    result = images("render", "--catalogue", str(project.catalogue))
    assert result.exit_code == 1
    assert "ml-python.yaml" in result.output and "catalogue check" in result.output
    assert (project.images / "bundles" / "ml-python" / "Dockerfile").read_text(encoding="utf-8") == before
