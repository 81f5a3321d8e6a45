"""`gereedschapskist catalogue check` and `diff` as admins and CI run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gereedschapskist.cli import build_app

from .conftest import bundle

runner = CliRunner()
APP = build_app()
CLI = [str(Path(sys.executable).parent / "gereedschapskist")]


def run(*args: str):
    return runner.invoke(APP, list(args))


def test_check_valid_tree_exits_0(tree):
    result = run("catalogue", "check", str(tree.root), "--today", "2026-11-23", "--no-extra")
    assert result.exit_code == 0, result.output
    assert "is valid: 3 bundles (3 offered), 2 roles, 1 partners" in result.output


def test_check_invalid_tree_exits_1_and_lists_every_problem(tree):
    tree.bundle(bundle("bi-bad", ["bi"], version="one", sizes=[{"id": "xl", "cpu": 1, "memory": "lots"}]))
    tree.write("roles/broken.yaml", "id: [\n")
    result = run("catalogue", "check", str(tree.root), "--today", "2026-11-23", "--no-extra")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if ".yaml" in line]
    assert len(lines) == 3
    assert any("bi-bad.yaml:" in line and '$.version = "one": has the wrong form' in line for line in lines)
    assert any('$.sizes[0].memory = "lots"' in line for line in lines)
    assert any("roles/broken.yaml:" in line and "not valid YAML" in line for line in lines)
    assert "3 error(s)" in result.output


def test_check_json_format_for_machines(tree):
    tree.bundle(bundle("bi-bad", ["bi"], supply_model="x"))
    result = run("catalogue", "check", str(tree.root), "--format", "json", "--today", "2026-11-23", "--no-extra")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["errors"] == 1
    problem = data["problems"][0]
    assert problem["file"] == "bundles/bi/bi-bad.yaml"
    assert problem["path"] == "$.supply_model" and problem["value"] == "x" and problem["line"] > 1
    assert problem["code"] == "schema.enum"


def test_check_github_annotations(tree):
    tree.bundle(bundle("bi-bad", ["bi"], supply_model="x"))
    result = run("catalogue", "check", str(tree.root), "-f", "github", "--today", "2026-11-23", "--no-extra")
    assert result.exit_code == 1
    assert any(line.startswith("::error file=") and "bi-bad.yaml,line=" in line for line in result.output.splitlines())


def test_strict_turns_warnings_into_failure(tree):
    tree.bundle(bundle("bi-tag", ["bi"], version="1.1.0"))
    assert run("catalogue", "check", str(tree.root), "--today", "2026-11-23", "--no-extra").exit_code == 0
    assert run("catalogue", "check", str(tree.root), "--today", "2026-11-23", "--no-extra", "--strict").exit_code == 1


def test_today_option_shows_future_expiry(tree):
    assert run("catalogue", "check", str(tree.root), "--today", "2027-10-02", "--no-extra").exit_code == 1


@pytest.mark.parametrize("args", [
    ["catalogue", "check", "/nonexistent/folder"],
    ["catalogue", "check", "--format", "xml"],
    ["catalogue", "check", "--today", "tomorrow"],
    ["catalogue", "check", "--no-such-option"],
    ["catalogue", "diff"],
    ["catalogue", "diff", "no-such-revision-or-folder"],
])
def test_usage_errors_exit_2(args):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_real_console_script_never_shows_a_traceback(tree):
    tree.write("bundles/bi/bomb.yaml", "a: &a [1]\nb: [*a, *a]\n")
    tree.write("bundles/ml/bin.yaml", b"\xff\xfe\x00garbage")
    result = subprocess.run([*CLI, "catalogue", "check", str(tree.root), "--no-extra", "--today", "2026-11-23"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "bomb.yaml:2" in result.stdout
    assert "bin.yaml:1" in result.stdout and "UTF-8" in result.stdout


def test_version_and_help():
    assert run("--version").output.strip() == "0.1.0"
    assert "catalogue" in run("--help").output


def test_a_component_missing_its_extra_says_which_to_install(monkeypatch):
    from importlib.metadata import EntryPoint

    import gereedschapskist.cli as root

    ghost = EntryPoint(name="ghost", value="gereedschapskist_not_installed.cli:app [ghost]",
                       group=root.COMMANDS_GROUP)
    monkeypatch.setattr(root, "_entry_points", lambda: {"ghost": ghost})
    result = runner.invoke(root.build_app(), ["ghost", "anything", "--flag"])
    assert result.exit_code == 2
    assert "needs packages that are not installed" in result.output
    assert "gereedschapskist[ghost]" in result.output
    assert "Traceback" not in result.output


def test_help_and_catalogue_commands_do_not_import_other_components():
    code = ("import sys; sys.argv=['gereedschapskist', '--help']\n"
            "from gereedschapskist.cli import main\n"
            "try: main()\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('jupyterhub', 'kubespawner', 'pulumi', 'fastapi', 'jsonschema') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "hub" in result.stdout and "needs the extra [hub]" in result.stdout
