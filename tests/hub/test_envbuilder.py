"""Bundle environments built with uv: cached by package list, atomic, failures name the package."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from uv import find_uv_bin

from gereedschapskist.catalogue import Ecosystem, Package, default_root, load, load_catalogue
from gereedschapskist.catalogue.kernels import Kernel, kernels_of
from gereedschapskist.hub.envbuilder import (
    COMPILED, MANIFEST, PLATFORM_REQUIREMENTS, EnvBuilder, EnvBuildFailed, EnvSpec, failing_package, reuse_bytecode,
)
from gereedschapskist.hub.kernelspecs import LAB_SERVER, PAGE_CONFIG, write_offline_lab
from gereedschapskist.hub.spawner import single_user_requirements

UV_NO_VERSION = ("error: No solution found when resolving dependencies\n  cause: Because there is no version of "
                 "cowsay==999.0.1 and you require cowsay==999.0.1, we can conclude that your requirements are "
                 "unsatisfiable.")


def test_failing_package_is_found_in_the_installers_error():
    requirements = ("duckdb==1.4.4", "cowsay==999.0.1", "jupyterlab==4.6.6")
    assert failing_package(requirements, UV_NO_VERSION) == "cowsay==999.0.1"
    assert failing_package(("Jupyter_Server==2.0",), "Failed to build `jupyter-server==2.0`") == "Jupyter_Server==2.0"
    assert failing_package(("duckdb==1.4.4",), "network unreachable") is None
    # a name that merely contains another does not count
    assert failing_package(("sql==1.0", "jupysql==0.11.1"), "no version of jupysql==0.11.1") == "jupysql==0.11.1"


def test_spec_key_follows_the_package_list_not_its_order():
    a = EnvSpec("b", "1.0.0", ("x==1", "y==2"))
    assert a.key == EnvSpec("b", "1.0.0", ("y==2", "x==1")).key
    assert a.key != EnvSpec("b", "1.0.0", ("x==1", "y==3")).key
    assert a.dirname == f"b-1.0.0-{a.key}"


def builder(tmp_path) -> EnvBuilder:
    return EnvBuilder(tmp_path / "envs", uv=find_uv_bin(), python=sys.executable, timeout=600)


@pytest.mark.network
def test_build_once_reuse_and_share_concurrent_builds(tmp_path):
    """Two launches at once: one build; the second joins it and gets its progress (what came before it joined,
    then the rest). The environment is ready without bytecode (a server compiles what it imports); compile()
    adds the rest once and marks it."""
    envs = builder(tmp_path)
    spec = EnvSpec("tiny", "1.0.0", ("cowsay==6.1",))
    first_messages: list[str] = []
    joined_messages: list[str] = []

    async def both():
        first = asyncio.ensure_future(envs.ensure(spec, first_messages.append))
        while not first_messages:             # the build is under way (it has said so) before the second comes
            await asyncio.sleep(0.01)
        assert envs.is_building(spec)
        return await asyncio.gather(first, envs.ensure(spec, joined_messages.append))

    first, second = asyncio.run(both())
    assert first == second == envs.path_for(spec)
    assert sorted(p.name for p in (tmp_path / "envs").iterdir()) == [spec.dirname]  # one build, no leftovers
    assert sum(m.startswith("Building the environment of tiny 1.0.0") for m in first_messages) == 1
    assert any(m.startswith("Installed 1 package") for m in first_messages), first_messages
    assert joined_messages[0] == "Joining the build of the environment of tiny 1.0.0 already under way"
    assert joined_messages[1:] == first_messages     # replayed, then live: the same story, once
    assert not envs.is_building(spec)
    manifest = json.loads((first / MANIFEST).read_text())
    assert manifest["requirements"] == ["cowsay==6.1"] and manifest["key"] == spec.key
    run = subprocess.run([str(first / "bin" / "python"), "-c", "import cowsay, sys; print(sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == str(first)

    site = next(first.glob("lib/python3*/site-packages"))
    assert not list((site / "cowsay").glob("__pycache__/*.pyc"))  # not compiled by the build
    assert not envs.is_compiled(spec)
    asyncio.run(envs.compile(spec))
    assert envs.is_compiled(spec) and (first / COMPILED).is_file()
    sources = {p.stem for p in (site / "cowsay").glob("*.py")}
    assert sources and sources <= {p.name.split(".")[0] for p in (site / "cowsay").glob("__pycache__/*.pyc")}

    built = (first / MANIFEST).stat().st_mtime_ns
    assert asyncio.run(envs.ensure(spec)) == first
    assert (first / MANIFEST).stat().st_mtime_ns == built


def test_bytecode_is_reused_only_for_the_very_same_file(tmp_path):
    """reuse_bytecode links a donor's .pyc only next to a source that is the donor's own file (same inode, as uv
    installs them from its cache); a source with the same name and content but another inode gets nothing."""
    donor, env = tmp_path / "donor", tmp_path / "env"
    for root in (donor, env):
        (root / "lib" / "pkg").mkdir(parents=True)
    (donor / "lib" / "pkg" / "shared.py").write_text("X = 1\n")
    (donor / "lib" / "pkg" / "own.py").write_text("Y = 2\n")
    (env / "lib" / "pkg" / "shared.py").hardlink_to(donor / "lib" / "pkg" / "shared.py")
    shutil.copy2(donor / "lib" / "pkg" / "own.py", env / "lib" / "pkg" / "own.py")      # same text, another file
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(donor / "lib")], check=True)

    assert reuse_bytecode(env, [tmp_path / "gone", donor]) == 1
    [linked] = (env / "lib" / "pkg" / "__pycache__").iterdir()
    assert linked.name.startswith("shared.") and linked.stat().st_ino == next(
        (donor / "lib" / "pkg" / "__pycache__").glob("shared.*")).stat().st_ino
    assert reuse_bytecode(env, [donor]) == 0        # nothing twice


@pytest.mark.network
def test_a_second_environment_reuses_the_first_ones_bytecode_and_python_accepts_it(tmp_path):
    """Issue 13 (first launch): a server's first start in a new environment spent seconds compiling what it imports.
    The build now links the bytecode that a built environment has of the very same installed files; Python
    imports it as valid (it would rewrite an invalid .pyc: a new file, another inode)."""
    envs = builder(tmp_path)
    first_spec = EnvSpec("tiny", "1.0.0", ("cowsay==6.1",))
    first = asyncio.run(envs.ensure(first_spec))
    asyncio.run(envs.compile(first_spec))
    messages: list[str] = []
    second = asyncio.run(envs.ensure(EnvSpec("other", "1.0.0", ("cowsay==6.1", "six==1.17.0")), messages.append))
    assert any(m.startswith("Bytecode of ") and "reused" in m for m in messages), messages

    site = next(second.glob("lib/python3*/site-packages"))
    pycs = {p.name: p.stat().st_ino for p in (site / "cowsay" / "__pycache__").glob("*.pyc")}
    theirs = {p.name: p.stat().st_ino for p in
              next(first.glob("lib/python3*/site-packages")).joinpath("cowsay", "__pycache__").glob("*.pyc")}
    assert pycs and all(theirs[name] == inode for name, inode in pycs.items())
    assert not list((site / "six.py").parent.glob("__pycache__/six.*.pyc"))   # six is the second's own: not compiled
    subprocess.run([str(second / "bin" / "python"), "-c", "import cowsay; cowsay.get_output_string('cow', 'moo')"],
                   check=True, capture_output=True)
    after = {p.name: p.stat().st_ino for p in (site / "cowsay" / "__pycache__").glob("*.pyc")}
    assert {name: after[name] for name in pycs} == pycs     # accepted as valid: not rewritten


@pytest.mark.network
def test_a_cancelled_launch_leaves_the_build_to_those_who_joined(tmp_path):
    """The user who started a build stops their launch: the build goes on for the one who joined (and, with the
    hub's preparation, for the next launch)."""
    envs = builder(tmp_path)
    spec = EnvSpec("tiny", "1.1.0", ("cowsay==6.0",))

    async def scenario():
        started: list[str] = []
        first = asyncio.ensure_future(envs.ensure(spec, started.append))
        while not started:
            await asyncio.sleep(0.01)
        second = asyncio.ensure_future(envs.ensure(spec))
        await asyncio.sleep(0)
        first.cancel()
        return await second

    assert asyncio.run(scenario()) == envs.path_for(spec) and envs.is_built(spec)


def _ended(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"   # a zombie has ended
    except OSError:
        return True


def test_a_cancelled_step_ends_what_its_command_started_and_returns_at_once(tmp_path):
    """A hub that stops (SIGTERM) cancels a background compile: the step's command ends with every process it
    started, and the cancelled step returns without waiting for them. compileall -j 0's workers kept the step's
    output pipe open, so it waited for them after the hub's cleanup, until the hub was killed. Here the command's
    child (``sleep``) holds the pipe like those workers."""
    envs = builder(tmp_path)
    spec = EnvSpec("tiny", "1.0.0", ("cowsay==6.1",))
    pid_file = tmp_path / "child.pid"
    command = ("import subprocess, sys; child = subprocess.Popen(['sleep', '600']); "
               "open(sys.argv[1], 'w').write(str(child.pid)); child.wait()")
    child: list[int] = []

    async def scenario() -> bool:
        step = asyncio.ensure_future(envs._run(spec, [sys.executable, "-c", command, str(pid_file)], None))
        while not pid_file.is_file() or not pid_file.read_text():
            await asyncio.sleep(0.05)
        child.append(int(pid_file.read_text()))
        step.cancel()
        done, _ = await asyncio.wait([step], timeout=60)    # a hang guard; without the fix: the sleep's 600 s
        if not done:
            os.kill(child[0], signal.SIGKILL)                # let the cancelled step (and this test) end
            await asyncio.wait([step])
        return bool(done)

    assert asyncio.run(scenario()), "the cancelled step waited for its command's child"
    assert _ended(child[0]), "the command's child outlived the cancelled step"


@pytest.mark.network
def test_failed_build_names_the_package_and_leaves_nothing(tmp_path):
    envs = builder(tmp_path)
    spec = EnvSpec("broken", "1.0.0", ("cowsay==6.1", "cowsay-does-not-exist-gk==1.0"))
    with pytest.raises(EnvBuildFailed) as failed:
        asyncio.run(envs.ensure(spec))
    assert failed.value.package == "cowsay-does-not-exist-gk==1.0"
    assert "not found in the package registry" in failed.value.error
    assert "failing package: cowsay-does-not-exist-gk==1.0" in str(failed.value)
    assert list((tmp_path / "envs").iterdir()) == []
    assert not envs.is_built(spec)


# -- what makes an environment the bundle's workspace: kernels named after it, its label (issue 12, items 1-4) --

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "catalogue"
R_ONLY = """\
id: tiny-irkernel
title: {nl: Testbundel met R-kernel, en: Test bundle with an R kernel}
description: {nl: Alleen voor tests., en: Only for tests.}
roles: [bi]
version: "2.0.0"
lifecycle: {status: active}
interfaces: [jupyterlab]
image: {repository: ghcr.io/gereedschapskist/tiny-irkernel, tag: "2.0.0"}
packages:
  cran:
    - IRkernel==1.3.2
sizes:
  - {id: small, cpu: 1, memory: 1Gi}
licence: {spdx: GPL-3.0-only, open_source: true}
security_review: {reviewer: Hub tests, date: 2026-10-01, valid_until: 2099-10-01}
supply_model: standard-contract
maintainers:
  - {name: Team Dataplatform, email: dataplatform@gereedschapskist.nl}
"""


def fixture_catalogue(tmp_path, **extra_bundles: str):
    root = tmp_path / "catalogue"
    shutil.copytree(FIXTURES, root)
    for name, text in extra_bundles.items():
        (root / "bundles" / "bi" / f"{name}.yaml").write_text(text, encoding="utf-8")
    return load(root)


def test_kernels_and_label_are_part_of_the_environment_key():
    kernel = Kernel("python3", "python", "A 1.0.0")
    plain = EnvSpec("b", "1.0.0", ("x==1",), kernels=(kernel,), label="A · 1.0.0")
    assert plain.key != EnvSpec("b", "1.0.0", ("x==1",), kernels=(Kernel("python3", "python", "B 1.0.0"),),
                                label="A · 1.0.0").key
    assert plain.key != EnvSpec("b", "1.0.0", ("x==1",), kernels=(kernel,), label="B · 1.0.0").key


def test_an_environment_gets_the_platform_packages_and_kernels_named_after_the_bundle(tmp_path):
    catalogue = fixture_catalogue(tmp_path, **{"tiny-irkernel": R_ONLY})
    spec = EnvSpec.for_bundle(catalogue.bundles["tiny-cowsay"], single_user_requirements())
    assert set(PLATFORM_REQUIREMENTS) <= set(spec.requirements) and "cowsay==6.1" in spec.requirements
    assert spec.kernels == (Kernel("python3", "python", "Test bundle with cowsay 1.0.0"),)
    assert spec.label == "Testbundel met cowsay / Test bundle with cowsay · 1.0.0"
    r_spec = EnvSpec.for_bundle(catalogue.bundles["tiny-irkernel"], single_user_requirements())
    assert [(k.name, k.display_name) for k in r_spec.kernels] == [
        ("python3", "Test bundle with an R kernel 2.0.0 (Python)"), ("ir", "Test bundle with an R kernel 2.0.0 (R)")]
    # a bundle that pins a platform package itself keeps its own pin, once
    pinned = dataclasses.replace(catalogue.bundles["tiny-cowsay"], packages=(
        Package(Ecosystem.PYPI, "ipykernel", "6.29.5"),))
    requirements = EnvSpec.for_bundle(pinned, single_user_requirements()).requirements
    assert "ipykernel==6.29.5" in requirements and "ipykernel==7.4.0" not in requirements


def test_every_bundle_of_the_catalogue_declares_a_kernel_for_each_language_it_pins():
    """The catalogue's declarations: a Python kernel everywhere, an R kernel exactly where CRAN packages are pinned
    (with IRkernel), each named after its bundle; no bundle draws the ``kernels.no-r-kernel`` warning."""
    result = load_catalogue(default_root())
    assert not [p for p in result.problems if p.code == "kernels.no-r-kernel"]
    for bundle in result.catalogue.bundles.values():
        kernels = kernels_of(bundle)
        assert [k.language for k in kernels] == ["python"] + (["R"] if bundle.packages_of(Ecosystem.CRAN) else [])
        assert all(k.display_name.startswith(f"{bundle.title.en} {bundle.version}") for k in kernels), kernels
    assert [k.display_name for k in kernels_of(result.catalogue.bundles["bi-sql-duckdb"])] == [
        "SQL analysis with DuckDB 1.1.0"]


def test_cran_packages_without_irkernel_are_warned_about(tmp_path):
    root = tmp_path / "catalogue"
    shutil.copytree(FIXTURES, root)
    (root / "bundles" / "bi" / "tiny-irkernel.yaml").write_text(
        R_ONLY.replace("IRkernel==1.3.2", "DBI==1.2.3"), encoding="utf-8")
    warnings = [p for p in load_catalogue(root).problems if p.code == "kernels.no-r-kernel"]
    assert [(p.file, p.path, p.severity.value) for p in warnings] == [
        ("bundles/bi/tiny-irkernel.yaml", "$.packages.cran", "warning")]
    assert "add IRkernel==<version>" in warnings[0].message


def kernelspecs(env: Path) -> dict:
    listed = subprocess.run([str(env / "bin" / "jupyter"), "kernelspec", "list", "--json"], capture_output=True,
                            text=True, check=True, env={"PATH": "/usr/bin:/bin", "HOME": str(env)})
    return json.loads(listed.stdout)["kernelspecs"]


@pytest.mark.network
def test_the_declared_kernels_exist_in_the_built_environment(tmp_path):
    """A real build with uv (and, for the R kernel, this machine's R with IRkernel: ``make test`` installs Debian's
    ``r-cran-irkernel``): every kernel the bundle declares is in its environment under its name, the Python
    kernel's command is relocatable, and the top-bar label is set."""
    if not shutil.which("Rscript"):
        pytest.fail("Rscript is missing: run `make test` (it installs Debian's r-base-core and r-cran-irkernel)",
                    pytrace=False)
    bundle = fixture_catalogue(tmp_path, **{"tiny-irkernel": R_ONLY}).bundles["tiny-irkernel"]
    spec = EnvSpec.for_bundle(bundle, single_user_requirements())
    env = asyncio.run(builder(tmp_path).ensure(spec))
    found = kernelspecs(env)
    assert {name: found[name]["spec"]["display_name"] for name in found} == {
        k.name: k.display_name for k in kernels_of(bundle)}
    assert all(found[name]["resource_dir"].startswith(str(env)) for name in found)
    assert found["python3"]["spec"]["argv"][0] == "python"
    assert Path(found["ir"]["spec"]["argv"][0]).is_file()    # this machine's R
    # only these: a kernelspec of the machine (Debian's IRkernel in /usr/share/jupyter) is not offered
    config = json.loads((env / "etc/jupyter/jupyter_server_config.json").read_text())
    assert config["KernelSpecManager"] == {"allowed_kernelspecs": ["python3", "ir"]}
    assert config["LabApp"] == LAB_SERVER                    # offline JupyterLab (issue 13)
    assert json.loads((env / PAGE_CONFIG).read_text()) == {"buildCheck": False, "buildAvailable": False}
    overrides = json.loads((env / "share/jupyter/lab/settings/overrides.json").read_text())
    assert overrides["jupyterlab-topbar-text:plugin"] == {
        "text": "Testbundel met R-kernel / Test bundle with an R kernel · 2.0.0", "editable": False}
    manifest = json.loads((env / MANIFEST).read_text())
    assert [k["display_name"] for k in manifest["kernels"]] == [k.display_name for k in kernels_of(bundle)]


@pytest.mark.network
def test_an_r_kernel_without_r_fails_the_build_and_leaves_nothing(tmp_path):
    spec = EnvSpec("tiny", "1.0.0", ("cowsay==6.1", *PLATFORM_REQUIREMENTS),
                   kernels=(Kernel("ir", "R", "Tiny 1.0.0 (R)"),))
    envs = EnvBuilder(tmp_path / "envs", uv=find_uv_bin(), python=sys.executable, rscript=None)
    envs.rscript = None      # as on a machine without R
    with pytest.raises(EnvBuildFailed) as failed:
        asyncio.run(envs.ensure(spec))
    assert "R is not installed on this machine" in str(failed.value)
    assert list((tmp_path / "envs").iterdir()) == []


def test_jupyterlab_is_set_up_offline_without_losing_the_environments_own_server_config(tmp_path):
    """No news feed, update check, PyPI listing or build check (each cost the first render time, issue 13); the
    kernels' allow-list written before stays."""
    config_file = tmp_path / "etc/jupyter/jupyter_server_config.json"
    config_file.parent.mkdir(parents=True)
    config_file.write_text(json.dumps({"KernelSpecManager": {"allowed_kernelspecs": ["python3"]}}))
    write_offline_lab(tmp_path)
    config = json.loads(config_file.read_text())
    assert config == {"KernelSpecManager": {"allowed_kernelspecs": ["python3"]},
                      "LabApp": {"extension_manager": "readonly", "news_url": None,
                                 "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"},
                      "ServerApp": {"terminado_settings": {"shell_command": ["/bin/bash", "-i"]}}}
    assert json.loads((tmp_path / PAGE_CONFIG).read_text()) == {"buildCheck": False, "buildAvailable": False}


def test_the_terminals_shell_keeps_the_environments_path(tmp_path):
    """A spawned server has no tty, so jupyter_server_terminals would start ``$SHELL -l``; Debian's /etc/profile then
    resets PATH and the environment's tools vanish from the member's terminal. The configured shell keeps them: run
    both shells as a terminal would (no tty on stdout) with the spawner's PATH and compare what ``PATH`` holds."""
    env_bin = tmp_path / "env" / "bin"
    env_bin.mkdir(parents=True)
    environ = {"PATH": f"{env_bin}:/usr/bin:/bin", "HOME": str(tmp_path), "TERM": "dumb"}

    def path_in(shell: list[str]) -> list[str]:
        done = subprocess.run([*shell, "-c", "echo \"$PATH\""], env=environ, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=30, check=True)
        return done.stdout.strip().splitlines()[-1].split(":")

    write_offline_lab(tmp_path)
    configured = json.loads((tmp_path / "etc/jupyter/jupyter_server_config.json").read_text())
    shell = configured["ServerApp"]["terminado_settings"]["shell_command"]
    assert str(env_bin) in path_in(shell)
    if "PATH=" in Path("/etc/profile").read_text():   # the default login shell loses it where /etc/profile sets PATH
        assert str(env_bin) not in path_in(["/bin/bash", "-l"])
