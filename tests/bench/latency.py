"""Helpers of the latency benchmark (``test_latency_under_load.py``): the portal in a uvicorn process of its own,
configured only by its ``GEREEDSCHAPSKIST_PORTAL_*`` variables, and latency figures per endpoint.

The portal runs in its own process, as in production, so the benchmark's client (in the test process) does not
share an interpreter lock with it. ``GEREEDSCHAPSKIST_BENCH_PORTAL_LOG=debug`` in the test's environment lets the
portal log at that level, with asyncio's debug mode (callbacks holding the event loop ≥ 50 ms are named in
the portal's log, printed by :meth:`PortalProcess.log_tail`).
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from gereedschapskist.dev.processes import ManagedProcess, ProcessFailed

ENV_PREFIX = "GEREEDSCHAPSKIST_PORTAL_"
LOG_LEVEL_ENV = "GEREEDSCHAPSKIST_BENCH_PORTAL_LOG"
REPOSITORY = Path(__file__).resolve().parents[2]     # where ``tests.bench`` is importable from


class PortalProcess:
    """``uvicorn --factory <app>`` on 127.0.0.1:``port``: one worker, its own process group, always stopped.
    ``settings``: the portal's settings by name (``database_url`` → ``…_DATABASE_URL``); ``app``: the factory,
    by default the portal with ``Server-Timing`` (:mod:`tests.bench.latency_app`)."""

    def __init__(self, *, port: int, folder: Path, settings: dict[str, str],
                 app: str = "tests.bench.latency_app:create"):
        self.url = f"http://127.0.0.1:{port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "portal.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        env.update({ENV_PREFIX + name.upper(): value for name, value in settings.items()})
        level = os.environ.get(LOG_LEVEL_ENV, "warning")
        if level == "debug":
            env["PYTHONASYNCIODEBUG"] = "1"
        options = ["--factory", app, "--app-dir", str(REPOSITORY), "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", level, "--no-access-log"]
        argv = [sys.executable, "-m", "uvicorn", *options]
        if level == "debug":
            argv = [sys.executable, "-c", _DEBUG_LAUNCHER, *options]
        self.process = ManagedProcess("portal", argv, log_path=self.log_path, env=env, cwd=folder,
                                      stop_timeout=15).start()

    def wait_ready(self, timeout: float = 60.0) -> "PortalProcess":
        try:
            self.process.wait_for_http(f"{self.url}/healthz", timeout=timeout, ok=lambda r: r.status_code == 200)
        except ProcessFailed as exc:
            self.stop()
            raise RuntimeError(f"the portal did not start: {exc}") from exc
        return self

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        self.process.stop()


#: uvicorn with asyncio's slow-callback report at 50 ms (only with GEREEDSCHAPSKIST_BENCH_PORTAL_LOG=debug).
_DEBUG_LAUNCHER = """
import asyncio, logging, sys
logging.basicConfig(level=logging.WARNING)
logging.getLogger("asyncio").setLevel(logging.DEBUG)
class _Loop(asyncio.SelectorEventLoop):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slow_callback_duration = 0.05
asyncio.SelectorEventLoop = _Loop
from uvicorn.main import main
sys.argv[0] = "uvicorn"
main()
"""


@dataclass(frozen=True)
class Figures:
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> "Figures":
        """Nearest-rank percentiles of the latencies (in seconds)."""
        ordered = sorted(seconds)
        if not ordered:
            return cls(0, math.nan, math.nan, math.nan)

        def rank(p: float) -> float:
            return 1000 * ordered[max(0, math.ceil(p * len(ordered)) - 1)]

        return cls(len(ordered), rank(0.50), rank(0.95), 1000 * ordered[-1])


_TIMING = re.compile(r'(app|hub);dur=([0-9.]+)(?:;desc="(\d+)")?')


@dataclass(frozen=True)
class Sample:
    """One answer: its latency at the client and, from its ``Server-Timing`` header (:mod:`tests.bench.latency_app`),
    the portal's time to answer (``app``), its time waiting on hubs (``hub``) and how many hub requests it made;
    all in seconds."""

    seconds: float
    app: float
    hub: float
    hub_calls: int

    @classmethod
    def of(cls, seconds: float, response: httpx.Response) -> "Sample":
        found = {name: (float(dur) / 1000, desc) for name, dur, desc in _TIMING.findall(
            response.headers.get("server-timing", ""))}
        app, hub = found.get("app", (math.nan, "")), found.get("hub", (math.nan, ""))
        return cls(seconds, app[0], hub[0], int(hub[1] or 0))
