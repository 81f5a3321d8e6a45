"""The register loses nothing when the portal is killed mid-write (issue 15): a writer process appending register
entries from four threads through the portal's own service (``tests/portal/register_writer.py``; the same
``register.append`` and commit every route runs before it answers 200/201) is killed with SIGKILL 100 times, each
time at a random moment (0–150 ms after it was forked, 0–250 ms on PostgreSQL: while it connects, while entries are
in flight, between commits). Afterwards ``gereedschapskist register verify`` passes, and every entry whose commit returned (acknowledged) is in
the register with the digest it was acknowledged with. SQLite (WAL); PostgreSQL when the test URL is set.

Writers are forked from a fork server that imported the portal once, so 100 kills take seconds, not minutes of
Python start-ups."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gereedschapskist.cli import build_app
from gereedschapskist.portal.models import RegisterEntry

KILLS = 100
ACK = re.compile(r"^ack (\d+) ([0-9a-f]{64})$")
PID = re.compile(r"^pid (\d+)$")
ROOT = Path(__file__).resolve().parents[2]


class Writers:
    """The fork server and what its children said."""

    def __init__(self, url: str):
        self.process = subprocess.Popen([sys.executable, "-m", "tests.portal.register_writer", url], cwd=ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.acks: dict[int, str] = {}
        self.pids: list[int] = []
        self.lines = 0
        self._pid_seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.strip()
            if match := ACK.match(line):
                self.acks[int(match[1])] = match[2]
            elif match := PID.match(line):
                with self._pid_seen:
                    self.pids.append(int(match[1]))
                    self._pid_seen.notify_all()
            self.lines += 1

    def fork(self) -> int:
        assert self.process.stdin is not None
        count = len(self.pids)
        self.process.stdin.write("fork\n")
        self.process.stdin.flush()
        with self._pid_seen:
            assert self._pid_seen.wait_for(lambda: len(self.pids) > count, timeout=30), "the fork server is stuck"
        return self.pids[-1]

    def close(self) -> None:
        for pid in self.pids:
            _kill(pid)
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)


def _kill(pid: int) -> None:
    """SIGKILL, and wait until the process is gone (the fork server reaps its children)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.002)
    raise AssertionError(f"writer {pid} survived SIGKILL for 10 s")


def test_killing_a_writer_100_times_loses_no_acknowledged_entry(database):
    rng = random.Random(15)
    window = 0.15 if database.dialect == "sqlite" else 0.25      # PostgreSQL's connections take longer to open
    writers = Writers(database.url)
    started = time.monotonic()
    try:
        for _ in range(KILLS):
            pid = writers.fork()
            time.sleep(rng.uniform(0, window))
            _kill(pid)
    finally:
        writers.close()
    took = time.monotonic() - started
    acked = dict(writers.acks)
    assert len(acked) >= KILLS, f"only {len(acked)} entries were acknowledged: the writers did not write under load"
    result = CliRunner().invoke(build_app(), ["register", "verify", "--database-url", database.url])
    assert result.exit_code == 0, result.output
    with Session(database.engine) as session:
        stored = dict(session.execute(select(RegisterEntry.sequence, RegisterEntry.entry_hash)).all())
    missing = {s: h for s, h in acked.items() if stored.get(s) != h}
    assert not missing, f"{len(missing)} acknowledged entries are not in the register as acknowledged: " \
                        f"{sorted(missing)[:10]}"
    assert f"register OK: {len(stored)} entries" in result.output
    print(f"\nkill -9 ({database.dialect}): {KILLS} writers killed in {took:.1f} s; {len(acked)} entries "
          f"acknowledged, {len(stored)} in the register (the rest committed but killed before their "
          f"acknowledgement), register verify OK, 0 acknowledged entries lost")
