"""The ground floor: the few concepts every component shares, each defined once.

- :mod:`.refusal` — :class:`Refusal` (machine ``reason`` + human ``message``), the base of every
  component's domain errors, and :func:`format_validation_errors`, the one formatter for pydantic errors;
- :mod:`.groups` — the group names of the groups claim (``org:``, ``role:``, ``org-admin:``,
  ``data-owner:``, the platform admin group) and how to read them;
- :mod:`.placement` — where a workspace runs on Kubernetes: the pool label, the GPU taint and
  toleration, the bundle size → node pool rule;
- :mod:`.paths` — the project's folders (repository, catalogue, infra, state), found in one place;
- :mod:`.environment` — :class:`EnvironmentSpec` (one deployed hub), its loader from
  ``infra/Pulumi.<name>.yaml`` and the one rule of what an environment offers.

Components (hub, portal, images, infra, dev) import this package and :mod:`gereedschapskist.catalogue`,
never each other's internals (``tests/test_architecture.py`` reads the imports and enforces it).
Nothing here imports a component.
"""
