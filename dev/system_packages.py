"""``gereedschapskist system-packages``: the Debian packages the catalogue's bundles declare, installed on this
machine where it can be done (``make up`` and ``make test`` run it with ``--install``).

A bundle's ``system_packages`` (such as a Java runtime for Spark) come from Debian here, as R does for R bundles.
Running as root with ``apt-get``, the missing ones are installed (``apt-get update`` first only when the install
fails for want of package lists). Otherwise nothing is installed, and the command says which packages are missing,
for which bundles, and the command to run: the hub then shows those bundles as unavailable, naming what is missing
(:class:`gereedschapskist.hub.bundle_tools.LocalTools`), as it does for RStudio without ``rserver``. It never fails
``make up``: a machine without them still runs every other bundle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Callable, Mapping, Optional

import typer

from gereedschapskist.catalogue import Catalogue, load
from gereedschapskist.core.system_packages import installed_system_packages


def needed(catalogue: Catalogue) -> dict[str, tuple[str, ...]]:
    """Debian package → the offered bundles that declare it (sorted)."""
    found: dict[str, list[str]] = {}
    for bundle in sorted(catalogue.bundles.values(), key=lambda b: b.id):
        if bundle.offered:
            for name in bundle.system_packages:
                found.setdefault(name, []).append(bundle.id)
    return {name: tuple(ids) for name, ids in sorted(found.items())}


def _apt_install(apt_get: str, names: list[str], run: Callable[..., subprocess.CompletedProcess]) -> bool:
    argv = [apt_get, "install", "--yes", "--no-install-recommends", *names]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if run(argv, env=env).returncode == 0:
        return True
    return run([apt_get, "update"], env=env).returncode == 0 and run(argv, env=env).returncode == 0


def ensure(wanted: Mapping[str, tuple[str, ...]], *, install: bool, echo: Callable[[str], None] = print,
           installed: Callable[[list[str]], frozenset[str]] = installed_system_packages,
           apt_get: str | None = None, is_root: bool | None = None,
           run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[str]:
    """Install (or report) the missing packages of ``wanted``; returns those still missing afterwards."""
    names = list(wanted)
    missing = [n for n in names if n not in installed(names)]
    if not missing:
        if names:
            echo(f"✓ system packages present: {', '.join(names)}")
        return []
    apt_get = apt_get if apt_get is not None else (shutil.which("apt-get") or "")
    is_root = is_root if is_root is not None else (hasattr(os, "geteuid") and os.geteuid() == 0)
    if install and apt_get and is_root:
        echo(f"installing the system packages the catalogue's bundles need: {' '.join(missing)}")
        _apt_install(apt_get, missing, run)
        missing = [n for n in names if n not in installed(names)]
    if missing:
        why = ("not installed: apt-get failed" if install and apt_get and is_root else
               "not installed: this needs root and apt-get" if install else "missing")
        for name in missing:
            echo(f"! system package {name} is {why}; bundles that need it: {', '.join(wanted[name])} "
                 "(shown as unavailable on this machine until it is installed)")
        echo(f"  install them with: sudo apt-get install --no-install-recommends {' '.join(missing)}")
    return missing


def command(
    install: Annotated[bool, typer.Option("--install", help="install the missing ones (root with apt-get)")] = False,
    catalogue_dir: Annotated[Optional[Path], typer.Option(help="the catalogue folder (default: the project's)")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="exit 1 when any remain missing")] = False,
) -> None:
    """The Debian packages the catalogue's bundles declare (system_packages): which are missing, installed with
    --install where this machine allows it."""
    missing = ensure(needed(load(catalogue_dir)), install=install, echo=typer.echo)
    if missing and strict:
        raise typer.Exit(1)
