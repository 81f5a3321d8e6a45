"""The processing register for its readers: browse with filters, page by page, and export as CSV or JSON.

Read-only over ``register_entry``, except that an export is itself written to the register (:func:`record_export`)
before its rows are streamed, with the filter and the number of entries. Everything is scoped by
:func:`~.admin_scope.admin_scope`: an organisation admin reads only their organisations' entries. Filters that name
something unknown (an action, a user, an organisation) are refused with the field and the value, never read as
"no filter". Keyword-only functions, no commit.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from ..errors import InvalidInput
from ..models import Organisation, RegisterAction, RegisterEntry, User
from . import register
from .admin_scope import AdminScope, parse_day

PER_PAGE = 50
FORMATS = ("csv", "json")
#: The columns of an export, in order (CSV header, JSON keys).
COLUMNS = ("sequence", "at", "actor", "organisation", "action", "workspace_id", "subject", "purpose", "details",
           "previous_hash", "entry_hash")
#: Spreadsheet programs run a cell that starts with these as a formula: such CSV cells get a leading '.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class RegisterFilter:
    actor: User | None = None
    action: RegisterAction | None = None
    start: date | None = None
    end: date | None = None

    def as_dict(self, scope: AdminScope) -> dict[str, Any]:
        """The filter as recorded with an export."""
        return {"actor": self.actor.username if self.actor else None,
                "organisation": scope.single.slug if scope.single else None,
                "organisations": None if scope.everything else [o.slug for o in scope.organisations],
                "action": self.action.value if self.action else None,
                "from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}


def parse_filter(session: Session, *, actor: str | None, action: str | None, start: str | None,
                 end: str | None) -> RegisterFilter:
    """The form's fields as a filter; an unknown action or user, a bad date or a reversed range is refused."""
    found_action = None
    if action:
        try:
            found_action = RegisterAction(action)
        except ValueError:
            raise InvalidInput(f"action = {action[:64]!r}: not a register action; one of "
                               f"{', '.join(a.value for a in RegisterAction)}") from None
    found_actor = None
    if actor:
        found_actor = None if "\x00" in actor else session.scalar(select(User).where(User.username == actor))
        if found_actor is None:
            raise InvalidInput(f"actor = {actor[:64]!r}: no user of that name has logged in to the portal")
    first, last = parse_day("from", start), parse_day("to", end)
    if first and last and first > last:
        raise InvalidInput(f"from = {first.isoformat()!r} is after to = {last.isoformat()!r}: choose a start on or "
                           "before the end")
    return RegisterFilter(found_actor, found_action, first, last)


_Actor = aliased(User)


def _statement(query: RegisterFilter, scope: AdminScope):
    statement = (select(RegisterEntry, _Actor.username, Organisation.slug)
                 .outerjoin(_Actor, RegisterEntry.actor_id == _Actor.id)
                 .outerjoin(Organisation, RegisterEntry.organisation_id == Organisation.id))
    if not scope.everything:
        statement = statement.where(RegisterEntry.organisation_id.in_(scope.organisation_ids))
    if query.actor is not None:
        statement = statement.where(RegisterEntry.actor_id == query.actor.id)
    if query.action is not None:
        statement = statement.where(RegisterEntry.action == query.action)
    if query.start is not None:
        statement = statement.where(RegisterEntry.at >= datetime.combine(query.start, time.min, tzinfo=timezone.utc))
    if query.end is not None:
        statement = statement.where(RegisterEntry.at < datetime.combine(query.end + timedelta(days=1), time.min,
                                                                        tzinfo=timezone.utc))
    return statement


@dataclass(frozen=True)
class Row:
    entry: RegisterEntry
    actor: str | None
    organisation: str | None

    def as_dict(self) -> dict[str, Any]:
        e = self.entry
        return {"sequence": e.sequence, "at": e.at.isoformat(), "actor": self.actor,
                "organisation": self.organisation, "action": e.action.value, "workspace_id": e.workspace_id,
                "subject": e.subject, "purpose": e.purpose, "details": e.details, "previous_hash": e.previous_hash,
                "entry_hash": e.entry_hash}


@dataclass(frozen=True)
class RegisterPage:
    rows: list[Row]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def browse(session: Session, *, query: RegisterFilter, scope: AdminScope, page: int = 1,
           per_page: int = PER_PAGE) -> RegisterPage:
    """One page of matching entries, newest first."""
    statement = _statement(query, scope)
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = session.execute(statement.order_by(RegisterEntry.sequence.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return RegisterPage([Row(*row) for row in rows], total or 0, page, per_page)


def head_sequence(session: Session) -> int:
    return session.scalar(select(func.max(RegisterEntry.sequence))) or 0


def count(session: Session, *, query: RegisterFilter, scope: AdminScope, upto: int) -> int:
    statement = _statement(query, scope).where(RegisterEntry.sequence <= upto)
    return session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0


def record_export(session: Session, *, actor: User, query: RegisterFilter, scope: AdminScope, fmt: str,
                  upto: int, entries: int) -> RegisterEntry:
    """Write the export to the register (before its rows leave the portal): who, which filter, how many."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format = {fmt[:16]!r}: choose one of {', '.join(FORMATS)}")
    return register.append(session, action=RegisterAction.REGISTER_EXPORTED, actor_id=actor.id,
                           organisation_id=scope.single.id if scope.single else None,
                           subject=f"register export ({fmt}): {entries} entries up to sequence {upto}",
                           details={"format": fmt, "entries": entries, "upto_sequence": upto,
                                    "filter": query.as_dict(scope)})


def _rows(sessions: Callable[[], Session], *, query: RegisterFilter, scope: AdminScope, upto: int,
          batch: int) -> Iterator[Row]:
    """The matching entries up to sequence ``upto``, oldest first, read in batches in a session of their own (the
    request's session is closed while a response streams)."""
    with sessions() as session:
        statement = (_statement(query, scope).where(RegisterEntry.sequence <= upto)
                     .order_by(RegisterEntry.sequence).execution_options(yield_per=batch))
        for entry, actor, organisation in session.execute(statement):
            yield Row(entry, actor, organisation)
            session.expunge(entry)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if isinstance(value, (dict, list)) else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def stream_csv(sessions: Callable[[], Session], *, query: RegisterFilter, scope: AdminScope, upto: int,
               batch: int = 500) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for index, row in enumerate(_rows(sessions, query=query, scope=scope, upto=upto, batch=batch), start=1):
        data = row.as_dict()
        writer.writerow([_csv_cell(data[column]) for column in COLUMNS])
        if index % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def stream_json(sessions: Callable[[], Session], *, query: RegisterFilter, scope: AdminScope, upto: int,
                batch: int = 500) -> Iterator[str]:
    """A JSON array of entries, written entry by entry."""
    yield "["
    for index, row in enumerate(_rows(sessions, query=query, scope=scope, upto=upto, batch=batch)):
        yield ("," if index else "") + "\n" + json.dumps(row.as_dict(), ensure_ascii=False, sort_keys=True)
    yield "\n]\n"
