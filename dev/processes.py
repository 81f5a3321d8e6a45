"""Child processes of ``make up`` and the test fixtures: started with a log file, stopped for sure.

A :class:`ManagedProcess` runs in its own session (so Ctrl-C in a terminal reaches only the
supervisor, which then stops its children in order), writes to one log file, and is stopped by
SIGTERM, then SIGKILL to its whole process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import httpx


class ProcessFailed(Exception):
    """A managed process did not start, or died; the message carries the end of its log."""

    reason = "process-failed"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``127.0.0.1:port`` now. The check binds as the servers themselves do,
    with ``SO_REUSEADDR``: sockets of a stopped server left in TIME_WAIT (for about a minute) do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _busy(pid: int | None) -> str:
    """How much CPU a running process has used and how loaded the machine is: tells a stuck start from a starved one."""
    parts = []
    try:  # /proc/<pid>/stat: fields 14 and 15 are user and system time in clock ticks (after the command in parens)
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        parts.append(f"{(int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'):.1f} s CPU used")
    except (OSError, ValueError, IndexError):
        pass
    try:
        parts.append(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    except OSError:
        pass
    return f", {', '.join(parts)}" if parts else ""


class ManagedProcess:
    """One child process: ``start()``, ``wait_until(...)``, ``stop()``."""

    def __init__(self, name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, stop_signal: int = signal.SIGTERM, stop_timeout: float = 20.0):
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.popen: subprocess.Popen | None = None
        self._log = None

    def start(self, *, stdout_pipe: bool = False) -> "ManagedProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(self.argv)}\n".encode())
        self._log.flush()
        try:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if stdout_pipe else self._log,
                stderr=self._log, env=self.env, cwd=self.cwd, start_new_session=True)
        except OSError as exc:
            self._log.close()
            raise ProcessFailed(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def failed(self, what: str) -> ProcessFailed:
        code = self.popen.poll() if self.popen else None
        status = f"exited with code {code}" if code is not None else f"is running{_busy(self.pid)}"
        return ProcessFailed(f"{self.name} {what} ({status}); last lines of {self.log_path}:\n{self.log_tail()}")

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str = "did not become ready") -> None:
        """Poll ``ready()`` (another process's state: polling is the only way) until true, failing fast on exit."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if not self.running:
                raise self.failed("stopped while starting")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self.failed(f"{what} within {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def wait_for_http(self, url: str, *, timeout: float, ok: Callable[[httpx.Response], bool] | None = None) -> None:
        check = ok or (lambda response: response.status_code < 500)

        def ready() -> bool:
            try:
                return check(httpx.get(url, timeout=2.0, trust_env=False))
            except httpx.TransportError:
                return False

        self.wait_until(ready, timeout=timeout, what=f"did not answer on {url}")

    def stop(self) -> int | None:
        """Ask the process to stop; kill its whole group if it does not. Returns the exit code."""
        if self.popen is None:
            return None
        try:
            if self.popen.poll() is None:
                try:
                    self.popen.send_signal(self.stop_signal)
                    self.popen.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    pass
            try:  # leftovers in its group (children it did not stop), or the process itself
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
            return self.popen.returncode
        finally:
            if self.popen.stdout is not None:
                self.popen.stdout.close()
            if self._log is not None:
                self._log.close()
                self._log = None
