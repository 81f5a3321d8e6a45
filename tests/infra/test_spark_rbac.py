"""Spark on Kubernetes needs cluster-wide RBAC that the hub cannot make itself (issue 17, ``hub/spark.py``).

Before a Spark size's pod starts, the hub (service account ``jupyterhub/hub``) makes the user's executor namespace
and binds the driver ClusterRole there. Both rest on objects that must exist first: the driver ClusterRole and the
hub's ClusterRole/Binding (``spark.environment_manifests``). The cluster stage applies exactly those, where an offered
bundle scales out, before the hub release. Recorded by Pulumi's mock engine (no cluster here, see infra_harness.py).
"""

from __future__ import annotations

import kubernetes_validate

from gereedschapskist.hub import spark
from gereedschapskist.infra import versions
from gereedschapskist.infra.manifests import HUB_NAMESPACE

from infra_harness import CONTRACT_STACKS

RBAC = ("ClusterRole", "ClusterRoleBinding")


def spark_rbac(rec) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in rec.kubernetes_objects()
            if o["kind"] in RBAC and o["metadata"]["name"] in (spark.DRIVER_ROLE, spark.HUB_ROLE)}


def offers_spark(rec, catalogue) -> bool:
    values = rec.helm_releases()["jupyterhub"]["values"]
    return any(key.startswith("spark-") for key in values["singleuser"].get("extraFiles", {}))


def test_an_environment_with_a_spark_bundle_gets_the_driver_role_and_the_hubs_right_to_bind_it(deployments, catalogue):
    rec = deployments(CONTRACT_STACKS["aws"])  # cbs-ml-prod offers ml-spark, whose sizes scale out
    assert offers_spark(rec, catalogue)
    objects = spark_rbac(rec)
    expected = {(o["kind"], o["metadata"]["name"]): o for o in spark.environment_manifests(HUB_NAMESPACE, {})}
    assert set(objects) == set(expected)
    for key, obj in objects.items():
        assert obj.get("rules") == expected[key].get("rules")           # exactly what hub/spark.py asks for
        kubernetes_validate.validate(obj, f"{versions.KUBERNETES_VERSION}.0", strict=True)
    binding = objects[("ClusterRoleBinding", spark.HUB_ROLE)]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": spark.HUB_SERVICE_ACCOUNT,
                                    "namespace": HUB_NAMESPACE}]
    hub_role = objects[("ClusterRole", spark.HUB_ROLE)]
    (bind,) = [r for r in hub_role["rules"] if "bind" in r["verbs"]]
    assert bind["resourceNames"] == [spark.DRIVER_ROLE]                  # the hub may grant the driver role only


def test_the_hub_release_waits_for_the_spark_rbac(deployments):
    rec = deployments(CONTRACT_STACKS["aws"])
    hub = next(r for r in rec.of("kubernetes:helm.sh/v3:Release") if reveal_name(r) == "jupyterhub")
    for r in rec.resources:
        if r.typ.startswith("kubernetes:rbac.authorization.k8s.io") and r.inputs["metadata"]["name"] in (
                spark.DRIVER_ROLE, spark.HUB_ROLE):
            assert rec.waits(hub, r), f"{r.typ} {r.name}: the hub release does not wait for it"


def test_an_environment_without_a_spark_bundle_gets_none(deployments, catalogue):
    rec = deployments(CONTRACT_STACKS["azure"])  # minfin-bi-dev: bi and dev, nothing scales out
    assert not offers_spark(rec, catalogue)
    assert spark_rbac(rec) == {}


def reveal_name(r) -> str:
    return r.inputs.get("name", r.name)
