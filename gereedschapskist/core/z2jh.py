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
