"""The one price rule (gereedschapskist/catalogue/pricing.py) and what ``catalogue check`` verifies about it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gereedschapskist.catalogue import Severity, load, load_catalogue, price_per_hour
from gereedschapskist.catalogue.cli import app

from .conftest import TODAY


def _load(tree):
    return load_catalogue(tree.root, today=TODAY)


def test_derived_price_is_the_share_of_the_cheapest_machine_it_fits_on(tree):
    catalogue = _load(tree).catalogue
    partner, bundle = catalogue.partners["cloud-a"], catalogue.bundles["bi-sql"]
    small = price_per_hour(partner, "bi-sql", bundle.size("small"))     # 1 CPU, 4Gi of an 8 CPU, 32Gi machine
    assert (small.machine.id, small.share, small.explicit) == ("general-8", 0.125, False)
    assert small.eur_per_hour == pytest.approx(0.4 * 0.125)
    large = price_per_hour(partner, "bi-sql", bundle.size("large"))     # 4 CPU of 8: half
    assert large.eur_per_hour == pytest.approx(0.2)


def test_the_largest_share_counts_and_a_gpu_size_pays_its_gpu_share(tree):
    tree.bundle({**tree.read("bundles/ml/ml-python.yaml"),
                 "sizes": [{"id": "mem", "cpu": 1, "memory": "24Gi"}]})
    tree.edit("partners/cloud-a.yaml", lambda d: d["machine_sizes"][1].update(gpu=2))
    catalogue = _load(tree).catalogue
    partner = catalogue.partners["cloud-a"]
    mem = price_per_hour(partner, "ml-python", catalogue.bundles["ml-python"].size("mem"))
    assert mem.share == pytest.approx(0.75) and mem.eur_per_hour == pytest.approx(0.3)
    gpu = price_per_hour(partner, "ml-gpu", catalogue.bundles["ml-gpu"].size("gpu"))  # 4 of 8 CPU, 16 of 32Gi, 1 of 2
    assert (gpu.machine.id, gpu.share) == ("gpu-8", 0.5)
    assert gpu.eur_per_hour == pytest.approx(0.45)


def test_an_explicit_price_overrides_the_derived_one(tree):
    tree.edit("partners/cloud-a.yaml", lambda d: d.update(size_prices=[
        {"bundle": "bi-sql", "size": "large", "price_per_hour_eur": 0.18}]))
    result = _load(tree)
    assert result.problems == []
    price = price_per_hour(result.catalogue.partners["cloud-a"], "bi-sql",
                           result.catalogue.bundles["bi-sql"].size("large"))
    assert (price.eur_per_hour, price.explicit) == (0.18, True)
    assert price.derived_eur_per_hour == pytest.approx(0.2)
    other = price_per_hour(result.catalogue.partners["cloud-a"], "ml-python",
                           result.catalogue.bundles["ml-python"].size("large"))
    assert other.explicit is False      # the same size id of another bundle keeps its derived price


def test_a_size_that_fits_no_machine_has_no_price_there(tree):
    tree.edit("partners/cloud-a.yaml", lambda d: d.update(machine_sizes=d["machine_sizes"][:1]))
    catalogue = _load(tree).catalogue
    assert price_per_hour(catalogue.partners["cloud-a"], "ml-gpu", catalogue.bundles["ml-gpu"].size("gpu")) is None


@pytest.mark.parametrize("entry, path, code, severity", [
    ({"bundle": "nope", "size": "small", "price_per_hour_eur": 0.1}, "$.size_prices[0].bundle",
     "price.unknown-bundle", Severity.ERROR),
    ({"bundle": "bi-sql", "size": "huge", "price_per_hour_eur": 0.1}, "$.size_prices[0].size",
     "price.unknown-size", Severity.ERROR),
    ({"bundle": "bi-sql", "size": "large", "price_per_hour_eur": 2.0}, "$.size_prices[0].price_per_hour_eur",
     "price.far-from-derived", Severity.WARNING),
    ({"bundle": "bi-sql", "size": "large", "price_per_hour_eur": 0.05}, "$.size_prices[0].price_per_hour_eur",
     "price.far-from-derived", Severity.WARNING),
])
def test_catalogue_check_names_file_field_and_value_of_a_bad_explicit_price(tree, entry, path, code, severity):
    tree.edit("partners/cloud-a.yaml", lambda d: d.update(size_prices=[entry]))
    found = [p for p in _load(tree).problems if p.code == code]
    assert len(found) == 1, _load(tree).problems
    problem = found[0]
    assert (problem.file, problem.path, problem.severity) == ("partners/cloud-a.yaml", path, severity)
    assert problem.line is not None
    assert str(entry[path.rsplit(".", 1)[1]]) in problem.format(tree.root)


def test_an_explicit_price_for_a_size_the_partner_cannot_run_is_an_error(tree):
    def change(d):
        d["machine_sizes"] = d["machine_sizes"][:1]
        d["size_prices"] = [{"bundle": "ml-gpu", "size": "gpu", "price_per_hour_eur": 0.5},
                            {"bundle": "ml-gpu", "size": "gpu", "price_per_hour_eur": 0.5}]
    tree.edit("partners/cloud-a.yaml", change)
    found = {(p.path, p.code) for p in _load(tree).problems if p.file == "partners/cloud-a.yaml"}
    assert ("$.size_prices[0]", "price.size-does-not-fit") in found
    assert ("$.size_prices[1]", "price.duplicate") in found


def test_a_negative_explicit_price_is_refused_by_the_schema(tree):
    tree.edit("partners/cloud-a.yaml", lambda d: d.update(size_prices=[
        {"bundle": "bi-sql", "size": "large", "price_per_hour_eur": -1}]))
    found = [p for p in _load(tree).problems if p.file == "partners/cloud-a.yaml"]
    assert found and found[0].path == "$.size_prices[0].price_per_hour_eur"


def test_catalogue_check_reports_the_price_problem_and_fails(tree):
    tree.edit("partners/cloud-a.yaml", lambda d: d.update(size_prices=[
        {"bundle": "bi-sql", "size": "huge", "price_per_hour_eur": 0.1}]))
    result = CliRunner().invoke(app, ["check", str(tree.root), "--format", "json", "--today", TODAY.isoformat(),
                                      "--no-extra"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(p["file"], p["path"], p["code"]) for p in report["problems"]] == [
        ("partners/cloud-a.yaml", "$.size_prices[0].size", "price.unknown-size")]


def test_every_offered_size_of_the_project_catalogue_has_a_price_at_every_partner_it_fits():
    catalogue = load()
    priced = 0
    for partner in catalogue.partners.values():
        for bundle in catalogue.bundles.values():
            if not bundle.offered:
                continue
            for size in bundle.sizes:
                price = price_per_hour(partner, bundle.id, size)
                assert (price is None) == (partner.machine_for(size) is None)
                if price is not None:
                    assert 0 < price.eur_per_hour <= price.machine.price_per_hour_eur * 2
                    priced += 1
    assert priced > 30


def test_the_models_eu_countries_are_the_partner_schemas():
    from gereedschapskist.catalogue.model import EU_COUNTRIES
    from gereedschapskist.catalogue.schema import raw_schemas

    schema = next(s for name, s in raw_schemas().items() if name.startswith("partner"))
    assert set(schema["properties"]["regions"]["items"]["properties"]["country"]["enum"]) == EU_COUNTRIES
