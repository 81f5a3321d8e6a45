"""The hub's one addition to its REST API: which workspace interfaces this hub can serve.

``GET /hub/api/gereedschapskist/interfaces`` (:data:`INTERFACES_PATH` under the hub's prefix), with a token that
holds the unfiltered ``read:servers`` scope (the portal's token has it; users' own tokens do not). It answers what
the hub's own launch rule and options form use (:class:`~.interfaces.InterfaceAvailability`), asked afresh on
every request::

    {"interfaces": {"jupyterlab": {"available": true},
                    "rstudio": {"available": false, "reason": "interface-unavailable", "missing": "rserver"},
                    "vscode": {"available": true}}}

``bundles`` lists every bundle of the catalogue with its own interfaces: on the local backend a bundle whose tools
beyond PyPI this machine lacks (R and its CRAN pins, :mod:`.bundle_tools`) has them all unavailable, ``missing``
naming what is lacking (``"R, tidyverse==2.0.0"``)::

    "bundles": {"bi-r-analysis": {"rstudio": {"available": false, …}, "jupyterlab": {"available": false,
                "reason": "interface-unavailable", "missing": "tidyverse==2.0.0, duckdb==1.1.3"}}, …}

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

from gereedschapskist.catalogue import Interface

from .interfaces import InterfaceAvailability, InterfaceStatus

#: The path under the hub's prefix (``/hub``): the hub's REST API is at ``/hub/api``.
INTERFACES_PATH = "/api/gereedschapskist/interfaces"
UNAVAILABLE_REASON = "interface-unavailable"


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

    def initialize(self, interfaces: InterfaceAvailability) -> None:
        self.interfaces = interfaces

    @needs_scope("read:servers")
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(availability_document(self.interfaces)))


def extra_handlers(interfaces: InterfaceAvailability) -> list[tuple[str, type, dict[str, Any]]]:
    """``JupyterHub.extra_handlers``: the paths are relative to the hub's prefix."""
    return [(INTERFACES_PATH, InterfacesHandler, {"interfaces": interfaces})]
