"""Where things are inside every bundle image: written by the image definitions (:mod:`gereedschapskist.images`, whose
``toolchain`` takes these values from here) and used by the hub, which runs them in a Kubernetes pod
(:mod:`gereedschapskist.hub.kubernetes_apps`: a published app's pod runs the image's copy of the app server with the
image's Python)."""

from __future__ import annotations

#: The bundle's Python environment (one pinned CPython, the interface tooling and the bundle's PyPI packages).
VENV = "/opt/venv"
VENV_PYTHON = f"{VENV}/bin/python"
#: Where generated inputs (package lists, scripts, the app server) are copied inside an image.
IMAGE_SHARE = "/opt/gereedschapskist"
#: A published app's server (``hub/app_server.py``, one standalone file): its name, and its copy in the image of a
#: bundle that pins an app framework (:func:`gereedschapskist.core.apps.bundle_frameworks`).
APP_SERVER_FILE = "app_server.py"
IMAGE_APP_SERVER = f"{IMAGE_SHARE}/{APP_SERVER_FILE}"
