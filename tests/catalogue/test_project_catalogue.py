"""The catalogue that ships with the project: valid today and covering what users of each role need."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from gereedschapskist.catalogue import Ecosystem, Interface, Status, default_root, load, load_catalogue

CATALOGUE = load()
OFFERED = [b for b in CATALOGUE.bundles.values() if b.offered]


def test_project_catalogue_has_no_errors():
    result = load_catalogue(default_root())
    assert result.errors == [], "\n".join(p.format(default_root()) for p in result.errors)


def test_four_roles_with_dutch_and_english_texts():
    assert set(CATALOGUE.roles) == {"bi", "ml", "streaming", "dev"}
    for role in CATALOGUE.roles.values():
        assert role.title.nl and role.title.en and role.title.nl != role.description.nl


@pytest.mark.parametrize("role", ["bi", "ml", "streaming", "dev"])
def test_at_least_two_offered_bundles_per_role_and_jupyterlab_for_each(role):
    bundles = CATALOGUE.offered_for([role])
    assert len(bundles) >= 2
    assert any(Interface.JUPYTERLAB in b.interfaces for b in bundles)


def test_interfaces_gpu_kafka_and_sql_are_covered():
    assert any(Interface.RSTUDIO in b.interfaces for b in OFFERED)
    assert any(Interface.VSCODE in b.interfaces for b in CATALOGUE.offered_for(["dev"]))
    assert any(b.needs_gpu for b in CATALOGUE.offered_for(["ml"]))
    streaming_packages = {p.key for b in CATALOGUE.offered_for(["streaming"]) for p in b.packages}
    assert {"confluent-kafka", "aiokafka"} & streaming_packages
    bi_packages = {p.key for b in CATALOGUE.offered_for(["bi"]) for p in b.packages}
    assert {"duckdb", "jupysql"} <= bi_packages


def test_lifecycle_examples_are_present():
    statuses = Counter(b.lifecycle.status for b in CATALOGUE.bundles.values())
    assert statuses[Status.DEPRECATED] >= 1 and statuses[Status.RETIRED] >= 1


def test_no_digest_is_invented():
    # digests are written by the image build in CI only; none has run for these bundles yet
    assert all(b.image.digest is None for b in CATALOGUE.bundles.values())


def test_three_partners_in_eu_regions_with_prices_and_contracts():
    assert len(CATALOGUE.partners) >= 3
    for partner in CATALOGUE.partners.values():
        assert partner.regions and all(r.country for r in partner.regions)
        assert "ISO 27001" in partner.certifications
        assert all(m.price_per_hour_eur > 0 for m in partner.machine_sizes)
        assert partner.contract_template.title.nl
    assert {p.provider for p in CATALOGUE.partners.values()} == {"azure", "aws", "gcp"}
    assert any(r.country == "NL" for p in CATALOGUE.partners.values() for r in p.regions)


def test_every_offered_size_fits_some_partner():
    for bundle in OFFERED:
        for size in bundle.sizes:
            assert any(p.machine_for(size) for p in CATALOGUE.partners.values()), (bundle.id, size.id)


PYPI_BUNDLES = [b for b in CATALOGUE.bundles.values() if b.packages_of(Ecosystem.PYPI)]


@pytest.mark.network
@pytest.mark.parametrize("bundle", PYPI_BUNDLES, ids=[b.id for b in PYPI_BUNDLES])
def test_pypi_packages_are_real_and_resolve_together(bundle):
    """Resolve the bundle's pins (plus the single-user server) against the real PyPI with uv."""
    requirements = [p.requirement for p in bundle.packages_of(Ecosystem.PYPI)]
    requirements += ["jupyterlab==4.6.6", "jupyterhub==6.1.1"]
    result = subprocess.run(
        [sys.executable, "-m", "uv", "pip", "compile", "--python-version", "3.11", "--no-header", "-q", "-"],
        input="\n".join(requirements), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    resolved = {line.split("==")[0].lower() for line in result.stdout.splitlines() if "==" in line}
    for package in bundle.packages_of(Ecosystem.PYPI):
        assert package.key in {r.replace("_", "-").replace(".", "-") for r in resolved}
        assert f"{package.key}=={package.version}".lower() in result.stdout.lower().replace("_", "-")
