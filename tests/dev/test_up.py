"""``gereedschapskist up``: starts provider + hub, prints URL and accounts, Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from tests.devclient import HubUser, oidc_login
from gereedschapskist.dev.devstack import DevSecrets
from gereedschapskist.dev.processes import ManagedProcess, free_port, port_is_free
from gereedschapskist.dev.up import Restarts, Running, UpContext, UpStep, all_steps, run

CLI = str(Path(sys.executable).parent / "gereedschapskist")


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line or environment mention ``text`` (our children carry the state dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            blob = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            found.append(int(proc.name))
    return found


class Output:
    """Collects a process's output lines in a thread, so waiting for a line never blocks on buffering."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, marker: str, timeout: float) -> str:
        with self._changed:
            found = self._changed.wait_for(lambda: any(marker in line for line in self.lines), timeout)
        if not found:
            raise AssertionError(f"no {marker!r} within {timeout} s; output so far:\n" + "\n".join(self.lines))
        return "\n".join(self.lines)

    def until_closed(self, timeout: float) -> str:
        """Every line, once the process closed its output (or ``timeout`` passed)."""
        self._thread.join(timeout)
        return "\n".join(self.lines)


def stop_for_sure(proc: subprocess.Popen, state: Path) -> None:
    """After a failure: ask nicely, then kill the supervisor and every process of this test's stack."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in processes_mentioning(str(state)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_up_runs_the_stack_restarts_a_killed_hub_and_ctrl_c_stops_all_of_it(tmp_path):
    """One start of the whole stack for three behaviours (starting it is most of their time): ``up`` prints where
    to begin and the accounts, and the logins work; issue 12, defect 6: after ``kill -9`` of JupyterHub ``up``
    brings it back, and the portal answered throughout and learns that the hub is back without a restart of its
    own; Ctrl-C then stops all of it."""
    import httpx

    state = tmp_path / "state"
    hub_port, portal_port = free_port(), free_port()
    hub, portal = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{portal_port}"
    proc = subprocess.Popen([CLI, "up", "--state-dir", str(state), "--hub-port", str(hub_port),
                             "--portal-port", str(portal_port), "--provider-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = Output(proc)
        text = output.wait_for("Press Ctrl-C", timeout=180)
        assert f"Open / Open: http://127.0.0.1:{portal_port}/" in text       # the portal is where to begin
        assert f"JupyterHub: http://127.0.0.1:{hub_port}/hub/" in text
        for account in ("anna", "bram", "chris", "dana", "eva", "femke"):
            assert f"\n{account} " in text
        assert "org:minfin role:bi" in text and "org-admin:minfin" in text and "data-owner:cbs" in text
        assert str(state) in text
        # the catalogue offers streaming bundles: the local broker runs (tests/dev/test_kafka.py tests it alone)
        kafka_port = int(text.split("streaming workspaces get KAFKA_BOOTSTRAP_SERVERS): 127.0.0.1:")[1].split()[0])

        bram = HubUser.login(f"http://127.0.0.1:{hub_port}", "bram", "bram-demo")
        assert bram.groups() == ["org:cbs", "role:ml"]
        bram.close()
        anna = oidc_login(f"{portal}/login", "anna", "anna-demo")
        assert anna.get(f"{portal}/api/v1/me").json()["roles"] == ["bi"]
        assert processes_mentioning(str(state)), "the stack's processes carry the state directory"

        # kill -9 of the hub: up restarts it, the portal stays up and sees it back
        assert [e["available"] for e in anna.get(f"{portal}/api/v1/environments").json()] == [True]
        [hub_pid] = _process_pids(state, "jupyterhub\0-f")
        portal_pids = _process_pids(state, "uvicorn")
        cullers = [child.pid for child in psutil.Process(hub_pid).children()
                   if "jupyterhub_idle_culler" in " ".join(child.cmdline())]
        assert len(cullers) == 1, cullers
        os.kill(hub_pid, signal.SIGKILL)

        healthz, seen_down, back = [], [], False
        deadline = time.monotonic() + 40
        with httpx.Client(trust_env=False, timeout=5) as client:
            while time.monotonic() < deadline:
                healthz.append(client.get(f"{portal}/healthz").status_code)
                environments = anna.get(f"{portal}/api/v1/environments").json()
                if not environments[0]["available"]:
                    seen_down.append(environments[0]["message"])
                try:
                    back = client.get(f"{hub}/hub/api/").status_code == 200 and environments[0]["available"]
                except httpx.TransportError:
                    back = False
                if back and any("✓ jupyterhub restarted" in line for line in output.lines):
                    break
                time.sleep(0.25)
        text = "\n".join(output.lines)
        assert back, text
        assert set(healthz) == {200}, healthz                    # the portal answered all the time
        assert _process_pids(state, "uvicorn") == portal_pids     # … and is the same process
        assert _process_pids(state, "jupyterhub\0-f") not in ([], [hub_pid])
        assert "✗ jupyterhub stopped unexpectedly; restarting it in 1 s" in text
        assert not psutil.pid_exists(cullers[0]) or psutil.Process(cullers[0]).status() == psutil.STATUS_ZOMBIE, \
            "the killed hub's idle culler is still running"          # it ends with its hub (hub/parent_guard.py)
        assert str(state / "logs" / "jupyterhub.log") in text
        for message in seen_down:                                 # anna is no admin: no internal address
            assert f"127.0.0.1:{hub_port}" not in message, message
        anna.close()

        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        proc.wait(120)
        rest = output.until_closed(10)   # not wait_for("stopped"): the hub's "stopped unexpectedly" is there
    finally:
        stop_for_sure(proc, state)
    assert proc.returncode == 0, rest
    assert "stopping portal, jupyterhub, kafka, oidc-provider" in rest and rest.rstrip().endswith("stopped")
    assert processes_mentioning(str(state)) == []
    assert port_is_free(hub_port) and port_is_free(portal_port) and port_is_free(kafka_port)
    assert (state / "secrets.json").is_file() and (state / "logs" / "jupyterhub.log").is_file()


def test_up_refuses_busy_ports_clearly(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([CLI, "up", "--state-dir", str(tmp_path), "--hub-port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"port(s) in use on 127.0.0.1: hub {port}" in result.stderr


def test_hub_steps_come_first_and_others_register_through_entry_points():
    names = [s.name for s in all_steps()]
    assert names[:3] == ["oidc-provider", "kafka", "jupyterhub"]


def _sleeper(name: str, seconds: float, tmp_path: Path, *, later: float | None = None) -> UpStep:
    """A step whose process sleeps ``seconds`` (after a restart: ``later`` seconds, if given)."""
    starts = []

    def start(ctx: UpContext) -> Running:
        sleep = later if starts and later is not None else seconds
        starts.append(sleep)
        process = ManagedProcess(name, [sys.executable, "-c", f"import time; time.sleep({sleep})"],
                                 log_path=tmp_path / f"{name}.log").start()
        return Running(name, process.stop, lambda: process.running, lines=[f"{name} pid {process.pid}"],
                       log_path=process.log_path)

    return UpStep(name, 1, start)


def test_a_dying_service_is_restarted_and_ctrl_c_still_stops_all_in_reverse_order(tmp_path):
    """Issue 12, defect 6: a dead service is started again by its step; the others keep running."""
    ctx = UpContext(tmp_path, {}, DevSecrets.load_or_create(tmp_path))
    said: list[str] = []
    stop_event = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run(
        ctx, [_sleeper("long", 600, tmp_path), _sleeper("short", 0.3, tmp_path, later=600)], echo=said.append,
        stop_event=stop_event, restarts=Restarts(first_delay=0.05), poll=0.05)))
    thread.start()
    try:
        first_long = None
        deadline = time.monotonic() + 20
        while not any("✓ short restarted" in line for line in said):
            assert time.monotonic() < deadline, "\n".join(said)
            first_long = first_long or ctx.running.get("long")
            time.sleep(0.05)
        assert ctx.running["short"].alive() and ctx.running["long"] is first_long and first_long.alive()
    finally:
        stop_event.set()                                  # Ctrl-C
        thread.join(30)
    assert result == [0]
    died = next(line for line in said if "short stopped unexpectedly" in line)
    assert "restarting it in 0.05 s" in died and "long keep running" in died and str(tmp_path / "short.log") in died
    assert said.index("… stopping short, long") > said.index("✓ short restarted") and said[-1] == "stopped"
    assert not ctx.running["long"].alive() and not ctx.running["short"].alive()


class _Flaky:
    """A step without processes: every service it starts dies ``lives`` seconds after its start."""

    def __init__(self, name: str, lives: float | None):
        self.name, self.lives, self.starts, self.stops = name, lives, 0, 0

    def step(self) -> UpStep:
        def start(ctx: UpContext) -> Running:
            self.starts += 1
            born = time.monotonic()

            def stop() -> None:
                self.stops += 1

            return Running(self.name, stop, lambda: self.lives is None or time.monotonic() - born < self.lives,
                           log_path=ctx.state_dir / "logs" / f"{self.name}.log")

        return UpStep(self.name, 1, start)


def test_quick_deaths_in_a_row_stop_everything_with_a_message_naming_the_log(tmp_path):
    ctx = UpContext(tmp_path, {}, DevSecrets.load_or_create(tmp_path))
    steady, flaky = _Flaky("steady", None), _Flaky("flaky", 0.0)
    said: list[str] = []
    code = run(ctx, [steady.step(), flaky.step()], echo=said.append, stop_event=threading.Event(),
               restarts=Restarts(first_delay=0.01, give_up_after=3, window=60), poll=0.01)
    assert code == 1
    assert flaky.starts == 3 and steady.starts == 1          # the first start and two restarts, then no more
    waits = [line for line in said if "flaky stopped unexpectedly; restarting it in" in line]
    assert ["in 0.01 s" in waits[0], "in 0.02 s" in waits[1]] == [True, True]   # the backoff doubles
    assert (f"✗ flaky stopped unexpectedly 3 times within 60 s; giving up and stopping everything. See its log: "
            f"{tmp_path / 'logs' / 'flaky.log'}") in said
    assert "… stopping flaky, steady" in said and steady.stops == 1


def test_ctrl_c_during_a_backoff_stops_at_once(tmp_path):
    ctx = UpContext(tmp_path, {}, DevSecrets.load_or_create(tmp_path))
    steady, flaky = _Flaky("steady", None), _Flaky("flaky", 0.1)
    said: list[str] = []
    stop_event = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run(
        ctx, [steady.step(), flaky.step()], echo=said.append, stop_event=stop_event,
        restarts=Restarts(first_delay=30), poll=0.02)))
    thread.start()
    deadline = time.monotonic() + 10
    while not any("restarting it in 30 s" in line for line in said):
        assert time.monotonic() < deadline, "\n".join(said)
        time.sleep(0.02)
    began = time.monotonic()
    stop_event.set()                                          # Ctrl-C, 30 s before the restart
    thread.join(10)
    assert result == [0] and time.monotonic() - began < 2
    assert flaky.starts == 1 and steady.stops == 1 and said[-2:] == ["… stopping flaky, steady", "stopped"]


def test_the_backoff_doubles_up_to_30_seconds():
    assert [Restarts().delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def _process_pids(state: Path, marker: str) -> list[int]:
    pids = []
    for pid in processes_mentioning(str(state)):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            pass
    return pids


def test_a_port_left_in_time_wait_counts_as_free_but_a_listener_does_not():
    """Issue 12, defect 7: a restart within a minute found the hub's port 'in use' with only TIME_WAIT left."""
    import socket
    import threading

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.listen()
    assert not port_is_free(port)                    # something listens: busy

    def serve_once() -> None:
        conn, _ = server.accept()
        conn.close()                                 # the server closes first: its side goes to TIME_WAIT

    thread = threading.Thread(target=serve_once)
    thread.start()
    client = socket.create_connection(("127.0.0.1", port))
    thread.join()
    client.recv(1)
    client.close()
    server.close()
    with socket.socket() as plain:                   # a bind without SO_REUSEADDR still fails: TIME_WAIT is there
        try:
            plain.bind(("127.0.0.1", port))
            time_wait = False
        except OSError:
            time_wait = True
    assert time_wait, "the test did not leave a TIME_WAIT socket behind"
    assert port_is_free(port)                        # … and the check that up makes says free
