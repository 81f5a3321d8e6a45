"""The portal and hub images: pinned bases, non-root, installed from uv.lock — and their install steps run.

Docker cannot run here, so the install steps are taken from the committed Dockerfiles and run for
real with uv (from PyPI) on a copy of the build context: the allow-listed files only. The copy is
what the image would hold; the environments land in a temporary folder instead of /opt/venv and
the system Python (the hub's ``--system`` becomes ``--python <venv>``), and files are linked from
uv's cache and not byte-compiled (flags that only keep the image small or make it start faster).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gereedschapskist.images.project_images import (
    HUB_BASE, PORTAL_BASE, PORTAL_PORT, PORTAL_UID, PORTAL_WORKERS, PROJECT_FILES, SOURCES,
)

from .conftest import IMAGES, REPO

UV = Path(sys.executable).with_name("uv")


def instructions(path: Path) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    return [line for line in joined.splitlines() if line and not line.startswith("#")]


def run_commands(path: Path) -> list[str]:
    """The shell commands of every RUN in the final stage, BuildKit mounts removed, split at &&."""
    commands = []
    for line in instructions(path):
        if line.startswith("RUN "):
            body = re.sub(r"--mount=\S+\s+", "", line[4:])
            commands += [c.strip() for c in body.split(" && ")]
    return commands


PORTAL = IMAGES / "portal" / "Dockerfile"
HUB = IMAGES / "hub" / "Dockerfile"


def test_portal_image_shape():
    lines = instructions(PORTAL)
    assert f"FROM {PORTAL_BASE}" in lines and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", PORTAL_BASE)
    assert [line for line in lines if line.startswith("USER ")][-1] == f"USER {PORTAL_UID}"
    assert lines[-1] == (f'CMD ["uvicorn", "gereedschapskist.portal.main:app", "--host", "0.0.0.0", "--port", '
                         f'"{PORTAL_PORT}", "--proxy-headers"]')
    health = next(line for line in lines if line.startswith("HEALTHCHECK "))
    assert f"http://127.0.0.1:{PORTAL_PORT}/healthz" in health
    assert f"WEB_CONCURRENCY={PORTAL_WORKERS}" in " ".join(lines) and PORTAL_WORKERS > 1
    assert "uv sync --frozen --no-dev --extra portal" in run_commands(PORTAL)
    assert "gereedschapskist db upgrade" in PORTAL.read_text(encoding="utf-8")


def test_hub_image_shape():
    lines = instructions(HUB)
    assert f"FROM {HUB_BASE}" in lines
    assert re.fullmatch(r"quay\.io/jupyterhub/k8s-hub:\d+\.\d+\.\d+", HUB_BASE)
    assert [line for line in lines if line.startswith("USER ")][-1] == "USER 1000"
    commands = run_commands(HUB)
    assert any(c.startswith("uv export --frozen --no-dev --extra hub") for c in commands)
    assert any("--require-hashes" in c for c in commands)


def _pattern(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker reads it: ``**`` spans folders, ``*`` and ``?`` stay in one."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _allowed(rel: str, ignore: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path (or a folder above it) decides."""
    keep = True
    parts = rel.split("/")
    for line in ignore:
        negate = line.startswith("!")
        regex = _pattern((line[1:] if negate else line).rstrip("/"))
        if any(regex.fullmatch("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            keep = negate
    return keep


def build_context(tmp: Path) -> Path:
    ignore = [line for line in (IMAGES / "portal" / "Dockerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    target = tmp / "context"
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".venv/")) and _allowed(rel, ignore):
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / rel)
    return target


def test_the_build_context_leaves_out_secrets_and_state():
    ignore = [line for line in (IMAGES / "portal" / "Dockerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    assert _allowed("uv.lock", ignore) and _allowed("portal/main.py", ignore)
    assert _allowed("catalogue-of-tools/bundles/bi/bi-sql-duckdb.yaml", ignore)
    for rel in (".venv/bin/python", ".state/portal.db", "infra/Pulumi.acme-prod.yaml", "tests/conftest.py",
                "portal/__pycache__/x.pyc", ".git/config"):
        assert not _allowed(rel, ignore), rel
    assert (IMAGES / "hub" / "Dockerfile.dockerignore").read_text() == \
        (IMAGES / "portal" / "Dockerfile.dockerignore").read_text()
    assert set(SOURCES) | set(PROJECT_FILES) <= {p.name for p in REPO.iterdir()}


def _env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env.update(UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON_DOWNLOADS="never", UV_PYTHON=sys.executable,
               PATH=f"{UV.parent}:{env['PATH']}")
    return env


@pytest.mark.network
def test_the_portal_install_steps_give_a_working_cli_with_the_catalogue(tmp_path):
    context = build_context(tmp_path)
    venv = tmp_path / "venv"
    env = _env(venv)
    steps = [c for c in run_commands(PORTAL) if c.startswith("uv ")]
    assert len(steps) == 2
    for command in steps:
        done = subprocess.run(command, shell=True, cwd=context, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    version = subprocess.run([str(venv / "bin" / "gereedschapskist"), "--version"], capture_output=True,
                             text=True, cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import fastapi, sqlalchemy, alembic; "
                            "from gereedschapskist.catalogue import default_root, load; "
                            "print(default_root()); print(len(load().bundles))"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    root, count = where.stdout.split()
    assert Path(root) == context / "catalogue-of-tools" and int(count) > 0
    hub_only = subprocess.run([str(venv / "bin" / "python"), "-c", "import jupyterhub"], capture_output=True)
    assert hub_only.returncode != 0, "the portal image installs the portal extra, not the hub's"


@pytest.mark.network
def test_the_hub_install_steps_put_the_locked_hub_extra_and_the_project_in_one_python(tmp_path):
    context = build_context(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    env = _env(venv)
    python = str(venv / "bin" / "python")
    for command in run_commands(HUB):
        command = command.replace("--system", f"--python {python}").replace("/srv/gereedschapskist", str(context))
        # Image-only speed/size flags: byte-compiling is slow on a shared machine, and --no-cache would
        # download every wheel again instead of linking it from uv's cache.
        command = command.replace(" --compile-bytecode", "").replace(" --no-cache", "")
        command = command.replace("/tmp/hub-requirements.txt", str(tmp_path / "hub-requirements.txt"))
        done = subprocess.run(command, shell=True, cwd=context, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    # (importing kubespawner would byte-compile all of kubernetes_asyncio: its version is checked instead)
    versions = subprocess.run([python, "-c", "import jupyterhub, oauthenticator, gereedschapskist.hub; "
                                             "from importlib.metadata import version; "
                                             "print(jupyterhub.__version__, version('jupyterhub-kubespawner'))"],
                              capture_output=True, text=True)
    assert versions.returncode == 0, versions.stderr
    assert versions.stdout.split() == ["6.1.1", "7.1.0"]
