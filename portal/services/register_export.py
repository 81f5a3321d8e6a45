"""Who sees which processing-register entries, and the register's export per organisation, dataset or person
(issue 15) — for the JSON API (``GET /api/v1/register``, ``GET /api/v1/register/export``) and the CLI
(``gereedschapskist register export``).

**Who sees what** (:func:`visibility`; everything below is this rule, applied in SQL):

- a platform admin (and the CLI, which runs with the database's credentials): every entry;
- an organisation admin: the entries of the organisations they administer (``organisation_id``);
- a data owner: the entries about their datasets (``dataset_id``; the datasets they are data owner of, or all of
  their organisation's datasets that name no data owner — :func:`access.is_data_owner_of`);
- every member: their own entries — those about their data use or requests (``person_id``) and what they did
  (``actor_id``).

A user sees the union of what their roles give. **A selection** (:func:`selection`) narrows that: one organisation
(its slug), one dataset (its id or identifier) or one person (their username); none: everything the user sees. A
selection the user has no ground for is refused, never answered with an empty list that looks like "nothing
happened": an organisation they do not administer (403 ``not-organisation-admin``), a dataset they are not data owner
of (403 ``not-data-owner``), another person unless they are (or were) a member of an organisation the caller
administers or asked for one of the caller's datasets (403 ``not-your-entries``); an organisation admin's or data
owner's view of a person is that person's entries within what they see. Unknown names are 404
(``unknown-organisation``, ``unknown-dataset``, ``unknown-user``).

**An export** (:func:`stream`) is written to the register first (``register-exported``: the selection, the format, the
number of entries and the sequence it reaches; ``dataset_id``/``person_id`` of the selection, so the person or data
owner concerned sees it), then streams the entries up to that sequence in chain order: plain rows read in batches
(``yield_per``, a server-side cursor on PostgreSQL) in a session of its own, written out batch by batch — memory stays
flat however many entries there are. Each exported entry says who (actor, person), which dataset, how (workspace,
bundle), when, why (purpose, purpose code, legal ground), what (action, subject, details) and its place in the chain
(sequence, digest version, previous and own hash).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from sqlalchemy import String, and_, cast, false, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from ..db import MAX_ID
from ..errors import Forbidden, InvalidInput, NotFound
from ..models import (
    AccessRequest, Dataset, Member, MemberRoleName, Organisation, RegisterAction, RegisterEntry, User, Workspace,
)
from . import register
from .organisations import administered

FORMATS = ("csv", "json")
#: The fields of an exported entry, in order (CSV header, JSON keys).
COLUMNS = ("sequence", "at", "action", "actor", "person", "organisation", "dataset_id", "dataset", "workspace_id",
           "workspace", "bundle", "purpose", "purpose_code", "legal_ground", "subject", "details", "digest_version",
           "previous_hash", "entry_hash")
#: Spreadsheet programs run a cell that starts with these as a formula: such CSV cells get a leading '.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
PER_PAGE = 50

_T = RegisterEntry.__table__
_Actor, _Person = aliased(User), aliased(User)


@dataclass(frozen=True)
class Visibility:
    """What a user sees of the register (this module's rule)."""

    everything: bool = False
    organisation_ids: frozenset[int] = frozenset()
    dataset_ids: frozenset[int] = frozenset()
    user_id: int | None = None

    def clause(self):
        if self.everything:
            return true()
        parts = []
        if self.organisation_ids:
            parts.append(_T.c.organisation_id.in_(sorted(self.organisation_ids)))
        if self.dataset_ids:
            parts.append(_T.c.dataset_id.in_(sorted(self.dataset_ids)))
        if self.user_id is not None:
            parts += [_T.c.person_id == self.user_id, _T.c.actor_id == self.user_id]
        return or_(*parts) if parts else false()

    def as_dict(self) -> dict[str, Any]:
        return {"everything": self.everything, "organisations": sorted(self.organisation_ids),
                "datasets": sorted(self.dataset_ids), "own": self.user_id is not None}


def owned_dataset_ids(session: Session, user: User) -> frozenset[int]:
    """The datasets ``user`` is data owner of (access.is_data_owner_of, in one query)."""
    organisations = [m.organisation_id for m in user.active_memberships() if m.has_role(MemberRoleName.DATA_OWNER)]
    if not organisations:
        return frozenset()
    return frozenset(session.scalars(select(Dataset.id).where(
        Dataset.organisation_id.in_(organisations),
        or_(Dataset.data_owner_id.is_(None), Dataset.data_owner_id == user.id))))


def visibility(session: Session, *, user: User | None) -> Visibility:
    """What ``user`` sees (None: the CLI, everything)."""
    if user is None or user.platform_admin:
        return Visibility(everything=True)
    return Visibility(organisation_ids=frozenset(o.id for o in administered(user)),
                      dataset_ids=owned_dataset_ids(session, user), user_id=user.id)


@dataclass(frozen=True)
class Selection:
    """Which entries: ``kind`` organisation, dataset, person or all, named by ``label``; ``where`` is the SQL
    condition (visibility included)."""

    kind: str
    label: str
    where: Any
    visibility: Visibility
    organisation_id: int | None = None
    dataset_id: int | None = None
    person_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": None if self.kind == "all" else self.label, **self.extra}


def _dataset(session: Session, value: str) -> Dataset:
    value = value.strip()
    found = None
    if "\x00" not in value:
        if value.isdigit() and 0 < int(value) <= MAX_ID:
            found = session.get(Dataset, int(value))
        found = found or session.scalar(select(Dataset).where(Dataset.identifier == value[:255]))
    if found is None:
        raise NotFound(f"dataset = {value[:64]!r}: there is no dataset with that id or identifier",
                       reason="unknown-dataset")
    return found


def selection(session: Session, *, user: User | None, organisation: str | None = None, dataset: str | None = None,
              person: str | None = None) -> Selection:
    """The entries ``user`` (None: the CLI) asks for, within what they see (this module's rules)."""
    given = [(name, value) for name, value in (("organisation", organisation), ("dataset", dataset),
                                               ("person", person)) if value is not None and value.strip()]
    if len(given) > 1:
        raise InvalidInput(f"{' and '.join(name for name, _ in given)}: choose one of organisation, dataset or "
                           "person (or none for everything you see)")
    seen = visibility(session, user=user)
    if not given:
        return Selection("all", "all", seen.clause(), seen)
    kind, value = given[0]
    value = value.strip()
    if kind == "organisation":
        found = None if "\x00" in value else session.scalar(select(Organisation).where(
            Organisation.slug == value[:64]))
        if found is None:
            raise NotFound(f"organisation = {value[:64]!r}: there is no such organisation",
                           reason="unknown-organisation")
        if not seen.everything and found.id not in seen.organisation_ids:
            raise Forbidden(f"organisation = {value!r}: only its organisation admins and platform admins export its "
                            "register", reason="not-organisation-admin")
        return Selection(kind, found.slug, _T.c.organisation_id == found.id, seen, organisation_id=found.id)
    if kind == "dataset":
        found = _dataset(session, value)
        if not seen.everything and found.id not in seen.dataset_ids:
            raise Forbidden(f"dataset = {value!r}: only its data owner and platform admins see its register",
                            reason="not-data-owner")
        return Selection(kind, found.identifier, _T.c.dataset_id == found.id, seen, dataset_id=found.id,
                         extra={"dataset_id": found.id})
    found = None if "\x00" in value else session.scalar(select(User).where(User.username == value[:255]))
    if found is None:
        raise NotFound(f"person = {value[:64]!r}: no user of that name has logged in to the portal",
                       reason="unknown-user")
    own = or_(_T.c.person_id == found.id, _T.c.actor_id == found.id)
    if seen.everything or (user is not None and found.id == user.id):
        return Selection(kind, found.username, own, seen, person_id=found.id)
    if not _concerns(session, seen, found):
        raise Forbidden(f"person = {value!r}: you see your own register entries, and an admin or data owner those of "
                        "the members of their organisations or of whoever asked for their datasets",
                        reason="not-your-entries")
    return Selection(kind, found.username, and_(own, seen.clause()), seen, person_id=found.id)


def _concerns(session: Session, seen: Visibility, person: User) -> bool:
    """Whether ``person`` is (or was) a member of an organisation the viewer administers, or asked for one of the
    viewer's datasets."""
    if seen.organisation_ids and session.scalar(select(Member.id).where(
            Member.user_id == person.id, Member.organisation_id.in_(sorted(seen.organisation_ids))).limit(1)):
        return True
    return bool(seen.dataset_ids) and session.scalar(select(AccessRequest.id).where(
        AccessRequest.requester_id == person.id, AccessRequest.dataset_id.in_(sorted(seen.dataset_ids))).limit(1)
    ) is not None


def _statement(chosen: Selection):
    return (select(_T.c.sequence, _T.c.at, cast(_T.c.action, String).label("action"),
                   _Actor.username.label("actor"), _Person.username.label("person"),
                   Organisation.slug.label("organisation"), _T.c.dataset_id, Dataset.identifier.label("dataset"),
                   _T.c.workspace_id, Workspace.server_name.label("workspace"), Workspace.bundle_id,
                   Workspace.bundle_version, _T.c.purpose, _T.c.subject, _T.c.details, _T.c.digest_version,
                   _T.c.previous_hash, _T.c.entry_hash)
            .select_from(_T)
            .outerjoin(_Actor, _T.c.actor_id == _Actor.id)
            .outerjoin(_Person, _T.c.person_id == _Person.id)
            .outerjoin(Organisation, _T.c.organisation_id == Organisation.id)
            .outerjoin(Dataset, _T.c.dataset_id == Dataset.id)
            .outerjoin(Workspace, _T.c.workspace_id == Workspace.id)
            .where(chosen.where))


def as_dict(row: Any) -> dict[str, Any]:
    """An exported entry (:data:`COLUMNS`)."""
    details = row.details if isinstance(row.details, dict) else {}
    return {"sequence": row.sequence, "at": row.at.isoformat(), "action": row.action, "actor": row.actor,
            "person": row.person, "organisation": row.organisation, "dataset_id": row.dataset_id,
            "dataset": row.dataset or details.get("dataset"), "workspace_id": row.workspace_id,
            "workspace": row.workspace,
            "bundle": f"{row.bundle_id} {row.bundle_version}" if row.bundle_id else None,
            "purpose": row.purpose, "purpose_code": details.get("purpose_code"),
            "legal_ground": details.get("legal_ground"), "subject": row.subject, "details": row.details,
            "digest_version": row.digest_version, "previous_hash": row.previous_hash, "entry_hash": row.entry_hash}


@dataclass(frozen=True)
class EntriesPage:
    entries: list[dict[str, Any]]
    total: int
    page: int
    per_page: int


def page(session: Session, *, chosen: Selection, page: int = 1, per_page: int = PER_PAGE) -> EntriesPage:
    """One page of the selected entries, newest first."""
    statement = _statement(chosen)
    total = session.scalar(select(func.count()).select_from(_T).where(chosen.where)) or 0
    rows = session.execute(statement.order_by(_T.c.sequence.desc()).offset((page - 1) * per_page).limit(per_page))
    return EntriesPage([as_dict(row) for row in rows], total, page, per_page)


def head_sequence(session: Session) -> int:
    return session.scalar(select(func.max(_T.c.sequence))) or 0


def count(session: Session, *, chosen: Selection, upto: int) -> int:
    return session.scalar(select(func.count()).select_from(_T).where(chosen.where, _T.c.sequence <= upto)) or 0


def record_export(session: Session, *, actor: User | None, chosen: Selection, fmt: str, via: str) -> tuple[int, int]:
    """Write the export to the register before its entries leave (who, which selection, format, how many, up to
    which sequence); returns (upto, entries). The caller commits."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format = {fmt[:16]!r}: choose one of {', '.join(FORMATS)}")
    upto = head_sequence(session)
    entries = count(session, chosen=chosen, upto=upto)
    register.append(session, action=RegisterAction.REGISTER_EXPORTED, actor_id=actor.id if actor else None,
                    organisation_id=chosen.organisation_id, dataset_id=chosen.dataset_id,
                    person_id=chosen.person_id,
                    subject=f"register export ({fmt}) of {chosen.kind} {chosen.label}: {entries} entries up to "
                            f"sequence {upto}",
                    details={"format": fmt, "entries": entries, "upto_sequence": upto, "via": via,
                             "selection": chosen.as_dict(), "visibility": chosen.visibility.as_dict()})
    return upto, entries


def rows(sessions: Callable[[], Session], *, chosen: Selection, upto: int, batch: int = 1000
         ) -> Iterator[dict[str, Any]]:
    """The selected entries up to sequence ``upto``, oldest first, streamed in batches in a session of their own
    (a request's session is closed while its response streams)."""
    with sessions() as session:
        result = session.execute(_statement(chosen).where(_T.c.sequence <= upto).order_by(_T.c.sequence)
                                 .execution_options(yield_per=batch))
        for row in result:
            yield as_dict(row)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, (dict, list)) else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def stream(sessions: Callable[[], Session], *, chosen: Selection, upto: int, fmt: str,
           batch: int = 1000) -> Iterator[str]:
    """The export as text chunks, one per ``batch`` entries: CSV with a header, or a JSON array."""
    entries = rows(sessions, chosen=chosen, upto=upto, batch=batch)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for index, entry in enumerate(entries, start=1):
            writer.writerow([_csv_cell(entry[column]) for column in COLUMNS])
            if index % batch == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
        return
    parts = ["["]
    for index, entry in enumerate(entries):
        parts.append(("," if index else "") + "\n" + json.dumps(entry, ensure_ascii=False, sort_keys=True))
        if len(parts) >= batch:
            yield "".join(parts)
            parts = []
    parts.append("\n]\n")
    yield "".join(parts)


def filename(chosen: Selection, fmt: str, stamp: str) -> str:
    label = "".join(c if c.isalnum() or c in "-_." else "-" for c in chosen.label)[:80]
    return f"register-{chosen.kind}-{label}-{stamp}.{fmt}" if chosen.kind != "all" else f"register-{stamp}.{fmt}"
