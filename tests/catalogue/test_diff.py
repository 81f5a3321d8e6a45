"""`catalogue diff`: what a pull request changes for users, as Markdown."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from gereedschapskist.catalogue import Ecosystem, load_catalogue
from gereedschapskist.catalogue.diff import compare_versions, diff_catalogues, render_markdown
from gereedschapskist.cli import build_app

from .conftest import TODAY, Tree, bundle

runner = CliRunner()


def markdown(base: Tree, head: Tree) -> str:
    report = diff_catalogues(load_catalogue(base.root, today=TODAY).catalogue,
                             load_catalogue(head.root, today=TODAY).catalogue)
    return render_markdown(report, base_label="main", head_label="pr")


def copy_tree(tree: Tree, tmp_path: Path) -> Tree:
    shutil.copytree(tree.root, tmp_path / "head")
    return Tree(tmp_path / "head")


def test_no_changes(tree, tmp_path):
    assert "No changes for users." in markdown(tree, copy_tree(tree, tmp_path))


def test_added_removed_and_lifecycle(tree, tmp_path):
    head = copy_tree(tree, tmp_path)
    head.bundle(bundle("bi-new", ["bi"], interfaces=["jupyterlab", "vscode"]))
    (head.root / "bundles/ml/ml-gpu.yaml").unlink()
    head.edit("bundles/ml/ml-python.yaml", lambda d: d.update(
        lifecycle={"status": "deprecated", "since": "2026-11-01", "successor": "bi-new", "retires_on": "2027-02-01"}))
    text = markdown(tree, head)
    assert "### New bundles" in text and "**Bundle bi-new** (`bi-new` 1.0.0)" in text
    assert "Interfaces: JupyterLab, VS Code" in text
    assert "### Removed bundles" in text and "`ml-gpu`" in text
    assert "`ml-python`: active → **deprecated**; users are pointed to `bi-new`, retirement planned for 2027-02-01" \
        in text


def test_package_versions_up_and_down_sizes_and_interfaces(tree, tmp_path):
    head = copy_tree(tree, tmp_path)

    def change(d):
        d["version"] = "1.1.0"
        d["image"]["tag"] = "1.1.0"
        d["packages"]["pypi"] = ["pandas==2.10.0", "duckdb==1.3.0", "polars==1.0.0"]
        d["interfaces"] = ["jupyterlab", "rstudio"]
        d["sizes"][1]["memory"] = "32Gi"
        d["sizes"].append({"id": "medium", "cpu": 2, "memory": "8Gi"})
        d["roles"] = ["bi", "ml"]

    head.edit("bundles/bi/bi-sql.yaml", change)
    text = markdown(tree, head)
    assert "#### Bundle bi-sql (`bi-sql`)" in text
    assert "- Version 1.0.0 → 1.1.0." in text
    assert "| pandas (pypi) | 2.3.3 | 2.10.0 | ⬆️ up |" in text      # numeric, not string, comparison
    assert "| duckdb (pypi) | 1.4.4 | 1.3.0 | ⬇️ down |" in text
    assert "| polars (pypi) | — | 1.0.0 | ➕ added |" in text
    assert "New interface: RStudio." in text
    assert "Size `large`: 4 CPU · 16 GiB → 4 CPU · 32 GiB." in text
    assert "New size `medium`: 2 CPU · 8 GiB." in text
    assert "Now also offered to role `ml`." in text
    assert "Image `ghcr.io/example/bi-sql:1.0.0` → `ghcr.io/example/bi-sql:1.1.0`." in text


def test_licence_becoming_closed_is_flagged(tree, tmp_path):
    head = copy_tree(tree, tmp_path)
    head.edit("bundles/bi/bi-sql.yaml", lambda d: d.update(
        licence={"spdx": "LicenseRef-Vendor", "open_source": False,
                 "justification": "Needed to read the vendor's proprietary files."}))
    assert "⚠️ No longer fully open source: Needed to read" in markdown(tree, head)


def test_partner_changes(tree, tmp_path):
    head = copy_tree(tree, tmp_path)

    def change(d):
        d["machine_sizes"][0]["price_per_hour_eur"] = 0.5
        d["regions"].append({"id": "europe-west1", "name": "Belgium", "country": "BE"})

    head.edit("partners/cloud-a.yaml", change)
    text = markdown(tree, head)
    assert "Cloud A: `general-8` price €0.40/h → €0.50/h." in text
    assert "Cloud A: new region Belgium (BE)." in text


def test_compare_versions_by_ecosystem():
    assert compare_versions(Ecosystem.PYPI, "2.9.0", "2.10.0") == 1
    assert compare_versions(Ecosystem.PYPI, "1.0.0rc1", "1.0.0") == 1
    assert compare_versions(Ecosystem.CRAN, "1.1-4", "1.1-10") == 1
    assert compare_versions(Ecosystem.CRAN, "2.0.0", "1.9.9") == -1


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def test_diff_against_a_git_revision(tree, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(tree.root, repo / "catalogue-of-tools")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.nl", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.nl", "commit", "-qm", "base")
    head = Tree(repo / "catalogue-of-tools")
    head.bundle(bundle("bi-new", ["bi"]))
    result = runner.invoke(build_app(), ["catalogue", "diff", "main", "--catalogue-dir", str(head.root)])
    assert result.exit_code == 0, result.output
    assert "## Catalogue changes for users (main (" in result.stdout
    assert "→ working tree)" in result.stdout
    assert "`bi-new` 1.0.0" in result.stdout
    out = tmp_path / "comment.md"
    result = runner.invoke(build_app(), ["catalogue", "diff", "main", str(head.root), "--catalogue-dir",
                                         str(head.root), "-o", str(out)])
    assert result.exit_code == 0 and "`bi-new` 1.0.0" in out.read_text()


def test_diff_reports_errors_in_the_changed_catalogue(tree, tmp_path):
    head = copy_tree(tree, tmp_path)
    head.write("roles/broken.yaml", "id: [\n")
    result = runner.invoke(build_app(), ["catalogue", "diff", str(tree.root), str(head.root),
                                         "--catalogue-dir", str(head.root)])
    assert result.exit_code == 0
    assert "❌ The changed catalogue has **1 error(s)**" in result.stdout
