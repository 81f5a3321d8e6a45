"""Granted datasets in workspace pods (issue 15), the Kubernetes backend's part of :mod:`.datasets`.

At a start the spawner asks the portal for the user's grants (refusing the start when it cannot: fail closed) and
the pod gets exactly those, read-only:

- one volume ``gk-data-store``: the data store's PersistentVolumeClaim (``DATASETS_CLAIM``), ``readOnly: true``;
- per granted file one ``volumeMount`` of it with ``subPath`` = the file's path in the store and ``readOnly: true``,
  at ``/home/jovyan/data/<identifier>/<file>`` — nothing else of the store is visible in the pod;
- ``/home/jovyan/data/GRANTS.json`` (read-only) from a ``downwardAPI`` volume that reads the pod's annotation
  ``gereedschapskist.nl/grants`` (what was granted, until when, purpose and legal ground), and the variables
  ``GEREEDSCHAPSKIST_DATA_DIR``, ``GEREEDSCHAPSKIST_GRANTS`` and ``GEREEDSCHAPSKIST_DATA_EXPIRES``.

A running pod's volume mounts cannot be changed, so when a grant expires or is revoked (the spawner asks the portal
every ``DATA_RECONCILE_SECONDS``), or the portal has not answered for ``DATA_STALE_SECONDS``, **the server is
stopped** (JupyterHub's own stop: the pod is deleted, the portal's sync shows the workspace stopped), within a minute.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any, Iterable

from gereedschapskist.core.data_store import DATASETS_CLAIM  # noqa: F401  (re-exported)
from gereedschapskist.core.placement import LABEL_PREFIX

from .datasets import DATA_FOLDER, GRANTS_FILE, Grant, environment

HOME = "/home/jovyan"
DATA_MOUNT = f"{HOME}/{DATA_FOLDER}"
STORE_VOLUME = "gk-data-store"
INDEX_VOLUME = "gk-data-grants"
ANNOTATION = f"{LABEL_PREFIX}/grants"
ENV_PREFIX = "GEREEDSCHAPSKIST_DATA_"      # and GEREEDSCHAPSKIST_GRANTS (:func:`.datasets.environment`)


def _literal(text: str) -> str:
    """KubeSpawner expands ``{…}`` templates in annotations and environment values: JSON stays as it is."""
    return text.replace("{", "{{").replace("}", "}}")


def pod_data(grants: list[Grant], *, claim: str) -> dict[str, Any]:
    """The pod's additions for ``grants``: ``volumes``, ``volume_mounts``, ``environment``, ``annotations``
    (KubeSpawner's trait names; plain data, with braces doubled where KubeSpawner expands templates)."""
    env = {name: _literal(value) for name, value in environment(grants, DATA_MOUNT).items()}
    if not grants:
        return {"volumes": [], "volume_mounts": [], "environment": env, "annotations": {}}
    mounts = [{"name": STORE_VOLUME, "mountPath": f"{DATA_MOUNT}/{g.identifier}/{PurePosixPath(f).name}",
               "subPath": str(PurePosixPath(f)), "readOnly": True}
              for g in grants for f in g.files]
    mounts.append({"name": INDEX_VOLUME, "mountPath": f"{DATA_MOUNT}/{GRANTS_FILE}", "subPath": GRANTS_FILE,
                   "readOnly": True})
    volumes = [
        {"name": STORE_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}},
        {"name": INDEX_VOLUME, "downwardAPI": {"defaultMode": 0o444, "items": [
            {"path": GRANTS_FILE, "fieldRef": {"fieldPath": f"metadata.annotations['{ANNOTATION}']"}}]}},
    ]
    index = json.dumps({"datasets": [g.as_json() for g in grants], "read_only": "kubernetes volumes"})
    return {"volumes": volumes, "volume_mounts": mounts, "environment": env, "annotations": {ANNOTATION: _literal(index)}}


def without_data(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Volumes or mounts of an earlier start taken out (a spawner object serves several starts)."""
    return [i for i in items if i.get("name") not in (STORE_VOLUME, INDEX_VOLUME)]


def lost(mounted: list[Grant], current: list[Grant], now: datetime | None = None) -> list[str]:
    """The identifiers of ``mounted`` datasets no longer granted (revoked, expired, or not in ``current``)."""
    now = now or datetime.now(timezone.utc)
    still = {g.grant for g in current if g.expires_at > now}
    return [g.identifier for g in mounted if g.grant not in still or g.expires_at <= now]
