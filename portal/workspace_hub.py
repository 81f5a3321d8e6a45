"""The portal's view of a hub: a small interface the workspace service talks to.

:class:`WorkspaceHub` is the plug point (the JupyterHub REST API adapter, ``jupyterhub.JupyterHubAdapter``,
implements it; imports go one way: adapter → this module, never back); implementations raise only the portal's
own errors (:class:`~gereedschapskist.portal.errors.HubUnavailable`, ``HubRefused``, ``HubError``), each with
a ``reason``, never an ``httpx`` exception. :class:`Hubs` holds one adapter per Environment — made by the
factory the app passes in (:func:`gereedschapskist.portal.main.create_app`) — and remembers for a few seconds
whether each hub answers, so pages can say plainly when workspaces are unavailable. It also runs the hub's half
of launches in the background (issue 13, :meth:`Hubs.submit_start`): the launch request answers once the portal's
own checks pass, and the hub is asked to start the server from a thread of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, Protocol

from gereedschapskist.core.capacity import Capacity

from .errors import HubRefused, HubUnavailable, PortalError

log = logging.getLogger(__name__)

#: Threads that hand launches to the hubs (issue 13); more starts at once wait in line for one.
START_THREADS = 8

#: How long a hub's "I know this user" is remembered (issue 13: a launch then asks the hub nothing while its health
#: check is fresh). JupyterHub keeps its users; one it lost after all refuses the start, which then ends failed with
#: ``hub-login-needed`` and is forgotten here (``services/hub_start.py``). Refusals and failures are never remembered.
KNOWN_USER_SECONDS = 600.0


@dataclass(frozen=True)
class ServerInfo:
    """One named server as the hub reports it."""

    name: str
    ready: bool
    pending: str | None = None        # "spawn", "stop", … while the hub is busy with it
    url: str | None = None            # path (or URL) where the server answers once ready
    started: datetime | None = None
    stopped: bool = False             # the hub still knows it but it is not running


@dataclass(frozen=True)
class ProgressEvent:
    progress: int | None
    message: str
    ready: bool = False
    failed: bool = False
    url: str | None = None


@dataclass(frozen=True)
class InterfaceState:
    """Whether a hub can serve one interface (``jupyterlab``, ``rstudio``, ``vscode``), as the hub says; when it
    cannot, ``reason`` (``interface-unavailable``) and the program it lacks (``missing``, e.g. ``rserver``)."""

    interface: str
    available: bool
    reason: str | None = None
    missing: str | None = None


class InterfaceStates(dict):
    """What a hub says it can serve: :class:`InterfaceState` by interface id, and ``by_bundle``: each bundle's own
    interfaces (the hub's machine may lack a bundle's tools, e.g. R and its CRAN packages)."""

    def __init__(self, states: dict[str, InterfaceState], by_bundle: dict[str, dict[str, InterfaceState]],
                 environments: dict[str, tuple[str, str]] | None = None):
        super().__init__(states)
        self.by_bundle = by_bundle
        #: bundle id → (version, state) of the hub's background preparation of its environment (``waiting``,
        #: ``preparing``, ``ready``, ``failed``); empty where the hub prepares nothing (Kubernetes: images)
        self.environments = environments or {}


def states_for_bundle(states: dict[str, InterfaceState] | None,
                      bundle: str | None) -> dict[str, InterfaceState] | None:
    """The states of ``bundle``'s interfaces where the hub names them per bundle, else its general ones (a hub
    whose catalogue is older than the portal's does not know every interface of the portal's bundle by bundle, but
    it still knows which programs it has)."""
    if states is None or bundle is None:
        return states
    specific = getattr(states, "by_bundle", {}).get(bundle)
    return states if specific is None else {**states, **specific}


@dataclass(frozen=True)
class HomeHandover:
    """What a hub did with a leaving user's home folder in a handover: ``folder`` is where it now is inside the
    colleague's home (None when the leaving user had none there: ``moved`` is False)."""

    moved: bool
    folder: str | None = None


@dataclass(frozen=True)
class HubSizing:
    """What a hub says about sizes: the ``capacity`` of its machine (None: no single machine, e.g. Kubernetes, where
    node pools decide) and whether it enforces a size's CPU and memory (``enforced``; None: it does not say), with
    its ``mechanism`` (``cgroup-v1``, ``systemd-run``, ``kubernetes`` …)."""

    capacity: Capacity | None
    enforced: bool | None
    mechanism: str | None = None


@dataclass(frozen=True)
class WorkspaceUsage:
    """A server's usage as the hub reports it: CPU in percent of one CPU, memory in bytes; peaks since it started;
    ``idle_cull_at``: when the hub's idle culler stops it if nobody uses it (None: unknown or not running)."""

    running: bool
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    peak_cpu_percent: float | None = None
    peak_rss_bytes: int | None = None
    samples: int = 0
    started: datetime | None = None
    last_activity: datetime | None = None
    idle_cull_at: datetime | None = None
    idle_timeout_seconds: int | None = None
    cull_every_seconds: int | None = None
    enforced: bool | None = None


@dataclass(frozen=True)
class HubStatus:
    """Whether a hub answers. ``message`` is for operators (it can name the hub's internal API address); pages
    show the text of ``reason`` instead."""

    available: bool
    message: str
    version: str | None = None
    reason: str | None = None
    latency_ms: float | None = None   # how long the check took (also when it failed); None: not measured


class WorkspaceHub(ABC):
    """What the portal needs from a hub. Every method raises the portal's own errors."""

    public_url: str

    @abstractmethod
    def check(self) -> str:
        """The hub's version if it answers; :class:`HubUnavailable` otherwise."""

    @abstractmethod
    def ensure_user(self, *, username: str, groups: Iterable[str]) -> None:
        """Make sure the user exists and is in exactly ``groups`` among the portal-managed groups."""

    @abstractmethod
    def start(self, *, username: str, server_name: str, options: dict[str, str]) -> ServerInfo:
        """Ask the hub to start a named server with these launch options; returns at once (pending or ready)."""

    @abstractmethod
    def stop(self, *, username: str, server_name: str, remove: bool = True) -> ServerInfo | None:
        """Stop a named server and (``remove``) remove it; None when it is stopped (or gone), else the server still
        stopping. With ``remove=False`` the hub keeps the stopped server — and with it its home folder, on a backend
        that keys home folders by server — so starting the same name again resumes it."""

    @abstractmethod
    def servers(self, *, username: str) -> dict[str, ServerInfo]:
        """The user's servers the hub knows (running, pending and stopped)."""

    @abstractmethod
    def active_servers(self) -> dict[str, dict[str, ServerInfo]]:
        """Every user's running or pending servers, by user name and server name, in as few requests as the hub
        allows (the background sync asks this every few seconds, whatever the number of users)."""

    def interfaces(self) -> dict[str, InterfaceState] | None:
        """Which interfaces the hub can serve, by interface id; None when the hub does not say (availability
        unknown: the hub decides at launch). Raises :class:`HubUnavailable` when the hub does not answer."""
        return None

    @abstractmethod
    def progress(self, *, username: str, server_name: str) -> AsyncIterator[ProgressEvent]:
        """The start progress of a server, relayed event by event until it is ready or failed."""

    def hand_over_home(self, *, from_username: str, to_username: str) -> HomeHandover:
        """Move ``from_username``'s home folder into ``to_username``'s home (a handover); refused while one of
        their servers runs. A hub that cannot says so (``handover-unsupported``)."""
        raise HubRefused("this hub cannot hand over home folders", reason="handover-unsupported")

    def sizing(self) -> HubSizing | None:
        """The hub's machine capacity and whether sizes are enforced; None when the hub does not say."""
        return None

    def share_app(self, *, username: str, server_name: str, users: Iterable[str], groups: Iterable[str]) -> dict:
        """Let exactly these hub users and groups open the published app ``server_name`` of ``username`` (JupyterHub's
        sharing, ``hub/apps.py``); returns ``{"shared": [...], "missing": {"users": [...], "groups": [...]}}``."""
        raise HubRefused("this hub cannot share published apps", reason="apps-unsupported")

    def app_logs(self, *, username: str, server_name: str) -> list[str] | None:
        """The last log lines of a published app's server; None when the hub cannot say."""
        return None

    def usage(self, *, username: str, server_name: str) -> WorkspaceUsage | None:
        """A server's live usage and peaks (or the last of a stopped one); None when the hub does not know."""
        return None

    def open_url(self, server_url: str) -> str:
        """Where to send a browser to open a running server (logging in at the hub on the way)."""
        return server_url

    def login_url(self, return_path: str) -> str:
        """Where to send a browser the hub must see log in first (``hub-login-needed``): through the hub's single
        sign-on and back to the portal's ``return_path``."""
        return self.public_url

    def server_url(self, path: str | None) -> str | None:
        """An absolute URL for a path the hub reports (``/user/alice/x/``)."""
        if not path:
            return None
        if path.startswith(("http://", "https://")):
            return path
        return self.public_url.rstrip("/") + "/" + path.lstrip("/")


HubFactory = Callable[..., WorkspaceHub]


class EnvironmentLike(Protocol):
    name: str
    hub_url: str
    hub_api_url: str


class Hubs:
    """One adapter per environment, created on first use, plus a short-lived memory of hub health and of the starts
    this process follows on a hub's progress stream.

    Nothing here is cached for longer than ``status_ttl`` seconds, so a hub that comes back is used
    again without restarting the portal.
    """

    def __init__(self, *, factory: HubFactory, token_for: Callable[[str, str], str | None], timeout: float,
                 status_ttl: float):
        self._factory = factory
        self._token_for = token_for
        self._timeout = timeout
        self._status_ttl = status_ttl
        self._adapters: dict[tuple[str, str, str], WorkspaceHub] = {}
        self._status: dict[str, tuple[float, HubStatus]] = {}
        self._interfaces: dict[str, tuple[float, dict[str, InterfaceState] | None]] = {}
        self._sizing: dict[str, tuple[float, HubSizing | None]] = {}
        self._known_users: dict[tuple[str, str], float] = {}    # (environment, user name) → when the hub knew them
        self._followed: dict[int, int] = {}      # workspace id → progress streams following its start now
        self._starts: dict[int, threading.Event] = {}   # workspace id → set once its hub has answered the start
        self._start_pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def for_environment(self, environment: EnvironmentLike) -> WorkspaceHub:
        key = (environment.name, environment.hub_api_url, environment.hub_url)
        with self._lock:
            adapter = self._adapters.get(key)
            if adapter is None:
                adapter = self._factory(api_url=environment.hub_api_url, public_url=environment.hub_url,
                                        token=self._token_for(environment.name, environment.hub_api_url),
                                        timeout=self._timeout)
                self._adapters[key] = adapter
            return adapter

    def _fresh(self, store: dict[str, tuple[float, Any]], name: str, now: float) -> tuple[float, Any] | None:
        """This environment's entry in ``store`` if it is younger than ``status_ttl`` seconds."""
        cached = store.get(name)
        return cached if cached is not None and now - cached[0] < self._status_ttl else None

    def _remembered(self, store: dict[str, tuple[float, Any]], name: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, or what it gave for this environment less than ``status_ttl`` seconds ago."""
        now = time.monotonic()
        cached = self._fresh(store, name, now)
        if cached is not None:
            return cached[1]
        value = compute()
        store[name] = (now, value)
        return value

    def status(self, environment: EnvironmentLike) -> HubStatus:
        def check() -> HubStatus:
            began = time.perf_counter()
            try:
                version = self.for_environment(environment).check()
                return HubStatus(True, f"hub {environment.name} answers (JupyterHub {version})", version,
                                 latency_ms=round((time.perf_counter() - began) * 1000, 1))
            except HubUnavailable as exc:
                return HubStatus(False, exc.message, reason=exc.reason,
                                 latency_ms=round((time.perf_counter() - began) * 1000, 1))

        return self._remembered(self._status, environment.name, check)

    def ensure_user(self, environment: EnvironmentLike, *, username: str, groups: Iterable[str]) -> None:
        """The launch's one quick question to the hub: whether it knows the user (else its sign-on first:
        :class:`HubLoginNeeded`) and answers at all (:class:`HubUnavailable`, reported down). Not asked again for
        :data:`KNOWN_USER_SECONDS` after the hub said yes, as long as the hub's health was checked good less than
        ``status_ttl`` seconds ago (what every page shows): that read was a tenth of a launch's answer."""
        key, now = (environment.name, username), time.monotonic()
        with self._lock:
            known = self._known_users.get(key)
        checked = self._fresh(self._status, environment.name, now)
        if known is not None and now - known < KNOWN_USER_SECONDS and checked is not None and checked[1].available:
            return
        try:
            self.for_environment(environment).ensure_user(username=username, groups=groups)
        except PortalError as exc:
            if isinstance(exc, HubUnavailable):
                self.report_down(environment.name, exc.message, exc.reason)
            self.forget_user(environment, username)
            raise
        with self._lock:
            self._known_users[key] = time.monotonic()

    def forget_user(self, environment: EnvironmentLike, username: str) -> None:
        """The hub said it does not know the user (any more): :meth:`ensure_user` asks it again."""
        with self._lock:
            self._known_users.pop((environment.name, username), None)

    def interfaces(self, environment: EnvironmentLike, bundle: str | None = None) -> dict[str, InterfaceState] | None:
        """Which interfaces the environment's hub can serve (remembered for ``status_ttl`` seconds, like its
        health), for ``bundle`` when given; None when unknown: the hub does not answer or does not say."""
        def ask() -> dict[str, InterfaceState] | None:
            try:
                return self.for_environment(environment).interfaces()
            except PortalError:
                return None

        return states_for_bundle(self._remembered(self._interfaces, environment.name, ask), bundle)

    def preparing(self, environment: EnvironmentLike, bundle_id: str, version: str) -> bool:
        """Whether the environment's hub is preparing this bundle version's environment now (remembered with
        :meth:`interfaces`): a start waits for that build."""
        return getattr(self.interfaces(environment), "environments", {}).get(bundle_id) == (version, "preparing")

    def sizing(self, environment: EnvironmentLike) -> HubSizing | None:
        """The environment's hub capacity and limits (remembered like its health); None when unknown."""
        def ask() -> HubSizing | None:
            try:
                return self.for_environment(environment).sizing()
            except PortalError:
                return None

        return self._remembered(self._sizing, environment.name, ask)

    @contextmanager
    def following(self, workspace_id: int) -> Iterator[None]:
        """While a progress stream relays this workspace's start from its hub (:mod:`..progress`): that stream
        records how the start ends the moment the hub says so, so page views need not ask the hub meanwhile."""
        with self._lock:
            self._followed[workspace_id] = self._followed.get(workspace_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._followed.pop(workspace_id) - 1
                if left:
                    self._followed[workspace_id] = left

    def followed(self, workspace_id: int) -> bool:
        """Whether a progress stream of this process follows this workspace's start right now."""
        with self._lock:
            return workspace_id in self._followed

    def submit_start(self, workspace_id: int, start: Callable[[], None]) -> None:
        """Run ``start`` (the hub's half of a launch, with its own database session) on one of this process's start
        threads; until it returns, :meth:`start_pending` says so, and progress streams and page views wait for it
        instead of asking the hub about a server it has not been asked for yet. ``start`` records its own
        failures; an exception escaping it is logged (the background sync ends such a start after its grace)."""
        done = threading.Event()
        with self._lock:
            self._starts[workspace_id] = done
            if self._start_pool is None:
                self._start_pool = ThreadPoolExecutor(max_workers=START_THREADS, thread_name_prefix="hub-start")
            pool = self._start_pool

        def run() -> None:
            try:
                start()
            except Exception:  # noqa: BLE001 - a background start has no caller to raise to
                log.exception("the background start of workspace %s failed", workspace_id)
            finally:
                with self._lock:
                    if self._starts.get(workspace_id) is done:
                        del self._starts[workspace_id]
                done.set()

        pool.submit(run)

    def start_pending(self, workspace_id: int) -> bool:
        """Whether this process is still handing this workspace's start to its hub."""
        with self._lock:
            return workspace_id in self._starts

    def wait_start(self, workspace_id: int, timeout: float | None = None) -> bool:
        """Wait until this process has handed this workspace's start to its hub (at once when it is not pending);
        False when ``timeout`` passed first."""
        with self._lock:
            done = self._starts.get(workspace_id)
        return done is None or done.wait(timeout)

    def wait_starts(self, timeout: float | None = None) -> bool:
        """Wait until every start this process is handing to a hub has its answer (tests, shutdown); False when
        ``timeout`` passed first for one of them."""
        with self._lock:
            pending = list(self._starts.values())
        return all(done.wait(timeout) for done in pending)

    def report_down(self, environment_name: str, message: str, reason: str = "hub-unavailable") -> None:
        """A request just failed to reach this hub: say so on pages until the next check."""
        self._status[environment_name] = (time.monotonic(), HubStatus(False, message, reason=reason))

    def close(self) -> None:
        if self._start_pool is not None:      # starts under way finish (and record how they ended) first
            self._start_pool.shutdown(wait=True)
            self._start_pool = None
        for adapter in self._adapters.values():
            close = getattr(adapter, "close", None)
            if close:
                close()


