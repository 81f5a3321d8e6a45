"""JupyterLab's own files, served by the hub once per environment, so a browser keeps them across workspaces.

Every JupyterHub server has a URL prefix of its own (``/user/<name>/<server>/``), so a browser fetched JupyterLab's
~5 MB of JavaScript (about 65 files) again for every new workspace, and compiled it again: measured in
``tests/bench/test_click_to_lab.py``, JupyterLab took ~2.5 s from its page to its UI on a new server against
~1.6 s with its files cached (issue 13). The local spawner therefore points JupyterLab at
``/hub/gereedschapskist/lab-static/<environment>/`` (``LabApp.static_url_prefix``, see :func:`static_url_prefix`),
which :class:`LabStaticHandler` serves from that environment's ``share/jupyter/lab/static`` folder.

- Only that folder of an environment the hub built: the environment's name must look like one (``<bundle>-<version>-
  <hash>``, :data:`ENV_NAME`), and tornado's static handler keeps paths inside the folder.
- An environment's name changes with its specification, and JupyterLab's build names its files by their content's
  hash: those answers are cacheable by anyone and immutable; the few other files are revalidated (ETag).
- The files stay public JupyterLab code; the user's work (settings, files, kernels) still goes through the
  server's own URL and its OAuth with the hub. Federated extensions keep coming from the server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jupyterhub.utils import url_path_join
from tornado import web

#: Under the hub's prefix (``/hub/``): ``…/lab-static/<environment>/<file>``.
LAB_STATIC_PATH = "/gereedschapskist/lab-static"
#: The name of an environment the builder makes: ``<bundle id>-<version>-<16 hex>``.
ENV_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}-[0-9A-Za-z.+_-]{1,64}-[0-9a-f]{16}")
#: Where an environment keeps JupyterLab's files.
LAB_FILES = Path("share") / "jupyter" / "lab" / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
#: A file named by its content's hash (or asked for with ``?v=<hash>``), as JupyterLab's build names nearly all.
HASHED = re.compile(r"[0-9a-f]{16,}")


def static_url_prefix(hub_base_url: str, env_name: str) -> str:
    """JupyterLab's ``LabApp.static_url_prefix`` for a server of environment ``env_name``."""
    return url_path_join(hub_base_url, LAB_STATIC_PATH, env_name) + "/"


class LabStaticHandler(web.StaticFileHandler):
    """``GET /hub/gereedschapskist/lab-static/<environment>/<file>``: a file of that environment's JupyterLab."""

    def initialize(self, envs_dir: str, default_filename: str | None = None) -> None:  # type: ignore[override]
        self.envs_dir = Path(envs_dir)
        super().initialize(path=str(self.envs_dir), default_filename=default_filename)

    async def get(self, env: str, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        folder = self.envs_dir / env / LAB_FILES
        if not ENV_NAME.fullmatch(env) or not folder.is_dir():
            raise web.HTTPError(404)
        self.root = str(folder)
        await super().get(path, include_body=include_body)

    def head(self, env: str, path: str):  # type: ignore[override]
        return self.get(env, path, include_body=False)

    def set_extra_headers(self, path: str) -> None:
        hashed = HASHED.search(path) or self.get_query_argument("v", None)
        self.set_header("Cache-Control", IMMUTABLE if hashed else "no-cache")      # the few others: ask again

    @classmethod
    def get_cache_time(cls, path: str, modified: Any, mime_type: str) -> int:
        return 0        # Cache-Control is set above; no Expires header on top


def lab_static_handlers(envs_dir: Path) -> list[tuple[str, type, dict[str, Any]]]:
    """``JupyterHub.extra_handlers`` (paths relative to the hub's prefix) of the local backend."""
    return [(LAB_STATIC_PATH + r"/([^/]+)/(.+)", LabStaticHandler, {"envs_dir": str(envs_dir)})]
