"""Provisioning a standard contract's environment, and publishing what the local hub enforces for it.

An approved contract becomes ``provisioning`` (:func:`start`, status ``pending``); a provisioner then makes its
environment. :class:`Provisioner` is the plug point, chosen by name per partner or per deployment
(``PortalSettings.provisioner_for``): ``local`` (:class:`LocalProvisioner`, the embedded default: an environment on
the local hub, whose file the hub enforces) and ``gitops`` (``services/gitops.py``: a stack file in a pull request,
CI deploys it, then activation).

Attempts (:func:`attempt`, :func:`run_due`) are crash-safe: an attempt first claims the contract in its own short
transaction (``running``, ``attempts`` + 1, due again after :data:`RUNNING_TIMEOUT` should the process die), then
runs the provisioner's idempotent steps in one transaction. A failure rolls that back and records, in a transaction of
its own, the error, the next attempt (exponential back-off, at most :data:`BACKOFF_CAP`) and a register entry
(``contract-provisioning-failed``); the contract stays ``provisioning``. A platform admin's :func:`retry` makes an
attempt due now. The background loop (``portal/main.py``) runs :func:`run_due` once per deployment under the lease
:data:`LEASE`.

:func:`publish` (``services/contract_files.py``, re-exported here) rewrites the file a local hub enforces for a
locally provisioned contract after every change of its state.

Keyword-only functions; none commits except :func:`attempt` and :func:`run_due`, which take a session factory.
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from functools import cache
from importlib.metadata import entry_points
from typing import ClassVar

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from gereedschapskist.catalogue import Catalogue

from ..errors import Conflict, PortalError
from ..errors import Forbidden
from ..models import Contract, ContractState, EnvironmentKind, ProvisioningStatus, RegisterAction, User, utcnow
from ..settings import PROVISIONERS, PortalSettings, SettingsInvalid
from . import leases, register
from .admin_scope import NOT_PLATFORM_ADMIN
from .contract_files import publish
from .contracts import transition
from .environments import register_environment

log = logging.getLogger("gereedschapskist.portal.provisioning")
#: The lease the background loop holds, so one worker of a deployment provisions.
LEASE = "provisioner"
#: An attempt not finished after this long (its process died) is due again.
RUNNING_TIMEOUT = timedelta(minutes=10)
BACKOFF_BASE = timedelta(seconds=15)
BACKOFF_CAP = timedelta(hours=1)
#: Statuses in which an attempt may be due.
DUE = (ProvisioningStatus.PENDING, ProvisioningStatus.FAILED, ProvisioningStatus.RUNNING)
S = ContractState


class ProvisioningFailed(PortalError):
    """A provisioning step failed; the message says which and why (shown to platform admins)."""

    status = 502
    reason = "provisioning-failed"


# -- provisioners ----------------------------------------------------------------------------------------------------

class Provisioner(ABC):
    """Makes the environment of one contract in ``provisioning``. :meth:`provision` runs inside the attempt's
    transaction, must be idempotent (a retry after a failure or a crash repeats it), and ends by setting the
    contract's ``provisioning_status`` to ``done`` (and making it active) or ``waiting`` (someone else activates it,
    e.g. CI after a deploy). Failures raise; the attempt records them."""

    name: ClassVar[str]
    #: Whether an attempt runs at once in the request that approved (or retried) the contract; a slow provisioner
    #: leaves it to the background worker.
    immediate: ClassVar[bool] = True

    def __init__(self, *, settings: PortalSettings, catalogue: Catalogue):
        self.settings = settings
        self.catalogue = catalogue

    @abstractmethod
    def provision(self, session: Session, *, contract: Contract, now: datetime) -> None:
        ...


def environment_name(contract: Contract) -> str:
    """``<organisation>-c<contract id>``: the organisation's slug made a valid environment name."""
    slug = re.sub(r"[^a-z0-9]+", "-", contract.organisation.slug.lower()).strip("-")[:40].strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"org-{slug}".rstrip("-")
    return f"{slug}-c{contract.id}"


class LocalProvisioner(Provisioner):
    """The embedded default: the contract's environment on the local hub (the same hub as the shared environment),
    enforced by the hub through the environment file :func:`publish` writes into ``local_environments_dir``. The
    contract becomes active as soon as the file is written."""

    name = "local"

    def provision(self, session: Session, *, contract: Contract, now: datetime) -> None:
        settings = self.settings
        if not settings.hub_url:
            raise ProvisioningFailed("the local provisioner needs the local hub: set GEREEDSCHAPSKIST_PORTAL_HUB_URL",
                                     reason="no-local-hub")
        name = environment_name(contract)
        environment = register_environment(session, name=name, kind=EnvironmentKind.LOCAL, stage=contract.stage,
                                           hub_url=settings.hub_url, hub_api_url=settings.resolved_hub_api_url or "",
                                           organisation=contract.organisation)
        environment.contract_id = contract.id
        contract.environment = environment
        contract.provisioning_detail = {"provisioner": self.name, "environment": name,
                                        "environments_dir": str(settings.resolved_local_environments_dir)}
        session.flush()
        try:
            publish(session, contract)
        except OSError as exc:
            raise ProvisioningFailed(f"could not write the environment file of {name} into "
                                     f"{settings.resolved_local_environments_dir}: {exc.strerror or exc}",
                                     reason="environment-file-unwritable") from exc
        _done(contract)
        transition(session, contract=contract, to=S.ACTIVE, actor=None)


def _done(contract: Contract) -> None:
    contract.provisioning_status = ProvisioningStatus.DONE
    contract.provisioning_error = None
    contract.provisioning_next_at = None


#: The entry-point group provisioners are found in by name (pyproject.toml), as JupyterHub finds its plug-ins.
ENTRY_POINTS = "gereedschapskist.provisioners"


@cache
def provisioner_kinds() -> dict[str, type[Provisioner]]:
    """Every provisioner by its short name (``local``, ``gitops``)."""
    return {ep.name: ep.load() for ep in entry_points(group=ENTRY_POINTS)}


def provisioner(name: str, *, settings: PortalSettings, catalogue: Catalogue) -> Provisioner:
    """The provisioner called ``name``; an unknown name is refused (fail closed)."""
    kinds = provisioner_kinds()
    if name not in kinds:
        raise ProvisioningFailed(f"provisioner = {name!r}: choose one of {', '.join(sorted(kinds))}",
                                 reason="unknown-provisioner")
    return kinds[name](settings=settings, catalogue=catalogue)


def check_settings(settings: PortalSettings, catalogue: Catalogue) -> None:
    """At start: every partner named in ``provisioners_by_partner`` is in the catalogue (a misspelt partner would
    silently fall back to the default provisioner)."""
    unknown = sorted(set(settings.provisioners_by_partner) - set(catalogue.partners))
    if unknown:
        raise SettingsInvalid(f"GEREEDSCHAPSKIST_PORTAL_PROVISIONERS_BY_PARTNER names partners the catalogue does not "
                         f"have: {', '.join(unknown)} (partners: {', '.join(sorted(catalogue.partners))})")
    missing = sorted(set(PROVISIONERS) - set(provisioner_kinds()))
    if missing:
        raise SettingsInvalid(f"provisioners {', '.join(missing)} are not installed (entry points {ENTRY_POINTS}): "
                              "reinstall the portal")


# -- the state of provisioning ---------------------------------------------------------------------------------------

def start(session: Session, *, contract: Contract, now: datetime | None = None) -> None:
    """An approved contract starts provisioning (the portal itself): ``provisioning``, an attempt due now."""
    transition(session, contract=contract, to=S.PROVISIONING, actor=None)
    contract.provisioning_status = ProvisioningStatus.PENDING
    contract.provisioning_attempts = 0
    contract.provisioning_error = None
    contract.provisioning_next_at = now or utcnow()
    session.flush()


def retry(session: Session, *, contract: Contract, actor: User, now: datetime | None = None) -> None:
    """A platform admin makes the next attempt due now (a contract in ``provisioning`` that is not done)."""
    if not actor.platform_admin:
        raise Forbidden("only platform admins may retry provisioning", reason=NOT_PLATFORM_ADMIN)
    if contract.state is not S.PROVISIONING or contract.provisioning_status not in DUE:
        status = contract.provisioning_status.value if contract.provisioning_status else "none"
        raise Conflict(f"contract {contract.id} is {contract.state.value} (provisioning: {status}); only a contract "
                       "still provisioning can be retried", reason="contract-not-provisioning")
    contract.provisioning_status = ProvisioningStatus.PENDING
    contract.provisioning_next_at = now or utcnow()
    session.flush()


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 15 s, 30 s, 1 min, … at most :data:`BACKOFF_CAP`."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP) if attempts < 20 else BACKOFF_CAP


def _due(now: datetime):
    return (Contract.state == S.PROVISIONING, Contract.provisioning_status.in_(DUE),
            or_(Contract.provisioning_next_at.is_(None), Contract.provisioning_next_at <= now))


def due_contracts(session: Session, *, now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    return list(session.scalars(select(Contract.id).where(*_due(now))
                                .order_by(Contract.provisioning_next_at, Contract.id)))


def attempt(sessions: sessionmaker[Session], *, contract_id: int, settings: PortalSettings, catalogue: Catalogue,
            now: datetime | None = None) -> ProvisioningStatus | None:
    """One attempt at provisioning ``contract_id`` if one is due; its status afterwards (None: not due, or taken by
    another worker). Commits: the claim, then the provisioner's work or the failure, each in its own transaction."""
    now = now or utcnow()
    with sessions() as session:
        claimed = session.execute(
            update(Contract).where(Contract.id == contract_id, *_due(now))
            .values(provisioning_status=ProvisioningStatus.RUNNING,
                    provisioning_attempts=Contract.provisioning_attempts + 1,
                    provisioning_next_at=now + RUNNING_TIMEOUT)
            .execution_options(synchronize_session=False)).rowcount
        session.commit()
    if claimed != 1:
        return None
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        try:
            provisioner(contract.provisioner, settings=settings, catalogue=catalogue).provision(
                session, contract=contract, now=now)
            session.commit()
            return contract.provisioning_status
        except Exception as exc:  # noqa: BLE001 - every failure is recorded; the contract stays provisioning
            session.rollback()
            error = exc.message if isinstance(exc, PortalError) else f"{type(exc).__name__}: {exc}"
            log.warning("provisioning contract %s failed: %s", contract_id, error)
    return _failed(sessions, contract_id=contract_id, error=error, now=now)


def _failed(sessions: sessionmaker[Session], *, contract_id: int, error: str, now: datetime) -> ProvisioningStatus:
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract is not None
        contract.provisioning_status = ProvisioningStatus.FAILED
        contract.provisioning_error = error[:4000]
        contract.provisioning_next_at = now + backoff(contract.provisioning_attempts)
        register.append(session, action=RegisterAction.CONTRACT_PROVISIONING_FAILED, actor_id=None,
                        organisation_id=contract.organisation_id,
                        subject=f"contract {contract.id} with {contract.partner}: provisioning attempt "
                                f"{contract.provisioning_attempts} ({contract.provisioner}) failed",
                        purpose=None, details={"contract": contract.id, "attempt": contract.provisioning_attempts,
                                               "provisioner": contract.provisioner, "error": error[:500],
                                               "next_at": contract.provisioning_next_at.isoformat()})
        session.commit()
        return ProvisioningStatus.FAILED


def attempt_soon(sessions: sessionmaker[Session], *, contract_id: int, settings: PortalSettings,
                 catalogue: Catalogue) -> ProvisioningStatus | None:
    """Right after an approval or a retry (the routes call it once committed): the attempt at once when the
    contract's provisioner is quick (``local``), else nothing — the worker takes it within
    ``provisioning_interval_seconds`` (``gitops``: preview-config alone takes seconds)."""
    with sessions() as session:
        name = session.scalar(select(Contract.provisioner).where(Contract.id == contract_id))
    kind = provisioner_kinds().get(name or "")
    if kind is None or not kind.immediate:
        return None
    return attempt(sessions, contract_id=contract_id, settings=settings, catalogue=catalogue)


def run_due(sessions: sessionmaker[Session], *, settings: PortalSettings, catalogue: Catalogue,
            now: datetime | None = None) -> dict[int, ProvisioningStatus | None]:
    """One pass of the worker: an attempt for every contract whose attempt is due; what each came to."""
    now = now or utcnow()
    with sessions() as session:
        ids = due_contracts(session, now=now)
    return {i: attempt(sessions, contract_id=i, settings=settings, catalogue=catalogue, now=now) for i in ids}


# -- the worker: once per deployment ---------------------------------------------------------------------------------

def worker_pass(sessions: sessionmaker[Session], *, settings: PortalSettings, catalogue: Catalogue,
                holder: str, now: datetime | None = None) -> bool:
    """One pass of the provisioning worker when this process holds (or renews) the lease :data:`LEASE`; False when
    another worker of the deployment holds it."""
    seconds = max(settings.provisioning_interval_seconds * 3, 5.0)
    if not leases.take(sessions, LEASE, holder=holder, seconds=seconds):
        return False
    run_due(sessions, settings=settings, catalogue=catalogue, now=now)
    return True


async def worker_loop(sessions: sessionmaker[Session], *, settings: PortalSettings, catalogue: Catalogue) -> None:
    """The background loop of the portal's lifespan (``portal/main.py``): a pass every
    ``provisioning_interval_seconds``; the lease is released when it stops."""
    holder = leases.new_holder()
    try:
        while True:
            await asyncio.sleep(settings.provisioning_interval_seconds)
            try:
                await run_in_threadpool(worker_pass, sessions, settings=settings, catalogue=catalogue, holder=holder)
            except Exception:  # noqa: BLE001 - the loop must survive a bad pass; the next one retries
                log.exception("provisioning pass failed")
    finally:
        try:
            leases.release(sessions, LEASE, holder=holder)
        except Exception:  # noqa: BLE001 - shutting down: the lease expires anyway
            pass
