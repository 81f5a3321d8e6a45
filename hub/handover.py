"""The hub's side of a workspace handover: move a leaving user's home folder into a colleague's home.

``POST /hub/api/gereedschapskist/handover`` (:data:`HANDOVER_PATH` under the hub's prefix) with
``{"from": "<leaving user>", "to": "<colleague>"}``, and a token holding the custom scope :data:`HANDOVER_SCOPE`
(only the portal's role has it, :mod:`.roles`). The portal calls it when an organisation admin hands a leaving
member's workspaces to a colleague (``portal/services/handover.py``); the portal decides who may, the hub only does
it. Answers::

    200 {"from": "anna", "to": "dana", "moved": true, "folder": "overgedragen-van-anna-2026-12-01"}
    200 {"from": "anna", "to": "dana", "moved": false, "folder": null}      (no home folder to move)
    400 bad input (reason ``bad-request``) · 409 a server of the leaving user still runs (``workspace-running``)
    501 this backend cannot (``handover-unsupported``)

The reason travels in the ``X-Gereedschapskist-Reason`` header, as the launch rule's refusals do.

**Local backend** (:class:`LocalHomeFolders`): home folders are ``<HOMES_DIR>/<user>`` (the spawner's
``home_dir_template``). The leaving user's folder is *moved* (never copied: their files then exist once, in the
colleague's home) to ``<HOMES_DIR>/<colleague>/overgedragen-van-<user>-<date>`` (``-2``, ``-3``, … when that exists).
**Kubernetes**: home folders are PersistentVolumeClaims (``claim-<user>``), which a hub process cannot move; the
endpoint answers 501 and the runbook applies — an operator runs a Job mounting both claims that moves the folder
the same way, or re-labels the leaving user's claim to the colleague. The portal then refuses the handover with the
hub's reason, before anything in the portal changes.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from tornado import web


from .refused import HubRefused
from .roles import HANDOVER_SCOPE

HANDOVER_PATH = "/api/gereedschapskist/handover"
#: ``JupyterHub.custom_scopes``: the scope the portal's role needs for :data:`HANDOVER_PATH`.
CUSTOM_SCOPES = {HANDOVER_SCOPE: {"description": "Move a leaving user's home folder into a colleague's home "
                                                 "(the Gereedschapskist portal's workspace handover)"}}
#: A hub user name that is safe as one path segment (hub names are lower-cased, ``core.identity.hub_username``).
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,254}$")


class HandoverRefused(HubRefused):
    """A handover the hub refuses; ``reason`` goes out in the reason header."""


class HomeFolders:
    """Where users' home folders are, and moving one into another's. The base class cannot (Kubernetes)."""

    def transfer(self, *, from_user: str, to_user: str, on: date) -> str | None:
        raise HandoverRefused(501, "handover-unsupported", "This hub keeps home folders as volumes it cannot move; "
                                                            "an operator moves them (see the runbook).")


class LocalHomeFolders(HomeFolders):
    """Home folders on this machine: ``<homes>/<user>``."""

    def __init__(self, homes: Path):
        self.homes = Path(homes)

    def home(self, user: str) -> Path:
        return self.homes / user

    def transfer(self, *, from_user: str, to_user: str, on: date) -> str | None:
        """Move ``from_user``'s home into ``to_user``'s; the folder's name there, or None when there was none."""
        source = self.home(from_user)
        if not source.is_dir() or source.is_symlink():
            return None
        target_home = self.home(to_user)
        target_home.mkdir(parents=True, exist_ok=True)
        base = f"overgedragen-van-{from_user}-{on.isoformat()}"
        name, n = base, 1
        while (target_home / name).exists():
            n += 1
            name = f"{base}-{n}"
        shutil.move(str(source), str(target_home / name))     # a rename on one file system
        return name


def _name(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not _NAME.match(value):
        raise HandoverRefused(400, "bad-request", f"{field!r} must be a hub user name (lower case, no '/'), "
                                                  f"not {value!r}")
    return value


class HandoverHandler(APIHandler):
    """``POST``: move a leaving user's home folder into a colleague's home."""

    def initialize(self, homes: HomeFolders) -> None:
        self.homes = homes

    def post(self) -> None:
        # a custom scope: checked here (``needs_scope`` knows only the scopes defined when it decorates)
        if self.current_user is None or HANDOVER_SCOPE not in self.expanded_scopes:
            raise web.HTTPError(403, f"Action is not authorized with current scopes; requires any of "
                                     f"[{HANDOVER_SCOPE}]")
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise HandoverRefused(400, "bad-request", "send JSON: {\"from\": ..., \"to\": ...}") from None
        if not isinstance(body, dict):
            raise HandoverRefused(400, "bad-request", "send a JSON object: {\"from\": ..., \"to\": ...}")
        leaving, colleague = _name(body, "from"), _name(body, "to")
        if leaving == colleague:
            raise HandoverRefused(400, "bad-request", f"'from' and 'to' are both {leaving!r}")
        user = self.find_user(leaving)
        if user is not None:
            running = sorted(name or "(default)" for name, spawner in user.spawners.items() if spawner.active)
            if running:
                raise HandoverRefused(409, "workspace-running", f"{leaving} still has servers running: "
                                                               f"{', '.join(running)}; stop them first")
        folder = self.homes.transfer(from_user=leaving, to_user=colleague, on=date.today())
        self.log.info("handover: home folder of %s %s", leaving,
                      f"moved to {colleague}/{folder}" if folder else "not there: nothing to move")
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"from": leaving, "to": colleague, "moved": folder is not None, "folder": folder}))


def handover_handlers(homes: HomeFolders | None) -> list[tuple[str, type, dict[str, Any]]]:
    """``JupyterHub.extra_handlers`` for the handover (``homes`` None: the backend cannot, 501)."""
    return [(HANDOVER_PATH, HandoverHandler, {"homes": homes or HomeFolders()})]
