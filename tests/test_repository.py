"""The repository's shape: fixed layout, package map in step with the tree, CI wiring for the catalogue."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import yaml

from gereedschapskist.catalogue import load_catalogue

from .catalogue.conftest import TODAY, Tree

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_fixed_top_level_layout():
    for name in ("pyproject.toml", "infra", "hub", "images", "catalogue-of-tools", "portal", "tests", "README.md",
                 "Makefile", ".ci/run"):
        assert (ROOT / name).exists(), name
    allowed = {"pyproject.toml", "uv.lock", "infra", "hub", "images", "catalogue-of-tools", "portal", "tests",
               "README.md", "Makefile", "docs"}
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout
    tracked = {line.split("/")[0] for line in listed.splitlines() if not line.startswith(".")}
    assert tracked <= allowed, tracked - allowed


def test_every_python_package_folder_is_mapped_in_pyproject():
    """setuptools' package list must follow the tree (a missing entry breaks only the built wheel/image)."""
    tool = PYPROJECT["tool"]["setuptools"]
    mapping = tool["package-dir"]
    declared = set(tool["packages"])
    found = set()
    for package, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            if "node_modules" in init.parts or ".venv" in init.parts:
                continue
            rel = init.parent.relative_to(base)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    # sub-packages mapped to a folder of their own belong to that mapping only
    assert found == declared, (found - declared, declared - found)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci
    assert "make test" in (ROOT / "README.md").read_text()
    assert "make up" in (ROOT / "README.md").read_text()


def test_catalogue_workflow_checks_and_comments_on_catalogue_pull_requests():
    workflow = yaml.safe_load((ROOT / ".github/workflows/catalogue.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert "catalogue-of-tools/**" in triggers["pull_request"]["paths"]
    steps = workflow["jobs"]["check"]["steps"]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "gereedschapskist catalogue check --format github" in commands
    assert "gereedschapskist catalogue diff" in commands and "gh pr comment" in commands
    assert any(step.get("with", {}).get("fetch-depth") == 0 for step in steps)
    assert workflow["permissions"]["pull-requests"] == "write"


def test_codeowners_cover_the_catalogue():
    owners = (ROOT / ".github/CODEOWNERS").read_text()
    for folder in ("bundles", "roles", "partners", "schema"):
        assert f"/catalogue-of-tools/{folder}/" in owners


def test_the_bundle_template_is_a_valid_bundle(tmp_path):
    source = ROOT / "catalogue-of-tools"
    tree = Tree(tmp_path / "catalogue")
    for folder in ("roles", "partners"):
        shutil.copytree(source / folder, tree.root / folder)
    (tree.root / "bundles/bi").mkdir(parents=True)
    shutil.copy(source / "templates/bundle.yaml", tree.root / "bundles/bi/bi-example.yaml")
    result = load_catalogue(tree.root, today=TODAY)
    assert result.errors == [], [p.format() for p in result.errors]
    assert "bi-example" in result.catalogue.bundles
    assert (ROOT / ".github/PULL_REQUEST_TEMPLATE/new-bundle.md").exists()
