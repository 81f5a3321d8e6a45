"""The partner registry: one recipe module per cloud provider, chosen by the catalogue partner's ``provider``."""

from __future__ import annotations

import sys
import types
from dataclasses import replace

import pytest

from gereedschapskist.infra.errors import StackInvalid
from gereedschapskist.infra.partners import Recipe, available_providers, recipe_class


def test_every_catalogue_partner_has_a_recipe(catalogue):
    assert {p.provider for p in catalogue.partners.values()} <= set(available_providers())
    for partner in catalogue.partners.values():
        recipe = recipe_class(partner)
        assert issubclass(recipe, Recipe) and recipe.provider == partner.provider


def test_a_provider_without_recipe_is_refused_by_name(catalogue):
    partner = replace(catalogue.partners["azure"], provider="ovhcloud")
    with pytest.raises(StackInvalid) as err:
        recipe_class(partner)
    assert err.value.reason == "no-recipe"
    assert "no recipe gereedschapskist.infra.partners.ovhcloud; recipes: aws, azure, gcp" in err.value.message


def test_adding_a_partner_is_one_module(catalogue, monkeypatch):
    """A module gereedschapskist.infra.partners.<provider> with RECIPE is all the registry needs."""
    module = types.ModuleType("gereedschapskist.infra.partners.ovhcloud")

    class OvhRecipe(Recipe):
        provider = "ovhcloud"
        account_pattern = r"[a-f0-9]{32}"
        account_help = "an OVHcloud project id"

    module.RECIPE = OvhRecipe
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert recipe_class(replace(catalogue.partners["azure"], provider="ovhcloud")) is OvhRecipe
