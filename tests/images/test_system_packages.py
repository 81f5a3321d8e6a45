"""Issue 17 in the image definitions: a bundle's Debian ``system_packages`` are installed from the base's archive as
of the snapshot date (``system.txt``, ``apt-get --snapshot``), and PyPI packages published only as source archives
(PySpark) are built from source by name, while everything else stays wheels-only."""

from __future__ import annotations

import dataclasses

from gereedschapskist.catalogue import Ecosystem, Package
from gereedschapskist.images import toolchain as tc
from gereedschapskist.images.render import DOCKERFILE, SYSTEM_FILE, render_bundle, source_builds


def test_system_packages_are_listed_and_installed_from_the_snapshot(catalogue):
    spark = catalogue.bundles["ml-spark"]
    definition = render_bundle(spark)
    assert definition.files[SYSTEM_FILE].splitlines()[-1] == "openjdk-17-jre-headless"
    dockerfile = definition.files[DOCKERFILE]
    assert f"apt-get update --snapshot {tc.APT_SNAPSHOT}" in dockerfile
    assert f"--no-install-recommends --snapshot {tc.APT_SNAPSHOT}" in dockerfile
    assert dockerfile.index(SYSTEM_FILE) < dockerfile.index("uv pip install")      # Java before the Python env
    assert "rm -rf /var/lib/apt/lists/*" in dockerfile


def test_a_bundle_without_system_packages_renders_as_before(catalogue):
    plain = render_bundle(catalogue.bundles["ml-python"])
    assert SYSTEM_FILE not in plain.files and "apt-get" not in plain.files[DOCKERFILE]
    assert "--no-binary" not in plain.files[DOCKERFILE]


def test_source_only_packages_are_built_by_name_and_nothing_else(catalogue):
    spark = catalogue.bundles["ml-spark"]
    assert source_builds(spark) == ("pyspark",)
    dockerfile = render_bundle(spark).files[DOCKERFILE]
    assert "--only-binary :all:" in dockerfile and "--no-binary pyspark" in dockerfile
    ml = catalogue.bundles["ml-python"]
    with_spark = dataclasses.replace(ml, packages=ml.packages + (Package(Ecosystem.PYPI, "PySpark", "4.3.0"),))
    assert source_builds(with_spark) == ("pyspark",)          # by the package's normalised name


def test_the_smoke_test_checks_the_system_packages_are_installed(catalogue):
    from gereedschapskist.images.smoke import smoke_script

    script = smoke_script(catalogue.bundles["ml-spark"])
    assert 'step "system packages of the bundle"' in script
    assert "dpkg-query --show" in script and "openjdk-17-jre-headless" in script
    assert "system packages" not in smoke_script(catalogue.bundles["ml-python"])
