"""The one-machine stack: ``gereedschapskist up`` and what it starts, for development and tests.

- :mod:`.up` — ``gereedschapskist up``: runs the steps registered under the entry-point group
  ``gereedschapskist.up`` in order, reports, and stops them in reverse order on Ctrl-C;
  ``gereedschapskist accounts`` prints the demo accounts;
- :mod:`.steps` — the steps themselves (OIDC provider, hub, portal), registered in ``pyproject.toml``;
- :mod:`.processes` — a managed child process (log file, readiness wait, clean stop);
- :mod:`.devstack` — the development OpenID Connect provider (``dev/oidc-provider/``) and the local hub
  as processes, with the secrets they share (also the Python API of the test fixtures in ``tests/``);
- :mod:`.demo` — the demo accounts (``dev/oidc-provider/demo-accounts.json``).

It starts the hub and the portal as processes and talks to them only through their documented
settings (``GEREEDSCHAPSKIST_HUB_*``, ``GEREEDSCHAPSKIST_PORTAL_*``) and commands: it imports neither.
Not for production: nothing in the hub, portal, images or infra imports this package.
"""
