"""Environment definitions: loading from the stack file, and what an environment offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from gereedschapskist.catalogue import load
from gereedschapskist.core.environment import EnvironmentInvalid, OfferInvalid, environment_offer, load_environment

INFRA = Path(__file__).resolve().parents[2] / "infra"
CATALOGUE = load()


def spec(**changes):
    return load_environment("minfin-bi-dev", INFRA).model_copy(update=changes)


def test_all_roles_and_their_offered_bundles_by_default():
    offer = environment_offer(spec(roles=None, bundles=None), CATALOGUE)
    assert offer.roles == tuple(sorted(CATALOGUE.roles))
    assert set(offer.bundle_ids) == {b.id for b in CATALOGUE.bundles.values() if b.offered}
    assert "bi-sql-classic" not in offer.bundle_ids  # retired


def test_chosen_bundles_are_kept_in_id_order():
    offer = environment_offer(spec(roles=("bi", "ml"), bundles=("ml-python", "bi-sql-duckdb")), CATALOGUE)
    assert offer.bundle_ids == ("bi-sql-duckdb", "ml-python")


def test_every_problem_is_named():
    with pytest.raises(OfferInvalid) as raised:
        environment_offer(spec(roles=("bi",), bundles=("nope", "bi-sql-classic", "ml-python", "bi-sql-duckdb")),
                          CATALOGUE)
    assert raised.value.reason == "unknown-bundle"
    assert [(p.field, p.value) for p in raised.value.problems] == [
        ("bundles", "nope"), ("bundles", "bi-sql-classic"), ("bundles", "ml-python")]
    assert "is for role ml, which this environment does not offer (roles: bi)" in str(raised.value)


def test_unknown_roles_come_first():
    with pytest.raises(OfferInvalid) as raised:
        environment_offer(spec(roles=("bi", "quantum"), bundles=("nope",)), CATALOGUE)
    assert raised.value.reason == "unknown-role"
    assert str(raised.value).startswith("roles 'quantum' is not in the catalogue (known: bi, dev, ml, streaming)")


def test_an_environment_that_offers_nothing_is_refused():
    with pytest.raises(OfferInvalid) as raised:
        environment_offer(spec(roles=(), bundles=None), CATALOGUE)
    assert raised.value.reason == "nothing-offered"


def test_unknown_environment_names_the_known_ones(tmp_path):
    with pytest.raises(EnvironmentInvalid) as raised:
        load_environment("nope", INFRA)
    assert "known: cbs-ml-prod, minfin-bi-dev, platform, rws-streaming-prod" in str(raised.value)


def test_invalid_environment_names_file_field_and_value(tmp_path):
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  gereedschapskist:environment:\n    name: bad\n    organisation: minfin\n    stage: staging\n"
        "    public_url: https://hub.example.nl\n    oidc: {issuer: https://id.example.nl, client_id: hub}\n")
    with pytest.raises(EnvironmentInvalid) as raised:
        load_environment("bad", tmp_path)
    assert "Pulumi.bad.yaml: config.gereedschapskist:environment.stage = 'staging'" in str(raised.value)
