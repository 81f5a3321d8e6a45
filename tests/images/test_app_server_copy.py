"""Published apps on Kubernetes (issue 17 §1): the image of a bundle that pins an app framework holds the hub's app
server (``hub/app_server.py``) byte for byte and copies it to the image's share folder, where an app's pod runs it
(``hub/kubernetes_apps.py``); bundles without a framework get no copy; such a bundle needs a base with git."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from gereedschapskist.catalogue import Ecosystem, Package
from gereedschapskist.core.apps import bundle_frameworks
from gereedschapskist.core.image_layout import APP_SERVER_FILE, IMAGE_APP_SERVER, VENV_PYTHON
from gereedschapskist.images import toolchain as tc
from gereedschapskist.images.bases import BASES, UnsupportedBundle, needs, select_base
from gereedschapskist.images.render import DOCKERFILE, render_bundle

from .conftest import IMAGES, REPO
from .test_hadolint import hadolint

HUB_APP_SERVER = REPO / "hub" / "app_server.py"


def test_the_hub_runs_the_path_the_image_writes():
    assert IMAGE_APP_SERVER == f"{tc.IMAGE_SHARE}/{APP_SERVER_FILE}"
    assert VENV_PYTHON == f"{tc.VENV}/bin/python"


def test_an_app_bundle_image_holds_the_app_server_byte_for_byte_and_copies_it(catalogue):
    with_apps = [b for b in catalogue.bundles.values() if bundle_frameworks(b) and b.offered]
    assert with_apps, "the catalogue has a bundle with an app framework (bi-dashboards: Panel, Voilà)"
    for bundle in with_apps:
        definition = render_bundle(bundle)
        assert definition.files[APP_SERVER_FILE].encode("utf-8") == HUB_APP_SERVER.read_bytes(), bundle.id
        committed = IMAGES / definition.folder / APP_SERVER_FILE
        assert committed.read_bytes() == HUB_APP_SERVER.read_bytes(), \
            f"{committed} is not hub/app_server.py: run `gereedschapskist images render`"
        dockerfile = definition.files[DOCKERFILE]
        assert f"COPY {APP_SERVER_FILE} {tc.IMAGE_SHARE}/\n" in dockerfile
        # copied after the environment is installed, before the image drops to the workspace user
        assert dockerfile.index("uv pip install") < dockerfile.index(f"COPY {APP_SERVER_FILE}") \
            < dockerfile.index(f"USER {tc.USER_UID}")


def test_bundles_without_a_framework_get_no_copy(catalogue):
    without = [b for b in catalogue.bundles.values() if not bundle_frameworks(b) and b.offered]
    assert without
    for bundle in without:
        definition = render_bundle(bundle)
        assert APP_SERVER_FILE not in definition.files and APP_SERVER_FILE not in definition.files[DOCKERFILE]


def test_a_framework_added_to_any_bundle_brings_the_copy_and_stays_hadolint_clean(catalogue, tmp_path):
    r_bundle = catalogue.bundles["bi-r-analysis"]       # rocker base, no framework yet
    shiny = dataclasses.replace(r_bundle, packages=(*r_bundle.packages, Package(Ecosystem.PYPI, "shiny", "1.5.1")))
    definition = render_bundle(shiny)
    assert APP_SERVER_FILE in definition.files
    path = tmp_path / DOCKERFILE
    path.write_text(definition.files[DOCKERFILE], encoding="utf-8")
    result = hadolint(path)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_an_app_bundle_needs_a_base_with_git(catalogue):
    """An app from a git commit is checked out by an init container running the bundle image's git."""
    bundle = catalogue.bundles["bi-dashboards"]
    assert "tool:git" in needs(bundle) and "tool:git" not in needs(catalogue.bundles["bi-sql-duckdb"])
    assert all("tool:git" in base.provides for base in BASES)   # docker-stacks minimal-notebook and rocker/rstudio
    assert "git" in select_base(bundle).why
    without_git = tuple(dataclasses.replace(base, provides=base.provides - {"tool:git"}) for base in BASES)
    import gereedschapskist.images.bases as bases_module
    saved = bases_module.BASES
    bases_module.BASES = without_git
    try:
        with pytest.raises(UnsupportedBundle, match="tool:git"):
            select_base(bundle)
    finally:
        bases_module.BASES = saved


def test_the_committed_copy_is_the_only_app_server_in_the_images():
    copies = sorted(p.relative_to(IMAGES).as_posix() for p in IMAGES.glob("bundles/*/app_server.py"))
    assert copies and all(re.fullmatch(r"bundles/[a-z0-9-]+/app_server\.py", c) for c in copies)
    assert all((IMAGES / c).read_bytes() == Path(HUB_APP_SERVER).read_bytes() for c in copies)
