"""``gereedschapskist up``: starts provider + hub, prints URL and accounts, Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.devclient import HubUser, oidc_login
from gereedschapskist.dev.devstack import DevSecrets
from gereedschapskist.dev.processes import ManagedProcess, free_port, port_is_free
from gereedschapskist.dev.up import Running, UpContext, UpStep, all_steps, run

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


def test_up_runs_the_stack_and_ctrl_c_stops_all_of_it(tmp_path):
    state = tmp_path / "state"
    hub_port, portal_port = free_port(), free_port()
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

        bram = HubUser.login(f"http://127.0.0.1:{hub_port}", "bram", "bram-demo")
        assert bram.groups() == ["org:cbs", "role:ml"]
        bram.close()
        anna = oidc_login(f"http://127.0.0.1:{portal_port}/login", "anna", "anna-demo")
        assert anna.get(f"http://127.0.0.1:{portal_port}/api/v1/me").json()["roles"] == ["bi"]
        anna.close()
        assert processes_mentioning(str(state)), "the stack's processes carry the state directory"

        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        proc.wait(120)
        rest = output.wait_for("stopped", timeout=10)
    finally:
        stop_for_sure(proc, state)
    assert proc.returncode == 0, rest
    assert "stopping portal, jupyterhub, oidc-provider" in rest and rest.rstrip().endswith("stopped")
    assert processes_mentioning(str(state)) == []
    assert port_is_free(hub_port) and port_is_free(portal_port)
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
    assert names[:2] == ["oidc-provider", "jupyterhub"]


def _sleeper(name: str, seconds: float, tmp_path: Path) -> UpStep:
    def start(ctx: UpContext) -> Running:
        process = ManagedProcess(name, [sys.executable, "-c", f"import time; time.sleep({seconds})"],
                                 log_path=tmp_path / f"{name}.log").start()
        return Running(name, process.stop, lambda: process.running, lines=[f"{name} pid {process.pid}"])

    return UpStep(name, 1, start)


def test_a_dying_service_stops_the_others_in_reverse_order(tmp_path):
    ctx = UpContext(tmp_path, {}, DevSecrets.load_or_create(tmp_path))
    said: list[str] = []
    code = run(ctx, [_sleeper("long", 600, tmp_path), _sleeper("short", 0.5, tmp_path)], echo=said.append,
               stop_event=threading.Event())
    assert code == 1
    assert any("short stopped unexpectedly" in line for line in said)
    assert "… stopping short, long" in said
    assert not ctx.running["long"].alive()


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
