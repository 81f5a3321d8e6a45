"""What makes a built environment this bundle's workspace, besides its packages: kernels and top-bar label.

- **Kernels** (:func:`gereedschapskist.catalogue.kernels.kernels_of`) are installed into the environment's own
  ``share/jupyter/kernels`` (``sys.prefix``, which JupyterLab in that environment reads), named after the bundle.
  The Python kernel's command is ``python`` (jupyter_client runs its own interpreter for that name), so the
  environment stays relocatable; the R kernel is IRkernel's own ``installspec`` with this machine's R.
- **Only these kernels**: a kernelspec installed on the machine (Debian's ``r-cran-irkernel`` puts one in
  ``/usr/share/jupyter/kernels``) would show in every workspace; ``KernelSpecManager.allowed_kernelspecs`` in the
  environment's own server configuration (``etc/jupyter/jupyter_server_config.json``) keeps the bundle's own.
- **The top-bar label** is a JupyterLab settings override (``share/jupyter/lab/settings/overrides.json``) for the
  pinned extension ``jupyterlab-topbar-text``: the bundle's title and version, not editable.

The builder (:mod:`.envbuilder`) calls these on the environment while it is still being built, so a failure
leaves nothing behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Awaitable, Callable

from gereedschapskist.catalogue import Bundle
from gereedschapskist.catalogue.kernels import Kernel

#: The settings id of the pinned top-bar extension (``jupyterlab-topbar-text`` 1.1.0) and where overrides live.
TOP_BAR_PLUGIN = "jupyterlab-topbar-text:plugin"
OVERRIDES = Path("share/jupyter/lab/settings/overrides.json")
KERNELS = Path("share/jupyter/kernels")
#: The environment's own server configuration (``sys.prefix/etc/jupyter``; the ``.d`` folder there only enables
#: extensions, so the plain file).
SERVER_CONFIG = Path("etc/jupyter/jupyter_server_config.json")
#: JupyterLab's question about fetching Jupyter news from the internet: not asked in a workspace.
NEWS = ("@jupyterlab/apputils-extension:notification", {"fetchNews": "false"})

#: JupyterLab on this offline workbench (issue 13, the first render): no news feed, no update check and no PyPI
#: listing in the extension manager (each asks the internet from the server), and no build check, which cost 4-6 s of
#: the fresh server's time while the page loads (``GET /lab/api/build``) for environments that are never rebuilt.
LAB_SERVER = {"extension_manager": "readonly", "news_url": None,
              "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"}
#: JupyterLab's page configuration (``etc/jupyter/labconfig/page_config.json``): the build check off.
PAGE_CONFIG = Path("etc/jupyter/labconfig/page_config.json")
#: The terminal's shell. Left alone, a server started by a spawner (no tty) runs ``$SHELL -l``, and Debian's
#: ``/etc/profile`` then sets ``PATH`` afresh: the environment's ``bin/`` is gone, and a member's terminal finds the
#: system's Python and none of the bundle's tools (``copier``, ``dbt``, …). An interactive, non-login bash keeps the
#: ``PATH`` the spawner gave the server (and still reads ``/etc/bash.bashrc`` and ``~/.bashrc``).
TERMINAL_SHELL = ["/bin/bash", "-i"]
LAB_PAGE = {"buildCheck": False, "buildAvailable": False}

Run = Callable[..., Awaitable[None]]


class KernelMissing(Exception):
    """A declared kernel could not be installed into the environment."""

    def __init__(self, kernel: Kernel, why: str):
        self.kernel = kernel
        super().__init__(f"the {kernel.language} kernel {kernel.display_name!r} could not be installed: {why}")


def top_bar_label(bundle: Bundle) -> str:
    """``SQL-analyse met DuckDB / SQL analysis with DuckDB · 1.0.0`` (one title when both languages agree)."""
    titles = bundle.title.nl if bundle.title.nl == bundle.title.en else f"{bundle.title.nl} / {bundle.title.en}"
    return f"{titles} · {bundle.version}"


def write_label(env_dir: Path, label: str) -> None:
    path = env_dir / OVERRIDES
    path.parent.mkdir(parents=True, exist_ok=True)
    overrides = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    overrides[TOP_BAR_PLUGIN] = {"text": label, "editable": False}
    overrides.setdefault(NEWS[0], NEWS[1])
    path.write_text(json.dumps(overrides, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _r_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def install_kernels(env_dir: Path, kernels: tuple[Kernel, ...], *, rscript: str | None,
                          run: Run) -> list[dict[str, str]]:
    """Install each kernel into ``env_dir``; returns them as the manifest lists them. Raises :class:`KernelMissing`."""
    installed = []
    for kernel in kernels:
        if kernel.language == "python":
            await run([str(env_dir / "bin" / "python"), "-m", "ipykernel", "install", "--prefix", str(env_dir),
                       "--name", kernel.name, "--display-name", kernel.display_name])
            spec_file = env_dir / KERNELS / kernel.name / "kernel.json"
            spec = json.loads(spec_file.read_text(encoding="utf-8"))
            spec["argv"][0] = "python"  # jupyter_client starts its own interpreter for "python": relocatable
            spec_file.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
        elif kernel.language == "R":
            if not rscript:
                raise KernelMissing(kernel, "R is not installed on this machine (no Rscript)")
            path = os.pathsep.join([str(env_dir / "bin"), os.environ.get("PATH", os.defpath)])
            await run([rscript, "--no-save", "--no-restore", "-e",
                       f"IRkernel::installspec(name = {_r_string(kernel.name)}, "
                       f"displayname = {_r_string(kernel.display_name)}, prefix = {_r_string(str(env_dir))})"],
                      env={"PATH": path})
        else:
            raise KernelMissing(kernel, f"no installer for the language {kernel.language!r}")
        spec_file = env_dir / KERNELS / kernel.name / "kernel.json"
        if not spec_file.is_file():
            raise KernelMissing(kernel, f"{spec_file.relative_to(env_dir)} was not written")
        display = json.loads(spec_file.read_text(encoding="utf-8")).get("display_name")
        if display != kernel.display_name:
            raise KernelMissing(kernel, f"its kernelspec is named {display!r}")
        installed.append({"name": kernel.name, "language": kernel.language, "display_name": kernel.display_name})
    config_file = env_dir / SERVER_CONFIG
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    config.setdefault("KernelSpecManager", {})["allowed_kernelspecs"] = [k.name for k in kernels]
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return installed


def write_offline_lab(env_dir: Path) -> None:
    """JupyterLab's server and page settings for an offline workbench (:data:`LAB_SERVER`, :data:`LAB_PAGE`) and the
    terminal's shell (:data:`TERMINAL_SHELL`), merged into what the environment's configuration already holds."""
    config_file = env_dir / SERVER_CONFIG
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    config.setdefault("LabApp", {}).update(LAB_SERVER)
    config.setdefault("ServerApp", {}).setdefault("terminado_settings", {})["shell_command"] = TERMINAL_SHELL
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    page = env_dir / PAGE_CONFIG
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(json.dumps(LAB_PAGE, indent=2) + "\n", encoding="utf-8")
