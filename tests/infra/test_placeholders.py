"""Placeholder pods per role pool (issue 13): a user's start finds room on a running node, and the node a cold pool
needs is added for a placeholder, not for the user. The hub values say per pool how many and how big
(``hub/values.py`` ``user_placeholders``); the cluster stage applies them (``infra/manifests.py``
``user_placeholders``): one priority class below every user pod's, one StatefulSet of pause pods per pool. Recorded
by Pulumi's mock engine (no cluster here, see infra_harness.py); every object is also validated whole against the
Kubernetes schemas in test_kubernetes_objects.py.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from gereedschapskist.core.z2jh import PAUSE_IMAGE, Z2JH_VERSION
from gereedschapskist.infra import versions
from gereedschapskist.infra.manifests import (
    HUB_NAMESPACE, PLACEHOLDER_PRIORITY, PLACEHOLDER_PRIORITY_CLASS, user_placeholders,
)
from gereedschapskist.infra.tags import Tags

from infra_harness import CONTRACT_STACKS

CHART_VALUES = Path(__file__).resolve().parents[1] / "hub" / "fixtures" / f"z2jh-{Z2JH_VERSION}" / "values.yaml"
#: The cluster autoscaler's default ``--expendable-pods-priority-cutoff``: pods below it never make it add a node.
AUTOSCALER_CUTOFF = -10


def chart_defaults() -> dict:
    return yaml.safe_load(CHART_VALUES.read_text())


def recorded(rec) -> tuple[list[dict], list[dict]]:
    objects = rec.kubernetes_objects()
    return ([o for o in objects if o["kind"] == "PriorityClass" and o["metadata"]["name"] == PLACEHOLDER_PRIORITY_CLASS],
            [o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["name"].startswith("user-placeholder-")])


@pytest.mark.parametrize("partner", sorted(CONTRACT_STACKS))
def test_each_role_pool_gets_the_placeholders_its_hub_values_ask_for(deployments, partner):
    rec = deployments(CONTRACT_STACKS[partner])
    wanted = rec.helm_releases()["jupyterhub"]["values"]["custom"]["gereedschapskist"]["userPlaceholders"]
    assert wanted, "an environment offering bundles has at least one role pool to keep room in"
    (priority,), sets = recorded(rec)
    assert {s["metadata"]["name"]: s for s in sets}.keys() == {f"user-placeholder-{pool}" for pool in wanted}
    for pool, spec in wanted.items():
        (stateful_set,) = [s for s in sets if s["metadata"]["name"] == f"user-placeholder-{pool}"]
        pod = stateful_set["spec"]["template"]["spec"]
        assert stateful_set["metadata"]["namespace"] == HUB_NAMESPACE
        assert stateful_set["spec"]["replicas"] == spec["replicas"] >= 1
        assert pod["nodeSelector"] == spec["nodeSelector"]               # in that pool, where its users start
        assert pod["priorityClassName"] == priority["metadata"]["name"]
        (container,) = pod["containers"]
        requests = container["resources"]["requests"]
        assert float(requests["cpu"]) == spec["resources"]["requests"]["cpu"]
        assert int(requests["memory"]) == spec["resources"]["requests"]["memory"]
        assert container["image"].endswith(PAUSE_IMAGE.split("/", 1)[1])   # the chart's pause, through the cache
        assert pod["automountServiceAccountToken"] is False and container["securityContext"]["capabilities"] == \
            {"drop": ["ALL"]}
        kubernetes_validate.validate(stateful_set, f"{versions.KUBERNETES_VERSION}.0", strict=True)
    kubernetes_validate.validate(priority, f"{versions.KUBERNETES_VERSION}.0", strict=True)


def test_user_pods_preempt_placeholders_and_a_pending_placeholder_still_adds_a_node():
    """The hub values turn z2jh's pod priority on (user pods get its default priority); the placeholders' class is
    below that and not below the autoscaler's cut-off, the value of z2jh's own placeholders."""
    defaults = chart_defaults()["scheduling"]["podPriority"]
    assert AUTOSCALER_CUTOFF <= PLACEHOLDER_PRIORITY < defaults["defaultPriority"]
    assert PLACEHOLDER_PRIORITY == defaults["userPlaceholderPriority"]
    (priority,) = [o for o in user_placeholders({}, Tags("cbs", "c-1", "cc", "env", "dev"), image="pause")
                   if o["kind"] == "PriorityClass"]
    assert priority["value"] == PLACEHOLDER_PRIORITY and priority["globalDefault"] is False
    assert priority["preemptionPolicy"] == "Never"                  # a placeholder never evicts anyone


def test_the_pause_image_is_the_charts_own():
    """One z2jh release (``core/z2jh.py``): the placeholders run the chart's pause image at the chart's tag."""
    pause = chart_defaults()["prePuller"]["pause"]["image"]
    assert PAUSE_IMAGE == f"{pause['name']}:{pause['tag']}"


def test_the_placeholders_wait_for_their_priority_class(deployments):
    rec = deployments(CONTRACT_STACKS["aws"])
    (priority,) = [r for r in rec.of("kubernetes:scheduling.k8s.io/v1:PriorityClass")
                   if r.inputs["metadata"]["name"] == PLACEHOLDER_PRIORITY_CLASS]
    sets = [r for r in rec.of("kubernetes:apps/v1:StatefulSet")
            if r.inputs["metadata"]["name"].startswith("user-placeholder-")]
    assert sets and all(rec.waits(s, priority) for s in sets)
