"""The typed stack configuration: the example stack files load, bad input is refused with file, field and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gereedschapskist.infra.config import ContractStack, PlatformStack, load_stack
from gereedschapskist.infra.errors import StackInvalid

from infra_harness import CONTRACT_STACKS, INFRA_DIR

ENVIRONMENT = {
    "name": "demo", "organisation": "minfin", "contract": "c-1", "stage": "production",
    "public_url": "https://werkbank.example.nl",
    "oidc": {"issuer": "https://login.example.nl", "client_id": "hub"},
}
CLOUD = {"partner": "azure", "region": "westeurope", "account": "3f0c6a1e-5d7b-4c2a-9e8f-1a2b3c4d5e6f",
         "cost_centre": "fin-1", "budget_eur_per_month": 1000, "tls": {"acme_email": "ops@example.nl"}}


def write(tmp_path: Path, config: dict, name: str = "demo") -> Path:
    (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("name", sorted(CONTRACT_STACKS.values()))
def test_contract_examples_load(name):
    stack = load_stack(name, INFRA_DIR)
    assert isinstance(stack, ContractStack)
    assert stack.environment.name == name and stack.environment.contract
    assert stack.source.endswith(f"Pulumi.{name}.yaml")


def test_platform_example_loads():
    stack = load_stack("platform", INFRA_DIR)
    assert isinstance(stack, PlatformStack)
    assert stack.platform.replicas >= 2 and stack.production


def test_every_stack_file_in_infra_is_valid():
    names = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in INFRA_DIR.glob("Pulumi.*.yaml"))
    assert set(CONTRACT_STACKS.values()) | {"platform"} <= set(names)
    for name in names:
        load_stack(name, INFRA_DIR)


def test_errors_name_file_field_and_value_all_at_once(tmp_path):
    cloud = {**CLOUD, "region": "westeurope", "budget_eur_per_month": 0, "kubernetes_version": "1.20",
             "egress_allow_list": [{"cidr": "0.0.0.0/0", "description": "everything"}]}
    write(tmp_path, {"gereedschapskist:environment": ENVIRONMENT, "gereedschapskist:cloud": cloud})
    with pytest.raises(StackInvalid) as err:
        load_stack("demo", tmp_path)
    text = err.value.message
    assert err.value.reason == "invalid-config"
    assert len(err.value.problems) == 3
    assert f"{tmp_path / 'Pulumi.demo.yaml'}: config.gereedschapskist:cloud.budget_eur_per_month = 0:" in text
    assert "config.gereedschapskist:cloud.kubernetes_version = '1.20': Kubernetes 1.20 is out of support" in text
    assert "egress_allow_list.0.cidr = '0.0.0.0/0'" in text and "not an allow-list" in text


def test_environment_errors_come_from_the_hub_loader_together_with_cloud_errors(tmp_path):
    env = {**ENVIRONMENT, "stage": "staging"}
    write(tmp_path, {"gereedschapskist:environment": env, "gereedschapskist:cloud": {**CLOUD, "cost_centre": "FIN 1"}})
    with pytest.raises(StackInvalid) as err:
        load_stack("demo", tmp_path)
    assert any("config.gereedschapskist:environment.stage = 'staging'" in p for p in err.value.problems)
    assert any("config.gereedschapskist:cloud.cost_centre = 'FIN 1'" in p for p in err.value.problems)


def test_contract_is_required_because_it_is_tagged(tmp_path):
    env = {k: v for k, v in ENVIRONMENT.items() if k != "contract"}
    write(tmp_path, {"gereedschapskist:environment": env, "gereedschapskist:cloud": CLOUD})
    with pytest.raises(StackInvalid, match=r"environment\.contract = \(missing\)"):
        load_stack("demo", tmp_path)


@pytest.mark.parametrize("config, message", [
    ({"gereedschapskist:cloud": CLOUD}, "needs exactly one of"),
    ({"gereedschapskist:environment": ENVIRONMENT}, r"config\.gereedschapskist:cloud = \(missing\)"),
    ({"gereedschapskist:environment": ENVIRONMENT, "gereedschapskist:cloud": CLOUD, "gereedschapskist:clod": {}},
     r"config\.gereedschapskist:clod: unknown section"),
])
def test_missing_or_unknown_sections(tmp_path, config, message):
    write(tmp_path, config)
    with pytest.raises(StackInvalid, match=message):
        load_stack("demo", tmp_path)


def test_platform_refuses_contract_only_fields_and_http(tmp_path):
    platform = {"name": "demo", "organisation": "ops", "contract": "ops-1", "stage": "production",
                "public_url": "http://portaal.example.nl", "oidc": {"issuer": "https://login.example.nl",
                                                                    "client_id": "portal"}}
    write(tmp_path, {"gereedschapskist:platform": platform, "gereedschapskist:cloud": {**CLOUD, "pools": {}}})
    with pytest.raises(StackInvalid) as err:
        load_stack("demo", tmp_path)
    assert any("public_url" in p and "https only" in p for p in err.value.problems)


def test_platform_refuses_pools_section(tmp_path):
    platform = {"name": "demo", "organisation": "ops", "contract": "ops-1", "stage": "production",
                "public_url": "https://portaal.example.nl", "oidc": {"issuer": "https://login.example.nl",
                                                                     "client_id": "portal"}}
    write(tmp_path, {"gereedschapskist:platform": platform, "gereedschapskist:cloud": {**CLOUD, "kafka": {}}})
    with pytest.raises(StackInvalid, match=r"cloud\.kafka: belongs to contract environments"):
        load_stack("demo", tmp_path)


def test_unknown_stack_lists_the_known_ones():
    with pytest.raises(StackInvalid, match="known: .*cbs-ml-prod"):
        load_stack("nope", INFRA_DIR)


def test_stack_name_must_match(tmp_path):
    write(tmp_path, {"gereedschapskist:environment": {**ENVIRONMENT, "name": "other"}, "gereedschapskist:cloud": CLOUD})
    with pytest.raises(StackInvalid, match="must equal the stack name 'demo'"):
        load_stack("demo", tmp_path)
