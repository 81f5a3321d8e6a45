"""The hub's contract rule (issue 14): a launch in a standard contract's environment is held to its file — every
refusal, the shared environment rule, the folder read per launch (and fail closed), and the spawn form's offer."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gereedschapskist.catalogue import load
from gereedschapskist.core.contract_environment import ContractEnvironment, ExtraSize, write_environment
from gereedschapskist.hub.bundle_tools import LocalTools
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.launch import (
    REASON_HEADER, ContractEnvironments, LaunchForbidden, authorise_request,
)
from gereedschapskist.hub.options import contract_choices, options_from_form, render_form
from gereedschapskist.hub.settings import HubSettings

CATALOGUE = load()
NOTHING_INSTALLED = LocalInterfaces(which=lambda name: None, tools=LocalTools(None))
TODAY = date(2026, 12, 1)
ANNA = ["org:minfin", "role:bi"]


def contract_env(**changes) -> ContractEnvironment:
    values = dict(name="minfin-c7", organisation="minfin", contract=7, partner="azure", stage="development",
                  state="active", bundles=("bi-sql-duckdb",), sizes=("bi-sql-duckdb/small",),
                  extra_sizes=(ExtraSize(username="anna", size="bi-sql-duckdb/large", ends_on=TODAY, request=3),),
                  ends_on=date(2027, 6, 30))
    values.update(changes)
    return ContractEnvironment(**values)


def authorise(options, groups=ANNA, environments=None, username="anna", today=TODAY):
    envs = {"minfin-c7": contract_env()} if environments is None else environments
    return authorise_request(CATALOGUE, groups, options, interfaces=NOTHING_INSTALLED, contract_environments=envs,
                             username=username, today=today)


def refused(*args, **kwargs) -> LaunchForbidden:
    with pytest.raises(LaunchForbidden) as error:
        authorise(*args, **kwargs)
    assert error.value.headers == {REASON_HEADER: error.value.refusal}
    return error.value


def test_a_launch_inside_the_contract_is_authorised_and_says_where():
    request = authorise({"bundle": "bi-sql-duckdb", "size": "small", "environment": "minfin-c7",
                         "organisation": "minfin"})
    assert request.contract is not None and request.contract.name == "minfin-c7"
    assert request.as_user_options() == {"bundle": "bi-sql-duckdb", "size": "small", "interface": "jupyterlab",
                                         "environment": "minfin-c7", "organisation": "minfin"}


def test_a_size_on_request_counts_for_its_member_until_its_last_day():
    options = {"bundle": "bi-sql-duckdb", "size": "large", "environment": "minfin-c7"}
    assert authorise(options).size.id == "large"
    after = refused(options, today=date(2026, 12, 2))
    assert (after.status_code, after.refusal) == (403, "size-not-in-contract")
    other = refused(options, groups=["org:minfin", "role:bi"], username="dana")
    assert other.refusal == "size-not-in-contract" and "offered: small" in other.message


@pytest.mark.parametrize(("options", "groups", "envs", "status", "reason", "words"), [
    ({"bundle": "bi-sql-duckdb", "environment": "nope-c1"}, ANNA, None, 403, "unknown-environment", "'nope-c1'"),
    ({"bundle": "bi-sql-duckdb", "environment": "minfin-c7"}, ["org:cbs", "role:bi"], None, 403, "not-a-member",
     "org:minfin"),
    ({"bundle": "bi-sql-duckdb", "organisation": "cbs"}, ANNA, None, 403, "not-a-member", "'cbs'"),
    ({"bundle": "bi-sql-duckdb", "environment": "minfin-c7", "organisation": "cbs"}, ANNA + ["org:cbs"], None, 400,
     "bad-options", "of organisation 'minfin'"),
    ({"bundle": "bi-sql-duckdb", "environment": "minfin-c7"}, ANNA,
     {"minfin-c7": contract_env(state="provisioning", reason="Wordt ingericht / Being provisioned")}, 409,
     "contract-not-active", "Being provisioned"),
    ({"bundle": "bi-sql-duckdb", "environment": "minfin-c7"}, ANNA,
     {"minfin-c7": contract_env(state="suspended", reason="Budget op / Budget spent")}, 409, "contract-suspended",
     "Budget spent"),
    ({"bundle": "bi-sql-duckdb", "environment": "minfin-c7"}, ANNA,
     {"minfin-c7": contract_env(state="ended", reason="Einddatum / End date")}, 409, "contract-ended", "End date"),
    ({"bundle": "bi-dashboards", "environment": "minfin-c7"}, ANNA, None, 403, "bundle-not-in-contract",
     "offers bi-sql-duckdb"),
    ({"bundle": "bi-sql-duckdb", "size": "medium", "environment": "minfin-c7"}, ANNA, None, 403,
     "size-not-in-contract", "'medium'"),
    ({"bundle": "bi-sql-duckdb"}, ANNA, None, 403, "contract-environment-required", "minfin: minfin-c7"),
    ({"bundle": "bi-sql-duckdb", "organisation": "minfin"}, ANNA, None, 403, "contract-environment-required",
     "minfin-c7"),
    ({"bundle": "bi-sql-duckdb", "environment": 7}, ANNA, None, 400, "bad-options", "must be a string"),
])
def test_refusals(options, groups, envs, status, reason, words):
    error = refused(options, groups=groups, environments=envs)
    assert (error.status_code, error.refusal) == (status, reason), error.message
    assert words in error.message


def test_a_contract_refusal_keeps_the_role_rule_first():
    """Under a contract the catalogue's rule still holds: a bundle of another role is refused for the role."""
    assert refused({"bundle": "ml-python", "environment": "minfin-c7"}).refusal == "role"


def test_the_shared_environment_stays_open_to_organisations_without_a_contract():
    assert authorise({"bundle": "bi-sql-duckdb"}, groups=["org:cbs", "role:bi"]).contract is None
    assert authorise({"bundle": "bi-sql-duckdb"}, groups=["role:bi"]).contract is None          # in no organisation
    both = ANNA + ["org:cbs"]      # a member of two organisations names the one without a contract
    assert authorise({"bundle": "bi-sql-duckdb", "organisation": "cbs"}, groups=both).contract is None
    assert refused({"bundle": "bi-sql-duckdb"}, groups=both).refusal == "contract-environment-required"
    admin = ["org-admin:minfin", "role:bi"]     # a member by another group is held to the contract too
    assert refused({"bundle": "bi-sql-duckdb"}, groups=admin).refusal == "contract-environment-required"
    assert refused({"bundle": "bi-sql-duckdb", "environment": "minfin-c7"}, groups=admin).refusal == "not-a-member"
    # an ended contract does not give the shared environment back
    ended = {"minfin-c7": contract_env(state="ended")}
    assert refused({"bundle": "bi-sql-duckdb"}, environments=ended).refusal == "contract-environment-required"


def test_a_hub_without_contract_environments_refuses_the_option():
    with pytest.raises(LaunchForbidden) as error:
        authorise_request(CATALOGUE, ANNA, {"bundle": "bi-sql-duckdb", "environment": "minfin-c7"},
                          interfaces=NOTHING_INSTALLED)
    assert error.value.refusal == "unknown-environment"
    assert authorise_request(CATALOGUE, ANNA, {"bundle": "bi-sql-duckdb"}, interfaces=NOTHING_INSTALLED).contract \
        is None


def test_the_folder_is_read_per_launch_and_a_bad_file_refuses_every_launch(tmp_path):
    folder = tmp_path / "environments"
    contracts = ContractEnvironments(folder)
    assert contracts.load() == {}                       # no folder yet: nothing under contract
    write_environment(folder, contract_env())
    assert contracts.load()["minfin-c7"].state == "active"
    write_environment(folder, contract_env(state="suspended"))
    assert contracts.load()["minfin-c7"].state == "suspended"       # rewritten: read again
    (folder / "cbs-c8.json").write_text('{"name": "cbs-c8", "state": "sleeping"}', encoding="utf-8")
    with pytest.raises(LaunchForbidden) as error:
        contracts.load()
    assert (error.value.status_code, error.value.refusal) == (503, "invalid-contract-environment")
    assert "cbs-c8.json" in error.value.message
    with pytest.raises(LaunchForbidden):        # still refused on the next launch (not cached as good)
        contracts.load()
    (folder / "cbs-c8.json").unlink()
    assert set(contracts.load()) == {"minfin-c7"}


def test_unchanged_files_are_not_read_again(tmp_path, monkeypatch):
    from gereedschapskist.hub import launch

    reads = []
    real = launch.load_environments
    monkeypatch.setattr(launch, "load_environments", lambda folder: reads.append(folder) or real(folder))
    folder = tmp_path / "environments"
    write_environment(folder, contract_env())
    contracts = ContractEnvironments(folder)
    contracts.load()
    contracts.load()
    assert len(reads) == 1
    write_environment(folder, contract_env(name="minfin-c9", contract=9))
    assert set(contracts.load()) == {"minfin-c7", "minfin-c9"} and len(reads) == 2


def test_the_hub_setting_defaults_to_the_state_folder(tmp_path):
    settings = HubSettings(state_dir=tmp_path)
    assert settings.environments_dir == tmp_path / "hub" / "environments"
    assert HubSettings(state_dir=tmp_path, contract_environments_dir=Path("/x")).environments_dir == Path("/x")


def test_the_spawn_form_shows_the_contracts_offer(tmp_path):
    folder = tmp_path / "environments"
    write_environment(folder, contract_env())
    contracts = ContractEnvironments(folder)
    offer = contract_choices(CATALOGUE, ANNA, NOTHING_INSTALLED, contracts, username="anna", today=TODAY)
    assert [c.bundle.id for c in offer.choices] == ["bi-sql-duckdb"]
    assert [s.id for s in offer.choices[0].sizes] == ["small", "large"]     # large: hers on request
    html = render_form(offer.choices, contract=offer)
    assert 'name="environment" value="minfin-c7"' in html and "Standard contract 7" in html
    dana = contract_choices(CATALOGUE, ANNA, NOTHING_INSTALLED, contracts, username="dana", today=TODAY)
    assert [s.id for s in dana.choices[0].sizes] == ["small"]
    shared = contract_choices(CATALOGUE, ["org:cbs", "role:bi"], NOTHING_INSTALLED, contracts, username="bram")
    assert shared.environment is None and len(shared.choices) > 1
    write_environment(folder, contract_env(state="suspended", reason="Budget op / Budget spent"))
    stopped = contract_choices(CATALOGUE, ANNA, NOTHING_INSTALLED, contracts, username="anna", today=TODAY)
    assert stopped.choices == [] and "Budget spent" in render_form(stopped.choices, contract=stopped)
    form = {"bundle": ["bi-sql-duckdb"], "size--bi-sql-duckdb": ["small"], "environment": ["minfin-c7"],
            "organisation": ["minfin"]}
    assert options_from_form(form) == {"bundle": "bi-sql-duckdb", "size": "small", "environment": "minfin-c7",
                                       "organisation": "minfin"}
