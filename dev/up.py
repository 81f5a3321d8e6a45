"""``gereedschapskist up``: the whole workbench on this machine, stopped cleanly by Ctrl-C.

``up`` runs a list of *steps*, each starting one managed service, in order; it prints the URLs and
the demo accounts, and supervises: a service that dies is started again by its step (same context, so
the same ports and state), after a backoff of 1 s, 2 s, 4 s … at most 30 s, while the others keep
running. After 5 deaths of one service within 2 minutes ``up`` gives up and stops everything, naming the
service's log. Ctrl-C (or SIGTERM) stops the services in reverse order, also during a backoff. Every step, this package's own included, is found through the entry-point group
``gereedschapskist.up``, so ``up`` itself names no service::

    [project.entry-points."gereedschapskist.up"]
    oidc-provider = "gereedschapskist.dev.steps:provider"   # an UpStep: order 10
    jupyterhub = "gereedschapskist.dev.steps:hub"            # order 20
    portal = "gereedschapskist.dev.steps:portal"             # order 30

A step's ``start(ctx)`` gets the :class:`UpContext` (state directory, ports, secrets, what is
already running — ``ctx.provider``, ``ctx.hub``) and returns a :class:`Running` service.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from .demo import format_accounts, load_accounts
from .devstack import DevSecrets, HubProcess, OidcProvider
from .processes import ProcessFailed, port_is_free

UP_GROUP = "gereedschapskist.up"


@dataclass
class Running:
    """A started service: how to stop it, whether it still runs, what to tell the person at the keyboard."""

    name: str
    stop: Callable[[], None]
    alive: Callable[[], bool]
    url: str | None = None
    lines: list[str] = field(default_factory=list)
    primary: bool = False  # the URL to begin with (the portal once it exists, else the hub)
    log_path: Path | None = None  # where its output goes, named when it dies


@dataclass
class UpContext:
    state_dir: Path
    ports: dict[str, int]  # "provider", "hub", "portal"
    secrets: DevSecrets
    catalogue_dir: Path | None = None
    provider: OidcProvider | None = None
    hub: HubProcess | None = None
    running: dict[str, Running] = field(default_factory=dict)


@dataclass(frozen=True)
class UpStep:
    name: str
    order: int
    start: Callable[[UpContext], Running]


def all_steps() -> list[UpStep]:
    """Every step registered under the entry-point group ``gereedschapskist.up``, in their order."""
    steps = []
    for ep in entry_points(group=UP_GROUP):
        step = ep.load()
        if not isinstance(step, UpStep):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not an UpStep")
        steps.append(step)
    return sorted(steps, key=lambda s: s.order)


class _Stop(Exception):
    pass


class _Phase:
    """Where ``run`` is: a stop request interrupts a start, but never the stopping itself."""

    def __init__(self) -> None:
        self.value = "starting"


@dataclass(frozen=True)
class Restarts:
    """How ``up`` restarts a dead service: after ``first_delay`` s, doubling up to ``max_delay`` s; it gives up
    when one service dies ``give_up_after`` times within ``window`` seconds."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    give_up_after: int = 5
    window: float = 120.0

    def delay(self, failures: int) -> float:
        """The wait before the restart after the ``failures``-th recent death (1, 2, …)."""
        return min(self.first_delay * 2 ** (failures - 1), self.max_delay)


def run(ctx: UpContext, steps: list[UpStep], *, echo: Callable[[str], None], stop_event: threading.Event,
        phase: _Phase | None = None, restarts: Restarts = Restarts(), poll: float = 1.0) -> int:
    """Start the steps in order, report, then supervise: restart a dead service with backoff (giving up after
    too many quick deaths) until ``stop_event``; finally stop every service in reverse order."""
    phase = phase or _Phase()
    started: list[Running] = []
    code = 0
    try:
        for step in steps:
            echo(f"… starting {step.name}")
            service = step.start(ctx)
            started.append(service)
            ctx.running[step.name] = service
        _report(ctx, started, echo)
        phase.value = "running"
        code = _supervise(ctx, steps, started, echo=echo, stop_event=stop_event, phase=phase, restarts=restarts,
                          poll=poll)
    except ProcessFailed as failed:
        echo(f"✗ {failed}")
        code = 1
    except _Stop:
        echo("… interrupted while starting" if phase.value == "starting" else "… interrupted while restarting")
    finally:
        phase.value = "stopping"
        if started:
            echo("… stopping " + ", ".join(s.name for s in reversed(started)))
        for service in reversed(started):
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                echo(f"✗ stopping {service.name}: {exc}")
        echo("stopped")
    return code


def _supervise(ctx: UpContext, steps: list[UpStep], started: list[Running], *, echo: Callable[[str], None],
               stop_event: threading.Event, phase: _Phase, restarts: Restarts, poll: float) -> int:
    """The idle loop: wake up to notice a dead service, restart it, keep the others. Returns the exit code."""
    deaths: dict[str, list[float]] = {}
    while not stop_event.wait(poll):
        for index, service in enumerate(started):
            if stop_event.is_set():
                return 0
            if service.alive():
                continue
            log = service.log_path or ctx.state_dir / "logs"
            now = time.monotonic()
            recent = [t for t in deaths.get(service.name, []) if now - t < restarts.window] + [now]
            deaths[service.name] = recent
            others = [s.name for s in started if s is not service]
            if len(recent) >= restarts.give_up_after:
                echo(f"✗ {service.name} stopped unexpectedly {len(recent)} times within "
                     f"{restarts.window:.0f} s; giving up and stopping everything. See its log: {log}")
                return 1
            delay = restarts.delay(len(recent))
            echo(f"✗ {service.name} stopped unexpectedly; restarting it in {delay:g} s "
                 f"(attempt {len(recent)} of {restarts.give_up_after - 1}; log: {log})"
                 + (f"; {', '.join(others)} keep running" if others else ""))
            try:
                service.stop()  # what it left behind (children in its process group) goes too, freeing its ports
            except Exception as exc:  # noqa: BLE001 - a restart is still worth trying
                echo(f"✗ cleaning up after {service.name}: {exc}")
            if stop_event.wait(delay):
                return 0
            step = next(s for s in steps if s.name == service.name)
            phase.value = "starting"  # Ctrl-C now interrupts the restart, as it does a first start
            try:
                replacement = step.start(ctx)
            except ProcessFailed as failed:
                echo(f"✗ restarting {service.name} failed: {failed}")
                continue  # still dead: the next round counts another death and waits longer
            finally:
                if phase.value == "starting":
                    phase.value = "running"
            started[index] = replacement
            ctx.running[step.name] = replacement
            echo(f"✓ {service.name} restarted" + (f": {replacement.url}" if replacement.url else ""))
    return 0


def _report(ctx: UpContext, started: list[Running], echo: Callable[[str], None]) -> None:
    primary = next((s for s in reversed(started) if s.primary), started[-1])
    echo("")
    echo("Gereedschapskist runs on this machine:")
    for service in started:
        for line in service.lines:
            echo(f"  {line}")
    echo("")
    echo(f"Open / Open: {primary.url}")
    echo("")
    echo("Demo accounts / Demo-accounts (development only):")
    echo(format_accounts(load_accounts()))
    echo("")
    echo(f"State / Toestand: {ctx.state_dir}  (logs in {ctx.state_dir / 'logs'}; delete it to start afresh)")
    echo("Press Ctrl-C to stop everything. / Druk op Ctrl-C om alles te stoppen.")


def up(
    state_dir: Annotated[Path, typer.Option(help="the one directory with all state of the local workbench")]
    = Path(".state"),
    hub_port: Annotated[int, typer.Option(help="port of JupyterHub (its proxy) on 127.0.0.1")] = 8000,
    portal_port: Annotated[int, typer.Option(help="port of the portal on 127.0.0.1")] = 8080,
    provider_port: Annotated[int, typer.Option(help="port of the OIDC provider on 127.0.0.1 (0: any free one)")]
    = 8090,
    catalogue: Annotated[Optional[Path], typer.Option(help="the catalogue folder (default: the project's)")] = None,
) -> None:
    """Start the workbench on this machine (OIDC provider, JupyterHub, …) and stop it on Ctrl-C."""
    busy = [f"{name} {port}" for name, port in (("hub", hub_port), ("portal", portal_port),
                                                 ("provider", provider_port)) if port and not port_is_free(port)]
    if busy:
        typer.secho(f"error: port(s) in use on 127.0.0.1: {', '.join(busy)}; stop what uses them or choose "
                    "others with --hub-port/--portal-port/--provider-port", fg="red", err=True)
        raise typer.Exit(1)
    steps = all_steps()
    if not steps:
        typer.secho(f"error: no steps are registered under the entry-point group {UP_GROUP}; reinstall the "
                    "project (make install)", fg="red", err=True)
        raise typer.Exit(1)
    state_dir = state_dir.resolve()
    ctx = UpContext(state_dir, {"hub": hub_port, "portal": portal_port, "provider": provider_port},
                    DevSecrets.load_or_create(state_dir), catalogue_dir=catalogue)
    stop_event = threading.Event()
    phase = _Phase()

    def request_stop(signum, frame) -> None:
        stop_event.set()
        if phase.value == "starting":
            raise _Stop()  # interrupt a start in progress; run() stops what already runs

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = run(ctx, steps, echo=typer.echo, stop_event=stop_event, phase=phase)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    raise typer.Exit(code)


def accounts() -> None:
    """Print the demo accounts of the development OpenID Connect provider."""
    typer.echo(format_accounts(load_accounts()))
