"""Environments prepared before anyone asks (issue 13): the local hub's pre-puller.

The unit tests use the real builder (uv, PyPI: ``network``). The last test runs a real hub of its own (the shared
one of ``tests/conftest.py`` prepares nothing, so that first launches there stay observable) with a real provider:
the hub prepares its bundle at start and says so in its interfaces document, a launch joins that build, and a
bundle added to the catalogue folder is prepared too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from uv import find_uv_bin

from gereedschapskist.catalogue import load
from gereedschapskist.core.capacity import Capacity
from gereedschapskist.dev.demo import ACCOUNTS_FILE
from gereedschapskist.dev.devstack import DevSecrets, HubProcess, OidcProvider, free_port, hub_api, hub_client
from gereedschapskist.hub.bundle_tools import LocalTools
from gereedschapskist.hub.envbuilder import COMPILED, EnvBuilder, EnvSpec
from gereedschapskist.hub.interfaces import LocalInterfaces
from gereedschapskist.hub.prepare import EnvironmentPreparer, bundle_env_spec, fingerprint, offered, startable_here
from gereedschapskist.hub.spawner import single_user_requirements
from tests.devclient import HubUser

FIXTURES = Path(__file__).parent / "fixtures" / "catalogue"
NO_R = LocalInterfaces(which=lambda name: None, tools=LocalTools(rscript=None))


def test_only_bundles_this_machine_can_start_are_prepared():
    catalogue = load(FIXTURES)
    big = Capacity(cpu=64, memory_bytes=2**40)
    assert startable_here(catalogue.bundles["tiny-cowsay"], NO_R, big)
    assert not startable_here(catalogue.bundles["tiny-r"], NO_R, big)          # its R packages are missing here
    assert not startable_here(catalogue.bundles["tiny-cowsay"], NO_R, Capacity(cpu=0.5, memory_bytes=2**30))
    preparer = EnvironmentPreparer(EnvBuilder(Path("/nonexistent"), uv="uv", python=sys.executable),
                                   spec_for=lambda b: bundle_env_spec(b, NO_R, single_user_requirements()),
                                   startable=lambda b: startable_here(b, NO_R, big))
    added = preparer.add(offered(catalogue))
    assert "tiny-r" not in preparer.preparations and {p.spec.bundle_id for p in added} == set(preparer.preparations)
    assert preparer.status()["tiny-cowsay"] == {"version": "1.0.0", "state": "waiting"}
    counts = [len(catalogue.bundles[p.spec.bundle_id].packages) for p in added]
    assert counts == sorted(counts)                         # smallest package lists first
    assert preparer.add(offered(catalogue)) == []           # the same versions: nothing queued twice
    # the spawner's rule: the spec a launch builds is the one prepared
    assert preparer.preparations["tiny-cowsay"].spec == bundle_env_spec(
        catalogue.bundles["tiny-cowsay"], NO_R, single_user_requirements())


@pytest.mark.network
def test_preparing_reports_its_state_then_compiles_and_a_failure_stays_its_own(tmp_path):
    catalogue = load(FIXTURES)
    envs = EnvBuilder(tmp_path / "envs", uv=find_uv_bin(), python=sys.executable, timeout=600)
    cowsay = dataclasses.replace(catalogue.bundles["tiny-cowsay"], version="1.0.1")
    preparer = EnvironmentPreparer(envs, spec_for=lambda b: EnvSpec.for_bundle(b, ()))
    preparer.add([cowsay, catalogue.bundles["tiny-broken"]])
    seen: list[dict] = []

    async def scenario():
        runner = asyncio.ensure_future(preparer.run())
        while preparer.preparations["tiny-cowsay"].state != "ready":
            seen.append(preparer.status())
            await asyncio.sleep(0.02)
        while preparer.preparations["tiny-broken"].state not in ("ready", "failed"):
            await asyncio.sleep(0.02)
        runner.cancel()

    asyncio.run(scenario())
    states = [s["tiny-cowsay"]["state"] for s in seen]
    assert states[0] == "waiting" or states[0] == "preparing"
    assert "preparing" in states and any("step" in s["tiny-cowsay"] for s in seen if
                                         s["tiny-cowsay"]["state"] == "preparing")
    spec = preparer.preparations["tiny-cowsay"].spec
    assert envs.is_built(spec) and (envs.path_for(spec) / COMPILED).is_file()
    assert preparer.status()["tiny-broken"] == {"version": "1.0.0", "state": "failed", "reason": "env-build-failed"}
    assert "cowsay==999.0.1" in preparer.preparations["tiny-broken"].error


def test_a_catalogue_change_queues_the_bundle_versions_it_brings(tmp_path):
    root = tmp_path / "catalogue"
    shutil.copytree(FIXTURES, root)
    preparer = EnvironmentPreparer(EnvBuilder(tmp_path / "envs", uv="uv", python=sys.executable),
                                   spec_for=lambda b: EnvSpec.for_bundle(b, ()),
                                   startable=lambda b: b.id != "tiny-r")
    preparer.add(offered(load(root)))
    before = fingerprint(root)
    path = root / "bundles" / "bi" / "tiny-cowsay.yaml"

    async def scenario():
        watcher = asyncio.ensure_future(preparer.watch(root, 0.05))
        await asyncio.sleep(0.2)
        assert preparer.status()["tiny-cowsay"]["version"] == "1.0.0"     # nothing changed: nothing loaded
        path.write_text(path.read_text(encoding="utf-8").replace('version: "1.0.0"', 'version: "1.0.2"')
                        .replace('tag: "1.0.0"', 'tag: "1.0.2"'), encoding="utf-8")
        assert fingerprint(root) != before
        deadline = time.monotonic() + 30
        while preparer.status()["tiny-cowsay"]["version"] != "1.0.2" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watcher.cancel()

    asyncio.run(scenario())
    assert preparer.status()["tiny-cowsay"] == {"version": "1.0.2", "state": "waiting"}
    assert preparer._queue.qsize() == len(preparer.preparations) + 1   # the new version joined the queue


@pytest.mark.network
def test_the_hub_prepares_at_start_a_launch_joins_and_a_new_bundle_is_prepared(tmp_path):
    """A real hub (preparation on, the catalogue looked at every second) with one bundle: the interfaces document
    says it is being prepared; anna's launch joins that build (its progress says so; one environment on disk);
    once ready the environment is compiled; a bundle added to the catalogue folder is prepared too."""
    root = tmp_path / "catalogue"
    shutil.copytree(FIXTURES, root)
    for name in ("tiny-broken", "tiny-r", "tiny-fresh"):
        (root / "bundles" / "bi" / f"{name}.yaml").unlink()
    fresh = (FIXTURES / "bundles" / "bi" / "tiny-fresh.yaml").read_text(encoding="utf-8")
    accounts_file = tmp_path / "accounts.json"
    shutil.copyfile(ACCOUNTS_FILE, accounts_file)
    secrets = DevSecrets.load_or_create(tmp_path)
    port = free_port()
    provider = OidcProvider.start(tmp_path, [hub_client(port, secrets)], accounts_file=accounts_file)
    try:
        with HubProcess.start(tmp_path, provider, secrets=secrets, port=port, catalogue_dir=root,
                              extra_env={"GEREEDSCHAPSKIST_HUB_CATALOGUE_WATCH_SECONDS": "1"}) as hub:
            portal = hub_api(hub, secrets.portal_api_token)

            def environments() -> dict:
                return portal.get("/gereedschapskist/interfaces").json()["environments"]

            assert environments()["tiny-cowsay"]["state"] in ("waiting", "preparing")
            assert "tiny-ml" in environments()
            anna = HubUser.login(hub.url, "anna", "anna-demo", starter=portal)
            deadline = time.monotonic() + 120
            while environments()["tiny-cowsay"]["state"] == "waiting" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert environments()["tiny-cowsay"]["state"] == "preparing"
            anna.start_server("joined", {"bundle": "tiny-cowsay", "size": "small"})
            messages = [e.get("message", "") for e in anna.wait_until_ready("joined", timeout=600)]
            assert any(m.startswith("Joining the build of the environment of tiny-cowsay 1.0.0") for m in messages), \
                messages
            built = [p.name for p in (tmp_path / "envs").iterdir() if p.name.startswith(("tiny-cowsay", ".build"))]
            assert len(built) == 1 and built[0].startswith("tiny-cowsay-1.0.0-"), built
            anna.stop_server("joined", remove=True)
            while environments()["tiny-cowsay"]["state"] != "ready" and time.monotonic() < deadline + 300:
                time.sleep(0.2)
            assert (tmp_path / "envs" / built[0] / COMPILED).is_file()

            (root / "bundles" / "bi" / "tiny-fresh.yaml").write_text(fresh, encoding="utf-8")
            deadline = time.monotonic() + 60
            while "tiny-fresh" not in environments() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert environments()["tiny-fresh"]["state"] in ("waiting", "preparing", "ready")
            anna.close()
            log = (tmp_path / "logs" / "jupyterhub.log").read_text(encoding="utf-8", errors="replace")
            assert "Catalogue changed: 1 environment(s) to prepare" in log
            assert json.loads((tmp_path / "envs" / built[0] / "gereedschapskist-env.json").read_text())["version"] \
                == "1.0.0"
    finally:
        provider.stop()
