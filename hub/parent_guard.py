"""Run a Python module as a child that ends with its parent: ``python -m gereedschapskist.hub.parent_guard MODULE
[ARGS…]``.

The hub starts its managed services (the idle culler) as child processes. When the hub is killed (``kill -9``, an
out-of-memory kill), a child is not told and keeps running: ``make up`` restarts the hub and every restart left one
more culler behind. On Linux this asks the kernel to send the child SIGTERM when its parent ends
(``PR_SET_PDEATHSIG``, kept across the module's start), then runs the module as ``__main__``. Elsewhere it only runs
the module.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import runpy
import signal
import sys

PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int) -> bool:
    """Ask for SIGTERM when the parent ends; True when the kernel took it. Exits at once when the parent is already
    gone (it ended before the request was made)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:
        raise SystemExit(f"parent_guard: the parent {parent} ended before {sys.argv[1:2]} started")
    return True


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m gereedschapskist.hub.parent_guard MODULE [ARGS...]")
    end_with_parent(os.getppid())
    sys.argv = argv
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
