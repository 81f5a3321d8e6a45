"""Shared fixtures: the real development stack (OIDC provider + JupyterHub) for every test folder.

Session-scoped, started on first use and always stopped (also when tests fail):

- ``dev_ports``      free ports reserved for the hub's proxy (``.hub``) and the portal (``.portal``);
- ``dev_secrets``    the client secrets and the portal's hub API token (:class:`DevSecrets`);
- ``oidc_provider``  the development OpenID Connect provider with clients ``hub`` and ``portal``
                     (redirect ``http://127.0.0.1:<dev_ports.portal>/auth/callback``);
- ``hub_stack``      JupyterHub (local backend, its proxy, the idle culler, the ``portal`` service)
                     on ``http://127.0.0.1:<dev_ports.hub>``, its ``/hub/spawn`` sending people to the portal
                     at ``http://127.0.0.1:<dev_ports.portal>``, with the test catalogue
                     (``tests/hub/fixtures/catalogue``: tiny bundles that build in seconds;
                     ``tiny-cowsay`` (bi) is the one to launch) and up to 20 named servers a user;
- ``demo_accounts``  the demo accounts (user name → :class:`DemoAccount`);
- ``hub_user``       a factory: ``hub_user("anna")`` logs in through the real OIDC flow (httpx).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from gereedschapskist.dev.demo import ACCOUNTS_FILE, DemoAccount, load_accounts
from gereedschapskist.dev.devstack import (
    DevSecrets, HubProcess, OidcProvider, free_port, hub_api, hub_client, portal_client,
)
from tests.devclient import HubUser

TESTS = Path(__file__).resolve().parent
HUB_TEST_CATALOGUE = TESTS / "hub" / "fixtures" / "catalogue"


@dataclass(frozen=True)
class DevPorts:
    hub: int
    portal: int


@dataclass(frozen=True)
class HubStack:
    """Everything a test needs to talk to the running hub."""

    provider: OidcProvider
    hub: HubProcess
    secrets: DevSecrets
    ports: DevPorts
    catalogue_dir: Path
    state_dir: Path

    @property
    def url(self) -> str:
        return self.hub.url

    @property
    def api_url(self) -> str:
        return self.hub.api_url

    @property
    def portal_api_token(self) -> str:
        return self.secrets.portal_api_token


@pytest.fixture(scope="session")
def dev_state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("devstack")


@pytest.fixture(scope="session")
def dev_ports() -> DevPorts:
    return DevPorts(hub=free_port(), portal=free_port())


@pytest.fixture(scope="session")
def dev_secrets(dev_state_dir) -> DevSecrets:
    return DevSecrets.load_or_create(dev_state_dir)


@pytest.fixture(scope="session")
def demo_accounts() -> dict[str, DemoAccount]:
    return load_accounts()


@pytest.fixture(scope="session")
def accounts_file(dev_state_dir) -> Path:
    """The shared provider's accounts: a copy of the demo accounts, which tests may add to (the provider reads
    the file again when it changes)."""
    path = dev_state_dir / "accounts.json"
    shutil.copyfile(ACCOUNTS_FILE, path)
    return path


@pytest.fixture
def new_account(accounts_file) -> Callable[[str], DemoAccount]:
    """``new_account("anna")``: a fresh account at the shared provider, with the groups of a demo account and
    a name nobody used before — a user who has never been at the hub or the portal, whatever ran earlier."""

    def make(like: str) -> DemoAccount:
        data = json.loads(accounts_file.read_text(encoding="utf-8"))
        template = next(a for a in data["accounts"] if a["username"] == like)
        username = f"{like}{secrets.token_hex(3)}"
        account = {**template, "username": username, "password": f"{username}-demo",
                   "email": f"{username}@example.nl"}
        data["accounts"].append(account)
        before = accounts_file.stat().st_mtime
        tmp = accounts_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(accounts_file)
        os.utime(accounts_file, (before + 2, before + 2))  # a new mtime even within the file system's resolution
        return load_accounts(accounts_file)[username]

    return make


@pytest.fixture(scope="session")
def oidc_provider(dev_state_dir, dev_ports, dev_secrets, accounts_file) -> Iterator[OidcProvider]:
    provider = OidcProvider.start(dev_state_dir, [hub_client(dev_ports.hub, dev_secrets),
                                                  portal_client(dev_ports.portal, dev_secrets)],
                                  accounts_file=accounts_file)
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="session")
def hub_stack(dev_state_dir, dev_ports, dev_secrets, oidc_provider) -> Iterator[HubStack]:
    # Test folders share this hub and its demo users: allow more named servers than the default 3.
    hub = HubProcess.start(dev_state_dir, oidc_provider, secrets=dev_secrets, port=dev_ports.hub,
                           catalogue_dir=HUB_TEST_CATALOGUE, portal_url=f"http://127.0.0.1:{dev_ports.portal}",
                           # no background preparation: tests observe first launches (tiny-fresh) themselves;
                           # tests/hub/test_prepare.py runs a hub of its own with it
                           extra_env={"GEREEDSCHAPSKIST_HUB_NAMED_SERVER_LIMIT": "20",
                                      "GEREEDSCHAPSKIST_HUB_PREPARE_ENVIRONMENTS": "false"})
    try:
        yield HubStack(oidc_provider, hub, dev_secrets, dev_ports, HUB_TEST_CATALOGUE, dev_state_dir)
    finally:
        hub.stop()


@pytest.fixture
def hub_user(hub_stack, demo_accounts) -> Iterator[Callable[[str], HubUser]]:
    """``hub_user("anna")``: a demo user logged in to the hub through the provider; closed afterwards."""
    made: list[HubUser] = []
    portal = hub_api(hub_stack.hub, hub_stack.portal_api_token)  # starts servers: users cannot (only the portal)

    def login(username: str) -> HubUser:
        account = demo_accounts[username]
        user = HubUser.login(hub_stack.url, account.username, account.password, starter=portal)
        made.append(user)
        return user

    yield login
    for user in made:
        user.close()
    portal.close()


@pytest.fixture(scope="session")
def bundle_environments(tmp_path_factory) -> Callable[[str], Path]:
    """bundle id → its environment, built as the local hub builds it (uv, the bundle's pins, its kernels), once per
    test run for every module that runs a bundle's own tools (tests/e2e/test_role_examples.py,
    tests/hub/test_examples.py): the Spark environment alone takes minutes to build. Skipped, naming what is missing,
    where this machine lacks a bundle's tools beyond PyPI, as the hub would refuse to start it."""
    import asyncio
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from uv import find_uv_bin

    from gereedschapskist.catalogue import load
    from gereedschapskist.hub.bundle_tools import LocalTools
    from gereedschapskist.hub.envbuilder import EnvBuilder
    from gereedschapskist.hub.interfaces import LocalInterfaces
    from gereedschapskist.hub.prepare import bundle_env_spec
    from gereedschapskist.hub.spawner import single_user_requirements

    catalogue, tools = load(), LocalTools()
    builder = EnvBuilder(tmp_path_factory.mktemp("bundle-envs"), uv=find_uv_bin(), python=sys.executable,
                         timeout=900)
    built: dict[str, Path] = {}

    def get(bundle_id: str) -> Path:
        if bundle_id not in built:
            bundle = catalogue.bundles[bundle_id]
            missing = tools.missing(bundle)
            if missing:
                pytest.skip(f"{bundle_id}'s tools are missing on this machine: {', '.join(missing)}")
            spec = bundle_env_spec(bundle, LocalInterfaces(tools=tools), single_user_requirements())
            with ThreadPoolExecutor(1) as thread:     # a browser test's sync Playwright holds this thread's loop
                built[bundle_id] = thread.submit(asyncio.run, builder.ensure(spec)).result()
        return built[bundle_id]

    return get
