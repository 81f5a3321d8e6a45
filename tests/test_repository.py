"""The repository's shape: fixed layout, package map in step with the tree, CI wiring for the catalogue."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
import tomllib
from pathlib import Path

import pytest
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
               "README.md", "Makefile", "docs", "gereedschapskist", "dev"}
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout
    tracked = {line.split("/")[0] for line in listed.splitlines() if not line.startswith(".")}
    assert tracked <= allowed, tracked - allowed


COMPONENTS = ("hub", "portal", "images", "infra", "dev")


def test_every_component_folder_appears_in_the_root_package_as_a_link():
    """``gereedschapskist/<component>`` is a relative link to the top-level folder, so the import name is a
    plain path for static tools and setuptools' package finder (which follows links) puts it in the wheel."""
    root_package = ROOT / "gereedschapskist"
    for component in COMPONENTS:
        link = root_package / component
        assert link.is_symlink(), f"{link} must be a link to ../{component}"
        assert Path(link.readlink()) == Path("..") / component
        assert (ROOT / component / "__init__.py").is_file(), component
    schemas = root_package / "catalogue" / "schemas"
    assert schemas.is_symlink() and schemas.resolve() == (ROOT / "catalogue-of-tools" / "schema").resolve()
    linked = {p.name for p in root_package.iterdir() if p.is_symlink()}
    assert linked == set(COMPONENTS), linked


@pytest.mark.network
def test_the_wheel_holds_every_package_of_the_tree_and_its_data(tmp_path):
    """The wheel's package list comes from the tree (``packages.find`` follows the links), never from a
    hand-kept list; images install this wheel, so a package or data file missing here breaks them."""
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([str(uv), "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("gereedschapskist-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = set()
    for folder, dirs, files in os.walk(ROOT / "gereedschapskist", followlinks=True):
        dirs[:] = [d for d in dirs if d not in ("node_modules", "__pycache__")]
        rel = Path(folder).relative_to(ROOT)
        if "__init__.py" in files:
            expected |= {(rel / f).as_posix() for f in files if f.endswith(".py")}
    missing = expected - names
    assert not missing, sorted(missing)[:20]
    for data in ("gereedschapskist/catalogue/schemas/bundle.schema.json", "gereedschapskist/dev/oidc-provider/server.mjs",
                 "gereedschapskist/dev/oidc-provider/demo-accounts.json", "gereedschapskist/hub/proxy/package.json",
                 "gereedschapskist/portal/templates/base.html", "gereedschapskist/portal/migrations/script.py.mako"):
        assert data in names, data
    assert not any(n.startswith(("tests/", "hub/", "portal/", "catalogue-of-tools/")) for n in names)


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
    assert "gereedschapskist catalogue check --resolve --format github" in commands    # CUDA wheels warned too
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
    # as a pull request adds it: beside the catalogue's own bundles (the partners' explicit prices name some)
    for folder in ("roles", "partners", "bundles"):
        shutil.copytree(source / folder, tree.root / folder)
    shutil.copy(source / "templates/bundle.yaml", tree.root / "bundles/bi/bi-example.yaml")
    result = load_catalogue(tree.root, today=TODAY)
    assert result.errors == [], [p.format() for p in result.errors]
    assert "bi-example" in result.catalogue.bundles
    assert (ROOT / ".github/PULL_REQUEST_TEMPLATE/new-bundle.md").exists()


def test_the_readmes_screenshots_exist_and_come_from_browser_tests():
    """The README shows the lifecycle and admin screens with screenshots of the browser tests (issue 12):
    every image it links exists, every screenshot is listed in docs/screenshots/SOURCES.txt with the browser
    test that takes it (`make screenshots` copies them), and that test exists."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", readme))
    assert len(linked) >= 10, linked
    missing = sorted(path for path in linked if not (ROOT / path).is_file())
    assert not missing, missing
    sources = {}
    for line in (ROOT / "docs" / "screenshots" / "SOURCES.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, source = line.split()
            sources[name] = source
    on_disk = {p.name for p in (ROOT / "docs" / "screenshots").glob("*.png")}
    assert on_disk == set(sources), on_disk ^ set(sources)
    assert {Path(path).name for path in linked} <= on_disk
    e2e = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests" / "e2e").glob("test_*.py"))
    for name, source in sources.items():
        folder = source.split("/", 1)[0]
        test = re.sub(r"_(sqlite|postgresql)_$", "", folder)
        # the folder is the test's name, or one a test names itself (fixed_shots("<folder>"))
        assert f"def {test}(" in e2e or f'fixed_shots("{folder}")' in e2e, f"{name}: no browser test writes {folder}"
