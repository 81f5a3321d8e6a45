"""The ``gitops`` provisioner (supply model b): a stack file for the cloud in a pull request; CI deploys it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..models import Contract
from .provisioning import Provisioner, ProvisioningFailed


class GitopsProvisioner(Provisioner):
    name = "gitops"

    def provision(self, session: Session, *, contract: Contract, now: datetime) -> None:
        raise ProvisioningFailed("the gitops provisioner is not available yet", reason="provisioner-unavailable")
