"""The hub's refusals of the portal's and users' requests, as tornado errors: an HTTP status, a machine-readable
``reason`` (sent in :data:`~gereedschapskist.core.refusal.REASON_HEADER`, which the portal reads and words in Dutch
and English) and a message for people (``jupyterhub_message`` for the hub's own error pages)."""

from __future__ import annotations

from tornado import web

from gereedschapskist.core.refusal import REASON_HEADER


class HubRefused(web.HTTPError):
    """A request the hub refuses, with its reason in the reason header."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(status, "%s", message)
        self.refusal = reason
        self.message = message
        self.jupyterhub_message = message
        self.headers = {REASON_HEADER: reason}

    def __str__(self) -> str:
        return self.message
