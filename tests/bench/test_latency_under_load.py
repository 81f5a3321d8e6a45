"""Benchmark: page and API latency while 5 workspaces are starting, against the same with none starting (issue 12).

Real parts: the development OpenID Connect provider and JupyterHub (local backend) of ``tests/conftest.py``'s
``hub_stack``, and the portal in its own uvicorn process (one worker, SQLite, the background sync every 5 s and
hub health remembered 5 s: the defaults). Five fresh users (like anna: role ``bi``, organisation minfin) log in
through the provider and at the hub (single sign-on), as browsers do.

Phases, in one run:

1. **starting** — the five launch ``tiny-cowsay`` at once (``POST /api/v1/workspaces``) and keep its progress
   stream open (``GET /api/v1/workspaces/{id}/progress``, server-sent events, as the workspace page does), while a
   client asks each page and API below, one request at a time, round robin over the users, until all five streams
   said ``ready``. When the bundle's environment is not built yet (the first launch on this hub), this phase
   includes the build and is labelled so; a later ``make bench`` measures it warm.
2. **none starting** — the same requests for a while with the five workspaces running (the reference).

Printed: p50, p95 and max per endpoint and phase, the ratio starting / none starting, and where the time goes:
from each answer's ``Server-Timing`` header (``latency_app.py``: the real app, its hub adapter timed) how many hub
requests it made and how long the portal waited on the hub. Asserted: every answer
is 200, all five became ready, and the portal and the hub agree they run; never a timing (the project rule for
benchmarks; the machine is shared).
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.bench.latency import Figures, PortalProcess, Sample
from tests.devclient import hub_sso_login, oidc_login
from tests.portal.support import TestDatabase

USERS = 5
BUNDLE = "tiny-cowsay"
LAUNCH = {"bundle": BUNDLE, "size": "small"}
REFERENCE_SECONDS = 10.0
START_TIMEOUT = 300.0

#: What a user's browser or script asks; ``{id}``: the user's own workspace.
ENDPOINTS = {
    "home page": "/",
    "catalogue page": "/catalogue",
    "bundle page": f"/catalogue/{BUNDLE}",
    "my workspaces page": "/workspaces",
    "workspace page": "/workspaces/{id}",
    "GET /api/v1/workspaces": "/api/v1/workspaces",
    "GET /api/v1/workspaces/{id}": "/api/v1/workspaces/{id}",
    "GET …/{id}/usage": "/api/v1/workspaces/{id}/usage",
    "GET /api/v1/bundles": "/api/v1/bundles",
}


class BenchUser:
    """One logged-in user: the cookies of the portal (and of the provider and hub) and their workspace."""

    def __init__(self, username: str, cookies: httpx.Cookies, csrf: str):
        self.username, self.cookies, self.csrf = username, cookies, csrf
        self.workspace: int | None = None
        self.server_name: str | None = None
        self.events: list[tuple[str, dict]] = []
        self.ready_after: float | None = None


def login(portal: PortalProcess, hub_url: str, username: str, password: str) -> BenchUser:
    client = oidc_login(f"{portal.url}/login", username, password)
    try:
        hub_sso_login(client, hub_url)       # the hub knows users from its own (single sign-on) login
        me = client.get(f"{portal.url}/api/v1/me")
        assert me.status_code == 200, me.text
        return BenchUser(username, client.cookies, me.json()["csrf_token"])
    finally:
        client.close()


async def follow(client: httpx.AsyncClient, user: BenchUser, began: float) -> None:
    """Read the workspace's progress stream to its final event, as the workspace page's script does."""
    name = None
    async with client.stream("GET", f"/api/v1/workspaces/{user.workspace}/progress",
                             timeout=httpx.Timeout(START_TIMEOUT, connect=10)) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                user.events.append((name or "", json.loads(line[5:])))
    user.ready_after = time.perf_counter() - began


async def sample(clients: list[tuple[BenchUser, httpx.AsyncClient]], until, samples: dict[str, list[Sample]]) -> None:
    """One request at a time, round robin over users and endpoints, until ``until()`` says stop."""
    while True:
        for user, client in clients:
            for name, path in ENDPOINTS.items():
                if until():
                    return
                started = time.perf_counter()
                response = await client.get(path.format(id=user.workspace))
                samples[name].append(Sample.of(time.perf_counter() - started, response))
                assert response.status_code == 200, (name, user.username, response.status_code, response.text[:300])


async def run_phases(portal: PortalProcess, users: list[BenchUser]) -> dict:
    limits = httpx.Limits(max_connections=4)
    clients = [(u, httpx.AsyncClient(base_url=portal.url, cookies=u.cookies, limits=limits, trust_env=False,
                                     headers={"Accept-Language": "en"}, timeout=60)) for u in users]
    try:
        for user, client in clients:                    # warm every endpoint (the user has no workspace yet)
            for name, path in ENDPOINTS.items():
                if "{id}" not in path:
                    assert (await client.get(path)).status_code == 200, name

        starting: dict[str, list[Sample]] = {name: [] for name in ENDPOINTS}
        began = time.perf_counter()

        async def launch(user: BenchUser, client: httpx.AsyncClient) -> float:
            t = time.perf_counter()
            response = await client.post("/api/v1/workspaces", json=LAUNCH, headers={"X-CSRF-Token": user.csrf})
            assert response.status_code == 202, response.text
            user.workspace, user.server_name = response.json()["id"], response.json()["server_name"]
            return time.perf_counter() - t

        launch_seconds = await asyncio.gather(*(launch(u, c) for u, c in clients))
        streams = [asyncio.create_task(follow(c, u, began)) for u, c in clients]
        await sample(clients, lambda: all(s.done() for s in streams), starting)
        await asyncio.gather(*streams)                 # raises what a stream raised
        start_window = time.perf_counter() - began

        reference: dict[str, list[Sample]] = {name: [] for name in ENDPOINTS}
        stop_at = time.perf_counter() + REFERENCE_SECONDS
        await sample(clients, lambda: time.perf_counter() > stop_at, reference)
        return {"starting": starting, "reference": reference, "launch_seconds": launch_seconds,
                "start_window": start_window}
    finally:
        for _, client in clients:
            await client.aclose()


def end_workspaces(portal: PortalProcess, users: list[BenchUser]) -> None:
    """Stop and delete the benchmark's workspaces, all at once (the hub's named servers go too)."""

    def end(user: BenchUser) -> None:
        with httpx.Client(base_url=portal.url, cookies=user.cookies, trust_env=False, timeout=60,
                          headers={"X-CSRF-Token": user.csrf}) as client:
            client.post(f"/api/v1/workspaces/{user.workspace}/stop")
            deadline = time.monotonic() + 60
            while client.get(f"/api/v1/workspaces/{user.workspace}").json()["status"] not in ("stopped", "failed"):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # the hub stops the server in the background
            client.delete(f"/api/v1/workspaces/{user.workspace}", params={"confirm": "true"})

    with ThreadPoolExecutor(max_workers=USERS) as pool:
        list(pool.map(end, [u for u in users if u.workspace is not None]))


def env_built(hub_stack) -> bool:
    return any((Path(hub_stack.state_dir) / "envs").glob(f"{BUNDLE}-1.0.0-*/gereedschapskist-env.json"))


def measure(hub_stack, make_account, folder: Path) -> dict:
    """Both phases against ``hub_stack`` for ``USERS`` fresh accounts from ``make_account()``; the portal's files
    in ``folder``. Returns the latencies, the users, what the hub says of their servers and whether it was warm."""
    warm = env_built(hub_stack)
    database = TestDatabase.sqlite(folder / "db")
    portal = PortalProcess(port=hub_stack.ports.portal, folder=folder / "portal", settings={
        "database_url": database.url, "session_secret": "bench-" + "x" * 40,
        "public_url": f"http://127.0.0.1:{hub_stack.ports.portal}", "oidc_issuer": hub_stack.provider.issuer,
        "oidc_client_id": "portal", "oidc_client_secret": hub_stack.secrets.portal_client_secret,
        "organisations": "cbs minfin", "hub_url": hub_stack.url, "hub_api_token": hub_stack.portal_api_token,
        "catalogue_dir": str(hub_stack.catalogue_dir)})
    users: list[BenchUser] = []
    try:
        portal.wait_ready()
        for _ in range(USERS):
            account = make_account()
            users.append(login(portal, hub_stack.url, account.username, account.password))
        result = asyncio.run(run_phases(portal, users))
        with httpx.Client(base_url=hub_stack.api_url, trust_env=False,
                          headers={"Authorization": f"token {hub_stack.portal_api_token}"}) as hub:
            result["at_hub"] = {u.username: hub.get(f"/users/{u.username}").json().get("servers", {}) for u in users}
    finally:
        try:
            end_workspaces(portal, users)
        finally:
            portal.stop()
            database.drop()
    result.update(users=users, warm=warm, portal_log=portal.log_tail())
    return result


def report(result: dict) -> None:
    users: list[BenchUser] = result["users"]
    case = "warm: environment already built" if result["warm"] else "cold: the first start built the environment"
    print(f"\n\nPortal latency while {USERS} workspaces start ({BUNDLE}, {case}); uvicorn, 1 worker, SQLite, "
          "background sync every 5 s")
    print(f"  launches (POST /api/v1/workspaces, concurrent): "
          f"{', '.join(f'{s * 1000:.0f}' for s in sorted(result['launch_seconds']))} ms")
    print(f"  all {USERS} ready after {result['start_window']:.1f} s "
          f"(each: {', '.join(f'{u.ready_after:.1f}' for u in sorted(users, key=lambda u: u.ready_after))} s); "
          f"reference: {REFERENCE_SECONDS:g} s with the {USERS} running, none starting")
    print(f"{'endpoint':28} {'n':>4} {'p50':>7} {'p95':>7} {'max':>7} | {'n':>4} {'p50':>7} {'p95':>7} {'max':>7}"
          f" | {'p95 ratio':>9}")
    print(f"{'':28} {'while starting (ms)':>28} | {'none starting (ms)':>28} |")
    for name in ENDPOINTS:
        s, r = (Figures.of([x.seconds for x in result[phase][name]]) for phase in ("starting", "reference"))
        print(f"{name:28} {s.count:>4} {s.p50_ms:>7.1f} {s.p95_ms:>7.1f} {s.max_ms:>7.1f} | {r.count:>4} "
              f"{r.p50_ms:>7.1f} {r.p95_ms:>7.1f} {r.max_ms:>7.1f} | {s.p95_ms / r.p95_ms:>8.2f}×")
    print("\nWhere the time goes (Server-Timing): hub requests per answer, and p50/p95 of the portal's time to answer "
          "(app) and of its waits on the hub within it, ms")
    print(f"{'endpoint':28} {'hub calls':>9} {'app p50':>8} {'app p95':>8} {'hub p50':>8} {'hub p95':>8} | "
          f"{'hub calls':>9} {'app p95':>8} {'hub p95':>8}")
    print(f"{'':28} {'while starting':>43} | {'none starting':>28}")
    for name in ENDPOINTS:
        s, r = result["starting"][name], result["reference"][name]
        sa, sh = Figures.of([x.app for x in s]), Figures.of([x.hub for x in s])
        ra, rh = Figures.of([x.app for x in r]), Figures.of([x.hub for x in r])
        print(f"{name:28} {sum(x.hub_calls for x in s) / len(s):>9.2f} {sa.p50_ms:>8.1f} {sa.p95_ms:>8.1f} "
              f"{sh.p50_ms:>8.1f} {sh.p95_ms:>8.1f} | {sum(x.hub_calls for x in r) / len(r):>9.2f} {ra.p95_ms:>8.1f} "
              f"{rh.p95_ms:>8.1f}")


def test_latency_while_five_workspaces_start(hub_stack, new_account, tmp_path):
    result = measure(hub_stack, lambda: new_account("anna"), tmp_path)
    report(result)
    for user in result["users"]:
        assert user.events and user.events[-1][0] == "ready", (user.username, user.events[-3:], result["portal_log"])
        # the hub agrees: each user's server runs
        assert result["at_hub"][user.username].get(user.server_name, {}).get("ready"), result["at_hub"][user.username]
    for phase in ("starting", "reference"):
        assert all(result[phase][name] for name in ENDPOINTS), (phase, {n: len(v) for n, v in result[phase].items()})
