"""Grants where the data is used (issue 15): what a hub mounts, revocation, and the expiry record.

- **For a hub** (:func:`grants_for_hub`): a user's active grants (:func:`access.active_grant_conditions`) for the
  organisations the hub serves (:func:`organisations_served`: a hub of an organisation's environment gets that
  organisation's grants only, never those a member asked for another organisation) with each dataset's
  identifier, title, data file (relative to the data store), expiry, purpose code and legal ground. At a workspace
  start (``record_start=True``) every dataset handed over is appended to the register as ``dataset-mounted`` (who,
  which dataset, bundle, workspace, purpose, legal ground); the hub's reconciliation asks without recording, and
  gets them by one query over the grants, their requests, datasets and organisations (plain rows, no ORM objects:
  the lookup at workspace start, ``tests/bench/test_register_bench.py``).
- **Revocation** (:func:`revoke`): the dataset's data owner (``access.is_data_owner_of``) or a platform admin
  withdraws an active grant, with a reason of 3–2000 characters (``reason``, 422); someone else is refused
  (``not-data-owner``, 403); a grant already revoked or expired cannot be revoked (409). ``access-revoked`` in the
  register. Hubs take the data away on their next reconciliation (``hub/datasets.py``: within a minute).
- **Expiry** (:func:`record_expiries`): ``access-expired`` once per grant whose ``expires_at`` has passed and that
  was not revoked first. Once per grant without a column of its own: the register is append-only and chained, and
  the newest ``access-expired`` entry names the (expires_at, grant) it recorded, so a pass records only grants that
  come after it in that order. Passes run under a lease (``GRANT_EXPIRY_LEASE``), so two workers never both
  write one.

Keyword-only functions; only :func:`record_expiries` commits (it runs its own short transactions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from ..db import get_or_404
from ..errors import Conflict, Forbidden, NotFound
from ..models import (
    AccessRequest, Dataset, DatasetGrant, Environment, Organisation, RegisterAction, RegisterEntry, User, Workspace,
    utcnow,
)
from . import register
from .access import REASON_MAX, REASON_MIN, AccessRefused, active_grant_conditions, active_grants, is_data_owner_of

GRANT_EXPIRY_LEASE = "grant-expiry"


def _append(session: Session, *, dataset_id: int, person_id: int, **values: Any) -> RegisterEntry:
    """A register entry about one dataset and one person (the grantee): migration 0011's columns."""
    return register.append(session, dataset_id=dataset_id, person_id=person_id, **values)


def _details(grant: DatasetGrant, **extra: Any) -> dict[str, Any]:
    row: AccessRequest = grant.access_request
    return {"grant": grant.id, "access_request": row.id, "dataset": row.dataset.identifier,
            "dataset_id": grant.dataset_id, "member": row.requester.username, "role": row.role,
            "purpose_code": row.purpose_code, "legal_ground": row.legal_ground,
            "expires_at": grant.expires_at.isoformat(), **extra}


# -- for a hub -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HubGrant:
    """One dataset a workspace gets (the JSON the hub reads: ``api/dataset_grants.py``)."""

    grant: int
    dataset: int
    identifier: str
    title_nl: str
    title_en: str | None
    files: tuple[str, ...]
    starts_at: datetime
    expires_at: datetime
    purpose_code: str
    legal_ground: str
    organisation: str


def _user_by_name(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username[:255]))
    if user is None:
        raise NotFound(f"there is no user {username!r} at the portal", reason="unknown-user")
    return user


def _workspace(session: Session, *, user: User, server: str, environments: tuple[str, ...] | None
               ) -> Workspace | None:
    query = select(Workspace).where(Workspace.user_id == user.id, Workspace.server_name == server[:255],
                                    Workspace.deleted_at.is_(None))
    if environments is not None:
        query = query.join(Environment, Environment.id == Workspace.environment_id).where(
            Environment.name.in_(environments))
    return session.scalars(query.order_by(Workspace.id.desc()).limit(1)).first()


def organisations_served(session: Session, *, environments: tuple[str, ...] | None) -> frozenset[int] | None:
    """The organisations whose grants a hub of ``environments`` may hand out: None (every organisation) for the
    default hub's token or when one of them is a shared environment (no organisation); else the environments'
    organisations — none for an environment the portal does not know (fail closed)."""
    if environments is None:
        return None
    rows = session.execute(select(Environment.organisation_id).where(Environment.name.in_(environments))).all()
    if any(organisation_id is None for (organisation_id,) in rows):
        return None
    return frozenset(organisation_id for (organisation_id,) in rows)


def _hub_grants(session: Session, *, user: User, now: datetime, served: frozenset[int] | None) -> list[HubGrant]:
    """What :func:`grants_for_hub` hands a hub, without recording: one query, in grant order."""
    query = (select(DatasetGrant.id, Dataset.id, Dataset.identifier, Dataset.title_nl, Dataset.title_en,
                    Dataset.data_path, DatasetGrant.starts_at, DatasetGrant.expires_at, AccessRequest.purpose_code,
                    AccessRequest.legal_ground, Organisation.slug)
             .join(AccessRequest, AccessRequest.id == DatasetGrant.access_request_id)
             .join(Dataset, Dataset.id == AccessRequest.dataset_id)
             .join(Organisation, Organisation.id == AccessRequest.organisation_id)
             .where(*active_grant_conditions(user_id=user.id, now=now)))
    if served is not None:
        query = query.where(DatasetGrant.organisation_id.in_(served))
    return [HubGrant(grant=grant, dataset=dataset, identifier=identifier, title_nl=title_nl, title_en=title_en,
                     files=(data_path,) if data_path else (), starts_at=starts_at, expires_at=expires_at,
                     purpose_code=purpose_code, legal_ground=legal_ground, organisation=organisation)
            for (grant, dataset, identifier, title_nl, title_en, data_path, starts_at, expires_at, purpose_code,
                 legal_ground, organisation) in session.execute(query.order_by(DatasetGrant.id))]


def grants_for_hub(session: Session, *, username: str, server: str | None = None, record_start: bool = False,
                   environments: tuple[str, ...] | None = None, now: datetime | None = None) -> list[HubGrant]:
    """The user's active grants for a hub; at a workspace start (``record_start``) each one is registered as
    ``dataset-mounted`` for ``server`` (its workspace when the portal knows it; ``environments``: the environments
    the asking hub serves, None: any)."""
    now = now or utcnow()
    user = _user_by_name(session, username)
    served = organisations_served(session, environments=environments)
    if not record_start:
        return _hub_grants(session, user=user, now=now, served=served)
    grants = [g for g in active_grants(session, user=user, now=now, with_requests=True)
              if served is None or g.organisation_id in served]
    out = []
    workspace = _workspace(session, user=user, server=server, environments=environments) \
        if record_start and server is not None else None
    for grant in grants:
        row = grant.access_request
        dataset: Dataset = row.dataset
        out.append(HubGrant(grant=grant.id, dataset=dataset.id, identifier=dataset.identifier,
                            title_nl=dataset.title_nl, title_en=dataset.title_en,
                            files=(dataset.data_path,) if dataset.data_path else (), starts_at=grant.starts_at,
                            expires_at=grant.expires_at, purpose_code=row.purpose_code,
                            legal_ground=row.legal_ground, organisation=row.organisation.slug))
        if record_start:
            how = (f"bundle {workspace.bundle_id} {workspace.bundle_version}, workspace {workspace.id}"
                   if workspace else f"server {server or '(default)'}")
            _append(session, action=RegisterAction.DATASET_MOUNTED, actor_id=user.id,
                    organisation_id=grant.organisation_id, workspace_id=workspace.id if workspace else None,
                    subject=f"dataset {dataset.identifier} mounted read-only for {user.username} ({how})",
                    purpose=row.purpose,
                    details=_details(grant, server=server or "",
                                     workspace=workspace.id if workspace else None,
                                     bundle=workspace.bundle_id if workspace else None,
                                     bundle_version=workspace.bundle_version if workspace else None,
                                     files=list(out[-1].files)),
                    dataset_id=dataset.id, person_id=user.id)
    return out


# -- revocation ------------------------------------------------------------------------------------------------------

def get_grant(session: Session, *, grant_id: int) -> DatasetGrant:
    return get_or_404(session, DatasetGrant, grant_id, what="grant", reason="unknown-grant")


def may_revoke(user: User, grant: DatasetGrant, *, now: datetime | None = None) -> bool:
    return grant.active(now or utcnow()) and (user.platform_admin
                                              or is_data_owner_of(user, grant.access_request.dataset))


def revoke(session: Session, *, grant: DatasetGrant, actor: User, reason: str | None,
           now: datetime | None = None) -> DatasetGrant:
    """The dataset's data owner or a platform admin withdraws an active grant, with a reason (this module's rules)."""
    now = now or utcnow()
    dataset = grant.access_request.dataset
    if not (actor.platform_admin or is_data_owner_of(actor, dataset)):
        raise Forbidden(f"only the data owner of dataset {dataset.identifier!r} or a platform admin revokes its "
                        "grants", reason="not-data-owner")
    if grant.revoked_at is not None:
        raise Conflict(f"grant {grant.id} was already revoked on {grant.revoked_at.isoformat(timespec='seconds')}",
                       reason="grant-revoked")
    if grant.expires_at <= now:
        raise Conflict(f"grant {grant.id} expired on {grant.expires_at.isoformat(timespec='seconds')}; there is "
                       "nothing to revoke", reason="grant-expired")
    text = " ".join((reason or "").split())
    if not REASON_MIN <= len(text) <= REASON_MAX or "\x00" in text:
        raise AccessRefused("reason", f"{reason!r}: say in {REASON_MIN}–{REASON_MAX} characters why the access "
                            "ends", reason="revocation-reason-required")
    grant.revoked_at = now
    session.flush()
    row = grant.access_request
    _append(session, action=RegisterAction.ACCESS_REVOKED, actor_id=actor.id, organisation_id=grant.organisation_id,
            subject=f"dataset {dataset.identifier} for {row.requester.username}: access revoked by "
                    f"{actor.username}",
            purpose=row.purpose, details=_details(grant, revoked_at=now.isoformat(), reason=text),
            dataset_id=dataset.id, person_id=grant.user_id)
    return grant


def grants_of_dataset(session: Session, *, dataset: Dataset, now: datetime | None = None) -> list[DatasetGrant]:
    """The dataset's grants that are active now (the dataset page's list for its data owner and admins)."""
    now = now or utcnow()
    return list(session.scalars(select(DatasetGrant).where(
        DatasetGrant.dataset_id == dataset.id, DatasetGrant.revoked_at.is_(None), DatasetGrant.starts_at <= now,
        DatasetGrant.expires_at > now).order_by(DatasetGrant.expires_at, DatasetGrant.id)))


# -- expiry ----------------------------------------------------------------------------------------------------------

def _recorded_up_to(session: Session) -> tuple[datetime, int] | None:
    entry = session.scalars(select(RegisterEntry).where(RegisterEntry.action == RegisterAction.ACCESS_EXPIRED)
                            .order_by(RegisterEntry.sequence.desc()).limit(1)).first()
    if entry is None:
        return None
    details = entry.details or {}
    return datetime.fromisoformat(details["expires_at"]), int(details["grant"])


def record_expiries(factory: sessionmaker[Session], *, now: datetime | None = None, batch: int = 200) -> int:
    """Append ``access-expired`` for every grant that expired (not revoked before) and is not recorded yet; returns
    how many. Run under the ``grant-expiry`` lease (``main.py``); each batch commits."""
    now = now or utcnow()
    written = 0
    while True:
        with factory() as session:
            after = _recorded_up_to(session)
            query = select(DatasetGrant).where(DatasetGrant.expires_at <= now).where(
                (DatasetGrant.revoked_at.is_(None)) | (DatasetGrant.revoked_at >= DatasetGrant.expires_at))
            if after is not None:
                at, grant_id = after
                query = query.where(or_(DatasetGrant.expires_at > at,
                                        and_(DatasetGrant.expires_at == at, DatasetGrant.id > grant_id)))
            rows = list(session.scalars(query.order_by(DatasetGrant.expires_at, DatasetGrant.id).limit(batch)))
            for grant in rows:
                row = grant.access_request
                _append(session, action=RegisterAction.ACCESS_EXPIRED, actor_id=None,
                        organisation_id=grant.organisation_id,
                        subject=f"dataset {row.dataset.identifier} for {row.requester.username}: access expired "
                                f"({grant.expires_at.isoformat(timespec='minutes')})",
                        purpose=row.purpose, details=_details(grant), dataset_id=grant.dataset_id,
                        person_id=grant.user_id)
            session.commit()
            written += len(rows)
            if len(rows) < batch:
                return written
