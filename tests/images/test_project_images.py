"""The portal and hub images: pinned bases, non-root, a wheel installed from uv.lock — and their steps run.

Docker cannot run here, so the install steps are taken from the committed Dockerfiles and run for
real with uv (from PyPI) on a copy of the build context: the allow-listed files only, links kept as
links (as Docker copies them). The copy is what the build stage would hold; the wheel and the
requirements land in a temporary folder instead of /tmp/dist, the environments in one instead of
/opt/venv and the system Python (the hub's ``--system`` becomes ``--python <venv>``), the catalogue in
one instead of the image's fixed place, and files are linked from uv's cache and not byte-compiled
(flags that only keep the image small or make it start faster).
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
    CATALOGUE_DIR, DIST, HUB_BASE, HUB_SMOKE, PORTAL_BASE, PORTAL_PORT, PORTAL_SMOKE, PORTAL_UID, PORTAL_WORKERS,
    PROJECT_FILES, SOURCES,
)

from .conftest import IMAGES, REPO

UV = Path(sys.executable).with_name("uv")


def instructions(path: Path) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    return [line for line in joined.splitlines() if line and not line.startswith("#")]


def run_commands(path: Path) -> list[str]:
    """The shell commands of every RUN (build stage, then image), BuildKit mounts removed, split at &&."""
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
    commands = run_commands(PORTAL)
    assert any(c.startswith("uv export --frozen --no-dev --extra portal") for c in commands)
    assert any("--require-hashes" in c for c in commands)
    assert "gereedschapskist db upgrade" in PORTAL.read_text(encoding="utf-8")


@pytest.mark.parametrize(("dockerfile", "setting"), [(PORTAL, "GEREEDSCHAPSKIST_PORTAL_CATALOGUE_DIR"),
                                                     (HUB, "GEREEDSCHAPSKIST_HUB_CATALOGUE_DIR")])
def test_images_install_a_wheel_and_name_the_catalogue_folder(dockerfile, setting):
    lines = instructions(dockerfile)
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    assert not any(line.startswith("COPY ") and line.split()[1] in {f"{s}/" for s in SOURCES if s != "catalogue-of-tools"}
                   for line in final), "the image holds no source tree"
    assert f"COPY catalogue-of-tools/ {CATALOGUE_DIR}/" in final and f"ENV {setting}={CATALOGUE_DIR}" in final
    commands = run_commands(dockerfile)
    assert not any("--editable" in c or c.startswith("uv sync") for c in commands)
    assert any(c.startswith(f"uv build --wheel --out-dir {DIST}") for c in commands)
    assert any(f"--no-deps {DIST}/gereedschapskist-" in c for c in commands)
    smoke = PORTAL_SMOKE if dockerfile == PORTAL else HUB_SMOKE
    assert any(setting in c and "load(" in c for c in smoke) and not any("load()" in c for c in smoke)


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
    """The allow-listed files of the repository; a symbolic link is copied as a link, as Docker does."""
    ignore = [line for line in (IMAGES / "portal" / "Dockerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    target = tmp / "context"
    for path in REPO.rglob("*"):  # rglob does not descend into linked folders: the links come as links
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith((".git/", ".venv/")) or not _allowed(rel, ignore):
            continue
        if path.is_symlink():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).symlink_to(os.readlink(path))
        elif path.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / rel)
    return target


def image_command(command: str, tmp: Path, python: str | None = None) -> str:
    """A RUN command as it runs here: temporary folders for the image's, no image-only flags, and every
    uv command pointed at an interpreter explicitly (never at the virtualenv running the tests)."""
    venv_python = python or str(tmp / "venv" / "bin" / "python")
    command = command.replace("--system", f"--python {venv_python}")
    command = command.replace("uv venv ", f"uv venv --python {sys.executable} ")
    command = command.replace("uv build ", f"uv build --python {sys.executable} ")
    if command.startswith("uv pip install ") and "--python " not in command:
        command = command.replace("uv pip install ", f"uv pip install --python {venv_python} ", 1)
    # Image-only speed/size flags: byte-compiling is slow on a shared machine, and --no-cache would
    # download every wheel again instead of linking it from uv's cache.
    command = command.replace(" --compile-bytecode", "").replace(" --no-cache", "")
    return command.replace(DIST, str(tmp / "dist")).replace("/opt/venv", str(tmp / "venv"))


def install_catalogue(context: Path, tmp: Path) -> Path:
    """``COPY catalogue-of-tools/ <CATALOGUE_DIR>/``, into a temporary folder."""
    target = tmp / "opt" / "catalogue"
    shutil.copytree(context / "catalogue-of-tools", target)
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
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "UV_", "GEREEDSCHAPSKIST_"))}
    env.update(VIRTUAL_ENV=str(venv), UV_PYTHON_DOWNLOADS="never", PATH=f"{UV.parent}:{env['PATH']}")
    return env


def _smoke(command: str, venv: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**env, "PATH": f"{venv / 'bin'}:{env['PATH']}"}
    return subprocess.run(["bash", "-c", command], env=env, cwd=cwd, capture_output=True, text=True)


@pytest.mark.network
def test_the_portal_install_steps_give_a_working_cli_with_the_catalogue(tmp_path):
    context = build_context(tmp_path)
    venv = tmp_path / "venv"
    env = _env(venv)
    steps = [c for c in run_commands(PORTAL) if c.startswith("uv ")]
    assert len(steps) == 5  # build stage: wheel, requirements; image: venv, requirements, wheel
    for command in steps:
        command = image_command(command, tmp_path)
        done = subprocess.run(command, shell=True, cwd=context, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    python = str(venv / "bin" / "python")
    version = subprocess.run([str(venv / "bin" / "gereedschapskist"), "--version"], capture_output=True,
                             text=True, cwd=tmp_path, env=env)
    assert version.returncode == 0, version.stderr
    installed = subprocess.run([python, "-c", "import fastapi, sqlalchemy, alembic, gereedschapskist.portal as p; "
                                              "print(p.__file__)"], capture_output=True, text=True, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert Path(installed.stdout.strip()).is_relative_to(venv), "installed as a wheel, not editable"
    # A wheel has no checkout: without the setting there is no catalogue; with it, the image's folder.
    unset = subprocess.run([python, "-c", "from gereedschapskist.catalogue import load; load()"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert unset.returncode != 0 and "CATALOGUE_DIR" in unset.stderr
    env["GEREEDSCHAPSKIST_PORTAL_CATALOGUE_DIR"] = str(install_catalogue(context, tmp_path))
    smoke = next(c for c in PORTAL_SMOKE if "load(" in c)
    done = _smoke(smoke, venv, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) > 0
    hub_only = subprocess.run([python, "-c", "import jupyterhub"], capture_output=True)
    assert hub_only.returncode != 0, "the portal image installs the portal extra, not the hub's"


@pytest.mark.network
def test_the_hub_install_steps_put_the_locked_hub_extra_and_the_project_in_one_python(tmp_path):
    context = build_context(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    env = _env(venv)
    python = str(venv / "bin" / "python")
    for command in run_commands(HUB):
        command = image_command(command, tmp_path, python=python)
        done = subprocess.run(command, shell=True, cwd=context, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    # (importing kubespawner would byte-compile all of kubernetes_asyncio: its version is checked instead)
    versions = subprocess.run([python, "-c", "import jupyterhub, oauthenticator, gereedschapskist.hub as h; "
                                             "from importlib.metadata import version; "
                                             "print(jupyterhub.__version__, version('jupyterhub-kubespawner'), "
                                             "h.__file__)"],
                              capture_output=True, text=True, cwd=tmp_path)
    assert versions.returncode == 0, versions.stderr
    hub_version, kubespawner_version, where = versions.stdout.split()
    assert [hub_version, kubespawner_version] == ["6.1.1", "7.1.0"]
    assert Path(where).is_relative_to(venv), "installed as a wheel, not editable"
    env["GEREEDSCHAPSKIST_HUB_CATALOGUE_DIR"] = str(install_catalogue(context, tmp_path))
    done = _smoke(next(c for c in HUB_SMOKE if "load(" in c), venv, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) > 0
