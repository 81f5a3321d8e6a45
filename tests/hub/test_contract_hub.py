"""A real JupyterHub holds REST API launches to a standard contract's environment file (issue 14): the hub itself
refuses what the contract does not offer, whatever the caller sends, and starts what it does.

The launches go through the hub's REST API with the portal service's token (users cannot start servers at the hub
themselves, test_access.py): the same request anyone with that API would make, with no portal deciding first.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from gereedschapskist.core.contract_environment import ContractEnvironment, environment_file, write_environment
from tests.devclient import HubRequestFailed


def _contract(**changes) -> ContractEnvironment:
    values = dict(name="minfin-c901", organisation="minfin", contract=901, partner="azure", stage="development",
                  state="active", bundles=("tiny-cowsay",), sizes=("tiny-cowsay/small",),
                  ends_on=date.today() + timedelta(days=30))
    values.update(changes)
    return ContractEnvironment(**values)


@pytest.fixture
def contract_folder(hub_stack):
    """The hub's contract environments folder (its default, ``<state>/hub/environments``), emptied afterwards so
    other tests' launches for minfin go to the shared environment again."""
    folder = Path(hub_stack.state_dir) / "hub" / "environments"
    yield folder
    environment_file(folder, "minfin-c901").unlink(missing_ok=True)


def _refusal(anna, server: str, options: dict) -> HubRequestFailed:
    with pytest.raises(HubRequestFailed) as refused:
        anna.start_server(server, options)
    anna.stop_server(server, remove=True)      # the hub keeps a refused server's name
    return refused.value


def test_the_hub_refuses_a_launch_outside_the_contract_and_starts_one_inside(hub_stack, hub_user, contract_folder):
    anna = hub_user("anna")          # org:minfin, role:bi
    write_environment(contract_folder, _contract())
    inside = {"bundle": "tiny-cowsay", "size": "small", "environment": "minfin-c901", "organisation": "minfin"}

    larger = _refusal(anna, "c-large", {**inside, "size": "medium"})
    assert (larger.status, larger.reason) == (403, "size-not-in-contract")
    assert "offered: small" in larger.message
    shared = _refusal(anna, "c-shared", {"bundle": "tiny-cowsay", "size": "small"})
    assert (shared.status, shared.reason) == (403, "contract-environment-required")
    assert "minfin-c901" in shared.message

    write_environment(contract_folder, _contract(state="suspended", reason="Budget op / Budget spent"))
    suspended = _refusal(anna, "c-susp", inside)       # the file is read again at the next launch
    assert (suspended.status, suspended.reason) == (409, "contract-suspended")
    assert "Budget spent" in suspended.message

    write_environment(contract_folder, _contract())
    assert anna.start_server("c-in", inside) in (201, 202)
    try:
        assert anna.wait_until_ready("c-in", timeout=600)[-1].get("ready")
    finally:
        anna.stop_server("c-in", remove=True)
