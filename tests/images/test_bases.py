"""The base image of a bundle follows from what the bundle declares, never from its name."""

from __future__ import annotations

import dataclasses
import re

import pytest

from gereedschapskist.catalogue import Ecosystem, Interface, Package, Size
from gereedschapskist.images.bases import BASES, Family, UnsupportedBundle, needs, select_base

from .conftest import IMAGES


def test_every_bundle_gets_the_first_base_that_provides_what_it_needs(catalogue):
    for bundle in catalogue.bundles.values():
        base = select_base(bundle)
        wanted = needs(bundle)
        assert wanted <= base.provides, bundle.id
        earlier = BASES[: BASES.index(base)]
        assert not any(wanted <= other.provides for other in earlier), bundle.id


def test_r_bundles_run_on_rocker_python_bundles_on_docker_stacks(catalogue):
    r_bundle = catalogue.bundles["bi-r-analysis"]  # declares cran packages and the rstudio interface
    assert select_base(r_bundle).family is Family.ROCKER
    for bundle in catalogue.bundles.values():
        if not bundle.packages_of(Ecosystem.CRAN) and Interface.RSTUDIO not in bundle.interfaces:
            assert select_base(bundle).family is Family.DOCKER_STACKS, bundle.id


def test_the_choice_follows_the_data_not_the_name(catalogue):
    python = catalogue.bundles["ml-python"]
    r = catalogue.bundles["bi-r-analysis"]
    # Same name, other data: the base changes with the data.
    as_rstudio = dataclasses.replace(python, interfaces=(Interface.RSTUDIO,))
    assert select_base(as_rstudio).family is Family.ROCKER
    as_python = dataclasses.replace(r, interfaces=(Interface.JUPYTERLAB,),
                                    packages=(Package(Ecosystem.PYPI, "pandas", "2.3.3"),))
    assert select_base(as_python).family is Family.DOCKER_STACKS
    # Other name, same data: the same base.
    assert select_base(dataclasses.replace(r, id="anything-else")) == select_base(r)


def test_a_bundle_no_base_can_serve_is_refused_with_what_it_lacks(catalogue):
    r = catalogue.bundles["bi-r-analysis"]
    gpu_r = dataclasses.replace(r, sizes=(Size(id="gpu", cpu=4, memory="16Gi", gpu=1),))
    with pytest.raises(UnsupportedBundle) as caught:
        select_base(gpu_r)
    message = str(caught.value)
    assert "'bi-r-analysis'" in message and "gpu" in message and "packages:cran" in message
    assert "lacks gpu" in message


def test_the_image_code_never_mentions_a_bundle(catalogue):
    sources = [p for p in IMAGES.glob("*.py")]
    assert sources
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for bundle_id in catalogue.bundles:
            assert not re.search(rf"\b{re.escape(bundle_id)}\b", text), f"{path.name} names bundle {bundle_id}"


def test_bases_are_pinned_by_an_exact_version_tag_without_digest():
    for base in BASES:
        assert base.tag != "latest" and re.search(r"\d", base.tag), base.reference
        assert "@" not in base.reference
        assert base.why
