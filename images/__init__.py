"""Container image definitions per bundle, generated from the catalogue, and the portal and hub images.

Modules, one concept each:

* :mod:`.toolchain` — every pinned version an image needs besides the bundle's own packages;
* :mod:`.bases` — the upstream base images and the rule choosing one from a bundle's data;
* :mod:`.render` — a bundle → its definition (Dockerfile + package lists), a pure function;
* :mod:`.project_images` — the portal and hub image definitions;
* :mod:`.tree` — the ``images/`` folder on disk: compare and write;
* :mod:`.check` — the ``gereedschapskist catalogue check`` hook (definitions in step with bundles);
* :mod:`.smoke` / :mod:`.smoke_python` — the smoke test run inside a built image;
* :mod:`.matrix` — the CI build matrix from the tree and the git diff;
* :mod:`.digest` — writing a pushed image's digest back into its bundle;
* :mod:`.cli` — ``gereedschapskist images …``.
"""
