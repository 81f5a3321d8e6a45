"""Background work done once per deployment, not once per uvicorn worker: a lease in the database.

:func:`take` gives the named lease to ``holder`` when nobody holds it, when it has expired, or when ``holder``
already holds it (a renewal), and says whether ``holder`` holds it now. It is one conditional UPDATE, or an INSERT
when there is no row yet; two workers racing for a new row meet the primary key, and the loser is told no. The
database decides, so it holds for any number of processes on SQLite and on PostgreSQL. A holder that dies simply
stops renewing: another worker takes the lease once ``expires_at`` has passed.

Each call commits (its own short transaction, on its own session), so a lease is never held by a transaction that is
still open elsewhere.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..models import Lease, utcnow


def new_holder() -> str:
    """A name for this process's claim: host, process id and a random part (unique even after a fork)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


def take(factory: sessionmaker[Session], name: str, *, holder: str, seconds: float,
         now: datetime | None = None) -> bool:
    """Take or renew lease ``name`` for ``seconds``; True when ``holder`` holds it afterwards."""
    now = now or utcnow()
    until = now + timedelta(seconds=seconds)
    with factory() as session:
        result = session.execute(
            update(Lease).where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at <= now))
            .values(holder=holder, expires_at=until).execution_options(synchronize_session=False))
        if result.rowcount == 1:
            session.commit()
            return True
        session.rollback()
        if session.get(Lease, name) is not None:      # held by someone else, not expired
            return False
        session.add(Lease(name=name, holder=holder, expires_at=until))
        try:
            session.commit()
        except IntegrityError:                          # another worker inserted it first
            session.rollback()
            return False
        return True


def release(factory: sessionmaker[Session], name: str, *, holder: str) -> None:
    """Give the lease up (at shutdown), so another worker need not wait for it to expire."""
    with factory() as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder)
                        .execution_options(synchronize_session=False))
        session.commit()
