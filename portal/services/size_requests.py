"""Sizes on request: a member asks for a size their contract does not offer by default; an admin of the contract's
organisation decides; after its end date the size is no longer offered.

Who may:

- **request**: an active member of the contract's organisation (``not-a-member``), for a contract that is approved,
  provisioning, active or suspended (``size-request-contract-state``);
- **approve or reject** (a reason required to reject): an admin of the contract's organisation
  (``not-organisation-admin``), **never their own request** (``size-request-own``: four eyes, like a platform admin
  never decides on their own organisation's contract; another admin of the organisation decides). Platform admins
  are not members and do not decide: sizes are the organisation's spend.

What may be requested (a refusal names the field, :class:`SizeRequestRefused`; nothing is stored):

- ``bundle``: a catalogue bundle (``unknown-bundle``) the contract has (``bundle-not-in-contract``);
- ``size``: one of that bundle's sizes (``unknown-size``), not already offered by the contract or already approved
  for this member (``size-already-offered``), fitting one of the partner's machines (``size-not-at-partner``: the
  catalogue's :meth:`Partner.machine_for`, the same rule ordering and pricing use);
- ``ends_on``: a date (``invalid-date``), today or later (``end-in-past``), not after the contract's last day
  (``end-after-contract``);
- ``reason``: 3–500 characters (``size-reason-required``);
- one open request per member, contract, bundle and size (``size-request-pending``, 409).

After a decision the contract's environment file is rewritten (:func:`provisioning.publish`), so an approved size
is offered by the hub to that member, until ``ends_on`` inclusive. :func:`expire_due` (the budget watcher calls it
once a day or more) marks approved requests past their end ``expired`` and returns the workspaces to stop.

Keyword-only functions; none of them commits.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue

from ..db import get_or_404
from ..errors import Conflict, Forbidden, NotFound
from ..models import (
    Contract, ContractNotice, ContractState, Organisation, RegisterAction, SizeRequest, SizeRequestState, User,
    ACTIVE_STATUSES, Workspace, utcnow,
)
from . import register
from .contract_order import OrderRefused, _date
from .grants import is_admin_of

REASON_MIN, REASON_MAX = 3, 500
#: Contract states in which a member may ask for a size (the contract holds its environment, or is about to).
OPEN_STATES = frozenset({ContractState.APPROVED, ContractState.PROVISIONING, ContractState.ACTIVE,
                         ContractState.SUSPENDED})
FIELDS = ("contract", "bundle", "size", "ends_on", "reason")


class SizeRequestRefused(OrderRefused):
    """A refused size request value: ``field`` is the form field it concerns."""


def _text(value: Any) -> str:
    text = " ".join(str(value or "").split())
    if not REASON_MIN <= len(text) <= REASON_MAX or "\x00" in text:
        raise SizeRequestRefused("reason", f"{value!r}: say in {REASON_MIN}–{REASON_MAX} characters why you need "
                                 "this size", reason="size-reason-required")
    return text


def _approved_for(session: Session, *, contract: Contract, user_id: int, today: date) -> set[str]:
    rows = session.scalars(select(SizeRequest).where(
        SizeRequest.contract_id == contract.id, SizeRequest.requester_id == user_id,
        SizeRequest.state == SizeRequestState.APPROVED, SizeRequest.ends_on >= today))
    return {f"{r.bundle}/{r.size}" for r in rows}


def check(session: Session, *, catalogue: Catalogue, contract: Contract, user: User, data: dict[str, Any],
          today: date) -> tuple[str, str, date, str]:
    """``(bundle, size, ends_on, reason)`` of a valid request, or :class:`SizeRequestRefused` naming the field."""
    bundle_id = str(data.get("bundle") or "").strip()
    bundle = catalogue.bundles.get(bundle_id)
    if bundle is None:
        raise SizeRequestRefused("bundle", f"{bundle_id!r} is no bundle of the catalogue", reason="unknown-bundle")
    if bundle_id not in contract.bundles:
        raise SizeRequestRefused("bundle", f"{bundle_id!r} is not in contract {contract.id} (it has "
                                 f"{', '.join(contract.bundles)})", reason="bundle-not-in-contract")
    size_id = str(data.get("size") or "").strip()
    size = bundle.size(size_id)
    if size is None:
        raise SizeRequestRefused("size", f"{size_id!r}: bundle {bundle_id!r} has no such size; choose "
                                 f"{', '.join(s.id for s in bundle.sizes)}", reason="unknown-size")
    key = f"{bundle_id}/{size_id}"
    if key in contract.sizes:
        raise SizeRequestRefused("size", f"{key!r} is already offered by contract {contract.id} to every member",
                                 reason="size-already-offered")
    if key in _approved_for(session, contract=contract, user_id=user.id, today=today):
        raise SizeRequestRefused("size", f"{key!r} is already approved for you under contract {contract.id}",
                                 reason="size-already-offered")
    partner = catalogue.partners.get(contract.partner)
    if partner is None or partner.machine_for(size) is None:
        name = partner.name if partner else contract.partner
        raise SizeRequestRefused("size", f"{key!r} ({size.label}) is larger than every machine of {name}",
                                 reason="size-not-at-partner")
    try:
        ends_on = _date("ends_on", data.get("ends_on"))
    except OrderRefused as bad:
        raise SizeRequestRefused("ends_on", bad.message.removeprefix("ends_on: "), reason=bad.reason) from None
    if ends_on < today:
        raise SizeRequestRefused("ends_on", f"{ends_on.isoformat()} has passed; choose today "
                                 f"({today.isoformat()}) or later", reason="end-in-past")
    if ends_on > contract.ends_on:
        raise SizeRequestRefused("ends_on", f"{ends_on.isoformat()} is after the contract's last day "
                                 f"{contract.ends_on.isoformat()}", reason="end-after-contract")
    return bundle_id, size_id, ends_on, _text(data.get("reason"))


def request_size(session: Session, *, catalogue: Catalogue, contract: Contract, actor: User, data: dict[str, Any],
                 today: date | None = None) -> SizeRequest:
    """A member asks for a size (this module's rules); stored as ``requested`` and in the register."""
    today = today or utcnow().date()
    if actor.membership(contract.organisation_id) is None:
        raise Forbidden(f"only members of {contract.organisation.slug!r} may ask for a size under contract "
                        f"{contract.id}", reason="not-a-member")
    if contract.state not in OPEN_STATES:
        raise Conflict(f"contract {contract.id} is {contract.state.value}; sizes are requested under an approved, "
                       "active or suspended contract", reason="size-request-contract-state")
    bundle, size, ends_on, why = check(session, catalogue=catalogue, contract=contract, user=actor, data=data,
                                       today=today)
    open_one = session.scalar(select(SizeRequest.id).where(
        SizeRequest.contract_id == contract.id, SizeRequest.requester_id == actor.id, SizeRequest.bundle == bundle,
        SizeRequest.size == size, SizeRequest.state == SizeRequestState.REQUESTED))
    if open_one is not None:
        raise Conflict(f"you already asked for {bundle}/{size} under contract {contract.id} (request {open_one}); "
                       "it awaits a decision", reason="size-request-pending")
    row = SizeRequest(contract_id=contract.id, requester_id=actor.id, requester=actor, bundle=bundle, size=size,
                      reason=why, ends_on=ends_on, state=SizeRequestState.REQUESTED, created_at=utcnow())
    session.add(row)
    session.flush()
    _register(session, row, contract, RegisterAction.SIZE_REQUESTED, actor, why)
    return row


def _register(session: Session, row: SizeRequest, contract: Contract, action: RegisterAction, actor: User | None,
              why: str | None) -> None:
    register.append(session, action=action, actor_id=actor.id if actor else None,
                    organisation_id=contract.organisation_id,
                    subject=f"size {row.bundle}/{row.size} for {row.requester.username} under contract {contract.id} "
                            f"until {row.ends_on.isoformat()}: {action.value}",
                    purpose=why, details={"size_request": row.id, "contract": contract.id, "bundle": row.bundle,
                                          "size": row.size, "ends_on": row.ends_on.isoformat(),
                                          "member": row.requester.username, "state": row.state.value})


def decide(session: Session, *, size_request: SizeRequest, actor: User, approve: bool, reason: str | None = None,
           today: date | None = None) -> SizeRequest:
    """An admin of the contract's organisation approves or rejects (this module's rules); then the contract's
    environment file is rewritten."""
    today = today or utcnow().date()
    contract = session.get(Contract, size_request.contract_id)
    if not is_admin_of(actor, contract.organisation):
        raise Forbidden(f"only admins of {contract.organisation.slug!r} decide on its members' size requests",
                        reason="not-organisation-admin")
    if size_request.requester_id == actor.id:
        raise Forbidden(f"size request {size_request.id} is your own; another admin of "
                        f"{contract.organisation.slug!r} decides on it", reason="size-request-own")
    if size_request.state is not SizeRequestState.REQUESTED:
        raise Conflict(f"size request {size_request.id} is already {size_request.state.value}",
                       reason="size-request-decided")
    text = " ".join((reason or "").split())
    if not approve or text:
        if not REASON_MIN <= len(text) <= REASON_MAX:
            raise SizeRequestRefused("reason", f"{reason!r}: say in {REASON_MIN}–{REASON_MAX} characters why",
                                     reason="contract-reason-required")
    if approve and size_request.ends_on < today:
        raise Conflict(f"size request {size_request.id} ended on {size_request.ends_on.isoformat()}; ask again",
                       reason="end-in-past")
    if approve and contract.state not in OPEN_STATES:
        raise Conflict(f"contract {contract.id} is {contract.state.value}; nothing can be approved under it",
                       reason="size-request-contract-state")
    size_request.state = SizeRequestState.APPROVED if approve else SizeRequestState.REJECTED
    size_request.decided_by_id, size_request.decided_at = actor.id, utcnow()
    size_request.decision_reason = text or None
    session.flush()
    _register(session, size_request, contract,
              RegisterAction.SIZE_APPROVED if approve else RegisterAction.SIZE_REJECTED, actor, text or None)
    from . import provisioning   # rewrites the hub's contract environment file (approved sizes as extra_sizes)
    provisioning.publish(session, contract)
    return size_request


def expire_due(session: Session, *, today: date) -> list[Workspace]:
    """Approved requests whose ``ends_on`` is before ``today`` become ``expired`` (register, and a notice for the
    organisation's admins); returns the workspaces still running in such a size under that contract for that member
    (the caller stops them and republishes the contract's environment)."""
    due = list(session.scalars(select(SizeRequest).where(SizeRequest.state == SizeRequestState.APPROVED,
                                                         SizeRequest.ends_on < today).order_by(SizeRequest.id)))
    stop: list[Workspace] = []
    for row in due:
        contract = session.get(Contract, row.contract_id)
        row.state = SizeRequestState.EXPIRED
        session.flush()
        _register(session, row, contract, RegisterAction.SIZE_EXPIRED, None,
                  f"ended on {row.ends_on.isoformat()}")
        _notice(session, row, contract)
        stop.extend(session.scalars(select(Workspace).where(
            Workspace.contract_id == contract.id, Workspace.user_id == row.requester_id,
            Workspace.bundle_id == row.bundle, Workspace.size_id == row.size,
            Workspace.status.in_(ACTIVE_STATUSES)).order_by(Workspace.id)))
    return stop


def _notice(session: Session, row: SizeRequest, contract: Contract) -> None:
    kind = f"size-expired:{row.id}"
    if session.scalar(select(ContractNotice.id).where(ContractNotice.contract_id == contract.id,
                                                      ContractNotice.kind == kind)) is None:
        what, until = f"{row.bundle}/{row.size}", row.ends_on.isoformat()
        session.add(ContractNotice(contract_id=contract.id, kind=kind, at=utcnow(), message=(
            f"Het formaat {what} voor {row.requester.username} is afgelopen op {until}. / "
            f"The size {what} for {row.requester.username} ended on {until}.")))


# -- reading ---------------------------------------------------------------------------------------------------------

def get_request(session: Session, *, request_id: int) -> SizeRequest:
    return get_or_404(session, SizeRequest, request_id, what="size request", reason="unknown-size-request")


def open_contracts(session: Session, *, organisation: Organisation) -> list[Contract]:
    """The organisation's contracts under which sizes can be requested."""
    return list(session.scalars(select(Contract).where(Contract.organisation_id == organisation.id,
                                                       Contract.state.in_(OPEN_STATES)).order_by(Contract.id)))


def for_organisation(session: Session, *, organisation: Organisation, user: User) -> list[SizeRequest]:
    """Size requests under the organisation's contracts: all of them for its admins, a member's own otherwise."""
    query = select(SizeRequest).join(Contract, Contract.id == SizeRequest.contract_id).where(
        Contract.organisation_id == organisation.id)
    if not is_admin_of(user, organisation):
        query = query.where(SizeRequest.requester_id == user.id)
    return list(session.scalars(query.order_by(SizeRequest.id.desc())))


def pending(session: Session, *, organisation: Organisation) -> list[SizeRequest]:
    """Open requests under the organisation's contracts, oldest first (its admins' to-do list)."""
    return list(session.scalars(select(SizeRequest).join(Contract, Contract.id == SizeRequest.contract_id).where(
        Contract.organisation_id == organisation.id, SizeRequest.state == SizeRequestState.REQUESTED)
        .order_by(SizeRequest.id)))


def for_contract(session: Session, *, contract: Contract) -> list[SizeRequest]:
    return list(session.scalars(select(SizeRequest).where(SizeRequest.contract_id == contract.id)
                                .order_by(SizeRequest.id.desc())))


def member_organisation(session: Session, *, user: User, slug: str) -> Organisation:
    """The get-or-404-and-authorise rule of the size pages: the organisation's active members."""
    organisation = None if "\x00" in slug else session.scalar(select(Organisation).where(Organisation.slug == slug))
    if organisation is None:
        raise NotFound(f"there is no organisation {slug!r}", reason="unknown-organisation")
    if user.membership(organisation.id) is None:
        raise Forbidden(f"only members of {slug!r} ask for sizes under its contracts", reason="not-a-member")
    return organisation


def may_decide(user: User, row: SizeRequest, contract: Contract) -> bool:
    return row.state is SizeRequestState.REQUESTED and row.requester_id != user.id \
        and is_admin_of(user, contract.organisation)
