"""Which workspace interfaces a backend can serve, and how the local backend serves them.

JupyterLab is always there. RStudio and VS Code run behind jupyter-server-proxy and need their
binaries (``rserver``, ``code-server``); on Kubernetes the bundle image brings them, on this
machine they must be installed. Where a binary is missing the option says so instead of
failing at spawn. Asked about one bundle, the local backend also checks that bundle's own tools
beyond PyPI (R and its CRAN pins, :mod:`.bundle_tools`): without them no interface of it can start.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from gereedschapskist.catalogue import Bundle, Interface

from .bundle_tools import LocalTools

#: jupyter-server-proxy, installed into a bundle's environment only when it serves RStudio or VS Code.
SERVER_PROXY_REQUIREMENT = "jupyter-server-proxy==4.6.0"


@dataclass(frozen=True, slots=True)
class ProxiedApp:
    """An interface served through jupyter-server-proxy: which binary, and how to start it."""

    interface: Interface
    binary: str
    path: str  # URL path under the server, e.g. "rstudio"

    def command(self, binary_path: str) -> list[str]:
        """The jupyter-server-proxy command; ``{port}`` is filled in by the proxy."""
        if self.interface is Interface.RSTUDIO:
            return [binary_path, "--www-port={port}", "--www-address=127.0.0.1", "--server-daemonize=0",
                    "--auth-none=1"]
        return [binary_path, "--bind-addr=127.0.0.1:{port}", "--auth=none", "--disable-telemetry"]


PROXIED: Mapping[Interface, ProxiedApp] = {
    Interface.RSTUDIO: ProxiedApp(Interface.RSTUDIO, "rserver", "rstudio"),
    Interface.VSCODE: ProxiedApp(Interface.VSCODE, "code-server", "vscode"),
}


@dataclass(frozen=True, slots=True)
class InterfaceStatus:
    interface: Interface
    available: bool
    note: str = ""  # why not, for people (Dutch / English)
    missing: str | None = None  # the program this machine lacks (``rserver``, ``code-server``), for machines


class InterfaceAvailability:
    """Answers "can this backend serve interface X (of bundle B)?" — the base class serves everything (images
    bring it). ``bundles``: the catalogue's bundles, whose availability the hub reports one by one (:mod:`.api`)."""

    def __init__(self, bundles: Iterable[Bundle] = ()):
        self.bundles = tuple(bundles)

    def status(self, interface: Interface, bundle: Bundle | None = None) -> InterfaceStatus:
        return InterfaceStatus(interface, True)

    def default_url(self, interface: Interface) -> str:
        if interface is Interface.JUPYTERLAB:
            return "/lab"
        return f"/{PROXIED[interface].path}/"


class LocalInterfaces(InterfaceAvailability):
    """The local backend: RStudio / VS Code only where their binaries are on this machine, and a bundle's
    interfaces only where its tools beyond PyPI are (``tools``)."""

    def __init__(self, which: Callable[[str], str | None] = shutil.which, tools: LocalTools | None = None,
                 bundles: Iterable[Bundle] = ()):
        super().__init__(bundles)
        self._which = which
        self.tools = tools if tools is not None else LocalTools()

    def binary(self, interface: Interface) -> str | None:
        app = PROXIED.get(interface)
        return self._which(app.binary) if app else None

    def status(self, interface: Interface, bundle: Bundle | None = None) -> InterfaceStatus:
        own = self._program_status(interface)
        if not own.available or bundle is None:
            return own
        lacking = self.tools.missing(bundle)
        if not lacking:
            return own
        listed = ", ".join(lacking)
        return InterfaceStatus(
            interface, False,
            f"De eigen tools van {bundle.id} ontbreken op deze machine: {listed} / "
            f"The tools of {bundle.id} are missing on this machine: {listed}",
            missing=listed,
        )

    def _program_status(self, interface: Interface) -> InterfaceStatus:
        if interface is Interface.JUPYTERLAB:
            return InterfaceStatus(interface, True)
        app = PROXIED[interface]
        if self.binary(interface):
            return InterfaceStatus(interface, True)
        return InterfaceStatus(
            interface, False,
            f"{interface.label} is niet geïnstalleerd op deze machine (geen `{app.binary}`) / "
            f"{interface.label} is not installed on this machine (no `{app.binary}`)",
            missing=app.binary,
        )

    def server_proxy_config(self, interfaces: tuple[Interface, ...]) -> dict:
        """``ServerProxy.servers`` entries for the available proxied interfaces of a bundle (may be empty)."""
        servers: dict[str, dict] = {}
        for interface in interfaces:
            app = PROXIED.get(interface)
            binary = self.binary(interface) if app else None
            if app and binary:
                servers[app.path] = {
                    "command": app.command(binary),
                    "timeout": 60,
                    "absolute_url": False,
                    "launcher_entry": {"title": interface.label},
                }
        return servers
