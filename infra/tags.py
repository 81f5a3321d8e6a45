"""Tags and labels that let spend and ownership be traced: organisation, contract, cost centre.

One ``Tags`` object per stack; each cloud gets it in the form its API accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gereedschapskist.core.placement import LABEL_PREFIX

_LABEL_CHARS = re.compile(r"[^a-z0-9_-]+")
_KUBE_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def gcp_label(value: str) -> str:
    """Google Cloud label values: lowercase letters, digits, ``_`` and ``-``, at most 63 characters."""
    return _LABEL_CHARS.sub("-", value.lower())[:63].strip("-_") or "none"


def kube_label(value: str) -> str:
    """Kubernetes label values: alphanumerics with ``-_.`` inside, at most 63 characters."""
    return _KUBE_VALUE.sub("-", value)[:63].strip("-_.") or "none"


@dataclass(frozen=True)
class Tags:
    organisation: str
    contract: str
    cost_centre: str
    environment: str
    stage: str
    budget_eur_per_month: int | None = None

    def cloud(self) -> dict[str, str]:
        """Tags for Azure and AWS resources (free-form keys and values)."""
        tags = {
            "organisation": self.organisation,
            "contract": self.contract,
            "cost-centre": self.cost_centre,
            "environment": self.environment,
            "stage": self.stage,
            "managed-by": "gereedschapskist",
        }
        if self.budget_eur_per_month is not None:
            tags["budget-eur-per-month"] = str(self.budget_eur_per_month)
        return tags

    def gcp(self) -> dict[str, str]:
        """Labels for Google Cloud resources (restricted character set)."""
        return {key.replace("-", "_"): gcp_label(value) for key, value in self.cloud().items()}

    def kube(self) -> dict[str, str]:
        """Labels for Kubernetes objects the program creates."""
        return {
            f"{LABEL_PREFIX}/organisation": kube_label(self.organisation),
            f"{LABEL_PREFIX}/contract": kube_label(self.contract),
            f"{LABEL_PREFIX}/cost-centre": kube_label(self.cost_centre),
            f"{LABEL_PREFIX}/environment": kube_label(self.environment),
            "app.kubernetes.io/managed-by": "gereedschapskist",
        }
