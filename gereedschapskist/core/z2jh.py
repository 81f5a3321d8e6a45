"""The one Zero to JupyterHub release of the project (issue 16, item 10).

Its Helm chart (infra deploys it: :mod:`gereedschapskist.infra.versions`) and its ``k8s-hub`` image (the base of the
project's hub image: :mod:`gereedschapskist.images.project_images`) come from the same release: the chart's
``jupyterhub_config.py`` and helper code live in that image, and the chart's values schema
(``tests/hub/fixtures/z2jh-<version>``) is the one the rendered values are checked against. Upgrading is this one line
plus the fixture.
"""

from __future__ import annotations

Z2JH_VERSION = "4.3.3"
Z2JH_HUB_IMAGE = f"quay.io/jupyterhub/k8s-hub:{Z2JH_VERSION}"
#: The chart's own images (``<values path>.image.name``, the chart's defaults) other than the hub's and the
#: workspaces', which the values set: the values name each through the environment's registry cache (issue 16).
CHART_IMAGES = {
    ("proxy", "chp"): "quay.io/jupyterhub/configurable-http-proxy",
    ("proxy", "traefik"): "traefik",
    ("proxy", "secretSync"): "quay.io/jupyterhub/k8s-secret-sync",
    ("singleuser", "networkTools"): "quay.io/jupyterhub/k8s-network-tools",
    ("scheduling", "userScheduler"): "registry.k8s.io/kube-scheduler",
    ("scheduling", "userPlaceholder"): "registry.k8s.io/pause",
    ("prePuller", "hook"): "quay.io/jupyterhub/k8s-image-awaiter",
    ("prePuller", "pause"): "registry.k8s.io/pause",
}
#: The chart's pause image (its ``prePuller.pause.image``, the same release's tag): what the placeholder pods run.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
#: Where the chart's helper images live (init containers of a workspace pod, e.g. the network tools).
HELPER_IMAGE_PREFIX = "quay.io/jupyterhub/"
