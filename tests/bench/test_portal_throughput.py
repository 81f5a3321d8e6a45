"""Benchmark: the portal's reads — the catalogue and "my workspaces", as JSON and as HTML pages — against a bare
FastAPI endpoint, in one run, and their latency with 10 and with 10,000 members across 100 organisations.

The portal runs as it does in production — uvicorn, one worker, its own process — on SQLite (and on
PostgreSQL too when GEREEDSCHAPSKIST_TEST_DATABASE_URL is set). The bare endpoints are a plain FastAPI app in the
same process (``portal_bench_app``), without the portal's middleware. A client in this process keeps
``CONCURRENCY`` requests in flight for ``SECONDS`` per endpoint and round; the figures are the median of
the rounds. Besides requests per second it prints the server's CPU time per request (process and threads), which
a busy machine disturbs much less than throughput. Targets: each portal endpoint ≥ 50 % of the bare ``def``
endpoint's throughput; p95 latency flat between 10 and 10,000 members. Printed, not asserted as timings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import insert, select

from gereedschapskist.portal.models import (
    Environment, EnvironmentKind, EnvironmentStage, EnvironmentStatus, Member, MemberRole, MemberRoleName,
    MemberStatus, Organisation, User, UserRole, Workspace, WorkspaceStatus, utcnow,
)
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.support import DatabaseUnreachable, TestDatabase, session_cookie

HERE = Path(__file__).resolve().parent
TEST_DATABASE_ENV = "GEREEDSCHAPSKIST_TEST_DATABASE_URL"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get(TEST_DATABASE_ENV) else [])
CONCURRENCY = 8
ROUNDS = int(os.environ.get("GEREEDSCHAPSKIST_BENCH_ROUNDS", "1"))     # `make test`: a smoke round; `make bench`: 6
SECONDS = 1.5 if ROUNDS > 1 else 0.5                                    # per endpoint and round (smoke: 0.5 s)
ORGANISATIONS = 100
ROLES = ("bi", "ml", "streaming", "dev")
SECRET = "bench-" + "x" * 40

ENDPOINTS = {
    "bare FastAPI (def)": "/_bench/bare",
    "bare FastAPI (async def)": "/_bench/bare-async",
    "catalogue listing (JSON)": "/api/v1/bundles",
    "my workspaces (JSON)": "/api/v1/workspaces",
    "catalogue page (HTML)": "/catalogue",
    "my workspaces page (HTML)": "/workspaces",
}


def seed(database: TestDatabase, members: int) -> int:
    """``members`` users spread over 100 organisations, each with roles and two workspaces (one running);
    returns the id of the user the benchmark logs in as."""
    now = utcnow()
    with database.engine.begin() as db:
        db.execute(insert(Organisation), [{"slug": f"org{i:03d}", "name": f"Organisation {i}", "created_at": now}
                                          for i in range(ORGANISATIONS)])
        db.execute(insert(Environment), [{"name": "local", "kind": EnvironmentKind.LOCAL,
                                          "stage": EnvironmentStage.DEVELOPMENT, "status": EnvironmentStatus.ACTIVE,
                                          "hub_url": "http://127.0.0.1:9", "hub_api_url": "http://127.0.0.1:9/hub/api",
                                          "created_at": now, "updated_at": now}])
        org_ids = list(db.scalars(select(Organisation.id).order_by(Organisation.id)))
        env_id = db.scalar(select(Environment.id))
        db.execute(insert(User), [{"issuer": "https://bench", "subject": f"s{i}", "username": f"user{i:05d}",
                                   "name": f"User {i}", "email": f"user{i}@example.nl", "platform_admin": False,
                                   "created_at": now, "last_login_at": now} for i in range(members)])
        user_ids = list(db.scalars(select(User.id).order_by(User.id)))
        db.execute(insert(UserRole), [{"user_id": u, "role": ROLES[i % 4]} for i, u in enumerate(user_ids)]
                   + [{"user_id": u, "role": ROLES[(i + 1) % 4]} for i, u in enumerate(user_ids)])
        db.execute(insert(Member), [{"user_id": u, "organisation_id": org_ids[i % ORGANISATIONS],
                                     "status": MemberStatus.ACTIVE, "since": now} for i, u in enumerate(user_ids)])
        member_ids = list(db.scalars(select(Member.id).order_by(Member.id)))
        db.execute(insert(MemberRole), [{"member_id": m, "role": MemberRoleName.DATA_SCIENTIST} for m in member_ids])
        rows = []
        for i, u in enumerate(user_ids):
            for n, status in enumerate((WorkspaceStatus.RUNNING, WorkspaceStatus.STOPPED)):
                rows.append({"user_id": u, "organisation_id": org_ids[i % ORGANISATIONS], "environment_id": env_id,
                             "server_name": f"bi-sql-duckdb-{i}-{n}", "bundle_id": "bi-sql-duckdb",
                             "bundle_version": "1.0.0", "size_id": "small", "interface": "jupyterlab",
                             "status": status, "url": "http://127.0.0.1:9/user/x/" if n == 0 else None,
                             "created_at": now, "updated_at": now})
        for start in range(0, len(rows), 5000):
            db.execute(insert(Workspace), rows[start:start + 5000])
    return user_ids[len(user_ids) // 2]


@dataclass
class Figures:
    throughput: float       # requests per second
    p50_ms: float
    p95_ms: float
    cpu_ms: float = 0.0     # the server's CPU time per request (all its threads)


async def _load(client: httpx.AsyncClient, path: str, seconds: float) -> Figures:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = await client.get(path)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return Figures(len(latencies) / elapsed, 1000 * latencies[len(latencies) // 2],
                   1000 * latencies[int(len(latencies) * 0.95) - 1])


def measure(base_url: str, cookie: tuple[str, str], server: psutil.Process) -> dict[str, Figures]:
    def cpu_seconds() -> float:
        times = server.cpu_times()
        return times.user + times.system

    async def run() -> dict[str, list[Figures]]:
        results: dict[str, list[Figures]] = {name: [] for name in ENDPOINTS}
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, cookies={cookie[0]: cookie[1]},
                                     headers={"Accept-Language": "en"}, trust_env=False) as client:
            for path in ENDPOINTS.values():                      # warm up every endpoint once
                await _load(client, path, 0.2)
            for _ in range(ROUNDS):                              # interleave endpoints: noise hits all alike
                for name, path in ENDPOINTS.items():
                    before = cpu_seconds()
                    figures = await _load(client, path, SECONDS)
                    figures.cpu_ms = 1000 * (cpu_seconds() - before) / max(1.0, figures.throughput * SECONDS)
                    results[name].append(figures)
        return results

    raw = asyncio.run(run())
    return {name: Figures(*(statistics.median(getattr(f, field) for f in runs)
                            for field in ("throughput", "p50_ms", "p95_ms", "cpu_ms")))
            for name, runs in raw.items()}


class Server:
    """The portal in its own uvicorn process (own process group, always stopped)."""

    def __init__(self, database: TestDatabase, tmp: Path):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEREEDSCHAPSKIST_PORTAL_")}
        env.update({"GEREEDSCHAPSKIST_PORTAL_DATABASE_URL": database.url,
                    "GEREEDSCHAPSKIST_PORTAL_SESSION_SECRET": SECRET, "GEREEDSCHAPSKIST_PORTAL_STATE_DIR": str(tmp),
                    "GEREEDSCHAPSKIST_PORTAL_PUBLIC_URL": self.url,
                    "GEREEDSCHAPSKIST_PORTAL_RECONCILE_INTERVAL_SECONDS": "0"})
        tmp.mkdir(parents=True, exist_ok=True)
        self.log = open(tmp / "portal.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "portal_bench_app:create", "--app-dir", str(HERE),
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
            env=env, cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the portal did not start: {(tmp / 'portal.log').read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


def _database(backend: str, tmp: Path) -> TestDatabase:
    if backend == "sqlite":
        return TestDatabase.sqlite(tmp / "db")
    try:
        return TestDatabase.postgresql(os.environ[TEST_DATABASE_ENV])
    except DatabaseUnreachable as exc:
        pytest.fail(f"{TEST_DATABASE_ENV} is set but {exc}", pytrace=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_portal_throughput_and_latency(backend, tmp_path):
    report: dict[int, dict[str, Figures]] = {}
    for members in (10, 10_000):
        database = _database(backend, tmp_path / f"{backend}-{members}")
        try:
            user_id = seed(database, members)
            server = Server(database, tmp_path / f"{backend}-{members}")
            try:
                settings = PortalSettings(session_secret=SECRET, database_url=database.url)  # the session row
                cookie = (settings.session_cookie, session_cookie(settings, {"uid": user_id, "csrf": "bench"}))
                report[members] = measure(server.url, cookie, psutil.Process(server.process.pid))
            finally:
                server.stop()
        finally:
            database.drop()

    print(f"\n\nPortal benchmark on {backend}: uvicorn, 1 worker; {CONCURRENCY} requests in flight; median of "
          f"{ROUNDS} rounds × {SECONDS:g} s per endpoint")
    print(f"{'endpoint':30} {'members':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/req':>11} "
          f"{'vs bare def':>12} {'vs bare async':>14}")
    for members, figures in report.items():
        bare, bare_async = figures["bare FastAPI (def)"], figures["bare FastAPI (async def)"]
        for name, f in figures.items():
            print(f"{name:30} {members:>8} {f.throughput:>8.0f} {f.p50_ms:>8.1f} {f.p95_ms:>8.1f} {f.cpu_ms:>11.2f} "
                  f"{f.throughput / bare.throughput:>11.0%} {f.throughput / bare_async.throughput:>13.0%}")
    print("\nLatency with 10 vs 10,000 members across 100 organisations (p95, ratio; target: flat)")
    for name in ENDPOINTS:
        if name.startswith("bare"):
            continue
        small, big = report[10][name].p95_ms, report[10_000][name].p95_ms
        print(f"{name:30} {small:>7.1f} ms → {big:>7.1f} ms   ×{big / small:.2f}")
    for members, figures in report.items():
        for name, f in figures.items():
            assert f.throughput > 0 and f.p95_ms > 0, (members, name)
