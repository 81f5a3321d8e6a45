"""A workspace server's process, started before anyone asks for it: imports first, then waits for its start.

Run by a bundle environment's Python (``python server_waiter.py <idle seconds>``), like :mod:`.app_server` it
imports only the standard library itself. It imports what a JupyterHub single-user server with JupyterLab needs
(about half of a server's start, ~1.3 s of the ~2.5-3 s on the 2-core development machine: JupyterHub's single-user
code alone pulls in SQLAlchemy and aiohttp), then waits, with nothing of any user in it, for one line on its stdin:
the start the spawner would otherwise give a new process (JSON: ``argv``, ``env``, ``cwd``, ``log``).

The spawner puts it into the size's control groups before it sends that line (and checks afterwards that it is
inside, as for a process it started itself). It then becomes that server before any of the server's code runs:
it sends its output to the server's log, reads nothing more from the hub (stdin is ``/dev/null``), takes the
server's environment, folder and arguments, and runs ``jupyterhub.singleuser``. Memory it took for its imports
before it was put into the groups stays counted where it was (the hub's group): ~100 MB at most.

Without a start within ``<idle seconds>``, or when the hub goes away (its end of stdin closes), it exits.
(Issue 13: a warm launch's server answered 1.4× later than ``jupyter lab`` from the same environment.)
"""

from __future__ import annotations

import json
import os
import select
import sys

#: What a server imports at its start; each is tried (an environment without one of them just imports less).
PRELOAD = ("jupyterhub.singleuser", "jupyterhub.singleuser.extension", "jupyter_server.serverapp",
           "jupyterlab.labapp", "jupyterlab_server", "jupyter_server_terminals", "jupyter_lsp", "notebook_shim",
           "jupyter_server.services.contents.largefilemanager", "jupyter_server.services.kernels.kernelmanager",
           "jupyter_server.services.sessions.sessionmanager", "jupyter_client.ioloop", "terminado")


def preload() -> None:
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - the server's own start reports what is missing, in its log
            pass


def read_start(idle: float) -> dict | None:
    ready, _, _ = select.select([sys.stdin], [], [], idle)
    if not ready:
        return None
    line = sys.stdin.buffer.readline()
    return json.loads(line) if line.strip() else None


def become(start: dict) -> None:
    """Turn this process into the server described by ``start`` (and never return)."""
    log = os.open(start["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ.clear()
    os.environ.update(start["env"])
    os.chdir(start["cwd"])
    sys.path.insert(0, os.getcwd())     # as ``python -m`` does
    sys.argv = ["jupyterhub-singleuser", *start["argv"]]
    from jupyterhub.singleuser import main

    main()
    sys.exit(0)


def run(idle: float) -> None:
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)                 # not the hub's folder: the server sees its environment only
    preload()
    start = read_start(idle)
    if start is None:
        sys.exit(0)
    become(start)


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 600.0)
