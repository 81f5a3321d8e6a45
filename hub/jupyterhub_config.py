# The hub's configuration file for the local backend (`make up`, the tests):
#     jupyterhub -f hub/jupyterhub_config.py
# Everything is read from GEREEDSCHAPSKIST_HUB_* variables by gereedschapskist.hub.settings.
# On Kubernetes the z2jh hub pod runs the same configure(c) from hub.extraConfig.
from gereedschapskist.hub.config import configure

configure(get_config())  # noqa: F821 - provided by JupyterHub when it loads this file
