"""The hub ends promptly on SIGTERM (``make up``'s Ctrl-C, a Kubernetes pod's termination), also while it compiles a
new environment's bytecode in the background (:meth:`gereedschapskist.hub.envbuilder.EnvBuilder.compile_later`).

That compile (``compileall -j 0``, at low priority, minutes for a large environment) kept the hub alive after its
cleanup had logged "...done": cancelling it killed compileall but its workers kept the output pipe open, and the
cancelled step waited for them until the hub was killed (30 s later in the tests, every module with its own hub).
The server started ahead for the environment's next start ends with the hub's process too, before it exits."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.dev.devstack import hub_api
from gereedschapskist.hub.envbuilder import COMPILED
from tests.apps_support import apps_stack  # noqa: F401 - fixture
from tests.devclient import HubUser

#: Far below the 30 s after which the tests' HubProcess.stop kills the hub; a prompt exit takes a second or two.
EXIT_BOUND_SECONDS = 15


def _processes_in(folder: Path) -> list[str]:
    """Command lines of running processes that name ``folder`` (an environment's Python, compileall of it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if str(folder) in cmdline and state != "Z":
            found.append(f"{proc.name}: {cmdline.strip()}")
    return found


def _waiters_of(env: Path) -> list[str]:
    """The servers started ahead (:mod:`gereedschapskist.hub.server_waiter`) from ``env``'s Python."""
    return [line for line in _processes_in(env) if "server_waiter.py" in line]


@pytest.mark.network        # the first build of tiny-panel's environment downloads Panel from PyPI
def test_the_hub_ends_soon_after_sigterm_while_compiling_a_new_environment(apps_stack, accounts_file):  # noqa: F811
    accounts = load_accounts(accounts_file)
    portal = hub_api(apps_stack.hub, apps_stack.secrets.portal_api_token)
    anna = HubUser.login(apps_stack.url, "anna", accounts["anna"].password, starter=portal)
    try:
        anna.start_server("tiny-panel-shutdown", {"bundle": "tiny-panel", "size": "small"})
        anna.wait_until_ready("tiny-panel-shutdown")
        time.sleep(3)       # the server started ahead for the next start (waiter_delay, 2 s) runs as well
    finally:
        anna.close()
        portal.close()
    [env] = (apps_stack.state_dir / "envs").glob("tiny-panel-*")
    # what this test is about: the background compile of the new environment (Panel, Bokeh, JupyterLab) still runs
    assert not (env / COMPILED).exists(), "the environment was compiled already: nothing to test"
    assert any("compileall" in line for line in _processes_in(env))
    assert _waiters_of(env), "no server started ahead for the environment: nothing to test of its end"

    hub = apps_stack.hub.process.popen
    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the hub still ran {EXIT_BOUND_SECONDS} s after SIGTERM; still running of its environment: "
                    f"{_processes_in(env)}")
    assert "...done" in apps_stack.hub.process.log_path.read_text(encoding="utf-8", errors="replace")
    # the hub ended the server started ahead, and waited for it, before its process exited (spawner.stop_waiters)
    assert _waiters_of(env) == []
    # nothing of the environment lives on: the compile ended with the hub, the server started ahead with its stdin
    deadline = time.monotonic() + 10
    while _processes_in(env) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_in(env) == []
