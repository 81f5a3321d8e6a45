"""Which workspace interfaces a backend can serve, and how the local backend serves them.

JupyterLab is always there. RStudio and VS Code run behind jupyter-server-proxy and need their
binaries (``rserver``, ``code-server``); on Kubernetes the bundle image brings them, on this
machine they must be installed. Where a binary is missing the option says so instead of
failing at spawn.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Callable, Mapping

from gereedschapskist.catalogue import Interface

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
    """Answers "can this backend serve interface X?" — the base class serves everything (images bring it)."""

    def status(self, interface: Interface) -> InterfaceStatus:
        return InterfaceStatus(interface, True)

    def default_url(self, interface: Interface) -> str:
        if interface is Interface.JUPYTERLAB:
            return "/lab"
        return f"/{PROXIED[interface].path}/"


class LocalInterfaces(InterfaceAvailability):
    """The local backend: RStudio / VS Code only where their binaries are on this machine."""

    def __init__(self, which: Callable[[str], str | None] = shutil.which):
        self._which = which

    def binary(self, interface: Interface) -> str | None:
        app = PROXIED.get(interface)
        return self._which(app.binary) if app else None

    def status(self, interface: Interface) -> InterfaceStatus:
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
