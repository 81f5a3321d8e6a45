"""Appending to the processing register (never updating it), and checking its hash chain.

Each entry is chained to the one before it (see :mod:`gereedschapskist.portal.models.register`). Appends are
serialised, so two concurrent launches never fork the chain: on PostgreSQL by a transaction-scoped advisory
lock, on SQLite by taking the database's write lock (a no-op write) before the chain's head is read. Both are
held until the caller commits. The ``sequence`` column is unique as well, so a fork could not be stored even
without the lock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, Text, cast, func, inspect, literal, null, select, text
from sqlalchemy.orm import Session

from ..models import GENESIS, RegisterAction, RegisterEntry, User, Workspace, utcnow
from ..models.register import DIGEST_VERSION, _utc_text

#: pg_advisory_xact_lock key of the register's chain (any constant; advisory locks are per database).
CHAIN_LOCK_KEY = 0x6B5F7265676973   # "k_regis"


def _lock_chain(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)))
    elif dialect == "sqlite":
        # a write that changes nothing takes SQLite's write lock (and starts the transaction), so the head
        # read below is the newest and stays so until commit; the row triggers fire for no row
        session.execute(text("UPDATE register_entry SET sequence = sequence WHERE 0"))


def _head(session: Session) -> tuple[int, str]:
    row = session.execute(select(RegisterEntry.sequence, RegisterEntry.entry_hash)
                          .order_by(RegisterEntry.sequence.desc()).limit(1)).one_or_none()
    return (row.sequence, row.entry_hash) if row else (0, GENESIS)


def append(session: Session, *, action: RegisterAction, subject: str, actor_id: int | None = None,
           organisation_id: int | None = None, workspace_id: int | None = None, purpose: str | None = None,
           details: dict[str, Any] | None = None, dataset_id: int | None = None,
           person_id: int | None = None) -> RegisterEntry:
    """Append one entry at the head of the chain (flushed; the caller commits, which releases the lock).

    ``dataset_id``: the dataset the entry concerns; ``person_id``: whose data use or request it is (the requester or
    grantee, a workspace's owner) — both filter the register per dataset and per person (exports, who sees what).
    The entry is written with digest version 2, which covers them."""
    session.flush()                     # pending changes first: the lock must not wait behind our own autoflush
    _lock_chain(session)
    sequence, previous_hash = _head(session)
    entry = RegisterEntry(at=utcnow(), action=action, workspace_id=workspace_id, actor_id=actor_id,
                          organisation_id=organisation_id, subject=subject, purpose=purpose, details=details or {},
                          sequence=sequence + 1, previous_hash=previous_hash, dataset_id=dataset_id,
                          person_id=person_id, digest_version=DIGEST_VERSION)
    entry.entry_hash = entry.digest()
    session.add(entry)
    session.flush()
    return entry


def record(session: Session, *, action: RegisterAction, workspace: Workspace, actor: User | None,
           details: dict[str, Any] | None = None, purpose: str | None = None) -> RegisterEntry:
    subject = f"bundle {workspace.bundle_id} {workspace.bundle_version} ({workspace.size_id}) in " \
              f"{workspace.environment.name}"
    return append(session, action=action, subject=subject, actor_id=actor.id if actor else None,
                  organisation_id=workspace.organisation_id, workspace_id=workspace.id, purpose=purpose,
                  details=details, person_id=workspace.user_id)


def entries_for_workspace(session: Session, *, workspace: Workspace) -> list[RegisterEntry]:
    return list(session.scalars(select(RegisterEntry).where(RegisterEntry.workspace_id == workspace.id)
                                .order_by(RegisterEntry.id)))


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: ``broken`` is None when every link holds."""

    entries: int
    head: str
    broken: str | None = None
    entry_id: int | None = None
    sequence: int | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


#: The register's table; verify reads plain rows of it (no ORM objects, no type processing: several times faster
#: over a million entries than loading entries).
_T = RegisterEntry.__table__
#: The canonical JSON encoder of entry_digest / entry_digest_v2, made once (json.dumps with these arguments makes
#: an identical encoder on every call); tests/portal/test_register_export.py checks the two agree.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _verify_statement(session: Session):
    """id, sequence, the time as entry_digest writes it (PostgreSQL: formatted by the server; SQLite: as stored),
    actor, organisation, action, workspace, subject, purpose, details as JSON text, the two hashes, dataset, person and
    digest version — in chain order. On a database not yet at migration 0011 (its migration tests), every entry is
    version 1 without a dataset or person."""
    dialect = session.get_bind().dialect.name
    if "digest_version" in {c["name"] for c in inspect(session.connection()).get_columns("register_entry")}:
        newer = (_T.c.dataset_id, _T.c.person_id, _T.c.digest_version)
    else:
        newer = (null().label("dataset_id"), null().label("person_id"), literal(1).label("digest_version"))
    if dialect == "postgresql":
        at = func.to_char(text("register_entry.at AT TIME ZONE 'UTC'"), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    else:
        at = cast(_T.c.at, String)
    return (select(_T.c.id, _T.c.sequence, at.label("at"), _T.c.actor_id, _T.c.organisation_id,
                   cast(_T.c.action, String).label("action"), _T.c.workspace_id, _T.c.subject, _T.c.purpose,
                   cast(_T.c.details, Text).label("details"), _T.c.previous_hash, _T.c.entry_hash, *newer)
            .order_by(_T.c.sequence, _T.c.id))


def _at_text(session: Session, row: Any) -> str:
    """The entry's time as entry_digest formats it: from the text read (the usual forms) or, for any other form,
    read again through the column's type exactly as the ORM reads it."""
    value = row.at
    if len(value) == 27 and value[-1] == "Z" and value[0] != "0":                 # PostgreSQL's to_char, year ≥ 1000
        return value
    if len(value) == 26 and value[10] == " " and value[19] == "." and value[0] != "0":   # SQLite as SQLAlchemy stores
        return value[:10] + "T" + value[11:] + "Z"
    return _utc_text(session.scalar(select(_T.c.at).where(_T.c.id == row.id)))


#: entry_digest's and entry_digest_v2's canonical JSON with the keys in their sorted order and a place for each
#: value, which :func:`_json` writes exactly as their encoder does (the test of this module checks the two agree
#: over many entries, unicode, quotes, NULLs and nested details included).
_V1 = ('{"action":%s,"actor_id":%s,"at":%s,"details":%s,"organisation_id":%s,"previous_hash":%s,"purpose":%s,'
       '"sequence":%s,"subject":%s,"v":1,"workspace_id":%s}')
_V2 = ('{"action":%s,"actor_id":%s,"at":%s,"dataset_id":%s,"details":%s,"organisation_id":%s,"person_id":%s,'
       '"previous_hash":%s,"purpose":%s,"sequence":%s,"subject":%s,"v":2,"workspace_id":%s}')
_string, _int = json.encoder.encode_basestring, int.__repr__     # what the C encoder does for str and int


def _json(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is int:
        return _int(value)
    if value is None:
        return "null"
    return _CANONICAL(value)


def _row_digest(session: Session, row: Any) -> str | None:
    """The digest of a row of :func:`_verify_statement` by its digest version, as :func:`digest_of` computes it
    (None: it has none — an unknown version, a version-1 entry naming a dataset or person, content JSON refuses)."""
    try:
        details = _CANONICAL(json.loads(row.details)) if row.details is not None else "null"
        at = _string(_at_text(session, row))
        if row.digest_version == 2:
            canonical = _V2 % (_json(row.action), _json(row.actor_id), at, _json(row.dataset_id), details,
                               _json(row.organisation_id), _json(row.person_id), _json(row.previous_hash),
                               _json(row.purpose), _json(row.sequence), _json(row.subject), _json(row.workspace_id))
        elif row.digest_version == 1 and row.dataset_id is None and row.person_id is None:
            canonical = _V1 % (_json(row.action), _json(row.actor_id), at, details, _json(row.organisation_id),
                               _json(row.previous_hash), _json(row.purpose), _json(row.sequence), _json(row.subject),
                               _json(row.workspace_id))
        else:
            return None
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    except ValueError:
        return None


#: The fast path of :func:`verify_chain`: the C scanner and encoder behind json.loads and json.dumps, called directly
#: (json.loads and JSONEncoder.encode build a regex match and a new encoder around them on every call).
_SCAN = json.scanner.make_scanner(json.JSONDecoder())
_ENCODER = json.encoder.c_make_encoder
_ENCODE = (_ENCODER(None, json.JSONEncoder().default, _string, None, ":", ",", True, False, False)
           if _ENCODER is not None else None)


def _fast_digest(row: tuple) -> str | None:
    """The digest of a row of :func:`_verify_statement` (a plain tuple in its column order) computed the quick way:
    the entry's content as one dict, written by the same C encoder, with the same arguments, as entry_digest and
    entry_digest_v2 write theirs. None where it does not apply (a time in another form, details JSON with
    anything around it or that the scanner refuses, a version-1 entry naming a dataset or person, an unknown
    version, a value the encoder refuses): the caller then computes :func:`_row_digest`, the exact path. Where it
    returns a digest it is the one :func:`_row_digest` computes (tests/portal/test_register_digest.py)."""
    (_, sequence, at, actor_id, organisation_id, action, workspace_id, subject, purpose, details, previous_hash,
     _, dataset_id, person_id, version) = row
    if _ENCODE is None:
        return None
    if len(at) == 27 and at[-1] == "Z" and at[0] != "0":
        pass
    elif len(at) == 26 and at[10] == " " and at[19] == "." and at[0] != "0":
        at = at[:10] + "T" + at[11:] + "Z"
    else:
        return None
    try:
        if details is not None:
            details, end = _SCAN(details, 0)
            if end != len(row[9]):
                return None
        if version == 2:
            content = {"action": action, "actor_id": actor_id, "at": at, "dataset_id": dataset_id,
                       "details": details, "organisation_id": organisation_id, "person_id": person_id,
                       "previous_hash": previous_hash, "purpose": purpose, "sequence": sequence, "subject": subject,
                       "v": 2, "workspace_id": workspace_id}
        elif version == 1 and dataset_id is None and person_id is None:
            content = {"action": action, "actor_id": actor_id, "at": at, "details": details,
                       "organisation_id": organisation_id, "previous_hash": previous_hash, "purpose": purpose,
                       "sequence": sequence, "subject": subject, "v": 1, "workspace_id": workspace_id}
        else:
            return None
        return hashlib.sha256("".join(_ENCODE(content, 0)).encode("utf-8")).hexdigest()
    except (ValueError, TypeError, StopIteration, RecursionError):
        return None


#: The names of :func:`_verify_statement`'s columns, for the exact path's rows.
_COLUMNS = ("id", "sequence", "at", "actor_id", "organisation_id", "action", "workspace_id", "subject", "purpose",
            "details", "previous_hash", "entry_hash", "dataset_id", "person_id", "digest_version")
_ID, _SEQUENCE, _PREVIOUS, _HASH = (_COLUMNS.index(name) for name in ("id", "sequence", "previous_hash",
                                                                         "entry_hash"))


@dataclass(frozen=True)
class _Row:
    """A row of :func:`_verify_statement` by column name (for :func:`_row_digest` and :func:`_at_text`)."""

    id: int
    sequence: int
    at: str
    actor_id: Any
    organisation_id: Any
    action: Any
    workspace_id: Any
    subject: Any
    purpose: Any
    details: Any
    previous_hash: Any
    entry_hash: Any
    dataset_id: Any
    person_id: Any
    digest_version: Any


def _digest_matches(session: Session, row: tuple) -> bool:
    return _fast_digest(row) == row[_HASH] or _row_digest(session, _Row(*row)) == row[_HASH]


def verify_chain(session: Session, *, expect_head: str | None = None, batch: int = 10_000,
                 workers: int = 1) -> ChainReport:
    """Walk the chain in sequence order and stop at the first broken link (:func:`_walk`).

    With ``workers`` > 1 (and a database in a file or on a server) the chain is cut into ranges of sequence numbers
    (about four per worker, the first and the last open-ended) and that many processes walk them at once, each with
    its own connection, checking every digest and every link inside its range; this process then checks the links
    across the ranges' borders. Where a range or a border is not intact, the single walk is run from the start of
    that range on (with the state the intact ranges before it left), so the report is always the one the single walk
    gives: the first problem in chain order."""
    url = session.get_bind().url
    if workers <= 1 or url.database in (None, "", ":memory:"):
        return _walk(session, expect_head=expect_head, batch=batch)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    last = session.scalar(select(func.max(_T.c.sequence))) or 0
    size = max(batch, -(-last // (workers * 4)))
    starts = list(range(1, last + 1, size)) or [1]
    bounds = [(None if i == 0 else first, None if i == len(starts) - 1 else first + size - 1)
              for i, first in enumerate(starts)]
    if len(bounds) == 1:
        return _walk(session, expect_head=expect_head, batch=batch)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_walk_range, url.render_as_string(hide_password=False), first, upto, batch,
                               expect_head) for first, upto in bounds]
        count, previous, before, found = 0, GENESIS, None, expect_head is None
        for (first, _), future in zip(bounds, futures):
            part = future.result()
            if not part.intact or part.first_previous != previous or (part.entries and part.first_sequence
                                                                      != count + 1):
                for other in futures:
                    other.cancel()
                return _walk(session, expect_head=None if found else expect_head, batch=batch,
                             start=None if first is None else (first, count, previous, before))
            if part.entries:
                count, previous, before = count + part.entries, part.last_hash, part.last
            found = found or part.found_head
    if not found and expect_head != GENESIS:
        return _head_missing(expect_head, entries=count, head=previous)
    return ChainReport(entries=count, head=previous)


@dataclass(frozen=True)
class _RangePart:
    """What a worker found in its range: whether every link and digest in it holds (the first entry's link is the
    caller's to check), its entries, the first one's sequence and previous hash, the last one's digest and (id,
    sequence), and whether the recorded head is among them."""

    intact: bool
    entries: int
    first_sequence: int | None
    first_previous: str | None
    last_hash: str | None
    last: tuple[int, int] | None
    found_head: bool


def _walk_range(url: str, first: int | None, upto: int | None, batch: int, expect_head: str | None) -> _RangePart:
    """In a worker process: walk the entries with sequence in [first, upto] (None: open-ended)."""
    from ..db import make_engine

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with Session(engine) as session:
            statement = _verify_statement(session)
            if first is not None:
                statement = statement.where(_T.c.sequence >= first)
            if upto is not None:
                statement = statement.where(_T.c.sequence <= upto)
            count, expected, previous, row, head_row, found = 0, None, None, None, None, False
            for rows in _batches(session, statement, batch):
                for row in rows:
                    if head_row is None:
                        head_row, expected, previous = row, row[_SEQUENCE], row[_PREVIOUS]
                    if row[_SEQUENCE] != expected or row[_PREVIOUS] != previous or not _digest_matches(session, row):
                        return _RangePart(False, count, None, None, None, None, False)
                    count, expected, previous = count + 1, expected + 1, row[_HASH]
                    found = found or previous == expect_head
    finally:
        engine.dispose()
    if head_row is None:
        return _RangePart(True, 0, None, None, None, None, False) if upto is None or first is None \
            else _RangePart(False, 0, None, None, None, None, False)         # an empty range inside: a gap
    return _RangePart(True, count, head_row[_SEQUENCE], head_row[_PREVIOUS], previous, (row[_ID], row[_SEQUENCE]),
                      found)


def _batches(session: Session, statement, batch: int):
    """The statement's rows as plain DBAPI tuples, ``batch`` at a time, read through the session's own connection
    (its transaction): a server-side (named) cursor on PostgreSQL, a plain one on SQLite. No SQLAlchemy row objects:
    over a million entries they cost as much as the digests."""
    dialect = session.get_bind().dialect
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    connection = session.connection().connection.dbapi_connection
    cursor = (connection.cursor(name=f"register_verify_{id(statement):x}") if dialect.name == "postgresql"
              else connection.cursor())
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()


def _head_missing(expect_head: str, *, entries: int, head: str) -> ChainReport:
    return ChainReport(entries=entries, head=head, broken=f"entry missing: the recorded head {expect_head} is not in "
                                                          "the chain (entries were removed from its end, or the "
                                                          "chain was rewritten)")


def _walk(session: Session, *, expect_head: str | None, batch: int,
          start: tuple[int, int, str, tuple[int, int] | None] | None = None) -> ChainReport:
    """Walk the chain in sequence order and stop at the first broken link.

    What it tells apart, per entry: a missing entry (a gap in the sequence, or a link to an entry that is
    not there any more), a duplicated sequence number, a changed order (the entry was chained after another
    entry than the one before it now), and changed content (its digest is not the one stored, by the entry's
    digest version; a version-1 entry that names a dataset or person, or an unknown version, counts as changed).
    A wholesale rewrite of the chain from some entry on, or a removed tail, is only visible against a head recorded
    elsewhere: the report carries the head digest for that, and ``expect_head`` (such a recorded head) must be
    the digest of an entry of the intact chain.

    The entries stream in batches of ``batch`` plain rows (a server-side cursor on PostgreSQL), so memory stays
    flat however long the register is. ``start``: walk from sequence number ``first`` on, as if the entries before
    it had been walked — (first, their number, the last one's digest, its (id, sequence)); the parallel walk's.
    """
    statement = _verify_statement(session)
    if start is None:
        count, expected, previous, before = 0, 1, GENESIS, None
    else:
        first, count, previous, before = start
        statement = statement.where(_T.c.sequence >= first)
        expected = count + 1
    for rows in _batches(session, statement, batch):
        for row in rows:
            if row[_SEQUENCE] != expected or row[_PREVIOUS] != previous:
                return _link_broken(session, _Row(*row), expected=expected, previous=previous, count=count,
                                    before=before)
            if not _digest_matches(session, row):
                return ChainReport(broken=f"content changed: entry id {row[_ID]} (sequence {row[_SEQUENCE]}) does "
                                          f"not match its stored digest", entry_id=row[_ID], sequence=row[_SEQUENCE],
                                   entries=count, head=previous)
            count, expected, previous, before = count + 1, expected + 1, row[_HASH], (row[_ID], row[_SEQUENCE])
            if previous == expect_head:
                expect_head = None                  # found: the recorded head is part of the intact chain
    if expect_head is not None and expect_head != GENESIS:
        return _head_missing(expect_head, entries=count, head=previous)
    return ChainReport(entries=count, head=previous)


def _link_broken(session: Session, entry: _Row, *, expected: int, previous: str, count: int,
                 before: tuple[int, int] | None) -> ChainReport:
    """The report for an entry whose sequence number or link is not the one expected."""
    where = dict(entry_id=entry.id, sequence=entry.sequence, entries=count, head=previous)
    if entry.sequence > expected:
        missing = (f"sequence {expected}" if entry.sequence == expected + 1
                   else f"sequences {expected}–{entry.sequence - 1}")
        return ChainReport(broken=f"entry missing: {missing} is not in the register (a gap before entry "
                                  f"id {entry.id}, sequence {entry.sequence})", **where)
    if entry.sequence < expected:
        return ChainReport(broken=f"order changed: sequence {entry.sequence} appears twice (entry id "
                                  f"{entry.id})", **where)
    previous_where = (f"entry id {before[0]} (sequence {before[1]})" if before is not None
                      else "the chain's start")
    linked = session.execute(select(RegisterEntry.id, RegisterEntry.sequence)
                             .where(RegisterEntry.entry_hash == entry.previous_hash).limit(1)).first()
    if linked is not None:
        problem = (f"order changed: entry id {entry.id} (sequence {entry.sequence}) was chained after "
                   f"entry id {linked.id} (sequence {linked.sequence}), not after {previous_where}")
    elif entry.previous_hash == GENESIS:
        problem = (f"order changed: entry id {entry.id} (sequence {entry.sequence}) was chained as the "
                   f"first entry, not after {previous_where}")
    else:
        problem = (f"entry missing or changed before entry id {entry.id} (sequence {entry.sequence}): "
                   f"it was chained after an entry whose digest no entry has now (expected the one of "
                   f"{previous_where})")
    return ChainReport(broken=problem, **where)
