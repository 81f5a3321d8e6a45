"""The budget watcher: warnings at 80 % of a contract's budget, and the stop at 100 % or at the end date.

One pass (:func:`check`), for every active or suspended contract, with its spend summed in one SQL query
(:func:`.metering.spend_by_contract`):

- past its end date (``today > ends_on``): the contract becomes ``ended`` (by the portal itself, with a Dutch/English
  reason) and its running workspaces are stopped;
- active and spent ≥ 100 %: it becomes ``suspended`` and its running workspaces are stopped;
- spent ≥ 80 %: one ``budget-80`` :class:`~..models.ContractNotice` (unique per contract, so it goes out once however
  many workers or restarts see it), a ``contract-budget-warned`` register entry and ``budget_warned_at``; the
  organisation's admins read it in the portal and, when SMTP is configured, by e-mail;
- suspended and spent < 100 % (its budget was raised, :func:`.contracts.change_budget`, which also makes it active
  at once and renames the ``budget-80``/``budget-100`` notices so they can go out again against the new budget):
  active again;
- any workspace still running under a suspended or ended contract (a launch that raced the stop) is stopped;
- approved sizes on request past their end (:func:`.size_requests.expire_due`, when that module has it): the
  workspaces running in them are stopped.

A stop is the portal's own (``stopped_by`` NULL, ``stop_reason`` saying why, shown to the workspace's user), keeps
the hub's named server and so the home folder and data, is metered (:func:`.metering.meter`) and registered as
``workspace-stopped-by-contract``. A hub that does not answer leaves the workspace running; the next pass retries.

E-mail (:func:`send_pending`) goes out after the pass is committed: a notice with addressees and neither
``emailed_at`` nor ``email_error`` is pending. An SMTP failure is stored in ``email_error`` and never stops the
watcher. :func:`run_pass` is one whole pass with its commits; ``main.py`` runs it once per deployment, under the
``budget-watcher`` lease (:mod:`.leases`).
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import PortalError
from ..models import (
    ACTIVE_STATUSES, Contract, ContractNotice, ContractState, Member, MemberRoleName, MemberStatus, RegisterAction,
    Workspace, WorkspaceStatus, utcnow,
)
from ..workspace_hub import Hubs
from . import metering, register
from .contracts import transition

log = logging.getLogger(__name__)
WARN_AT = Decimal("0.8")
LEASE = "budget-watcher"
WATCHED = (ContractState.ACTIVE, ContractState.SUSPENDED)


# -- e-mail ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mailer:
    """SMTP as configured (settings ``smtp_*``); stdlib :mod:`smtplib`."""

    host: str
    port: int = 25
    sender: str = "gereedschapskist@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0

    def send(self, *, to: list[str], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(to), subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


def mailer_from(settings) -> Mailer | None:
    """The mailer of the portal's settings; None when ``smtp_host`` is not set."""
    if not settings.smtp_host:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return Mailer(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                  user=settings.smtp_user, password=password, starttls=settings.smtp_starttls)


def admin_addresses(session: Session, *, organisation_id: int) -> list[str]:
    """E-mail addresses of the organisation's active admins."""
    members = session.scalars(select(Member).where(Member.organisation_id == organisation_id,
                                                   Member.status == MemberStatus.ACTIVE))
    return sorted({m.user.email for m in members if m.has_role(MemberRoleName.ORGANISATION_ADMIN) and m.user.email})


# -- texts -----------------------------------------------------------------------------------------------------------

def _eur(value: Decimal) -> str:
    return f"€ {value:.2f}"


def warning_text(contract: Contract, spent: Decimal) -> str:
    share = int(spent / contract.budget_eur * 100)
    return (f"Contract {contract.id} met {contract.partner} heeft {share} % van het budget gebruikt "
            f"({_eur(spent)} van {_eur(contract.budget_eur)}). Bij 100 % stoppen de werkplekken. / "
            f"Contract {contract.id} with {contract.partner} has used {share} % of its budget "
            f"({_eur(spent)} of {_eur(contract.budget_eur)}). At 100 % its workspaces stop.")


def spent_text(contract: Contract) -> str:
    return (f"Het budget van contract {contract.id} ({_eur(contract.budget_eur)}) is op: de werkplekken zijn gestopt; "
            f"bestanden en gegevens blijven bewaard. Een platformbeheerder van Gereedschapskist kan het budget op "
            f"verzoek van de organisatiebeheerder verhogen. / The budget of contract {contract.id} "
            f"({_eur(contract.budget_eur)}) is spent: its workspaces were stopped; files and data are kept. A platform "
            f"admin of Gereedschapskist can raise the budget at the organisation admin's request.")


def ended_text(contract: Contract) -> str:
    day = contract.ends_on.isoformat()
    return (f"Contract {contract.id} is afgelopen op {day}: de werkplekken zijn gestopt; bestanden en gegevens "
            f"blijven bewaard. / Contract {contract.id} ended on {day}: its workspaces were stopped; files and data "
            f"are kept.")


def raised_text(contract: Contract) -> str:
    return (f"Het budget is verhoogd naar {_eur(contract.budget_eur)}. / The budget was raised to "
            f"{_eur(contract.budget_eur)}.")


# -- one pass --------------------------------------------------------------------------------------------------------

@dataclass
class PassReport:
    warned: list[int] = field(default_factory=list)
    suspended: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    reactivated: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)
    not_stopped: list[int] = field(default_factory=list)     # the hub did not answer: retried next pass
    emailed: int = 0

    def __bool__(self) -> bool:
        return any((self.warned, self.suspended, self.ended, self.reactivated, self.stopped, self.emailed))


def notice(session: Session, *, contract: Contract, kind: str, message: str, now: datetime,
           email: bool = True) -> ContractNotice | None:
    """The notice of ``kind`` for the contract, once: None when it was already given (a savepoint catches a
    concurrent insert of the same kind)."""
    exists = session.scalar(select(ContractNotice.id).where(ContractNotice.contract_id == contract.id,
                                                            ContractNotice.kind == kind))
    if exists is not None:
        return None
    to = admin_addresses(session, organisation_id=contract.organisation_id) if email else []
    row = ContractNotice(contract_id=contract.id, kind=kind, at=now, message=message,
                         email_to=", ".join(to) or None)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def stop_for_contract(session: Session, *, hubs: Hubs, workspace: Workspace, contract_id: int | None, why: str,
                      reason: str, now: datetime) -> None:
    """Stop a workspace on the portal's own account (budget spent, contract ended, size ended): the hub keeps the
    named server (home folder and data stay); the user's page shows ``reason``. Raises the hub's error."""
    hubs.for_environment(workspace.environment).stop(username=workspace.user.username,
                                                     server_name=workspace.server_name, remove=False)
    was = workspace.status
    workspace.status, workspace.url, workspace.status_message = WorkspaceStatus.STOPPED, None, None
    workspace.stopped_at = now
    workspace.stopped_by_id, workspace.stopped_by, workspace.stop_reason = None, None, reason
    session.flush()
    register.record(session, action=RegisterAction.WORKSPACE_STOPPED_BY_CONTRACT, workspace=workspace, actor=None,
                    details={"contract": contract_id, "why": why, "was": was.value, "reason": reason})
    metering.meter(session, workspace=workspace, now=now)


def _stop_all(session: Session, *, hubs: Hubs, workspaces: list[Workspace], contract_id: int | None, why: str,
              reason: str, now: datetime, report: PassReport) -> None:
    for workspace in workspaces:
        try:
            stop_for_contract(session, hubs=hubs, workspace=workspace, contract_id=contract_id, why=why,
                              reason=reason, now=now)
            report.stopped.append(workspace.id)
        except PortalError as exc:
            log.warning("budget watcher: could not stop workspace %s (%s): %s", workspace.id, why, exc.message)
            report.not_stopped.append(workspace.id)


def _running(session: Session, contract_ids: list[int]) -> list[Workspace]:
    if not contract_ids:
        return []
    return list(session.scalars(select(Workspace).where(Workspace.contract_id.in_(contract_ids),
                                                        Workspace.status.in_(ACTIVE_STATUSES))
                                .order_by(Workspace.id)))


def _warn(session: Session, *, contract: Contract, spent: Decimal, now: datetime, report: PassReport) -> None:
    if notice(session, contract=contract, kind="budget-80", message=warning_text(contract, spent), now=now) is None:
        return
    contract.budget_warned_at = now
    register.append(session, action=RegisterAction.CONTRACT_BUDGET_WARNED, actor_id=None,
                    organisation_id=contract.organisation_id,
                    subject=f"contract {contract.id} with {contract.partner} at {int(spent / contract.budget_eur * 100)}"
                            f" % of its budget",
                    details={"contract": contract.id, "spent_eur": str(spent), "budget_eur": str(contract.budget_eur)})
    report.warned.append(contract.id)


def check(session: Session, *, hubs: Hubs, now: datetime | None = None) -> PassReport:
    """One pass over the contracts (this module's documentation); does not commit."""
    now = now or utcnow()
    today = now.date()
    report = PassReport()
    contracts = list(session.scalars(select(Contract).where(Contract.state.in_(WATCHED)).order_by(Contract.id)))
    spend = metering.spend_by_contract(session, contract_ids=[c.id for c in contracts], now=now)
    for contract in contracts:
        spent = spend.get(contract.id, Decimal("0.00"))
        budget = Decimal(contract.budget_eur)
        if today > contract.ends_on:
            transition(session, contract=contract, to=ContractState.ENDED, actor=None,
                       reason=f"Einddatum {contract.ends_on.isoformat()} voorbij / end date "
                              f"{contract.ends_on.isoformat()} passed")
            notice(session, contract=contract, kind="ended", message=ended_text(contract), now=now)
            report.ended.append(contract.id)
            _stop_all(session, hubs=hubs, workspaces=_running(session, [contract.id]), contract_id=contract.id,
                      why="ended", reason=ended_text(contract), now=now, report=report)
            continue
        if spent >= budget * WARN_AT:
            _warn(session, contract=contract, spent=spent, now=now, report=report)
        if contract.state is ContractState.ACTIVE and spent >= budget:
            transition(session, contract=contract, to=ContractState.SUSPENDED, actor=None,
                       reason=f"Budget op ({_eur(spent)} van {_eur(budget)}) / budget spent ({_eur(spent)} of "
                              f"{_eur(budget)})")
            notice(session, contract=contract, kind="budget-100", message=spent_text(contract), now=now)
            report.suspended.append(contract.id)
            _stop_all(session, hubs=hubs, workspaces=_running(session, [contract.id]), contract_id=contract.id,
                      why="budget", reason=spent_text(contract), now=now, report=report)
        elif contract.state is ContractState.SUSPENDED and spent < budget:
            transition(session, contract=contract, to=ContractState.ACTIVE, actor=None, reason=raised_text(contract))
            report.reactivated.append(contract.id)
    # launches that raced a stop, and stops the hub did not answer last time
    running = select(Workspace.contract_id).where(Workspace.status.in_(ACTIVE_STATUSES))
    closed = list(session.scalars(select(Contract).where(
        Contract.state.in_((ContractState.SUSPENDED, ContractState.ENDED)), Contract.id.in_(running))
        .order_by(Contract.id)))
    for contract in closed:
        ended = contract.state is ContractState.ENDED
        _stop_all(session, hubs=hubs, workspaces=_running(session, [contract.id]), contract_id=contract.id,
                  why="ended" if ended else "budget", reason=ended_text(contract) if ended else spent_text(contract),
                  now=now, report=report)
    _expire_sizes(session, hubs=hubs, now=now, report=report)
    session.flush()
    return report


def _expire_sizes(session: Session, *, hubs: Hubs, now: datetime, report: PassReport) -> None:
    try:
        from .size_requests import expire_due
    except ImportError:         # the sizes-on-request module is not there (yet)
        return
    for workspace in expire_due(session, today=now.date()):
        size = f"{workspace.bundle_id}/{workspace.size_id}"
        _stop_all(session, hubs=hubs, workspaces=[workspace], contract_id=workspace.contract_id, why="size-ended",
                  reason=f"Het formaat {size} is niet meer beschikbaar (de aanvraag is afgelopen); bestanden blijven "
                         f"bewaard. / The size {size} is no longer available (its request ended); files are kept.",
                  now=now, report=report)


def pending_notices(session: Session) -> list[ContractNotice]:
    return list(session.scalars(select(ContractNotice).where(ContractNotice.email_to.is_not(None),
                                                             ContractNotice.emailed_at.is_(None),
                                                             ContractNotice.email_error.is_(None))
                                .order_by(ContractNotice.id)))


def send_pending(session: Session, *, mailer: Mailer | None, now: datetime | None = None) -> int:
    """E-mail the notices not sent yet; an SMTP failure is stored on the notice (``email_error``). Returns how many
    went out. Does not commit."""
    if mailer is None:
        return 0
    sent = 0
    for row in pending_notices(session):
        subject = (f"Gereedschapskist: contract {row.contract_id} — "
                   + {"budget-80": "80 % van het budget / 80 % of the budget",
                      "budget-100": "budget op / budget spent",
                      "ended": "afgelopen / ended"}.get(row.kind.split(":")[0], row.kind))
        try:
            mailer.send(to=[a.strip() for a in row.email_to.split(",")], subject=subject, body=row.message)
        except (OSError, smtplib.SMTPException) as exc:
            row.email_error = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("budget watcher: e-mail of notice %s failed: %s", row.id, row.email_error)
        else:
            row.emailed_at = now or utcnow()
            sent += 1
        session.flush()
    return sent


def run_pass(sessions: sessionmaker[Session], *, hubs: Hubs, mailer: Mailer | None,
             now: datetime | None = None, holder: str | None = None) -> PassReport:
    """One whole pass: :func:`check` committed, then :func:`send_pending` committed. Logs one line per pass (with
    the lease holder), which the two-worker test counts."""
    now = now or utcnow()
    with sessions() as session:
        report = check(session, hubs=hubs, now=now)
        session.commit()
    with sessions() as session:
        report.emailed = send_pending(session, mailer=mailer, now=now)
        session.commit()
    log.info("budget-watcher pass holder=%s warned=%s suspended=%s ended=%s reactivated=%s stopped=%s emailed=%s",
             holder, report.warned, report.suspended, report.ended, report.reactivated, report.stopped,
             report.emailed)
    return report
