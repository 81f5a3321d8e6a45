"""The one-machine stack: ``gereedschapskist up`` and what it starts, for development and tests.

- :mod:`.up` — ``gereedschapskist up``: runs the steps registered under the entry-point group
  ``gereedschapskist.up`` in order, reports, and stops them in reverse order on Ctrl-C;
- :mod:`.processes` — a managed child process (log file, readiness wait, clean stop);
- :mod:`.devstack` — the development OpenID Connect provider (``dev/oidc-provider/``) and the local hub
  as processes, with the secrets they share;
- :mod:`.demo` — the demo accounts (``dev/oidc-provider/demo-accounts.json``).

Not for production: nothing in the hub, portal, images or infra imports this package.
"""
