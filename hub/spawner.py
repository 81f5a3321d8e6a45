"""The local backend: each bundle version runs from its own virtualenv, as a local process.

``BundleSpawner`` is JupyterHub's ``SimpleLocalProcessSpawner`` (no system users needed) plus:

- the launch request authorised by :mod:`.launch` picks the bundle, size and interface;
- the bundle's environment is built on first use by :class:`.envbuilder.EnvBuilder` (cached), unless the hub's
  background preparation (:mod:`.prepare`) built it before; a launch that finds it being built joins that build;
- the server starts before the environment's bytecode is compiled (it compiles what it imports); the rest is
  compiled in the background once the server answers;
- build and start progress reach the user through JupyterHub's progress events;
- ``start()`` returns only once the server answers on its port, so the hub does not poll with
  back-off, and a server that exits at once fails the start with its last log lines;
- a workspace's next server is started ahead (:mod:`.server_waiter`): a few seconds after a workspace of an
  environment answered, a process of that environment imports what a server needs (about two thirds of a start) and
  waits, holding nobody's data; the next start of that environment hands it its arguments, environment, home and
  log instead of starting a new process (not with systemd-run limits, which must start the process themselves);
  the hub ends them when its process exits (:func:`stop_waiters`);
- the size's CPU and memory are enforced where this machine allows it (:mod:`.limits`: the process joins its
  control group before it runs any code, and the start fails if it is not inside), and the server's process tree
  is sampled while it runs (:mod:`.usage`), its last figures kept when it stops.

It gives no isolation between users: a development backend (``stage=production`` refuses it).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import signal
import sys
import time
from importlib.metadata import version
from pathlib import Path
from subprocess import DEVNULL, PIPE, STDOUT, Popen, SubprocessError

import httpx
from jupyterhub.spawner import SimpleLocalProcessSpawner
from jupyterhub.utils import random_port
from tornado import web
from traitlets import Any, Dict, Float, Instance, List, Unicode, default

from gereedschapskist.core.streaming import streams

from . import datasets as data
from .envbuilder import MANIFEST, EnvBuilder, EnvBuildFailed, EnvSpec, end_process_group, shared_builder
from .interfaces import LocalInterfaces
from .lab_static import static_url_prefix
from .prepare import bundle_env_spec
from .workspace_home import write_first_start
from .launch import LaunchForbidden, LaunchRequest
from .limits import Limits, ServerLimits
from .usage import UsageBook, UsageSampling

JUPYTERLAB_REQUIREMENT = "jupyterlab==4.6.6"
#: A published app's server process (:mod:`.app_server`), run by the bundle environment's Python as a bundle image
#: runs its copy: it imports only JupyterHub, Tornado and the standard library.
APP_SERVER_FILE = str(Path(__file__).with_name("app_server.py"))
#: A workspace server's process started ahead, its imports done (:mod:`.server_waiter`, issue 13).
SERVER_WAITER_FILE = str(Path(__file__).with_name("server_waiter.py"))
#: Progress (percent) shown for the environment builder's messages, so the bar moves while it builds.
_BUILD_STEPS = (("Joining the build", 10), ("Building the environment", 10), ("Resolved", 20), ("Downloading", 25),
                ("Prepared", 35), ("Installed", 45), ("Environment of", 58))


def single_user_requirements() -> tuple[str, ...]:
    """What every environment needs to be a JupyterHub single-user server of *this* hub."""
    return (f"jupyterhub=={version('jupyterhub')}", JUPYTERLAB_REQUIREMENT)


class SpawnFailed(web.HTTPError):
    """A start that failed for a reason the user should read (build error, early exit)."""

    def __init__(self, message: str, reason: str):
        super().__init__(500, "%s", message)
        self.message = message
        self.jupyterhub_message = message
        self.refusal = reason

    def __str__(self) -> str:
        return self.message


class BundleSpawner(UsageSampling, SimpleLocalProcessSpawner):
    """Starts a bundle's JupyterLab (or RStudio / VS Code through jupyter-server-proxy) locally."""

    envs_dir = Unicode(config=True, help="where bundle environments are built and cached")
    logs_dir = Unicode(config=True, help="one log file per server")
    pids_dir = Unicode(config=True, help="pid files of running servers (a restarted hub stops what a killed one left)")
    uv_command = Unicode(config=True, help="the uv executable")
    env_python = Unicode(config=True, help="the Python interpreter environments are built for")
    base_requirements = List(Unicode(), config=True, help="packages every environment gets")
    build_timeout = Float(900.0, config=True, help="seconds a first environment build may take")
    portal_url = Unicode("", config=True, help="the portal's URL, linked from a bundle's first-start README")
    catalogue_dir = Unicode("", config=True, help="the catalogue folder: a bundle's example notebooks "
                                                  "(examples/<bundle id>/) are copied from it at its first start")
    interfaces = Instance(LocalInterfaces, args=()).tag(config=True)
    limits = Instance(Limits, args=("not probed",), help="how sizes are enforced (:func:`.limits.probe_limits`)"
                      ).tag(config=True)
    usage_book = Instance(UsageBook, args=(), help="last usage of stopped servers (one per hub)").tag(config=True)
    usage_interval = Float(5.0, config=True, help="seconds between two samples of a running server's usage")
    data_access = Any(None, allow_none=True, config=True,
                      help="granted datasets (:class:`.datasets.DataAccess`): asked from the portal at every start, "
                           "mounted read-only in ~/data, reconciled while the server runs; None: no data")

    streaming_environment = Dict(Unicode(), config=True,
                                 help="variables of workspaces of streaming bundles: the local Kafka "
                                      "(:func:`gereedschapskist.core.streaming.local_environment`); empty: none")

    waiter_delay = Float(2.0, config=True,
                         help="seconds after a workspace server answered before the next server of its environment is "
                              "started ahead (:mod:`.server_waiter`), so its imports do not slow the page being "
                              "opened (a stopped workspace's server starts the next at once); negative: no server is "
                              "started ahead")
    waiter_idle = Float(900.0, config=True, help="seconds a server started ahead waits for a start before it exits "
                                                 "(at least 60)")

    launch: LaunchRequest | None = None

    @default("env_python")
    def _default_env_python(self) -> str:
        return sys.executable

    @default("uv_command")
    def _default_uv(self) -> str:
        from uv import find_uv_bin

        return find_uv_bin()

    @default("base_requirements")
    def _default_base(self) -> list[str]:
        return list(single_user_requirements())

    @default("poll_interval")
    def _default_poll_interval(self) -> int:
        # a local server is polled by a pid check, which costs nothing: notice one that died within seconds, not
        # JupyterHub's 30 s, so the portal can show it stopped soon after (issue 12, defect 8)
        return 3

    @default("interrupt_timeout")
    def _default_interrupt_timeout(self) -> int:
        return 10

    @default("term_timeout")
    def _default_term_timeout(self) -> int:
        return 5

    # -- launch request and progress ---------------------------------------------------------------

    def apply_launch(self, request: LaunchRequest) -> None:
        """Called by the ``apply_user_options`` hook once the request is authorised."""
        self.launch = request
        self.cpu_limit = float(request.size.cpu)
        self.mem_limit = request.size.memory_bytes
        self.default_url = self.interfaces.default_url(request.interface)
        self._events: list[dict] = []
        self._progress_changed = asyncio.Event()

    def _emit(self, progress: int | None, message: str) -> None:
        event = {"message": message}
        if progress is not None:
            event["progress"] = progress
        self.log.info("%s: %s", self._log_name, message)
        self._events.append(event)
        self._progress_changed.set()

    def _emit_build_step(self, message: str) -> None:
        percent = next((p for prefix, p in _BUILD_STEPS if message.startswith(prefix)), None)
        shown = [e["progress"] for e in self._events if "progress" in e]
        if percent is not None and shown and percent <= max(shown):
            percent = None  # never move backwards (e.g. a second "Downloading" line)
        self._emit(percent, message)

    async def progress(self):
        seen = 0
        while True:
            events = getattr(self, "_events", [])
            while seen < len(events):
                yield events[seen]
                seen += 1
            changed = getattr(self, "_progress_changed", None)
            if changed is None:
                return
            changed.clear()
            if seen < len(self._events):
                continue
            await changed.wait()

    # -- environment and process -------------------------------------------------------------------

    def _builder(self) -> EnvBuilder:
        return shared_builder(Path(self.envs_dir), uv=self.uv_command, python=self.env_python,
                              timeout=self.build_timeout)

    def _env_spec(self, request: LaunchRequest) -> EnvSpec:
        return bundle_env_spec(request.bundle, self.interfaces, tuple(self.base_requirements))

    def _log_file(self) -> Path:
        name = f"{self.user.name}-{self.name or 'default'}.log"
        return Path(self.logs_dir) / name

    def _config_dir(self) -> Path:
        return Path(self.home_dir) / ".gereedschapskist" / (self.name or "default")

    def get_args(self) -> list[str]:
        if self.launch is not None and self.launch.app is not None:
            return []       # a published app: the app proxy reads everything from its environment
        args = super().get_args()
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        env_dir = getattr(self, "_env_dir", None)
        if env_dir is not None:     # JupyterLab's files from the hub, one URL per environment: cached (issue 13)
            args.append(f"--LabApp.static_url_prefix={static_url_prefix(self.hub.base_url, Path(env_dir).name)}")
        return args

    def get_env(self) -> dict:
        env = super().get_env()
        for key in ("PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "CONDA_DEFAULT_ENV"):
            env.pop(key, None)
        env_dir = getattr(self, "_env_dir", None)
        if env_dir is not None:
            hub_bin = str(Path(sys.executable).parent)
            path = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p and p != hub_bin]
            env["PATH"] = os.pathsep.join([str(env_dir / "bin"), *path])
            env["VIRTUAL_ENV"] = str(env_dir)
            env["JUPYTER_CONFIG_PATH"] = str(self._config_dir())
            env["GEREEDSCHAPSKIST_BUNDLE"] = self.launch.bundle.id if self.launch else ""
            env["GEREEDSCHAPSKIST_BUNDLE_VERSION"] = self.launch.bundle.version if self.launch else ""
            if self.launch and streams(self.launch.bundle.roles):
                env.update(self.streaming_environment)
        grants = getattr(self, "_grants", None)
        if grants is not None:
            env.update(data.environment(grants, str(Path(self.home_dir) / data.DATA_FOLDER)))
        app_env = getattr(self, "_app_env", None)
        if app_env:
            env.update(app_env)
        return env

    def _write_server_config(self, request: LaunchRequest) -> None:
        config_dir = self._config_dir()
        config_dir.mkdir(parents=True, exist_ok=True)
        servers = self.interfaces.server_proxy_config(request.bundle.interfaces)
        config = {"ServerProxy": {"servers": servers}} if servers else {}
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

    async def start(self):
        request = self.launch
        if request is None:
            raise LaunchForbidden("no-bundle", "No bundle was chosen for this server.", status=400)
        if not hasattr(self, "_events"):
            self.apply_launch(request)
        bundle, size = request.bundle, request.size
        self._emit(5, f"Starting {bundle.title.en} {bundle.version} ({size.id}: {size.label}, "
                      f"{request.interface.label})")
        builder = self._builder()
        spec = self._env_spec(request)
        if builder.is_built(spec):
            self._emit(40, f"Environment of {bundle.id} {bundle.version} found (built before)")
        try:
            self._env_dir = await builder.ensure(spec, progress=self._emit_build_step)
        except EnvBuildFailed as failed:
            self._emit(None, str(failed))
            raise SpawnFailed(str(failed), failed.reason) from None
        self._server_limits = self._limits_for(request)
        Path(self.home_dir).mkdir(parents=True, exist_ok=True)
        if request.app is not None:     # a published app (:mod:`.apps`): the app proxy, no Jupyter server
            try:
                await self._prepare_app(request)
            except SpawnFailed:
                self._release_limits()
                raise
            self.cmd = self._server_limits.command([str(self._env_dir / "bin" / "python"), APP_SERVER_FILE])
        else:
            self._app_env = None
            self.cmd = self._server_limits.command([str(self._env_dir / "bin" / "python"), "-m",
                                                    "jupyterhub.singleuser"])
            self._write_server_config(request)
            write_first_start(Path(self.home_dir), bundle, portal_url=self.portal_url,   # README, data, examples
                              catalogue_dir=Path(self.catalogue_dir) if self.catalogue_dir else None)
            await self._show_granted_data()     # an app gets no granted datasets: its viewers are not the grantee
        log_file = self._log_file()
        log_file.parent.mkdir(parents=True, exist_ok=True)
        self._emit(60, "Starting the server process")
        with open(log_file, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} start {bundle.id} {bundle.version}\n".encode())
            log.flush()
            self.popen_kwargs = {"stdout": log, "stderr": STDOUT, "stdin": DEVNULL}
            try:
                started = self._start_from_waiter(log_file) if request.app is None else None
                ip, port = started or await super().start()
            except SubprocessError as exc:   # raised by the child: it could not join its control groups
                self._release_limits()
                self._end_data()
                raise SpawnFailed(f"The server was not started: it could not be put inside the limits of size "
                                  f"{size.id} ({exc}).", "limits-failed") from None
        self._record_pid()
        if not self._server_limits.holds(self.pid):
            await self.stop(now=True)
            raise SpawnFailed(f"The server was stopped: it did not run inside the limits of size {size.id}.",
                              "limits-failed")
        try:
            await self._wait_until_answering(ip, port, log_file)
        except SpawnFailed:
            self._end_data()
            raise
        self._begin_data_reconciliation()
        builder.compile_later(spec)   # the rest of the environment's bytecode, at low priority (once)
        if request.app is None and self.waiter_delay >= 0:
            asyncio.get_running_loop().call_later(self.waiter_delay, _start_waiter, Path(self._env_dir),
                                                  self._waiter_env(), self.waiter_idle)
        self._begin_usage()
        self._emit(95, "Server is up; opening it")
        return ip, port

    # -- a server started ahead (:mod:`.server_waiter`) ------------------------------------------------

    def _waiter_env(self) -> dict[str, str]:
        """What a server started ahead imports with: the environment's ``PATH`` and ``VIRTUAL_ENV``, nobody's
        variables (each start brings its own)."""
        env_dir = Path(self._env_dir)
        path = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                if p and p != str(Path(sys.executable).parent)]
        return {"PATH": os.pathsep.join([str(env_dir / "bin"), *path]), "VIRTUAL_ENV": str(env_dir),
                "LANG": os.environ.get("LANG", "C.UTF-8")}

    def _start_from_waiter(self, log_file: Path) -> tuple[str, int] | None:
        """The start of ``LocalProcessSpawner.start`` given to a server started ahead for this environment, when
        there is one and the limits need no command around the server (systemd-run); None: start one anew."""
        limits = self._server_limits
        if limits.prefix or self.shell_cmd:
            return None
        proc = _take_waiter(Path(self._env_dir), self.waiter_idle)
        if proc is None:
            return None
        if self.port == 0:
            self.port = random_port()
        for group in limits.groups:     # into the size's groups before it reads its start (as ``join`` for a new one)
            try:
                (group / "cgroup.procs").write_text(str(proc.pid))
            except OSError as exc:
                proc.kill()
                proc.wait()
                raise SubprocessError(f"{group}: {exc}") from None
        start = {"argv": self.get_args(), "env": self.get_env(), "cwd": str(self.home_dir), "log": str(log_file)}
        try:
            proc.stdin.write(json.dumps(start).encode() + b"\n")
            proc.stdin.close()
        except OSError:             # it exited meanwhile: start anew
            _end(proc)
            return None
        self.log.info("%s: the server started ahead for %s takes this start (pid %s)", self._log_name,
                      Path(self._env_dir).name, proc.pid)
        self.proc, self.pid = proc, proc.pid
        return self.ip or "127.0.0.1", self.port

    async def _wait_until_answering(self, ip: str, port: int, log_file: Path) -> None:
        """Return once the server answers HTTP on its port; fail fast if its process exits."""
        url = f"http://{ip}:{port}{self.server.base_url if self.server else '/'}api"
        deadline = time.monotonic() + self.http_timeout
        delay = 0.02
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while True:
                status = self.proc.poll() if self.proc is not None else None
                if status is not None:
                    tail = _tail(log_file, 15)
                    self.clear_state()
                    self._forget_pid()
                    self._release_limits()
                    raise SpawnFailed(f"The server of {self.launch.bundle.id} exited at once (exit code {status}). "
                                      f"Last lines of its log:\n{tail}", "server-exited")
                try:
                    await client.get(url)
                    return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    await self.stop(now=True)
                    raise SpawnFailed(f"The server did not answer within {self.http_timeout} s; see {log_file}",
                                      "server-timeout")
                await asyncio.sleep(delay)  # waiting on another process's port: polling is the only way
                delay = min(delay * 1.5, 0.1)

    # -- published apps (issue 17; :mod:`.apps`) ---------------------------------------------------------

    async def _prepare_app(self, request: LaunchRequest) -> None:
        """The app's folder (the owner's folder, or a read-only checkout of the git commit) and the app proxy's
        environment; the app's viewers skip the hub's consent page (the owner published it to them)."""
        app = request.app
        home = Path(self.home_dir)
        if app.git:
            folder = home / ".gereedschapskist" / "apps" / self.name / app.commit
            if not folder.is_dir():
                self._emit(55, f"Checking out {app.git} at {app.commit[:12]}")
                await _checkout(app.git, app.commit, folder)
        else:
            folder = home
        entry = folder / app.entry
        if not entry.is_file():
            where = f"commit {app.commit[:12]} of {app.git}" if app.git else "the owner's folder"
            raise SpawnFailed(f"The app was not started: its entry file {app.entry} is not in {where}.",
                              "app-entry-missing")
        self._app_env = {"GEREEDSCHAPSKIST_APP_FRAMEWORK": app.framework.id,
                         "GEREEDSCHAPSKIST_APP_ENTRY": entry.name,
                         "GEREEDSCHAPSKIST_APP_DIR": str(entry.parent),
                         "GEREEDSCHAPSKIST_APP_PYTHON": str(self._env_dir / "bin" / "python")}
        no_confirm = getattr(self.user, "settings", {}).get("oauth_no_confirm_list")
        if isinstance(no_confirm, set) and self.oauth_client_id:
            no_confirm.add(self.oauth_client_id)
        self._emit(58, f"Starting the {app.framework.label} app {app.entry}")

    # -- granted datasets (issue 15; :mod:`.datasets`) -----------------------------------------------

    async def _show_granted_data(self) -> None:
        """Ask the portal for the user's grants (refusing the start when it cannot be asked) and show exactly those
        datasets read-only in ~/data."""
        self._grants = None
        access = self.data_access
        if access is None:
            return
        self._emit(50, "Asking the portal which datasets you may use")
        try:
            grants = await access.portal.start(self.user.name, self.name or "")
        except data.GrantsUnavailable as refused:
            raise SpawnFailed(f"The workspace was not started: {refused}", refused.reason) from None
        try:
            access.mounts.show(Path(self.home_dir), self.user.name, grants)
        except (data.DataMountFailed, OSError) as failed:
            raise SpawnFailed(f"The workspace was not started: the granted data could not be put in ~/data "
                              f"read-only ({failed})", "data-mount-failed") from None
        self._grants = grants
        if grants:
            until = min(g.expires_at for g in grants).isoformat(timespec="minutes")
            self._emit(None, f"{len(grants)} dataset(s) in ~/data, read-only (first access ends {until})")

    def _begin_data_reconciliation(self) -> None:
        if self.data_access is None or getattr(self, "_grants", None) is None:
            return
        self._data_task = asyncio.ensure_future(self._reconcile_data())

    async def _reconcile_data(self) -> None:
        access, home, last = self.data_access, Path(self.home_dir), time.monotonic()
        while True:
            await asyncio.sleep(access.interval)
            try:
                outcome, last = await data.reconcile(access, home=home, user=self.user.name, last_answer=last)
            except Exception:  # noqa: BLE001 - the loop must go on; the next pass retries
                self.log.exception("%s: reconciling ~/data failed", self._log_name)
                continue
            if outcome.removed:
                self.log.info("%s: datasets taken away from ~/data: %s", self._log_name, ", ".join(outcome.removed))

    def _end_data(self) -> None:
        """The server stopped: no more reconciliation; ~/data goes when none of the user's other servers runs."""
        task = getattr(self, "_data_task", None)
        if task is not None:
            task.cancel()
            self._data_task = None
        if self.data_access is None or getattr(self, "_grants", None) is None:
            return
        self._grants = None
        others = [s for s in getattr(self.user, "spawners", {}).values()
                  if s is not self and getattr(s, "_grants", None) is not None]
        if not others:
            try:
                self.data_access.mounts.release(Path(self.home_dir), self.user.name)
            except OSError:
                self.log.exception("%s: ~/data could not be released", self._log_name)

    # -- limits and usage ----------------------------------------------------------------------------

    def _limits_for(self, request: LaunchRequest) -> ServerLimits:
        try:
            limits = self.limits.for_server(self._usage_key, cpu=float(request.size.cpu),
                                            memory_bytes=request.size.memory_bytes)
        except OSError as exc:
            raise SpawnFailed(f"The limits of size {request.size.id} could not be set up ({exc}); the server was "
                              "not started.", "limits-failed") from None
        if self.limits.enforced:
            self._emit(None, f"Size {request.size.id} enforced: {request.size.label} ({self.limits.mechanism})")
        else:
            self._emit(None, f"Size {request.size.id} is not enforced on this machine: {self.limits.reason}")
        return limits

    def make_preexec_fn(self, name):
        preexec = super().make_preexec_fn(name)
        limits = getattr(self, "_server_limits", None)
        if limits is None or not limits.groups:
            return preexec

        def join_then_preexec():
            limits.join()   # raises in the child: Popen fails in the hub, nothing runs unlimited
            preexec()

        return join_then_preexec

    def _release_limits(self) -> None:
        limits = getattr(self, "_server_limits", None)
        if limits is not None:
            limits.release()
            self._server_limits = None

    # -- pid bookkeeping so a hub that starts can stop the servers a killed hub left running --------

    def _record_pid(self) -> None:
        if not self.pids_dir or not self.pid:
            return
        pid_file = Path(self.pids_dir) / f"{self.pid}.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(json.dumps({"server": f"{self.user.name}/{self.name}", "env": str(self._env_dir)}),
                            encoding="utf-8")
        self._pid_file = pid_file

    def _forget_pid(self) -> None:
        pid_file = getattr(self, "_pid_file", None)
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
            self._pid_file = None

    async def poll(self):
        status = await super().poll()
        if status is not None:
            self._end_data()
            self._end_usage()
            self._forget_pid()
            self._release_limits()
        return status

    async def stop(self, now: bool = False):
        self._end_data()
        self._end_usage()
        env_dir = getattr(self, "_env_dir", None)
        if self.waiter_delay >= 0 and env_dir is not None and self.launch is not None and self.launch.app is None:
            _start_waiter(Path(env_dir), self._waiter_env(), self.waiter_idle)    # a restart finds one ready
        await super().stop(now=now)
        self._forget_pid()
        self._release_limits()

    def get_state(self) -> dict:
        state = super().get_state()
        if self.launch is not None:
            state["launch"] = self.launch.as_user_options()
        return state


#: How long one git step of an app's checkout may take before the start fails.
CHECKOUT_STEP_TIMEOUT_SECONDS = 300.0


async def _checkout(url: str, commit: str, folder: Path, *, timeout: float = CHECKOUT_STEP_TIMEOUT_SECONDS) -> None:
    """A read-only checkout of ``commit`` (nobody edits a production app in place); nothing is left half-made.

    Each git step runs in a session of its own: one that takes longer than ``timeout``, or a start that is cancelled
    (the hub stops), kills git and what it started (``git fetch``'s transport helper) and waits for them, as
    :func:`.envbuilder.end_process_group` does for a build's steps; a hung fetch does not outlive the start."""
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        await asyncio.to_thread(_remove_tree, partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    for argv in (["git", "init", "-q", str(partial)],
                 ["git", "-C", str(partial), "fetch", "-q", "--depth", "1", url, commit],
                 ["git", "-C", str(partial), "checkout", "-q", "--detach", commit]):
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
        except asyncio.TimeoutError:
            await end_process_group(proc)
            await asyncio.to_thread(_remove_tree, partial)
            raise SpawnFailed(f"The app was not started: git took longer than {timeout:.0f} s to check out {commit} "
                              f"of {url}", "app-checkout-failed") from None
        except asyncio.CancelledError:
            await end_process_group(proc)
            await asyncio.to_thread(_remove_tree, partial)
            raise
        if proc.returncode != 0:
            await asyncio.to_thread(_remove_tree, partial)
            raise SpawnFailed(f"The app was not started: git could not check out {commit} of {url}: "
                              f"{out.decode(errors='replace').strip()[-500:]}", "app-checkout-failed")
    await asyncio.to_thread(_remove_tree, partial / ".git")
    for path in sorted(partial.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    partial.chmod(0o555)
    partial.rename(folder)


def _remove_tree(path: Path) -> None:
    import shutil

    if not path.exists():
        return
    for p in [path, *path.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(path)


#: One server started ahead per environment folder, for the next workspace start there, with the identity of the
#: environment it imported from (its manifest's inode and time: a rebuilt environment in the same folder is another).
_WAITERS: dict[str, tuple[Popen, tuple[int, int], float]] = {}
#: A server started ahead is not given a start in the last seconds before its idle end (it may be exiting).
_WAITER_MARGIN_SECONDS = 30.0


def _env_identity(env_dir: Path) -> tuple[int, int] | None:
    try:
        stat = (env_dir / MANIFEST).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _take_waiter(env_dir: Path, idle: float) -> Popen | None:
    """The server started ahead for ``env_dir``, if it still waits, not about to end, and imported from this very
    environment."""
    proc, identity, since = _WAITERS.pop(str(env_dir), (None, None, 0.0))
    if proc is None:
        return None
    if proc.poll() is None and identity == _env_identity(env_dir) \
            and time.monotonic() - since < idle - _WAITER_MARGIN_SECONDS:
        return proc
    _end(proc)
    return None


def _end(proc: Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _start_waiter(env_dir: Path, env: dict[str, str], idle: float) -> None:
    """Start a server ahead for ``env_dir`` unless one waits already (or the environment is gone)."""
    identity = _env_identity(env_dir)
    current, known, _ = _WAITERS.get(str(env_dir), (None, None, 0.0))
    if current is not None and current.poll() is None and known == identity:
        return
    if current is not None:
        _end(current)
    python = env_dir / "bin" / "python"
    if identity is None or not python.exists():
        _WAITERS.pop(str(env_dir), None)
        return
    _WAITERS[str(env_dir)] = (Popen([str(python), SERVER_WAITER_FILE, str(idle)], stdin=PIPE, stdout=DEVNULL,
                                    stderr=DEVNULL, env=env, cwd=str(env_dir), start_new_session=True), identity,
                              time.monotonic())


def stop_waiters() -> None:
    """End the servers started ahead, and wait for them: run when the hub's process exits (``atexit``, after
    JupyterHub's cleanup on SIGTERM or SIGINT). A server started ahead also exits once the hub's end of its stdin
    closes, but only once its imports are done and it reads it: the only end left when the hub is killed."""
    while _WAITERS:
        _end(_WAITERS.popitem()[1][0])


atexit.register(stop_waiters)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def kill_recorded_servers(pids_dir: Path) -> list[int]:
    """Stop servers whose pid files remain (a hub that died without cleaning up). Returns the pids signalled.

    The local backend calls it when the hub starts (:func:`.config._configure_local`), before the hub
    looks at the servers its database still lists.

    A pid is only signalled while its command line still names the environment recorded for it,
    so a reused pid never hits an unrelated process.
    """
    signalled = []
    for pid_file in sorted(Path(pids_dir).glob("*.pid")):
        try:
            pid = int(pid_file.stem)
            env = json.loads(pid_file.read_text(encoding="utf-8"))["env"]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
        except (ValueError, KeyError, OSError):
            pid_file.unlink(missing_ok=True)
            continue
        if env in cmdline:
            try:
                os.killpg(pid, signal.SIGTERM)  # servers run in their own session: the group is theirs
                signalled.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
        pid_file.unlink(missing_ok=True)
    return signalled
