"""The hub's one addition to its REST API: which workspace interfaces this hub can serve.

``GET /hub/api/gereedschapskist/interfaces`` (:data:`INTERFACES_PATH` under the hub's prefix), with a token that
holds the unfiltered ``read:servers`` scope (the portal's token has it; users' own tokens do not). It answers what
the hub's own launch rule and options form use (:class:`~.interfaces.InterfaceAvailability`), asked afresh on
every request::

    {"interfaces": {"jupyterlab": {"available": true},
                    "rstudio": {"available": false, "reason": "interface-unavailable", "missing": "rserver"},
                    "vscode": {"available": true}}}

The same answer carries what the hub's machine can hold and whether sizes are enforced (:mod:`.limits`)::

    "capacity": {"cpu": 2.0, "memory_bytes": 25276059648, "gpu": 0},      (local backend only)
    "limits": {"enforced": true, "mechanism": "cgroup-v1"}                 ("reason" when not enforced)

On Kubernetes there is no ``capacity`` (node pools decide) and ``limits`` is ``{"enforced": true, "mechanism":
"kubernetes"}``.

``GET /hub/api/gereedschapskist/usage/<user>/<server>`` (:data:`USAGE_PATH`, local backend): a server's live CPU and
memory use, peaks, start, last activity and idle-cull timeout (:func:`.usage.usage_document`); the last figures
of a stopped server while the hub remembers them, else 404. It needs ``read:servers`` for that server (the portal's
token; a user's own token for their own servers).

``bundles`` lists every bundle of the catalogue with its own interfaces: on the local backend a bundle whose tools
beyond PyPI this machine lacks (R and its CRAN pins, :mod:`.bundle_tools`) has them all unavailable, ``missing``
naming what is lacking (``"R, tidyverse==2.0.0"``)::

    "bundles": {"bi-r-analysis": {"rstudio": {"available": false, …}, "jupyterlab": {"available": false,
                "reason": "interface-unavailable", "missing": "tidyverse==2.0.0, duckdb==1.1.3"}}, …}

On the local backend, ``environments`` says per bundle what the hub's background preparation (:mod:`.prepare`) is
doing with its environment: ``{"tiny-cowsay": {"version": "1.0.0", "state": "preparing", "step": "Resolved 95
packages"}}`` (``waiting``, ``preparing``, ``ready``, ``failed``); the portal shows "preparing" on a bundle's page.

Every interface of the catalogue is listed. ``reason`` is the refusal reason a launch asking for it gets
(``core.refusal``); ``missing`` names the program this machine lacks, where that is why. The portal renders its
own texts from these; it never reads the hub's bilingual notes. Registered through ``JupyterHub.extra_handlers``
(see :func:`.config.configure`), on both backends.
"""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from gereedschapskist.catalogue import Interface

from gereedschapskist.core.capacity import Capacity

from .interfaces import InterfaceAvailability, InterfaceStatus
from .limits import Limits

#: The path under the hub's prefix (``/hub``): the hub's REST API is at ``/hub/api``.
INTERFACES_PATH = "/api/gereedschapskist/interfaces"
UNAVAILABLE_REASON = "interface-unavailable"
#: A server's usage: ``<user>`` and ``<server>`` (the default server's name is empty) in the path.
USAGE_PATH = r"/api/gereedschapskist/usage/([^/]+)/([^/]*)"


def _entry(status: InterfaceStatus) -> dict[str, Any]:
    entry: dict[str, Any] = {"available": status.available}
    if not status.available:
        entry["reason"] = UNAVAILABLE_REASON
        if status.missing:
            entry["missing"] = status.missing
    return entry


def availability_document(interfaces: InterfaceAvailability) -> dict[str, Any]:
    """The answer of :data:`INTERFACES_PATH`: every interface, whether this hub can serve it and why not; and per
    bundle its own interfaces (``bundles``), which its missing tools can make unavailable."""
    document = {interface.value: _entry(interfaces.status(interface)) for interface in Interface}
    bundles = {bundle.id: {i.value: _entry(interfaces.status(i, bundle)) for i in bundle.interfaces}
               for bundle in interfaces.bundles}
    return {"interfaces": document, "bundles": bundles}


class InterfacesHandler(APIHandler):
    """Read-only: which interfaces this hub can serve."""

    def initialize(self, interfaces: InterfaceAvailability, capacity: Capacity | None = None,
                   limits: Limits | None = None, environments: Any = None) -> None:
        self.interfaces = interfaces
        self.capacity, self.limits = capacity, limits
        self.environments = environments   # the local backend's EnvironmentPreparer (:mod:`.prepare`), if any

    @needs_scope("read:servers")
    def get(self) -> None:
        document = availability_document(self.interfaces)
        if self.capacity is not None:
            document["capacity"] = self.capacity.as_json()
        if self.limits is not None:
            document["limits"] = self.limits.as_json()
        if self.environments is not None:
            document["environments"] = self.environments.status()
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(document))


class UsageHandler(APIHandler):
    """Read-only: one server's usage (local backend)."""

    def initialize(self, book: Any, idle_timeout_seconds: int, cull_every_seconds: int) -> None:
        self.book = book
        self.idle_timeout_seconds, self.cull_every_seconds = idle_timeout_seconds, cull_every_seconds

    @needs_scope("read:servers")
    def get(self, user_name: str, server_name: str) -> None:
        user = self.find_user(user_name)
        spawner = user.spawners.get(server_name) if user is not None else None   # dict.get: creates nothing
        document = None
        if spawner is not None and hasattr(spawner, "usage"):
            document = spawner.usage(idle_timeout_seconds=self.idle_timeout_seconds,
                                     cull_every_seconds=self.cull_every_seconds)
        if document is None and user is not None:
            document = self.book.get(f"{user.name}/{server_name}")
        if document is None:
            raise web.HTTPError(404, f"No usage known for server {user_name}/{server_name}")
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(document))


def extra_handlers(interfaces: InterfaceAvailability, *, capacity: Capacity | None = None,
                   limits: Limits | None = None, usage: dict[str, Any] | None = None,
                   ) -> list[tuple[str, type, dict[str, Any]]]:
    """``JupyterHub.extra_handlers``: the paths are relative to the hub's prefix. ``usage`` (local backend): the
    :class:`~.usage.UsageBook` as ``book`` and the culler's ``idle_timeout_seconds`` and ``cull_every_seconds``."""
    handlers: list[tuple[str, type, dict[str, Any]]] = [
        (INTERFACES_PATH, InterfacesHandler, {"interfaces": interfaces, "capacity": capacity, "limits": limits})]
    if usage is not None:
        handlers.append((USAGE_PATH, UsageHandler, usage))
    return handlers
