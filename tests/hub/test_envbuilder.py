"""Bundle environments built with uv: cached by package list, atomic, failures name the package."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from uv import find_uv_bin

from gereedschapskist.hub.envbuilder import MANIFEST, EnvBuilder, EnvBuildFailed, EnvSpec, failing_package

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
    envs = builder(tmp_path)
    spec = EnvSpec("tiny", "1.0.0", ("cowsay==6.1",))
    messages: list[str] = []

    async def both():
        return await asyncio.gather(envs.ensure(spec, messages.append), envs.ensure(spec, messages.append))

    first, second = asyncio.run(both())
    assert first == second == envs.path_for(spec)
    assert sorted(p.name for p in (tmp_path / "envs").iterdir()) == [spec.dirname]  # one build, no leftovers
    assert sum(m.startswith("Building the environment of tiny 1.0.0") for m in messages) == 1
    assert any(m.startswith("Installed 1 package") for m in messages), messages
    manifest = json.loads((first / MANIFEST).read_text())
    assert manifest["requirements"] == ["cowsay==6.1"] and manifest["key"] == spec.key
    run = subprocess.run([str(first / "bin" / "python"), "-c", "import cowsay, sys; print(sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == str(first)

    built = (first / MANIFEST).stat().st_mtime_ns
    assert asyncio.run(envs.ensure(spec)) == first
    assert (first / MANIFEST).stat().st_mtime_ns == built


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
