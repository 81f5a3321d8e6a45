"""The file a local hub enforces for a locally provisioned contract, kept in step with the contract.

:func:`publish` (re)writes a locally provisioned contract's environment file (``core.contract_environment``) from the
contract as it is now: its state (with a Dutch / English reason when it is not active), bundles, sizes, end date and
the sizes on request an organisation admin approved. ``services/contracts.py`` calls it after every change of a
contract's state (``_record``), whoever decides a size request calls it too; for a contract that was not provisioned
locally it does nothing. ``services/provisioning.py`` re-exports it (``provisioning.publish``).

The file is written before the caller commits: a change that is rolled back leaves a file that the next
:func:`publish` (e.g. the retried attempt) corrects. This module imports no other service that changes contracts, so
``contracts`` can call it without an import cycle.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gereedschapskist.core.contract_environment import ContractEnvironment, ExtraSize, write_environment
from gereedschapskist.core.identity import hub_username

from ..models import Contract, ContractState, SizeRequest, SizeRequestState, utcnow

#: Why a contract's environment is not open, as the hub shows it to users (Dutch / English).
STATE_REASONS: dict[ContractState, str] = {
    ContractState.PROVISIONING: "Deze omgeving wordt nog ingericht; het contract is nog niet actief. / "
                                "This environment is still being provisioned; the contract is not active yet.",
    ContractState.SUSPENDED: "Het contract is opgeschort: het budget is op; vraag uw organisatiebeheerder om het "
                             "budget te laten verhogen. / The contract is suspended: its budget is spent; ask your "
                             "organisation admin to have the budget raised.",
    ContractState.ENDED: "Het contract is beëindigd. / The contract has ended.",
}
#: The contract states an environment file can name (the hub's own states); others are published as ``ended``
#: (closed) should a provisioned contract ever be in one.
FILE_STATES = {ContractState.PROVISIONING: "provisioning", ContractState.ACTIVE: "active",
               ContractState.SUSPENDED: "suspended", ContractState.ENDED: "ended"}


def local_file_folder(contract: Contract) -> Path | None:
    """The environments folder a contract's environment file lives in; None when it was not provisioned locally."""
    detail = contract.provisioning_detail or {}
    if detail.get("provisioner") != "local" or not detail.get("environments_dir") or not detail.get("environment"):
        return None
    return Path(detail["environments_dir"])


def extra_sizes(session: Session, *, contract: Contract, today: date) -> tuple[ExtraSize, ...]:
    """The approved sizes on request still running (``ends_on`` today or later), per member."""
    rows = session.scalars(select(SizeRequest).where(
        SizeRequest.contract_id == contract.id, SizeRequest.state == SizeRequestState.APPROVED,
        SizeRequest.ends_on >= today).order_by(SizeRequest.id))
    return tuple(ExtraSize(username=hub_username(r.requester.username), size=f"{r.bundle}/{r.size}",
                           ends_on=r.ends_on, request=r.id) for r in rows)


def environment_of(session: Session, *, contract: Contract, name: str, today: date | None = None
                   ) -> ContractEnvironment:
    """What the hub enforces for ``contract`` now, as an environment named ``name``."""
    state = FILE_STATES.get(contract.state, "ended")
    reason = None if state == "active" else STATE_REASONS.get(contract.state, STATE_REASONS[ContractState.ENDED])
    return ContractEnvironment(
        name=name, organisation=contract.organisation.slug, contract=contract.id, partner=contract.partner,
        stage=contract.stage.value, state=state, reason=reason, bundles=tuple(contract.bundles),
        sizes=tuple(contract.sizes), extra_sizes=extra_sizes(session, contract=contract,
                                                              today=today or utcnow().date()),
        ends_on=contract.ends_on)


def publish(session: Session, contract: Contract) -> None:
    """(Re)write ``contract``'s environment file from the contract as it is now; nothing for a contract that was not
    provisioned locally. Written atomically; an unwritable folder raises (the caller's transaction fails with it)."""
    folder = local_file_folder(contract)
    if folder is None:
        return
    name = (contract.provisioning_detail or {})["environment"]
    write_environment(folder, environment_of(session, contract=contract, name=name))
