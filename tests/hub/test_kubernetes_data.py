"""Granted datasets in workspace pods (issue 15, ``hub/kubernetes_data.py``): the real KubeSpawner manifest
(``_mock=True``: there is no Kubernetes API server here) with the user's grants as read-only volume mounts, validated
against the Kubernetes 1.33 schemas with ``kubernetes-validate``; a start whose grants cannot be known is refused;
a grant that ends stops the pod's server.

The portal is a subclass of the real adapter whose answers the test sets (the real portal is asked in
``test_data_in_workspace.py``)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import kubernetes_validate
import pytest
from kubernetes_asyncio.client import ApiClient

from gereedschapskist.hub.datasets import Grant, GrantsUnavailable, PortalGrants
from gereedschapskist.hub.kubernetes import BundleKubeSpawner, DataRefused, configure_data
from gereedschapskist.hub.kubernetes_data import ANNOTATION, DATA_MOUNT, lost
from tests.hub.test_kubernetes import HubUser, hub_config

NOW = datetime.now(timezone.utc)
GRANTS = [Grant(grant=1, dataset=10, identifier="cbs-83625NED", title="WOZ", files=("cbs/cbs-83625NED.csv",),
                expires_at=NOW + timedelta(days=3), purpose_code="statistics", legal_ground="avg-6-1-e-cbs-wet",
                organisation="minfin"),
          Grant(grant=2, dataset=11, identifier="knmi-daggegevens", title="KNMI", files=("knmi-daggegevens.csv",),
                expires_at=NOW + timedelta(hours=2), purpose_code="statistics", legal_ground="woo-hergebruik",
                organisation="minfin")]


class ScriptedPortal(PortalGrants):
    def __init__(self, answers: list):
        super().__init__("https://portal.example", "t" * 40)
        self.answers = answers

    async def start(self, user: str, server: str) -> list[Grant]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def current(self, user: str) -> list[Grant]:
        return await self.start(user, "")


@pytest.fixture(autouse=True)
def _no_kubeconfig(monkeypatch):
    monkeypatch.setattr("kubespawner.spawner.load_config", lambda **kwargs: None)


def _pod(answers: list) -> tuple[dict, BundleKubeSpawner]:
    async def run():
        c = hub_config()
        configure_data(c, portal_api_url="https://portal.example", token="t" * 40, claim="datasets-store")
        c.BundleKubeSpawner.data_portal = ScriptedPortal(answers)
        spawner = BundleKubeSpawner(_mock=True, user=HubUser("anna", ["org:minfin", "role:bi"]), config=c)
        await spawner._run_apply_user_options({"bundle": "bi-sql-duckdb", "size": "small"})
        await spawner.load_user_options()          # as JupyterHub does before start
        await spawner.prepare_data()               # start(): the portal first,
        await spawner.load_user_options()          # then KubeSpawner's own start loads the profile again
        return ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest()), spawner

    return asyncio.run(run())


def test_the_pod_gets_exactly_the_granted_files_read_only():
    pod, _ = _pod([GRANTS])
    kubernetes_validate.validate(pod, "1.33", strict=True)
    container = pod["spec"]["containers"][0]
    data_mounts = [m for m in container["volumeMounts"] if m["mountPath"].startswith(DATA_MOUNT)]
    assert sorted((m["mountPath"], m.get("subPath"), m["readOnly"]) for m in data_mounts) == [
        (f"{DATA_MOUNT}/GRANTS.json", "GRANTS.json", True),
        (f"{DATA_MOUNT}/cbs-83625NED/cbs-83625NED.csv", "cbs/cbs-83625NED.csv", True),
        (f"{DATA_MOUNT}/knmi-daggegevens/knmi-daggegevens.csv", "knmi-daggegevens.csv", True)]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["gk-data-store"]["persistentVolumeClaim"] == {"claimName": "datasets-store", "readOnly": True}
    assert volumes["gk-data-grants"]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == \
        f"metadata.annotations['{ANNOTATION}']"
    index = json.loads(pod["metadata"]["annotations"][ANNOTATION])
    assert [(d["dataset"], d["expires_at"]) for d in index["datasets"]] == [
        (g.identifier, g.expires_at.isoformat()) for g in GRANTS]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GEREEDSCHAPSKIST_DATA_EXPIRES"] == GRANTS[1].expires_at.isoformat()
    assert env["GEREEDSCHAPSKIST_DATA_DIR"] == DATA_MOUNT


def test_no_grants_no_data_volumes_and_a_new_start_drops_the_old_ones():
    async def run():
        c = hub_config()
        c.BundleKubeSpawner.data_portal = ScriptedPortal([GRANTS, []])
        spawner = BundleKubeSpawner(_mock=True, user=HubUser("anna", ["org:minfin", "role:bi"]), config=c)
        await spawner._run_apply_user_options({"bundle": "bi-sql-duckdb", "size": "small"})
        await spawner.load_user_options()
        await spawner.prepare_data()
        await spawner.load_user_options()
        first = len(spawner.volume_mounts)
        await spawner.prepare_data()           # the next start: the grants were revoked in between
        await spawner.load_user_options()
        pod = ApiClient().sanitize_for_serialization(await spawner.get_pod_manifest())
        return first, pod

    first, pod = asyncio.run(run())
    assert first == 3
    kubernetes_validate.validate(pod, "1.33", strict=True)
    assert not [m for m in pod["spec"]["containers"][0].get("volumeMounts") or []
                if m["mountPath"].startswith(DATA_MOUNT)]
    assert ANNOTATION not in (pod["metadata"].get("annotations") or {})


def test_a_start_is_refused_when_the_portal_cannot_be_asked():
    with pytest.raises(DataRefused) as refused:
        _pod([GrantsUnavailable("the portal at https://portal.example could not be asked")])
    assert refused.value.refusal == "grants-unavailable" and "could not be asked" in refused.value.message


def test_a_grant_that_ends_is_lost():
    expired = Grant(**{**GRANTS[1].__dict__, "expires_at": NOW - timedelta(seconds=1)})
    assert lost(GRANTS, GRANTS) == []
    assert lost(GRANTS, [GRANTS[0]]) == ["knmi-daggegevens"]                     # revoked
    assert lost(GRANTS, [GRANTS[0], expired]) == ["knmi-daggegevens"]            # expired
    assert lost([*GRANTS[:1], expired], GRANTS) == ["knmi-daggegevens"]           # expired though still listed


def test_a_running_pod_is_stopped_when_its_grant_is_revoked():
    class User(HubUser):
        stopped: list = []

        async def stop(self, name):
            self.stopped.append(name)

    async def run():
        c = hub_config()
        c.BundleKubeSpawner.data_portal = ScriptedPortal([GRANTS, [GRANTS[0]]])
        c.BundleKubeSpawner.data_interval = 0.01
        user = User("anna", ["org:minfin", "role:bi"])
        spawner = BundleKubeSpawner(_mock=True, user=user, config=c)
        await asyncio.wait_for(spawner._watch_grants(GRANTS[:1] + GRANTS[1:]), 5)   # first answer: all granted
        return user.stopped

    assert asyncio.run(run()) == [""]


def test_the_helm_values_let_the_hub_ask_the_portal_with_the_portal_services_token():
    from tests.hub.test_values import CATALOGUE, INFRA, load_environment, render_values

    env = render_values(load_environment("minfin-dev", INFRA), CATALOGUE)["hub"]["extraEnv"]
    assert env["GEREEDSCHAPSKIST_HUB_PORTAL_API_URL"] == env["GEREEDSCHAPSKIST_HUB_PORTAL_URL"]
    assert env["GEREEDSCHAPSKIST_HUB_PORTAL_API_TOKEN"] == {"valueFrom": {"secretKeyRef": {
        "name": "hub", "key": "hub.services.portal.apiToken"}}}
