"""Benchmark: warm time-to-notebook through the hub vs ``jupyter lab`` started directly, same virtualenv.

Through the hub: ``POST /hub/api/users/anna/servers/bench`` with ``{"bundle", "size"}`` → follow the
progress stream to ``ready`` → ``GET /user/anna/bench/api/status`` through the proxy answers 200.
Directly: start ``jupyter lab`` from the bundle's (already built) environment → ``GET /api/status``
answers 200. Both are timed in the same run, alternating, and the medians and their ratio are
printed (target ratio ≤ 1.5). Run with ``make bench`` (or ``pytest tests/bench -s``).
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import time
from pathlib import Path

import httpx

from gereedschapskist.dev.processes import free_port

ROUNDS = 5
OPTIONS = {"bundle": "tiny-cowsay", "size": "small"}


def wait_for_status(url: str, token: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.02
    with httpx.Client(trust_env=False, timeout=5.0, headers={"Authorization": f"token {token}"}) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"jupyter lab exited with {proc.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(delay)  # waiting on another process's port
            delay = min(delay * 1.5, 0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def time_through_hub(user) -> float:
    started = time.perf_counter()
    user.start_server("bench", OPTIONS)
    user.wait_until_ready("bench", timeout=300)
    wait_for_status(f"{user.server_url('bench')}api/status", user.token)
    elapsed = time.perf_counter() - started
    user.stop_server("bench")
    return elapsed


def time_direct(env_dir: Path, workdir: Path) -> float:
    token = secrets.token_hex(16)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    argv = [str(env_dir / "bin" / "jupyter-lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir}"]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=workdir,
                            start_new_session=True)
    try:
        wait_for_status(f"http://127.0.0.1:{port}/api/status", token, proc=proc)
        return time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_warm_time_to_notebook_through_the_hub_vs_jupyter_lab_directly(hub_stack, hub_user, tmp_path):
    anna = hub_user("anna")
    anna.start_server("bench", OPTIONS)  # first launch builds the environment: not timed
    anna.wait_until_ready("bench", timeout=900)
    anna.stop_server("bench")
    env_dir = next((Path(hub_stack.state_dir) / "envs").glob("tiny-cowsay-1.0.0-*"))
    time_direct(env_dir, tmp_path)  # warm the direct path too (page cache, first-run files)

    hub_times, direct_times = [], []
    for _ in range(ROUNDS):
        hub_times.append(time_through_hub(anna))
        direct_times.append(time_direct(env_dir, tmp_path))
    anna.stop_server("bench", remove=True)

    hub_median, direct_median = statistics.median(hub_times), statistics.median(direct_times)
    ratio = hub_median / direct_median
    print(f"\nwarm time-to-notebook, median of {ROUNDS} (bundle tiny-cowsay, same virtualenv):")
    print(f"  through the hub (POST → progress ready → /api/status via proxy): {hub_median:.2f} s  "
          f"[{', '.join(f'{t:.2f}' for t in hub_times)}]")
    print(f"  jupyter lab started directly (spawn → /api/status):             {direct_median:.2f} s  "
          f"[{', '.join(f'{t:.2f}' for t in direct_times)}]")
    print(f"  ratio hub / direct: {ratio:.2f}  (target ≤ 1.5)")
    assert all(t > 0 for t in hub_times + direct_times)
