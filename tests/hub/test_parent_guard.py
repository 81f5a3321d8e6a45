"""The hub's managed services end with the hub (``hub/parent_guard.py``): a culler left behind by a killed hub kept
running, one more on every restart of ``make up``'s hub."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-m", "gereedschapskist.hub.parent_guard", "http.server", "0",
                          "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_guarded_child_ends_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        time.sleep(0.5)                                   # the child runs its module (http.server) ...
        assert psutil.Process(child).is_running() and not _gone(child, 0.2)
        parent.kill()                                     # ... until its parent is SIGKILLed: no goodbye
        parent.wait(10)
        assert _gone(child, 10), "the guarded child outlived its killed parent"
    finally:
        parent.kill()
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass

