"""Published apps and dashboards (issue 17, section 1): the hub's side.

An app runs as a **named server of its owner** (``app-<slug>``, at most 30 characters as JupyterHub's server
names; the portal's workspace tidying leaves ``app-`` servers alone, ``portal/services/workspaces.py``), started by
the portal with the launch option ``app`` (accepted from the portal's token only, :mod:`.launch`)::

    {"framework": "panel", "entry": "dashboards/sales/app.py"}                       (a folder of the owner's home)
    {"framework": "panel", "entry": "app.py", "git": "https://…/repo.git", "commit": "<40 hex>"}   (a git commit)

A folder app may name the owner's ``workspace`` (the named server whose home holds the folder): on Kubernetes each
workspace has a home claim of its own, so an app from a folder mounts that workspace's claim and needs the name
(:mod:`.kubernetes_apps`); the local backend has one home per user and does not need it.

Instead of JupyterLab the spawner runs :mod:`.app_server`: a small proxy that lets through only people the hub's
OAuth allows (``access:servers!server=<owner>/app-<slug>``), in front of the framework's own server — so a viewer
gets the app and never the owner's Jupyter server, files, terminals or kernels (there is none in an app server).

**Who may open it** is JupyterHub's own sharing (``orm.Share``, JupyterHub 5+): the portal sets an app's audience
with ``POST /hub/api/gereedschapskist/apps/<owner>/<server>/audience`` ``{"users": [...], "groups": [...]}`` (custom
scope :data:`APPS_SCOPE`, the portal's role only). The endpoint replaces the server's shares with exactly those (a
group also as its current members, one by one: see :meth:`AppHandler.post`), and
refuses any server that is not an app server: the portal's token cannot share anyone's workspace (it has no
``shares`` scope). ``GET …/logs`` gives the app server's last log lines (local backend).

The framework must be in the bundle's environment: a bundle without the framework's package is refused at launch
(409 ``framework-not-in-bundle``, naming bundle and framework); nothing is installed ad hoc.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from gereedschapskist.core.apps import FRAMEWORKS, Framework, bundle_frameworks

from .refused import HubRefused
from .roles import APPS_SCOPE

APP_OPTION = "app"
APP_SERVER_PREFIX = "app-"
APPS_PATH = r"/api/gereedschapskist/apps/([^/]+)/([^/]+)/(audience|logs)"
CUSTOM_SCOPES = {APPS_SCOPE: {"description": "Set who may open a published app (the Gereedschapskist portal) and "
                                             "read its log"}}
FRAMEWORK_NOT_IN_BUNDLE = "framework-not-in-bundle"
#: A published app's server name: ``app-<slug>``.
APP_SERVER_NAME = re.compile(r"app-[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,25}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_GIT_URL = re.compile(r"(https://|file:///)[^\s'\"\\]+")
#: A workspace's server name (the portal's ``<bundle id>-<6 hex>``, or any name JupyterHub allows), not an app's.
_WORKSPACE = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,62}")


class AppRefused(HubRefused):
    """An app launch or request the hub refuses; ``reason`` goes out in the reason header."""


@dataclass(frozen=True, slots=True)
class AppSpec:
    """What an app server runs: the framework and its entry file, from the owner's home or a git commit."""

    framework: Framework
    entry: str
    git: str | None = None
    commit: str | None = None
    workspace: str | None = None

    def as_option(self) -> dict[str, str]:
        option = {"framework": self.framework.id, "entry": self.entry}
        if self.git:
            option.update(git=self.git, commit=self.commit or "")
        if self.workspace:
            option["workspace"] = self.workspace
        return option


def parse_app(value: Any, *, server_name: str) -> AppSpec:
    """The launch option ``app``, checked; :class:`AppRefused` (400 ``bad-options``) naming the field otherwise."""
    def bad(message: str) -> AppRefused:
        return AppRefused(400, "bad-options", f"Launch option 'app': {message}")

    if not isinstance(value, Mapping):
        raise bad(f"send an object {{\"framework\": …, \"entry\": …}}, not {value!r}")
    unknown = sorted(set(value) - {"framework", "entry", "git", "commit", "workspace"})
    if unknown:
        raise bad(f"unknown field(s) {', '.join(unknown)}")
    if not APP_SERVER_NAME.fullmatch(server_name or ""):
        raise bad(f"an app runs as a server named app-<slug>, not {server_name!r}")
    framework = FRAMEWORKS.get(value.get("framework"))   # type: ignore[arg-type]
    if framework is None:
        raise bad(f"framework {value.get('framework')!r} is not one of {', '.join(FRAMEWORKS)}")
    entry = value.get("entry")
    if not isinstance(entry, str) or not entry or len(entry) > 300:
        raise bad(f"entry must be a relative file path, not {entry!r}")
    path = PurePosixPath(entry)
    if path.is_absolute() or ".." in path.parts or "\\" in entry or entry.startswith("~"):
        raise bad(f"entry {entry!r} must be a path inside the folder (relative, no '..')")
    if path.suffix not in framework.suffixes:
        raise bad(f"entry {entry!r}: a {framework.label} app is a {' or '.join(framework.suffixes)} file")
    git, commit = value.get("git"), value.get("commit")
    if git is not None or commit is not None:
        if not isinstance(git, str) or not _GIT_URL.fullmatch(git):
            raise bad(f"git must be an https:// (or file:///) repository URL, not {git!r}")
        if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
            raise bad(f"commit must be a full 40-character commit id, not {commit!r}")
    workspace = value.get("workspace")
    if workspace is not None:
        if git is not None:
            raise bad("workspace names the workspace whose home holds a folder app; an app from git has none")
        if (not isinstance(workspace, str) or not _WORKSPACE.fullmatch(workspace)
                or workspace.startswith(APP_SERVER_PREFIX)):
            raise bad(f"workspace must be the server name of one of your workspaces, not {workspace!r}")
    return AppSpec(framework, str(path), git, commit, workspace)


def check_framework(bundle, app: AppSpec) -> None:
    """The framework must be in the bundle's own environment (409 ``framework-not-in-bundle``)."""
    if app.framework.id not in bundle_frameworks(bundle):
        found = ", ".join(bundle_frameworks(bundle)) or "none"
        raise AppRefused(409, FRAMEWORK_NOT_IN_BUNDLE,
                         f"Bundle {bundle.id} {bundle.version} does not contain {app.framework.label} (PyPI package "
                         f"{app.framework.package!r}), so a {app.framework.label} app cannot run on it; its app "
                         f"frameworks: {found}. Choose a bundle with it (nothing is installed ad hoc).")


# -- the hub's endpoints: audience (JupyterHub sharing) and log ------------------------------------------------


class AppHandler(APIHandler):
    """``POST …/audience``: replace who may open the app; ``GET …/logs``: its server's last log lines."""

    def initialize(self, logs_dir: str | None) -> None:
        self.logs_dir = logs_dir

    def _authorised(self) -> None:
        if self.current_user is None or APPS_SCOPE not in self.expanded_scopes:
            raise web.HTTPError(403, f"Action is not authorized with current scopes; requires any of [{APPS_SCOPE}]")

    def _app_spawner(self, owner: str, server: str):
        if not APP_SERVER_NAME.fullmatch(server):
            raise AppRefused(403, "not-an-app", f"{owner}/{server} is not an app server (app-<slug>): only apps are "
                                                "shared through this endpoint")
        user = self.find_user(owner)
        spawner = None if user is None else user.orm_spawners.get(server)
        if spawner is None:
            raise AppRefused(404, "app-not-found", f"the hub has no server {owner}/{server}")
        return user, spawner

    def get(self, owner: str, server: str, what: str) -> None:
        self._authorised()
        if what != "logs":
            raise web.HTTPError(405)
        self._app_spawner(owner, server)
        lines = []
        if self.logs_dir:
            path = Path(self.logs_dir) / f"{owner}-{server}.log"
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
            except OSError:
                lines = []
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"lines": lines, "available": bool(self.logs_dir)}))

    def post(self, owner: str, server: str, what: str) -> None:
        self._authorised()
        if what != "audience":
            raise web.HTTPError(405)
        user, spawner = self._app_spawner(owner, server)
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise AppRefused(400, "bad-request", "send JSON: {\"users\": [...], \"groups\": [...]}") from None
        users, groups = body.get("users", []), body.get("groups", [])
        if not (isinstance(users, list) and isinstance(groups, list)
                and all(isinstance(x, str) for x in [*users, *groups])):
            raise AppRefused(400, "bad-request", "'users' and 'groups' must be lists of names")
        wanted: list = []
        missing: dict[str, list[str]] = {"users": [], "groups": []}
        for name in users:
            found = orm.User.find(self.db, name)
            (wanted.append(found) if found is not None else missing["users"].append(name))
        for name in groups:
            found = orm.Group.find(self.db, name)
            if found is None:
                missing["groups"].append(name)
                continue
            # the group, and each of its members by name: JupyterHub 6.1.1 counts a group's shares when it checks
            # a user, but not when it reduces the user's OAuth token to what its owner may do (scopes.get_scopes_for
            # adds only the user's own shares there), so a share with the group alone gets a member through the
            # authorize step and then refused by the app. The portal sends the audience again at every open, so
            # members who logged in to the hub later are added then.
            wanted.append(found)
            wanted += [member for member in found.users if member not in wanted]
        for share in list(self.db.query(orm.Share).filter_by(spawner_id=spawner.id)):
            target = share.user or share.group
            if target not in wanted:
                orm.Share.revoke(self.db, spawner, target)
        for target in wanted:
            if target is user.orm_user:
                continue
            orm.Share.grant(self.db, spawner, target)
        shared = sorted(f"{s.user.name}" if s.user else f"group:{s.group.name}"
                        for s in self.db.query(orm.Share).filter_by(spawner_id=spawner.id))
        self.db.commit()
        self.log.info("app %s/%s shared with %s (not at the hub yet: %s)", owner, server, shared or "nobody", missing)
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"shared": shared, "missing": missing}))


def app_handlers(logs_dir: str | None) -> list[tuple[str, type, dict[str, Any]]]:
    """``JupyterHub.extra_handlers`` of the apps' endpoints (``logs_dir`` None: no logs on this backend)."""
    return [(APPS_PATH, AppHandler, {"logs_dir": logs_dir})]
