"""The project template of the development bundle (``catalogue-of-tools/project-templates/python-package``,
issue 17's GitHub/CircleCI row) renders with the copier version dev-python pins, and what it makes is a working
project: its tests pass, and its pre-commit and CI files (GitHub Actions, GitLab CI, Forgejo Actions) are valid
YAML that run the same checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from uv import find_uv_bin

from gereedschapskist.catalogue import Ecosystem, default_root, load

TEMPLATE = default_root() / "project-templates" / "python-package"


def copier_pin() -> str:
    dev = load().bundles["dev-python"]
    return next(p.requirement for p in dev.packages_of(Ecosystem.PYPI) if p.name == "copier")


@pytest.mark.network
def test_the_template_renders_a_tested_project_with_ci(tmp_path):
    out = tmp_path / "analyse-woz"
    run = subprocess.run([find_uv_bin(), "tool", "run", "--from", copier_pin(), "copier", "copy", "--defaults",
                          "--data", "project_name=analyse-woz", "--data", "organisation=cbs",
                          "--vcs-ref", "HEAD", str(TEMPLATE), str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"pyproject.toml", "src/analyse_woz/__init__.py", "tests/test_basics.py", ".pre-commit-config.yaml",
            ".github/workflows/ci.yml", ".gitlab-ci.yml", ".forgejo/workflows/ci.yml", "README.md",
            ".gitignore"} <= files
    assert not any(name.endswith(".jinja") for name in files)
    github = yaml.safe_load((out / ".github/workflows/ci.yml").read_text())
    forgejo = yaml.safe_load((out / ".forgejo/workflows/ci.yml").read_text())
    gitlab = yaml.safe_load((out / ".gitlab-ci.yml").read_text())
    for steps in (github["jobs"]["test"]["steps"], forgejo["jobs"]["test"]["steps"]):
        assert [s["run"] for s in steps if "run" in s][-2:] == ["ruff check .", "pytest"]
    assert gitlab["test"]["script"][-1] == "pytest" and gitlab["test"]["image"] == "python:3.12-slim"
    hooks = {h["id"] for repo in yaml.safe_load((out / ".pre-commit-config.yaml").read_text())["repos"]
             for h in repo["hooks"]}
    assert {"ruff", "ruff-format", "check-yaml"} <= hooks
    assert 'name = "analyse-woz"' in (out / "pyproject.toml").read_text()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=out,
                           capture_output=True, text=True, timeout=120)
    assert tests.returncode == 0 and "1 passed" in tests.stdout, tests.stdout + tests.stderr


@pytest.mark.network
def test_a_bad_project_name_is_refused(tmp_path):
    run = subprocess.run([find_uv_bin(), "tool", "run", "--from", copier_pin(), "copier", "copy", "--defaults",
                          "--data", "project_name=Mijn Project!", "--vcs-ref", "HEAD", str(TEMPLATE),
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 and "lowercase letters, digits and hyphens" in run.stderr + run.stdout
    assert not (tmp_path / "out" / "pyproject.toml").exists()
