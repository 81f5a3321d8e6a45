"""The CI matrix comes from the tree and the git diff: a real git repository in a fixture folder."""

from __future__ import annotations

import json
import subprocess

import pytest
from typer.testing import CliRunner

from gereedschapskist.cli import build_app
from gereedschapskist.images.matrix import MatrixError, changed_files, plan


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(project):
    git(project.root, "init", "--quiet", "--initial-branch=main")
    git(project.root, "config", "user.email", "test@gereedschapskist.nl")
    git(project.root, "config", "user.name", "test")
    (project.root / "hub").mkdir()
    (project.root / "hub" / "__init__.py").write_text("", encoding="utf-8")
    git(project.root, "add", "-A")
    git(project.root, "commit", "--quiet", "-m", "start")
    project.base = git(project.root, "rev-parse", "HEAD")
    return project


def commit(project, message="change"):
    git(project.root, "add", "-A")
    git(project.root, "commit", "--quiet", "-m", message)


def bundles(result):
    return [entry["bundle"] for entry in result.bundles]


def test_without_a_base_everything_is_built(repo):
    result = plan(repo.load(), changed_files(repo.root, None))
    catalogue = repo.load()
    assert bundles(result) == sorted(b.id for b in catalogue.bundles.values() if b.lifecycle.status != "retired")
    assert [p["name"] for p in result.project] == ["portal", "hub"]
    assert plan(catalogue, changed_files(repo.root, "0" * 40)).bundles == result.bundles
    assert plan(catalogue, changed_files(repo.root, "deadbeef" * 5)).bundles == result.bundles


def test_nothing_changed_nothing_to_build(repo):
    result = plan(repo.load(), changed_files(repo.root, repo.base))
    assert result.bundles == [] and result.project == []
    assert result.as_outputs()["has-bundles"] == "false"


def test_only_the_bundle_whose_definition_changed_is_built(repo):
    repo.edit(repo.bundle_file("bundles/ml/ml-python.yaml"), "- seaborn==0.13.2", "- seaborn==0.13.1")
    runner = CliRunner()
    assert runner.invoke(build_app(), ["images", "render", "--catalogue", str(repo.catalogue)]).exit_code == 0
    commit(repo)
    result = plan(repo.load(), changed_files(repo.root, repo.base))
    assert bundles(result) == ["ml-python"]
    entry = result.bundles[0]
    assert entry["context"] == "images/bundles/ml-python"
    assert entry["image"] == "ghcr.io/gereedschapskist/ml-python:2.1.0"
    assert entry["base"] in entry["froms"].split()
    # the catalogue changed too, and the catalogue ships inside the project images
    assert [p["name"] for p in result.project] == ["portal", "hub"]


def test_a_change_to_a_bundle_that_does_not_touch_its_definition_builds_no_bundle_image(repo):
    repo.edit(repo.bundle_file("bundles/ml/ml-python.yaml"), "for data processing", "for processing data")
    commit(repo)
    result = plan(repo.load(), changed_files(repo.root, repo.base))
    assert result.bundles == []


def test_hub_code_rebuilds_the_project_images_only(repo):
    (repo.root / "hub" / "spawner.py").write_text("X = 1\n", encoding="utf-8")
    commit(repo)
    result = plan(repo.load(), changed_files(repo.root, repo.base))
    assert result.bundles == []
    assert [p["name"] for p in result.project] == ["portal", "hub"]
    assert all(p["smoke"] for p in result.project)


def test_the_registry_must_match_the_catalogue(repo):
    catalogue = repo.load()
    assert plan(catalogue, None, registry="ghcr.io/gereedschapskist").bundles
    with pytest.raises(MatrixError) as caught:
        plan(catalogue, None, registry="registry.example.nl/tools")
    assert "bundles/ml/ml-python.yaml" in str(caught.value)
    assert "registry.example.nl/tools/ml-python" in str(caught.value)


def test_the_cli_writes_github_outputs(repo, tmp_path):
    (repo.images / "bundles" / "dev-dbt" / "pypi.txt").write_text("dbt-core==0\n", encoding="utf-8")
    commit(repo)
    out = tmp_path / "github_output"
    result = CliRunner().invoke(build_app(), ["images", "matrix", "--base", repo.base, "--catalogue",
                                              str(repo.catalogue), "--github-output", str(out)])
    assert result.exit_code == 0, result.output
    outputs = dict(line.split("=", 1) for line in out.read_text(encoding="utf-8").splitlines())
    assert outputs["has-bundles"] == "true"
    assert [e["bundle"] for e in json.loads(outputs["bundles"])["include"]] == ["dev-dbt"]
    assert outputs["has-project"] == "false"
