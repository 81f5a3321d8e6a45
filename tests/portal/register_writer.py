"""A register writer to kill (tests/portal/test_register_kill9.py): a fork server that imports the portal once, then
for every ``fork`` line on its standard input forks a writer child and answers ``pid <pid>``. Each child opens its
own engine on the database URL given as the first argument and appends register entries through the portal's own
service (``services.register.append``, the code every portal route uses) from ``WRITERS`` threads, as fast as the
database lets it, and after each commit returns it prints ``ack <sequence> <entry_hash>``: the acknowledgement a
route's 200/201 would be. It never stops by itself; the test kills it with SIGKILL. Its output starts with a
newline, so a line a killed predecessor left half-written never runs into a whole acknowledgement."""

from __future__ import annotations

import os
import signal
import sys
import threading

from gereedschapskist.portal.db import make_engine, session_factory
from gereedschapskist.portal.models import RegisterAction
from gereedschapskist.portal.services import register

WRITERS = 4


def _warm(url: str):
    """An engine that has run an append once (rolled back) and holds no connection: its children start writing at
    once, with the ORM configured and the statements compiled."""
    engine = make_engine(url)
    with session_factory(engine)() as session:
        register.append(session, action=RegisterAction.ACCESS_GRANTED, subject="warm-up", details={})
        session.rollback()
    engine.dispose()
    return engine


def _write(engine) -> None:
    sessions = session_factory(engine)
    out = threading.Lock()
    os.write(1, b"\n")

    def writer(number: int) -> None:
        n = 0
        while True:
            n += 1
            with sessions() as session:
                entry = register.append(session, action=RegisterAction.ACCESS_GRANTED, actor_id=None,
                                        subject=f"kill-9 writer {os.getpid()}/{number} entry {n}",
                                        purpose="Onderzoek naar duurzaamheid", details={"writer": number, "n": n,
                                                                                          "legal_ground": "x"})
                sequence, digest = entry.sequence, entry.entry_hash
                session.commit()
            with out:
                os.write(1, f"ack {sequence} {digest}\n".encode())

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    threading.Event().wait()


def main() -> None:
    engine = _warm(sys.argv[1])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)       # killed writers are reaped at once
    for line in sys.stdin:
        if line.strip() != "fork":
            continue
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _write(engine)
            finally:
                os._exit(1)
        os.write(1, f"\npid {pid}\n".encode())


if __name__ == "__main__":
    main()
