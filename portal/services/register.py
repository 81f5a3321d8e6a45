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


def verify_chain(session: Session, *, expect_head: str | None = None, batch: int = 10_000,
                 workers: int = 1) -> ChainReport:
    """Walk the chain in sequence order and stop at the first broken link (:func:`_walk`). With ``workers`` > 1 (and a
    database in a file or on a server), the entries' digests are checked in that many processes, each over its own
    ranges of sequence numbers with its own connection, while this process walks the links; the report is the one
    the single walk gives (the first problem in chain order)."""
    url = session.get_bind().url
    if workers <= 1 or url.database in (None, "", ":memory:"):
        return _walk(session, expect_head=expect_head, batch=batch, digests=True)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    last = session.scalar(select(func.max(_T.c.sequence))) or 0
    size = max(batch, -(-last // (workers * 4)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_digest_range, url.render_as_string(hide_password=False), first,
                               min(last, first + size - 1), batch) for first in range(1, last + 1, size)]
        links = _walk(session, expect_head=expect_head, batch=batch, digests=False)
        changed = [found for future in futures if (found := future.result()) is not None]
    if not changed:
        return links
    entry_id, sequence = min(changed, key=lambda found: found[1])
    if links.entry_id is not None and links.entries <= sequence - 1:
        return links                                # a link breaks at or before the changed entry
    head = session.scalar(select(_T.c.entry_hash).where(_T.c.sequence == sequence - 1)) or GENESIS
    return ChainReport(broken=f"content changed: entry id {entry_id} (sequence {sequence}) does not match its stored "
                              "digest", entry_id=entry_id, sequence=sequence, entries=sequence - 1, head=head)


def _digest_range(url: str, first: int, last: int, batch: int) -> tuple[int, int] | None:
    """In a worker process: (id, sequence) of the first entry with sequence in [first, last] whose digest does not
    match its stored one, or None."""
    from ..db import make_engine

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            for row in session.execute(_verify_statement(session).where(_T.c.sequence.between(first, last))
                                       .execution_options(yield_per=batch)):
                if _row_digest(session, row) != row.entry_hash:
                    return row.id, row.sequence
    finally:
        engine.dispose()
    return None


def _walk(session: Session, *, expect_head: str | None, batch: int, digests: bool) -> ChainReport:
    """Walk the chain in sequence order and stop at the first broken link.

    What it tells apart, per entry: a missing entry (a gap in the sequence, or a link to an entry that is
    not there any more), a duplicated sequence number, a changed order (the entry was chained after another
    entry than the one before it now), and changed content (its digest is not the one stored, by the entry's
    digest version; a version-1 entry that names a dataset or person, or an unknown version, counts as changed).
    A wholesale rewrite of the chain from some entry on, or a removed tail, is only visible against a head recorded
    elsewhere: the report carries the head digest for that, and ``expect_head`` (such a recorded head) must be
    the digest of an entry of the intact chain.

    The entries stream in batches of ``batch`` plain rows (a server-side cursor on PostgreSQL), so memory stays
    flat however long the register is.
    """
    count, expected, previous, before = 0, 1, GENESIS, None
    stream = session.execute(_verify_statement(session).execution_options(yield_per=batch))
    for entry in stream:
        if entry.sequence != expected or entry.previous_hash != previous:
            where = dict(entry_id=entry.id, sequence=entry.sequence, entries=count, head=previous)
            if entry.sequence > expected:
                missing = (f"sequence {expected}" if entry.sequence == expected + 1
                           else f"sequences {expected}–{entry.sequence - 1}")
                return ChainReport(broken=f"entry missing: {missing} is not in the register (a gap before entry "
                                          f"id {entry.id}, sequence {entry.sequence})", **where)
            if entry.sequence < expected:
                return ChainReport(broken=f"order changed: sequence {entry.sequence} appears twice (entry id "
                                          f"{entry.id})", **where)
            previous_where = (f"entry id {before.id} (sequence {before.sequence})" if before is not None
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
            stream.close()
            return ChainReport(broken=problem, **where)
        if digests and _row_digest(session, entry) != entry.entry_hash:
            stream.close()
            return ChainReport(broken=f"content changed: entry id {entry.id} (sequence {entry.sequence}) does "
                                      f"not match its stored digest", entry_id=entry.id, sequence=entry.sequence,
                               entries=count, head=previous)
        count, expected, previous, before = count + 1, expected + 1, entry.entry_hash, entry
        if entry.entry_hash == expect_head:
            expect_head = None                      # found: the recorded head is part of the intact chain
    if expect_head is not None and expect_head != GENESIS:
        return ChainReport(entries=count, head=previous, broken=f"entry missing: the recorded head {expect_head} "
                                                                "is not in the chain (entries were removed from "
                                                                "its end, or the chain was rewritten)")
    return ChainReport(entries=count, head=previous)
