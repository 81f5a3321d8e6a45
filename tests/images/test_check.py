"""``gereedschapskist catalogue check`` fails when a bundle's image definition is missing or out of date."""

from __future__ import annotations

from importlib.metadata import entry_points

from typer.testing import CliRunner

from gereedschapskist.catalogue import load
from gereedschapskist.catalogue.loader import CHECKS_GROUP, load_catalogue
from gereedschapskist.cli import build_app
from gereedschapskist.images.check import check_images

from .conftest import copy_catalogue

RUNNER = CliRunner()


def run_check(root):
    return RUNNER.invoke(build_app(), ["catalogue", "check", str(root)])


def codes(problems):
    return [p.code for p in problems]


def test_the_hook_is_registered_for_catalogue_check():
    found = {ep.name: ep.value for ep in entry_points(group=CHECKS_GROUP)}
    assert found.get("images") == "gereedschapskist.images.check:check_images"


def test_the_project_catalogue_and_its_images_are_in_step(catalogue):
    assert check_images(catalogue) == []


def test_a_package_missing_from_the_image_fails_naming_bundle_and_package(project):
    pypi = project.images / "bundles" / "ml-python" / "pypi.txt"
    project.edit(pypi, "pandas==2.3.3\n", "")
    problems = check_images(project.load())
    assert codes(problems) == ["images.package-missing"]
    problem = problems[0]
    assert problem.file == "bundles/ml/ml-python.yaml"
    assert "'ml-python'" in problem.message and "pandas 2.3.3" in problem.message
    assert "gereedschapskist images render" in problem.message
    assert problem.value == "pandas==2.3.3"
    yaml_lines = project.bundle_file(problem.file).read_text(encoding="utf-8").splitlines()
    assert yaml_lines[problem.line - 1].strip() == "- pandas==2.3.3"
    assert problem.path.startswith("$.packages.pypi[")

    result = run_check(project.catalogue)
    assert result.exit_code == 1
    assert "ml-python" in result.output and "pandas" in result.output
    assert "gereedschapskist images render" in result.output


def test_a_package_added_to_the_bundle_but_not_rendered_fails(project):
    bundle = project.bundle_file("bundles/bi/bi-sql-duckdb.yaml")
    project.edit(bundle, "    - openpyxl==3.1.5\n", "    - openpyxl==3.1.5\n    - polars==1.35.2\n")
    problems = check_images(project.load())
    assert codes(problems) == ["images.package-missing"]
    assert "'bi-sql-duckdb'" in problems[0].message and "polars 1.35.2" in problems[0].message


def test_a_changed_pin_fails_as_outdated(project):
    project.edit(project.bundle_file("bundles/ml/ml-python.yaml"), "- seaborn==0.13.2", "- seaborn==0.13.1")
    problems = check_images(project.load())
    assert codes(problems) == ["images.package-outdated"]
    assert "seaborn is pinned to 0.13.1 but its image definition installs 0.13.2" in problems[0].message


def test_a_package_the_bundle_no_longer_lists_fails_as_extra(project):
    project.edit(project.bundle_file("bundles/ml/ml-python.yaml"), "    - seaborn==0.13.2\n", "")
    problems = check_images(project.load())
    assert codes(problems) == ["images.package-extra"]
    assert "seaborn 0.13.2" in problems[0].message and "does not list" in problems[0].message


def test_cran_packages_are_checked_too(project):
    project.edit(project.images / "bundles" / "bi-r-analysis" / "cran.txt", "shiny==1.9.1\n", "")
    problems = check_images(project.load())
    assert codes(problems) == ["images.package-missing"]
    assert "'bi-r-analysis'" in problems[0].message and "shiny 1.9.1 (cran)" in problems[0].message


def test_a_missing_definition_fails(project):
    for path in (project.images / "bundles" / "dev-dbt").iterdir():
        path.unlink()
    problems = check_images(project.load())
    assert codes(problems) == ["images.missing"]
    assert "'dev-dbt'" in problems[0].message and "images/bundles/dev-dbt/Dockerfile" in problems[0].message


def test_a_hand_edited_dockerfile_fails_as_outdated(project):
    dockerfile = project.images / "bundles" / "ml-python" / "Dockerfile"
    project.edit(dockerfile, "FROM quay.io/jupyter/minimal-notebook:2026-09-01\n",
                 "FROM quay.io/jupyter/minimal-notebook:2025-01-06\n")
    problems = check_images(project.load())
    assert codes(problems) == ["images.outdated"]
    assert "bundles/ml-python/Dockerfile" in problems[0].message


def test_retired_bundles_need_no_image(project):
    project.edit(project.bundle_file("bundles/ml/ml-python-2025.yaml"),
                 "  status: deprecated\n", "  status: retired\n")
    project.edit(project.bundle_file("bundles/ml/ml-python-2025.yaml"), "  retires_on: 2027-01-31\n", "")
    catalogue = load(project.catalogue)
    assert check_images(catalogue) == [], "a retired bundle's leftover definition is not an error"
    for path in (project.images / "bundles" / "ml-python-2025").iterdir():
        path.unlink()
    assert check_images(catalogue) == []


def test_render_brings_the_check_back_to_green(project):
    project.edit(project.bundle_file("bundles/ml/ml-python.yaml"), "- seaborn==0.13.2", "- seaborn==0.13.1")
    assert run_check(project.catalogue).exit_code == 1
    result = RUNNER.invoke(build_app(), ["images", "render", "--catalogue", str(project.catalogue)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "ml-python" in result.output
    assert check_images(project.load()) == []
    assert run_check(project.catalogue).exit_code == 0


def test_a_catalogue_without_an_images_folder_beside_it_gets_no_image_problems(tmp_path):
    root = copy_catalogue(tmp_path / "elsewhere" / "catalogue-of-tools")
    result = load_catalogue(root, extra_checks=True)
    assert not [p for p in result.problems if p.code.startswith("images.")]
    assert run_check(root).exit_code == 0
