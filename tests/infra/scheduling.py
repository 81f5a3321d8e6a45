"""A small model of the Kubernetes scheduler's placement rules, for offline checks (no cluster here).

It answers one question: can a pod with this placement (node selector, required node affinity, tolerations,
required pod anti-affinity) go onto this node, given the pods already there? Only the rules the program uses are
modelled — ``In``/``NotIn``/``Exists``/``DoesNotExist`` expressions, ``NoSchedule``/``NoExecute`` taints and
``kubernetes.io/hostname`` anti-affinity on ``matchLabels`` — and anything else fails loudly instead of passing.
Helm's merge of user values over a chart's defaults (maps merge, lists and scalars replace, ``null`` deletes) is
here too, so a chart default that our values do not override is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class Node:
    name: str
    labels: dict[str, str]
    taints: list[dict[str, str]] = field(default_factory=list)
    pods: list[dict[str, str]] = field(default_factory=list)  # labels of the pods placed there


def helm_merge(defaults: Any, values: Any) -> Any:
    """``values`` over ``defaults`` as Helm coalesces them."""
    if isinstance(defaults, Mapping) and isinstance(values, Mapping):
        merged = dict(defaults)
        for key, value in values.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = helm_merge(merged[key], value)
            else:
                merged[key] = value
        return merged
    return values


def _expression(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values", [])
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise NotImplementedError(f"node selector operator {op!r}")


def _tolerates(tolerations: list[Mapping[str, Any]], taint: Mapping[str, str]) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == taint["key"]:
                return True
        elif t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def fits(pod: Mapping[str, Any], node: Node) -> list[str]:
    """Why ``pod`` (a pod spec's placement fields) cannot go onto ``node``; empty when it can."""
    why = []
    for key, value in (pod.get("nodeSelector") or {}).items():
        if node.labels.get(key) != value:
            why.append(f"nodeSelector {key}={value}")
    affinity = pod.get("affinity") or {}
    required = ((affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms")
    if terms is not None and not any(all(_expression(e, node.labels) for e in term.get("matchExpressions", []))
                                     for term in terms):
        why.append("node affinity")
    for taint in node.taints:
        if taint["effect"] in ("NoSchedule", "NoExecute") and not _tolerates(pod.get("tolerations") or [], taint):
            why.append(f"taint {taint['key']}={taint.get('value', '')}:{taint['effect']}")
    for term in ((affinity.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []):
        if term["topologyKey"] != "kubernetes.io/hostname":
            raise NotImplementedError(f"topology key {term['topologyKey']!r}")
        selector = term["labelSelector"]
        if set(selector) - {"matchLabels"}:
            raise NotImplementedError(f"label selector {selector!r}")
        wanted = selector["matchLabels"]
        if any(all(p.get(k) == v for k, v in wanted.items()) for p in node.pods):
            why.append(f"pod anti-affinity {wanted}")
    return why


def taint(key: str, value: str, effect: str = "NoSchedule") -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}
