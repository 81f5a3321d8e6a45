"""The local backend end to end: real provider, real hub and proxy, real bundle environments.

The test catalogue (``tests/hub/fixtures/catalogue``) holds tiny bundles: ``tiny-cowsay`` (bi) has
``cowsay``, which the project's own .venv lacks, so importing it in a kernel proves the server runs
from the bundle's own environment.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.devclient import HubRequestFailed

COWSAY = {"bundle": "tiny-cowsay", "size": "small"}
FRESH = {"bundle": "tiny-fresh", "size": "small"}  # a first launch: the test removes a build left by the bench


def envs(stack) -> list[str]:
    root = Path(stack.state_dir) / "envs"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def running_servers(user) -> dict:
    return {name: s for name, s in user.model()["servers"].items() if s.get("ready") or s.get("pending")}


def test_the_project_venv_lacks_the_test_bundles_package():
    assert importlib.util.find_spec("cowsay") is None


def test_login_start_bundle_run_code_from_its_own_env_and_stop(hub_stack, hub_user):
    anna = hub_user("anna")
    assert anna.groups() == ["org:minfin", "role:bi"]  # from the token's groups claim

    # The first launch builds the environment (~100 packages): it cannot finish within the hub's
    # slow-spawn wait, so the request answers 202 and progress events tell the story. The first-launch benchmark
    # launches tiny-fresh too: remove what it built, so that this is a first launch whatever ran before.
    for built in (hub_stack.state_dir / "envs").glob("tiny-fresh-1.0.0-*"):
        shutil.rmtree(built)
    assert anna.start_server("work", FRESH) == 202
    events = anna.wait_until_ready("work")
    messages = [e.get("message", "") for e in events]
    assert any(m.startswith("Building the environment of tiny-fresh 1.0.0") for m in messages), messages
    assert any(m.startswith("Installed ") for m in messages), messages
    assert "Starting the server process" in messages
    percents = [e["progress"] for e in events if "progress" in e]
    assert percents == sorted(percents) and len(set(percents)) >= 6, events  # the bar moves while it builds
    assert events[-1]["ready"] is True

    out = anna.run_code("work", "import cowsay, sys, os\nprint(sys.prefix)\nprint(cowsay.__file__)\n"
                                "print(os.environ['GEREEDSCHAPSKIST_BUNDLE'])")
    prefix, module_file, bundle = out.split()
    assert Path(prefix).parent == Path(hub_stack.state_dir).resolve() / "envs"
    assert Path(prefix).name.startswith("tiny-fresh-1.0.0-")
    assert module_file.startswith(prefix)
    assert bundle == "tiny-fresh"

    pids = Path(hub_stack.state_dir) / "hub" / "servers"
    mine = [p for p in pids.glob("*.pid") if json.loads(p.read_text())["server"] == "anna/work"]
    assert len(mine) == 1                          # recorded while it runs (other tests' servers may be there too)
    anna.stop_server("work", remove=True)
    assert "work" not in running_servers(anna)
    assert not mine[0].exists()                    # and forgotten when it stops


def test_second_launch_reuses_the_built_environment(hub_stack, hub_user):
    anna = hub_user("anna")
    anna.start_server("again", COWSAY)
    anna.wait_until_ready("again")  # builds if no earlier test did
    before = [e for e in envs(hub_stack) if e.startswith("tiny-cowsay-")]
    anna.stop_server("again")  # stopped, kept: started again below

    manifest = Path(hub_stack.state_dir) / "envs" / before[0] / "gereedschapskist-env.json"
    built_at = manifest.stat().st_mtime_ns

    anna.start_server("again", {"bundle": "tiny-cowsay", "size": "medium"})
    anna.wait_until_ready("again")
    assert [e for e in envs(hub_stack) if e.startswith("tiny-cowsay-")] == before and len(before) == 1
    assert manifest.stat().st_mtime_ns == built_at  # reused, not rebuilt
    anna.stop_server("again", remove=True)  # stopped, kept: started again below


def _waiters(env_name: str) -> list[int]:
    """Pids of servers started ahead (:mod:`gereedschapskist.hub.server_waiter`) for the environment ``env_name``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "server_waiter.py" in cmdline and f"/{env_name}/bin/python" in cmdline:
            found.append(int(proc.name))
    return found


def test_a_server_started_ahead_takes_the_next_start_as_its_own(hub_stack, hub_user):
    """Issue 13: after a workspace of an environment answered, the hub starts that environment's next server ahead
    (imports done, nobody's data in it); the next start hands it its arguments, environment, home and log, and it
    runs as that user's server, inside the size's limits (the spawner checks that as for any start)."""
    anna = hub_user("anna")
    anna.start_server("ahead-1", COWSAY)
    anna.wait_until_ready("ahead-1")
    env_name = next(e for e in envs(hub_stack) if e.startswith("tiny-cowsay-"))
    anna.stop_server("ahead-1", remove=True)
    deadline = time.monotonic() + 60
    while not (waiting := _waiters(env_name)):
        assert time.monotonic() < deadline, "no server was started ahead"
        time.sleep(0.2)

    anna.start_server("ahead-2", COWSAY)
    anna.wait_until_ready("ahead-2")
    pids = Path(hub_stack.state_dir) / "hub" / "servers"
    pid = next(int(p.stem) for p in pids.glob("*.pid") if json.loads(p.read_text())["server"] == "anna/ahead-2")
    assert pid in waiting                           # the process started ahead is the server now
    # (/proc/<pid>/environ shows what the process started with, before it took the start: ask its kernel instead)
    out = anna.run_code("ahead-2", "import cowsay, os\nprint(os.getcwd())\nprint(os.environ['HOME'])\n"
                                   "print(os.environ['JUPYTERHUB_USER'], os.environ['JUPYTERHUB_SERVER_NAME'])\n"
                                   "print(os.environ['GEREEDSCHAPSKIST_BUNDLE'])\nprint(os.getppid())")
    cwd, home, user, server, bundle, parent = out.split()
    assert (user, server, bundle) == ("anna", "ahead-2", "tiny-cowsay")
    assert Path(cwd) == Path(home) and int(parent) == pid    # the kernel is the started-ahead process's child
    log = Path(hub_stack.state_dir) / "hub" / "logs"
    assert any("Server started" in f.read_text(errors="replace") or "Jupyter Server" in f.read_text(errors="replace")
               for f in log.glob("*ahead-2.log")), "the server's output is in its own log"
    anna.stop_server("ahead-2", remove=True)


@pytest.mark.parametrize(("options", "reason", "words"), [
    ({"bundle": "tiny-ml", "size": "small"}, "role", "role ml"),
    ({"bundle": "tiny-cowsay", "size": "huge"}, "unknown-size", "no size 'huge'"),
    ({"bundle": "no-such-bundle"}, "unknown-bundle", "no bundle 'no-such-bundle'"),
])
def test_rest_api_refuses_what_the_roles_do_not_allow_and_starts_nothing(hub_stack, hub_user, options, reason,
                                                                         words):
    anna = hub_user("anna")
    before = envs(hub_stack)
    with pytest.raises(HubRequestFailed) as refused:
        anna.start_server("refused", options)
    assert refused.value.status == 403
    assert refused.value.reason == reason
    assert words in refused.value.message
    assert "refused" not in running_servers(anna)
    assert envs(hub_stack) == before
    anna.stop_server("refused", remove=True)  # the hub keeps the (never started) server's name


def test_the_spawn_form_starts_nothing_servers_start_from_the_portal(hub_stack, hub_user):
    """Issue 11, finding 6: /hub/spawn would skip the portal's register, so it is no way to start a server —
    not even an allowed bundle (the form's rendering stays tested in test_options.py)."""
    anna = hub_user("anna")
    portal = f"http://127.0.0.1:{hub_stack.ports.portal}/"       # the hub's PORTAL_URL: /hub/spawn sends people there
    form = anna.browser.get(f"{hub_stack.url}/hub/spawn/anna/formok", follow_redirects=False)
    assert form.status_code == 302 and form.headers["location"] == portal
    xsrf = anna.browser.cookies.get("_xsrf", path="/hub/")
    posted = anna.browser.post(f"{hub_stack.url}/hub/spawn/anna/formok", follow_redirects=False,
                               data={"_xsrf": xsrf, "bundle": "tiny-cowsay", "size--tiny-cowsay": "medium"})
    assert posted.status_code == 302 and posted.headers["location"] == portal
    assert "formok" not in anna.model()["servers"]


def test_a_failed_build_names_the_package_and_leaves_nothing_behind(hub_stack, hub_user):
    anna = hub_user("anna")
    message = None
    try:
        anna.start_server("broken", {"bundle": "tiny-broken", "size": "small"})
    except HubRequestFailed as failed:  # failed within the hub's slow-spawn timeout
        message = failed.message
    else:  # still building when the request returned: the progress stream reports the failure
        events = anna.progress("broken", timeout=600)
        assert events[-1].get("failed"), events
        message = events[-1]["message"]
    assert "cowsay==999.0.1" in message
    assert "tiny-broken" in message
    assert not [e for e in envs(hub_stack) if "tiny-broken" in e]
    deadline = time.monotonic() + 30
    while "broken" in running_servers(anna) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "broken" not in running_servers(anna)
    anna.stop_server("broken", remove=True)


def test_a_server_that_exits_at_once_fails_the_start_with_its_log(tmp_path):
    """JupyterHub itself would answer a 500 after ~11 s; the spawner notices the exit and says why."""
    import asyncio
    import subprocess
    import sys

    from gereedschapskist.catalogue import load
    from gereedschapskist.hub.launch import LaunchRequest
    from gereedschapskist.hub.spawner import BundleSpawner, SpawnFailed

    catalogue = load(Path(__file__).parent / "fixtures" / "catalogue")
    bundle = catalogue.bundles["tiny-cowsay"]
    spawner = BundleSpawner(http_timeout=60)
    spawner.launch = LaunchRequest(bundle, bundle.sizes[0], bundle.interfaces[0])
    log_file = tmp_path / "server.log"
    with open(log_file, "wb") as log:
        spawner.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('ImportError: no module named jupyterlab'); sys.exit(3)"],
            stdout=log, stderr=subprocess.STDOUT)
    spawner.pid = spawner.proc.pid

    async def wait():
        await spawner._wait_until_answering("127.0.0.1", 9, log_file)  # nothing listens on port 9

    with pytest.raises(SpawnFailed) as failed:
        asyncio.run(wait())
    assert "exited at once (exit code 3)" in str(failed.value)
    assert "ImportError: no module named jupyterlab" in str(failed.value)
    assert failed.value.status_code == 500


def test_a_starting_hub_stops_the_servers_a_killed_hub_left_running(oidc_provider, tmp_path):
    """The local backend's configuration stops servers whose pid files a killed hub left behind."""
    import json
    import signal
    import subprocess
    import sys

    from traitlets.config import Config

    from gereedschapskist.hub.config import configure
    from gereedschapskist.hub.settings import HubSettings

    env_dir = tmp_path / "envs" / "left-over"
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", str(env_dir)],
                              start_new_session=True)
    try:
        pids = tmp_path / "hub" / "servers"
        pids.mkdir(parents=True)
        (pids / f"{server.pid}.pid").write_text(json.dumps({"server": "anna/work", "env": str(env_dir)}))
        (pids / "999999999.pid").write_text(json.dumps({"server": "gone/work", "env": str(env_dir)}))
        configure(Config(), HubSettings(state_dir=tmp_path, oidc_issuer=oidc_provider.issuer,
                                        oidc_client_secret="x" * 20,
                                        catalogue_dir=Path(__file__).parent / "fixtures" / "catalogue"))
        assert server.wait(10) == -signal.SIGTERM
        assert not list(pids.glob("*.pid"))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


# -- an app's git checkout (hub.spawner._checkout) -----------------------------------------------------------------

#: A ``git`` first on PATH: its ``fetch`` hangs, with a child that would keep running (as git's transport helper
#: does); its other commands are git's own. It writes both pids to ``$HUNG_GIT_PIDS`` once they run.
HUNG_GIT = """#!/bin/sh
for arg in "$@"; do
    if [ "$arg" = fetch ]; then
        sleep 600 &
        echo "$$ $!" > "$HUNG_GIT_PIDS.tmp" && mv "$HUNG_GIT_PIDS.tmp" "$HUNG_GIT_PIDS"
        wait
        exit 1
    fi
done
exec {git} "$@"
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def hung_git(tmp_path, monkeypatch) -> Path:
    """Installs the hanging ``git``; returns the file its fetch writes its pids to."""
    real_git = shutil.which("git")
    assert real_git, "git is needed for an app's checkout"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(HUNG_GIT.format(git=real_git))
    (bin_dir / "git").chmod(0o755)
    pids = tmp_path / "git.pids"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("HUNG_GIT_PIDS", str(pids))
    return pids


def _hung_pids(pids_file: Path) -> list[int]:
    return [int(pid) for pid in pids_file.read_text().split()]


def test_a_checkout_that_takes_too_long_fails_and_leaves_no_git_running(hung_git, tmp_path):
    from gereedschapskist.hub.spawner import SpawnFailed, _checkout

    folder = tmp_path / "apps" / "abc123"
    with pytest.raises(SpawnFailed) as failed:
        asyncio.run(_checkout("https://git.example.invalid/app.git", "abc123", folder, timeout=1))
    assert failed.value.refusal == "app-checkout-failed"
    assert "took longer than 1 s" in failed.value.message
    pids = _hung_pids(hung_git)
    assert len(pids) == 2
    assert [pid for pid in pids if _alive(pid)] == [], "git's fetch (or its child) outlived the checkout"
    assert not folder.exists() and not folder.with_name("abc123.partial").exists()


def test_a_cancelled_checkout_leaves_no_git_running(hung_git, tmp_path):
    from gereedschapskist.hub.spawner import _checkout

    folder = tmp_path / "apps" / "abc123"

    async def cancel_during_fetch() -> None:
        checkout = asyncio.create_task(_checkout("https://git.example.invalid/app.git", "abc123", folder))
        while not hung_git.exists():            # the fetch runs (and hangs) once it wrote its pids
            assert not checkout.done(), checkout
            await asyncio.sleep(0.05)
        checkout.cancel()                        # e.g. the hub stops during the start
        with pytest.raises(asyncio.CancelledError):
            await checkout

    asyncio.run(cancel_during_fetch())
    pids = _hung_pids(hung_git)
    assert len(pids) == 2
    assert [pid for pid in pids if _alive(pid)] == [], "git's fetch (or its child) outlived the cancelled checkout"
    assert not folder.with_name("abc123.partial").exists()


# -- servers started ahead end with the hub's process (hub.spawner.stop_waiters, run at exit) -----------------------

#: An environment's ``python`` that, started as a server ahead, ignores its stdin: only the hub's own end of it at
#: exit stops it (a real one also exits when its stdin closes, once its imports are done).
DEAF_PYTHON = "#!/bin/sh\nexec sleep 600\n"


def test_a_hub_process_that_exits_ends_the_servers_it_started_ahead(tmp_path):
    from gereedschapskist.hub.envbuilder import MANIFEST

    env_dir = tmp_path / "envs" / "tiny-deaf"
    (env_dir / "bin").mkdir(parents=True)
    (env_dir / MANIFEST).write_text("{}")
    (env_dir / "bin" / "python").write_text(DEAF_PYTHON)
    (env_dir / "bin" / "python").chmod(0o755)
    hub = subprocess.run(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from gereedschapskist.hub import spawner\n"
         "spawner._start_waiter(Path(sys.argv[1]), {'PATH': '/usr/bin:/bin'}, 600.0)\n"
         "print(spawner._WAITERS[sys.argv[1]][0].pid)",
         str(env_dir)],
        capture_output=True, text=True, timeout=60, check=True)
    waiter = int(hub.stdout)
    assert not _alive(waiter), "the server started ahead outlived the process that started it"
