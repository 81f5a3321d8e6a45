"""Published apps on Kubernetes (issue 17 §1; :mod:`.apps`): the pod of an ``app-<slug>`` server.

On the local backend an app server runs ``hub/app_server.py`` with the bundle environment's Python
(:mod:`.spawner`). On Kubernetes :class:`~.kubernetes.BundleKubeSpawner` turns the same launch into a pod of the
bundle's image (mirrored as for workspaces) that runs the image's copy of that file
(``/opt/gereedschapskist/app_server.py``, written by ``images/render.py``) with the image's Python, and nothing else:

- **no JupyterLab**: the container's command is ``[/opt/venv/bin/python, /opt/gereedschapskist/app_server.py]``,
  the HubOAuth proxy in front of the framework; viewers never reach a Jupyter server of the owner;
- **only the app's files**, read-only at ``/srv/app``; no home folder (and no claim is made for the app server), no
  granted datasets (the viewers are not the grantee), no Spark account or token, no Kafka credentials (an app is
  shown to people who are not the environment's Kafka users; it gets them back only by a decision to give apps
  Kafka, not by default), no forge token (the checkout's init container alone gets it);
- **from a git commit** (production; development too): an init container of the same image and security context
  runs the image's git (every base with an app framework has git: ``images/bases.py`` ``tool:git``) to fetch exactly
  the commit into an ``emptyDir``, checks the commit and the entry file, removes ``.git`` and makes the files
  read-only; the app container mounts it read-only. The URL and commit reach git as variables of a fixed script, never
  as shell text. Only ``https://`` URLs: a ``file:///`` repository is a local backend's;
- **from a folder** (development environments only; production refuses it with ``commit-required``, as the portal
  does): the owner's workspace home claim, read-only, with the entry's folder as ``subPath``. z2jh names each
  server's claim by KubeSpawner's ``pvc_name_template`` (the chart's ``pvcNameTemplate`` is unset, so
  ``claim-{user_server}``: ``claim-<user>--<server>`` for a named server) — so every workspace has a home of its own
  and the default server's ``claim-<user>`` is not where a workspace's files are; the app names the workspace
  (``workspace`` in the launch option) and mounts the claim that workspace's server recorded in its state (or its
  template's name). An init container first checks the entry file is there. A home claim is ReadWriteOnce: the app pod
  prefers the node of the running workspace (pod affinity), and otherwise starts once the workspace stopped.

Everything else a workspace pod gets from the profile or the chart (volumes, init and extra containers, variables)
is left out, not filtered: what an app pod has is listed here.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Mapping

from gereedschapskist.core.image_layout import IMAGE_APP_SERVER, VENV_PYTHON
from gereedschapskist.core.placement import LABEL_PREFIX

from .apps import AppRefused, AppSpec

APP_VOLUME = "gk-app"
APP_MOUNT = "/srv/app"
#: The init container's view of the workspace home, for checking a folder app's entry file.
HOME_CHECK_MOUNT = "/srv/home"
CHECKOUT_CONTAINER = "app-checkout"
CHECK_CONTAINER = "app-check"
APP_LABEL = f"{LABEL_PREFIX}/app"
COMMIT_REQUIRED = "commit-required"
#: The app container's command: the image's Python runs the image's copy of the app server.
APP_COMMAND = (VENV_PYTHON, IMAGE_APP_SERVER)
#: Variables of the pod's environment an app keeps (JupyterHub's own ``JUPYTERHUB_*`` come from the spawner): the
#: bundle's name and version, and the egress proxy of a production environment.
KEPT_VARIABLES = frozenset({"GEREEDSCHAPSKIST_BUNDLE", "GEREEDSCHAPSKIST_BUNDLE_VERSION",
                            "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"})
#: What the checkout additionally gets: the forge's git credential helper and token (:mod:`.forge`).
CHECKOUT_PREFIXES = ("GIT_CONFIG_", "GEREEDSCHAPSKIST_FORGE_")
#: The checkout's size limit (a repository of an app, not of data).
CHECKOUT_SIZE = "1Gi"
INIT_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}

#: The checkout, a fixed script: the URL, commit and entry are variables, never shell text.
CHECKOUT_SCRIPT = (
    'set -eu\n'
    'cd "$GEREEDSCHAPSKIST_APP_CHECKOUT"\n'
    'git init -q .\n'
    'git fetch -q --depth 1 "$GEREEDSCHAPSKIST_APP_GIT" "$GEREEDSCHAPSKIST_APP_COMMIT"\n'
    'git -c advice.detachedHead=false checkout -q --detach FETCH_HEAD\n'
    'test "$(git rev-parse HEAD)" = "$GEREEDSCHAPSKIST_APP_COMMIT"\n'
    'rm -rf .git\n'
    'if [ ! -f "$GEREEDSCHAPSKIST_APP_ENTRY" ]; then\n'
    '  echo "app-entry-missing: $GEREEDSCHAPSKIST_APP_ENTRY is not in commit $GEREEDSCHAPSKIST_APP_COMMIT" >&2\n'
    '  exit 1\n'
    'fi\n'
    'chmod -R a-w .\n'
)
CHECK_SCRIPT = (
    'if [ ! -f "$GEREEDSCHAPSKIST_APP_HOME/$GEREEDSCHAPSKIST_APP_ENTRY" ]; then\n'
    '  echo "app-entry-missing: $GEREEDSCHAPSKIST_APP_ENTRY is not in the workspace $GEREEDSCHAPSKIST_APP_WORKSPACE" >&2\n'
    '  exit 1\n'
    'fi\n'
)


def check_source(app: AppSpec, *, production: bool) -> None:
    """The rules of a stage (the portal's, ``portal/services/apps.py``, held again here): production runs an app
    from a git commit only; Kubernetes fetches ``https://`` only; a folder app names its workspace."""
    if app.git is None:
        if production:
            raise AppRefused(409, COMMIT_REQUIRED, "In a production environment an app runs from a git commit only "
                                                   "(git URL and commit), never from a folder that can be edited "
                                                   "in place.")
        if not app.workspace:
            raise AppRefused(409, "app-workspace-required",
                             "On Kubernetes every workspace has a home of its own: an app from a folder names the "
                             "workspace whose home holds it (launch option app.workspace).")
    elif not app.git.startswith("https://"):
        raise AppRefused(400, "bad-options", f"Launch option 'app': git {app.git!r}: on Kubernetes an app's "
                                             "repository is fetched over https:// only.")


def _entry_parts(app: AppSpec) -> tuple[str, str]:
    path = PurePosixPath(app.entry)
    return ("" if str(path.parent) == "." else str(path.parent)), path.name


def container_security(uid: int, gid: int, base: Mapping[str, Any]) -> dict[str, Any]:
    return {**base, "runAsUser": uid, "runAsGroup": gid}


def app_environment(environment: Mapping[str, Any], app: AppSpec) -> dict[str, Any]:
    """The app container's variables from the spawner's: the kept ones, and where the app is."""
    folder, name = _entry_parts(app)
    if app.git is not None:
        app_dir = f"{APP_MOUNT}/{folder}" if folder else APP_MOUNT
    else:
        app_dir = APP_MOUNT          # the folder app's mount is the entry's folder itself (subPath)
    kept = {key: value for key, value in environment.items() if key in KEPT_VARIABLES}
    return {**kept, "GEREEDSCHAPSKIST_APP_FRAMEWORK": app.framework.id, "GEREEDSCHAPSKIST_APP_ENTRY": name,
            "GEREEDSCHAPSKIST_APP_DIR": app_dir, "GEREEDSCHAPSKIST_APP_PYTHON": VENV_PYTHON}


def _env_list(variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    result = []
    for key in sorted(variables):
        value = variables[key]
        result.append({"name": key, **(value if isinstance(value, dict) else {"value": str(value)})})
    return result


def pod_parts(app: AppSpec, *, image: str, environment: Mapping[str, Any], claim: str | None,
              security_context: Mapping[str, Any], image_pull_policy: str | None = None) -> dict[str, Any]:
    """The app's volumes, mounts and init containers (camelCase, as KubeSpawner takes them).

    ``environment`` is the spawner's (the checkout takes the proxy and forge variables from it); ``claim`` the
    workspace home claim of a folder app (None for git)."""
    folder, _name = _entry_parts(app)
    common = {"image": image, "securityContext": dict(security_context), "resources": INIT_RESOURCES}
    if image_pull_policy:
        common["imagePullPolicy"] = image_pull_policy
    if app.git is not None:
        checkout_env = {key: value for key, value in environment.items()
                        if key in KEPT_VARIABLES or key.startswith(CHECKOUT_PREFIXES)}
        checkout_env.update({"GEREEDSCHAPSKIST_APP_GIT": app.git, "GEREEDSCHAPSKIST_APP_COMMIT": app.commit,
                             "GEREEDSCHAPSKIST_APP_ENTRY": app.entry, "GEREEDSCHAPSKIST_APP_CHECKOUT": APP_MOUNT,
                             "GIT_TERMINAL_PROMPT": "0", "HOME": "/tmp"})
        return {
            "volumes": [{"name": APP_VOLUME, "emptyDir": {"sizeLimit": CHECKOUT_SIZE}}],
            "volume_mounts": [{"name": APP_VOLUME, "mountPath": APP_MOUNT, "readOnly": True}],
            "init_containers": [{"name": CHECKOUT_CONTAINER, **common,
                                 "command": ["/bin/sh", "-c", CHECKOUT_SCRIPT],
                                 "env": _env_list(checkout_env),
                                 "volumeMounts": [{"name": APP_VOLUME, "mountPath": APP_MOUNT}]}],
        }
    if not claim:
        raise AppRefused(409, "app-workspace-required", "An app from a folder needs its workspace's home claim.")
    mount = {"name": APP_VOLUME, "mountPath": APP_MOUNT, "readOnly": True}
    if folder:
        mount["subPath"] = folder
    check_env = {"GEREEDSCHAPSKIST_APP_HOME": HOME_CHECK_MOUNT, "GEREEDSCHAPSKIST_APP_ENTRY": app.entry,
                 "GEREEDSCHAPSKIST_APP_WORKSPACE": app.workspace or ""}
    return {
        "volumes": [{"name": APP_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}],
        "volume_mounts": [mount],
        "init_containers": [{"name": CHECK_CONTAINER, **common, "command": ["/bin/sh", "-c", CHECK_SCRIPT],
                             "env": _env_list(check_env),
                             "volumeMounts": [{"name": APP_VOLUME, "mountPath": HOME_CHECK_MOUNT, "readOnly": True}]}],
    }


def workspace_affinity(username_label: str, workspace_label: str) -> list[dict[str, Any]]:
    """Prefer the node of the running workspace (its home claim is ReadWriteOnce)."""
    return [{"weight": 100, "podAffinityTerm": {
        "topologyKey": "kubernetes.io/hostname",
        "labelSelector": {"matchLabels": {"hub.jupyter.org/username": username_label,
                                          "hub.jupyter.org/servername": workspace_label}}}}]
