"""Appending to the processing register (never updating it), and checking its hash chain.

Each entry is chained to the one before it (see :mod:`gereedschapskist.portal.models.register`). Appends are
serialised, so two concurrent launches never fork the chain: on PostgreSQL by a transaction-scoped advisory
lock, on SQLite by taking the database's write lock (a no-op write) before the chain's head is read. Both are
held until the caller commits. The ``sequence`` column is unique as well, so a fork could not be stored even
without the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..models import GENESIS, RegisterAction, RegisterEntry, User, Workspace, utcnow
from ..models.register import DIGEST_VERSION, UnknownDigestVersion

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


def verify_chain(session: Session, *, expect_head: str | None = None, batch: int = 1000) -> ChainReport:
    """Walk the chain in sequence order and stop at the first broken link.

    What it tells apart, per entry: a missing entry (a gap in the sequence, or a link to an entry that is
    not there any more), a duplicated sequence number, a changed order (the entry was chained after another
    entry than the one before it now), and changed content (its digest is not the one stored). A wholesale
    rewrite of the chain from some entry on, or a removed tail, is only visible against a head recorded
    elsewhere: the report carries the head digest for that, and ``expect_head`` (such a recorded head) must be
    the digest of an entry of the intact chain.
    """
    count, expected, previous = 0, 1, GENESIS
    previous_where = "the chain's start"
    stream = session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence, RegisterEntry.id)
                             .execution_options(yield_per=batch))
    for entry in stream:
        where = dict(entry_id=entry.id, sequence=entry.sequence, entries=count, head=previous)
        if entry.sequence > expected:
            missing = (f"sequence {expected}" if entry.sequence == expected + 1
                       else f"sequences {expected}–{entry.sequence - 1}")
            return ChainReport(broken=f"entry missing: {missing} is not in the register (a gap before entry "
                                      f"id {entry.id}, sequence {entry.sequence})", **where)
        if entry.sequence < expected:
            return ChainReport(broken=f"order changed: sequence {entry.sequence} appears twice (entry id "
                                      f"{entry.id})", **where)
        if entry.previous_hash != previous:
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
        try:
            digest = entry.digest()
        except UnknownDigestVersion:
            digest = None
        if digest != entry.entry_hash:
            return ChainReport(broken=f"content changed: entry id {entry.id} (sequence {entry.sequence}) does "
                                      f"not match its stored digest", **where)
        count, expected, previous = count + 1, expected + 1, entry.entry_hash
        previous_where = f"entry id {entry.id} (sequence {entry.sequence})"
        if entry.entry_hash == expect_head:
            expect_head = None                      # found: the recorded head is part of the intact chain
        session.expunge(entry)
    if expect_head is not None and expect_head != GENESIS:
        return ChainReport(entries=count, head=previous, broken=f"entry missing: the recorded head {expect_head} "
                                                                "is not in the chain (entries were removed from "
                                                                "its end, or the chain was rewritten)")
    return ChainReport(entries=count, head=previous)
