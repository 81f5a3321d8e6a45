"""Everything an image needs besides the bundle's own packages, pinned in one place.

Changing a value here changes every rendered definition (``gereedschapskist images render``),
so every image is rebuilt by CI. Tags are exact version tags; CI resolves them to digests at
build time and records the digest (never a digest written by hand).

Why these versions (see also the README section "Images"):

* ``uv`` is the same version the project pins in its ``hub`` extra, so the hub's local backend
  and the images resolve packages with the same tool.
* Each bundle gets its own Python environment (``/opt/venv``) with one pinned CPython: the
  bases' own Pythons differ (docker-stacks ships 3.13 conda, rocker ships none) and some
  pinned bundle packages publish no wheels for 3.13 yet (bytewax 0.21.1 stops at cp312).
* Transitive dependencies are resolved as PyPI knew them on :data:`RESOLVED_AT`, so the same
  definition always resolves to the same versions; raising the date is a deliberate change.
* ``jupyterhub``/``jupyterlab`` match the project's own pins (the hub and the local backend),
  so ``jupyterhub-singleuser`` in a workspace speaks the hub's protocol version.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where things are in an image, shared with the hub that runs them (core.image_layout): VENV, IMAGE_SHARE.
from gereedschapskist.core.image_layout import IMAGE_SHARE, VENV  # noqa: F401  (re-exported)

#: The uv binary, taken from its official image (same version as the ``uv`` pin in pyproject.toml).
UV_VERSION = "0.13.9"
UV_IMAGE = f"ghcr.io/astral-sh/uv:{UV_VERSION}"

#: The CPython every bundle environment runs on (a python-build-standalone build uv 0.13.9 knows).
PYTHON_VERSION = "3.12.16"
#: Where uv installs that CPython inside every image (the bundle's environment: VENV, from core.image_layout).
PYTHON_INSTALL_DIR = "/opt/python"
#: PyPI as of this moment: later uploads are invisible to the image build (uv ``--exclude-newer``).
RESOLVED_AT = "2026-11-20T00:00:00Z"
#: Wheels only: no compilers in the images, no build-time surprises.
ONLY_BINARY = ":all:"
#: The exceptions, keyed by package (never by bundle) with why: PyPI packages published only as a source
#: distribution that builds without a compiler. Each one a bundle pins is built from source (``--no-binary``).
SOURCE_ONLY = {
    "pyspark": "Apache Spark publishes PySpark on PyPI only as a source archive (the Spark jars inside); "
               "building it copies files, no compiler runs",
}
#: The Debian/Ubuntu archive as of the same moment as PyPI (Ubuntu's snapshot service, apt --snapshot): a bundle's
#: ``system_packages`` resolve to the versions of that date, so a definition installs the same every time.
APT_SNAPSHOT = "20261120T000000Z"
#: The platform the images are built for (the node pools run amd64 machines).
PLATFORM = "linux/amd64"
#: The manylinux level of the bases (Ubuntu 24.04, glibc 2.39), for resolving wheels off-image.
MANYLINUX = "x86_64-manylinux_2_39"

#: The workspace user of every image: docker-stacks' jovyan (uid 1000, group users = 100).
USER_NAME = "jovyan"
USER_UID = 1000
USER_GID = 100
HOME = f"/home/{USER_NAME}"
JUPYTER_PORT = 8888


@dataclass(frozen=True, slots=True)
class Pin:
    """A PyPI tool the image adds for an interface (never one the bundle pins itself)."""

    name: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


#: In every image: the single-user server the hub starts, the Jupyter server and launcher, a Python kernel.
BASE_TOOLS = (
    Pin("jupyterhub", "6.1.1"),
    Pin("jupyterlab", "4.6.6"),
    Pin("ipykernel", "7.4.0"),
)
SERVER_PROXY = Pin("jupyter-server-proxy", "4.6.0")
#: Per interface: what makes it reachable through jupyter-server-proxy (keys are Interface values).
INTERFACE_TOOLS = {
    "jupyterlab": (),
    "rstudio": (SERVER_PROXY, Pin("jupyter-rsession-proxy", "2.5.1")),
    "vscode": (SERVER_PROXY, Pin("jupyter-vscode-proxy", "0.7")),
}
#: The URL path each interface is served at (the hub's ``default_url`` per interface).
INTERFACE_PATHS = {"jupyterlab": "/lab", "rstudio": "/rstudio/", "vscode": "/vscode/"}


@dataclass(frozen=True, slots=True)
class Download:
    """A release archive fetched by ``ADD --checksum``: BuildKit refuses it when the hash differs."""

    name: str
    version: str
    url: str
    sha256: str
    unpacked: str  # the folder the archive unpacks to


#: code-server for the vscode interface. The checksum is the one conda-forge's code-server
#: feedstock verifies for this release archive (recipe/recipe.yaml, v4.133.0, linux-amd64).
CODE_SERVER = Download(
    name="code-server",
    version="4.133.0",
    url="https://github.com/coder/code-server/releases/download/v4.133.0/code-server-4.133.0-linux-amd64.tar.gz",
    sha256="a4e0f8f8c76e7de8e7424289f74e507af4c97bfe104c3e8ee272b8cc7b46c6f1",
    unpacked="code-server-4.133.0-linux-amd64",
)

#: Extra steps a declared package needs to be usable from JupyterLab: (ecosystem, package name) →
#: shell command, run as root after the package is installed. Keyed by package, never by bundle.
PACKAGE_HOOKS = {
    ("cran", "IRkernel"): f"Rscript -e \"IRkernel::installspec(user = FALSE, prefix = '{VENV}')\"",
}

#: The environment GPU workspaces need so the NVIDIA runtime mounts the driver and nvidia-smi.
GPU_ENV = (
    ("NVIDIA_VISIBLE_DEVICES", "all"),
    ("NVIDIA_DRIVER_CAPABILITIES", "compute,utility"),
    ("LD_LIBRARY_PATH", "/usr/local/nvidia/lib64"),
)
