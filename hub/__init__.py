"""JupyterHub configuration as code: profiles from the catalogue, local and Kubernetes backends.

- :mod:`.config` — ``configure(c)``, run by ``hub/jupyterhub_config.py`` and by the z2jh hub pod;
- :mod:`.settings` — ``HubSettings`` (prefix ``GEREEDSCHAPSKIST_HUB_``), the only reader of the environment;
- :mod:`.launch` — the server-side launch rule (``Catalogue.authorise_launch``), HTTP 403 on refusal;
- :mod:`.options` — the spawn form's choices; :mod:`.interfaces` — JupyterLab / RStudio / VS Code;
- :mod:`.spawner` + :mod:`.envbuilder` — the local backend: one uv-built virtualenv per bundle version;
- :mod:`.kubernetes` + :mod:`.values` — KubeSpawner profiles and the Zero-to-JupyterHub Helm values.

The one-machine stack that runs this hub for development (``gereedschapskist up``, the development
OIDC provider) is its own component, :mod:`gereedschapskist.dev`; it starts the hub as a process.
"""
