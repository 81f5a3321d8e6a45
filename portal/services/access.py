"""Access to data (issue 15): datasets in the portal, access requests, decisions and grants.

Who may:

- **see datasets**: every logged-in user (the metadata is public-sector catalogue data);
- **request**: an active member of an organisation (``not-a-member``) with a workbench role (``no-workbench-role``),
  for that organisation, acting in one of their roles;
- **decide**: the dataset's data owner (``dataset.data_owner``, who must still hold the data-owner role in the
  dataset's organisation), or, when the dataset names none, any data owner of that organisation
  (``not-data-owner``); **never on their own request** (``access-request-own``); only while the requester is still an
  active member of the organisation they asked for (``requester-left``);
- **turn automatic approval on or off**: the same data owners.

What may be requested (a refusal names the field, :class:`AccessRefused`, 422; nothing is stored):
``purpose`` (10–2000 characters), ``purpose_code`` (:data:`access_policy.PURPOSE_CODES`), ``legal_ground``
(:data:`access_policy.LEGAL_GROUNDS`; a purpose without one: ``legal-ground-required``), ``role`` (one of the
requester's workbench roles), ``starts_on`` (today up to :data:`access_policy.MAX_START_AHEAD_DAYS` ahead:
``start-in-past``/``start-too-far``), ``ends_on`` (on or after the start, and the period within the sensitivity
level's maximum: ``period-too-long``). One open request per member and dataset (``access-request-pending``, 409).

**Automatic approval**: a new request is approved by the portal when the dataset allows it (``auto_approval``) and an
earlier request for the same dataset, from the same organisation, with the same purpose code and legal ground, was
approved by a person, its grant not revoked, and its period still within the level's maximum; the new period fits
the maximum (checked for every request). The decision names that earlier approval (``relied_on``), in the row and in
the register. Approval of someone else's organisation never counts.

Every request, decision and grant is appended to the register (who, which dataset, purpose and legal ground).
Keyword-only functions; none of them commits.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from ..db import get_or_404
from ..errors import Conflict, Forbidden, InvalidInput
from ..models import (
    AccessRequest, AccessRequestState, Dataset, DatasetCategory, DatasetGrant, MemberRoleName, Organisation,
    RegisterAction, User, utcnow,
)
from . import register
from .access_policy import LEGAL_GROUNDS, MAX_GRANT_DAYS, MAX_START_AHEAD_DAYS, PURPOSE_CODES

PURPOSE_MIN, PURPOSE_MAX = 10, 2000
REASON_MIN, REASON_MAX = 3, 2000
FIELDS = ("organisation", "role", "purpose", "purpose_code", "legal_ground", "starts_on", "ends_on", "reason")


class AccessRefused(InvalidInput):
    """A refused request value: ``field`` is the form field it concerns."""

    def __init__(self, field: str, message: str, *, reason: str):
        super().__init__(f"{field}: {message}", reason=reason)
        self.field = field


# -- datasets --------------------------------------------------------------------------------------------------------

def get_dataset(session: Session, *, dataset_id: int) -> Dataset:
    return get_or_404(session, Dataset, dataset_id, what="dataset", reason="unknown-dataset")


def search(session: Session, *, text: str = "", category: str = "", organisation: str = "",
           limit: int = 500) -> list[Dataset]:
    """Datasets whose title or description contains ``text`` (either language, case-insensitive), of ``category``
    and owner ``organisation`` (its slug) when given; by title."""
    query = select(Dataset)
    words = " ".join(text.replace("\x00", "").split())[:200]
    if words:
        like = f"%{words.lower()}%"
        query = query.where(or_(*(func.lower(column).like(like) for column in (
            Dataset.title_nl, Dataset.title_en, Dataset.description_nl, Dataset.description_en, Dataset.identifier))))
    if category:
        if category not in {c.value for c in DatasetCategory}:
            raise AccessRefused("category", f"{category!r}: choose one of "
                                f"{', '.join(c.value for c in DatasetCategory)}", reason="unknown-category")
        query = query.where(Dataset.category == DatasetCategory(category))
    if organisation:
        query = query.join(Organisation, Organisation.id == Dataset.organisation_id).where(
            Organisation.slug == organisation[:64])
    return list(session.scalars(query.order_by(Dataset.title_nl, Dataset.id).limit(limit)))


def is_data_owner_of(user: User, dataset: Dataset) -> bool:
    """The dataset's data owner (or any data owner of its organisation when it names none), still holding the role."""
    member = user.membership(dataset.organisation_id)
    if member is None or not member.has_role(MemberRoleName.DATA_OWNER):
        return False
    return dataset.data_owner_id is None or dataset.data_owner_id == user.id


def set_auto_approval(session: Session, *, dataset: Dataset, actor: User, enabled: bool) -> Dataset:
    if not is_data_owner_of(actor, dataset):
        raise Forbidden(f"only the data owner of dataset {dataset.identifier!r} turns its automatic approval on or "
                        "off", reason="not-data-owner")
    if dataset.auto_approval != enabled:
        dataset.auto_approval = enabled
        dataset.updated_at = utcnow()
        session.flush()
        register.append(session, action=RegisterAction.DATASET_AUTO_APPROVAL_CHANGED, actor_id=actor.id,
                        organisation_id=dataset.organisation_id,
                        subject=f"dataset {dataset.identifier}: automatic approval {'on' if enabled else 'off'}",
                        details={"dataset": dataset.identifier, "dataset_id": dataset.id, "auto_approval": enabled},
                        dataset_id=dataset.id)
    return dataset


# -- requests --------------------------------------------------------------------------------------------------------

def _date(field: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise AccessRefused(field, f"{value!r} is not a date like 2027-01-31", reason="invalid-date") from None


def check_period(dataset: Dataset, starts_on: Any, ends_on: Any, *, today: date) -> tuple[date, date]:
    start, end = _date("starts_on", starts_on), _date("ends_on", ends_on)
    if start < today:
        raise AccessRefused("starts_on", f"{start.isoformat()} has passed; start today ({today.isoformat()}) or "
                            "later", reason="start-in-past")
    if start > today + timedelta(days=MAX_START_AHEAD_DAYS):
        raise AccessRefused("starts_on", f"{start.isoformat()} is more than {MAX_START_AHEAD_DAYS} days ahead; ask "
                            "closer to the time", reason="start-too-far")
    if end < start:
        raise AccessRefused("ends_on", f"{end.isoformat()} is before the start {start.isoformat()}",
                            reason="end-before-start")
    days, most = (end - start).days + 1, MAX_GRANT_DAYS[dataset.sensitivity]
    if days > most:
        raise AccessRefused("ends_on", f"{days} days is longer than the {most} days allowed for "
                            f"{dataset.sensitivity.value} data (last day at most "
                            f"{(start + timedelta(days=most - 1)).isoformat()})", reason="period-too-long")
    return start, end


def check(session: Session, *, dataset: Dataset, user: User, data: dict[str, Any], today: date
          ) -> dict[str, Any]:
    """The valid values of a request, or :class:`AccessRefused` naming the field."""
    memberships = user.active_memberships()
    slug = str(data.get("organisation") or "").strip()
    if not slug and len(memberships) == 1:
        slug = memberships[0].organisation.slug
    member = next((m for m in memberships if m.organisation.slug == slug), None)
    if member is None:
        raise AccessRefused("organisation", f"{slug!r}: ask for one of your organisations "
                            f"({', '.join(m.organisation.slug for m in memberships)})", reason="not-a-member")
    role = str(data.get("role") or "").strip()
    if role not in user.role_ids:
        raise AccessRefused("role", f"{role!r}: act in one of your workbench roles ({', '.join(user.role_ids)})",
                            reason="not-your-role")
    purpose = " ".join(str(data.get("purpose") or "").split())
    if not PURPOSE_MIN <= len(purpose) <= PURPOSE_MAX or "\x00" in purpose:
        raise AccessRefused("purpose", f"describe the purpose in {PURPOSE_MIN}–{PURPOSE_MAX} characters",
                            reason="purpose-required")
    code = str(data.get("purpose_code") or "").strip()
    if code not in PURPOSE_CODES:
        raise AccessRefused("purpose_code", f"{code!r}: choose one of {', '.join(PURPOSE_CODES)}",
                            reason="unknown-purpose-code")
    ground = str(data.get("legal_ground") or "").strip()
    if not ground:
        raise AccessRefused("legal_ground", "a purpose needs a legal ground: choose one of "
                            f"{', '.join(LEGAL_GROUNDS)}", reason="legal-ground-required")
    if ground not in LEGAL_GROUNDS:
        raise AccessRefused("legal_ground", f"{ground!r}: choose one of {', '.join(LEGAL_GROUNDS)}",
                            reason="unknown-legal-ground")
    start, end = check_period(dataset, data.get("starts_on"), data.get("ends_on"), today=today)
    return {"organisation": member.organisation, "role": role, "purpose": purpose, "purpose_code": code,
            "legal_ground": ground, "starts_on": start, "ends_on": end}


def request_access(session: Session, *, dataset: Dataset, actor: User, data: dict[str, Any],
                   today: date | None = None) -> AccessRequest:
    """A member asks for a dataset (this module's rules); stored and registered, and approved automatically when an
    earlier approval allows it."""
    today = today or utcnow().date()
    if not actor.active_memberships():
        raise Forbidden("only members of an organisation ask for access to data", reason="not-a-member")
    if not actor.role_ids:
        raise Forbidden("you act in no workbench role; ask your organisation admin for one",
                        reason="no-workbench-role")
    values = check(session, dataset=dataset, user=actor, data=data, today=today)
    open_one = session.scalar(select(AccessRequest.id).where(
        AccessRequest.dataset_id == dataset.id, AccessRequest.requester_id == actor.id,
        AccessRequest.state == AccessRequestState.REQUESTED))
    if open_one is not None:
        raise Conflict(f"you already asked for dataset {dataset.identifier!r} (request {open_one}); it awaits a "
                       "decision", reason="access-request-pending")
    row = AccessRequest(dataset=dataset, requester=actor, organisation=values["organisation"], role=values["role"],
                        purpose=values["purpose"], purpose_code=values["purpose_code"],
                        legal_ground=values["legal_ground"], starts_on=values["starts_on"],
                        ends_on=values["ends_on"], state=AccessRequestState.REQUESTED, automatic=False,
                        created_at=utcnow())
    session.add(row)
    session.flush()
    _register(session, row, RegisterAction.ACCESS_REQUESTED, actor.id)
    earlier = earlier_approval(session, request=row)
    if earlier is not None:
        _approve(session, row, actor=None, reason=f"automatic, on approval {earlier.id}", relied_on=earlier,
                 today=today)
    return row


def earlier_approval(session: Session, *, request: AccessRequest) -> AccessRequest | None:
    """The most recent approval by a person that ``request`` may rely on (this module's rule), or None."""
    dataset = request.dataset
    if not dataset.auto_approval:
        return None
    most = MAX_GRANT_DAYS[dataset.sensitivity]
    if (request.ends_on - request.starts_on).days + 1 > most:
        return None
    candidates = session.scalars(
        select(AccessRequest).join(DatasetGrant, DatasetGrant.access_request_id == AccessRequest.id).where(
            AccessRequest.id != request.id, AccessRequest.dataset_id == dataset.id,
            AccessRequest.organisation_id == request.organisation_id,
            AccessRequest.purpose_code == request.purpose_code, AccessRequest.legal_ground == request.legal_ground,
            AccessRequest.state == AccessRequestState.APPROVED, AccessRequest.automatic.is_(False),
            DatasetGrant.revoked_at.is_(None)).order_by(AccessRequest.id.desc()))
    return next((c for c in candidates if (c.ends_on - c.starts_on).days + 1 <= most), None)


def _register(session: Session, row: AccessRequest, action: RegisterAction, actor_id: int | None,
              **extra: Any) -> None:
    register.append(session, action=action, actor_id=actor_id, organisation_id=row.organisation_id,
                    subject=f"dataset {row.dataset.identifier} for {row.requester.username} "
                            f"({row.starts_on.isoformat()}–{row.ends_on.isoformat()}): {action.value}",
                    purpose=row.purpose, details={**row.details(), **extra}, dataset_id=row.dataset_id,
                    person_id=row.requester_id)


def _approve(session: Session, row: AccessRequest, *, actor: User | None, reason: str | None,
             relied_on: AccessRequest | None, today: date) -> DatasetGrant:
    row.state = AccessRequestState.APPROVED
    row.automatic = relied_on is not None
    row.relied_on_id = relied_on.id if relied_on else None
    row.decided_by_id, row.decided_at, row.decision_reason = (actor.id if actor else None), utcnow(), reason
    start = max(row.starts_on, today)
    grant = DatasetGrant(access_request=row, dataset_id=row.dataset_id, user_id=row.requester_id,
                         organisation_id=row.organisation_id,
                         starts_at=datetime.combine(start, time(0), tzinfo=timezone.utc),
                         expires_at=datetime.combine(row.ends_on + timedelta(days=1), time(0), tzinfo=timezone.utc),
                         created_at=utcnow())
    session.add(grant)
    session.flush()
    _register(session, row, RegisterAction.ACCESS_APPROVED, actor.id if actor else None, automatic=row.automatic,
              relied_on=row.relied_on_id, decision_reason=reason)
    _register(session, row, RegisterAction.ACCESS_GRANTED, actor.id if actor else None, grant=grant.id,
              expires_at=grant.expires_at.isoformat())
    return grant


def decide(session: Session, *, access_request: AccessRequest, actor: User, approve: bool,
           reason: str | None = None, today: date | None = None) -> AccessRequest:
    """The dataset's data owner approves or rejects (this module's rules); an approval becomes a grant."""
    today = today or utcnow().date()
    row = access_request
    if not is_data_owner_of(actor, row.dataset):
        raise Forbidden(f"only the data owner of dataset {row.dataset.identifier!r} decides on requests for it",
                        reason="not-data-owner")
    if row.requester_id == actor.id:
        raise Forbidden(f"access request {row.id} is your own; another data owner decides on it",
                        reason="access-request-own")
    if row.state is not AccessRequestState.REQUESTED:
        raise Conflict(f"access request {row.id} is already {row.state.value}", reason="access-request-decided")
    text = " ".join((reason or "").split())
    if (not approve or text) and not REASON_MIN <= len(text) <= REASON_MAX:
        raise AccessRefused("reason", f"{reason!r}: say in {REASON_MIN}–{REASON_MAX} characters why",
                            reason="decision-reason-required")
    if approve:
        if row.ends_on < today:
            raise Conflict(f"access request {row.id} ended on {row.ends_on.isoformat()}; ask again",
                           reason="period-ended")
        if row.requester.membership(row.organisation_id) is None:
            raise Conflict(f"{row.requester.username} is no longer a member of {row.organisation.slug!r}; no grant "
                           "for someone who left", reason="requester-left")
        if (row.ends_on - row.starts_on).days + 1 > MAX_GRANT_DAYS[row.dataset.sensitivity]:
            raise Conflict(f"access request {row.id}'s period is longer than its dataset's sensitivity level now "
                           "allows; ask again", reason="period-too-long")
        _approve(session, row, actor=actor, reason=text or None, relied_on=None, today=today)
    else:
        row.state = AccessRequestState.REJECTED
        row.decided_by_id, row.decided_at, row.decision_reason = actor.id, utcnow(), text
        session.flush()
        _register(session, row, RegisterAction.ACCESS_REJECTED, actor.id, decision_reason=text)
    return row


# -- reading ---------------------------------------------------------------------------------------------------------

def get_request(session: Session, *, request_id: int) -> AccessRequest:
    return get_or_404(session, AccessRequest, request_id, what="access request", reason="unknown-access-request")


def mine(session: Session, *, user: User) -> list[AccessRequest]:
    return list(session.scalars(select(AccessRequest).where(AccessRequest.requester_id == user.id)
                                .order_by(AccessRequest.id.desc())))


def queue(session: Session, *, user: User, open_only: bool = False) -> list[AccessRequest]:
    """Requests for the datasets ``user`` is data owner of (open ones first, then newest)."""
    owned = [m.organisation_id for m in user.active_memberships() if m.has_role(MemberRoleName.DATA_OWNER)]
    if not owned:
        return []
    query = select(AccessRequest).join(Dataset, Dataset.id == AccessRequest.dataset_id).where(
        Dataset.organisation_id.in_(owned),
        or_(Dataset.data_owner_id.is_(None), Dataset.data_owner_id == user.id))
    if open_only:
        query = query.where(AccessRequest.state == AccessRequestState.REQUESTED)
    rows = list(session.scalars(query.order_by(AccessRequest.id.desc())))
    return sorted(rows, key=lambda r: r.state is not AccessRequestState.REQUESTED)


def may_decide(user: User, row: AccessRequest) -> bool:
    return row.state is AccessRequestState.REQUESTED and row.requester_id != user.id \
        and is_data_owner_of(user, row.dataset)


def active_grant_conditions(*, user_id: int, now: datetime) -> tuple:
    """What makes a grant of ``user_id`` count at ``now`` (:func:`active_grants`, and the hubs' lookup in
    ``dataset_grants.grants_for_hub``): served by the index ``ix_dataset_grant_user_id_expires_at``."""
    return (DatasetGrant.user_id == user_id, DatasetGrant.expires_at > now, DatasetGrant.starts_at <= now,
            DatasetGrant.revoked_at.is_(None))


def active_grants(session: Session, *, user: User, now: datetime | None = None,
                  with_requests: bool = False) -> list[DatasetGrant]:
    """The user's grants that count now. ``with_requests``: each grant's access request (with its dataset, requester
    and organisation) loaded by the same query, for a caller that reads them of every grant (one query instead of
    one more per grant)."""
    now = now or utcnow()
    query = select(DatasetGrant).where(*active_grant_conditions(user_id=user.id, now=now))
    if with_requests:
        query = query.options(joinedload(DatasetGrant.access_request))
    return list(session.scalars(query.order_by(DatasetGrant.id)))
