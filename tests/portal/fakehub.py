"""An in-memory hub (a :class:`~gereedschapskist.portal.workspace_hub.WorkspaceHub` test double) for tests about
the portal's own behaviour — who may do what, what the JSON API does with odd input — rather than about the hub.

Pass :meth:`FakeHubs.factory` as ``create_app(…, hub_factory=…)``. A start is ready at once (so a launch leaves a
running workspace), a stop removes the server (or, with ``remove=False``, keeps it stopped), progress ends in ``ready``. The real hub is tested elsewhere
(``test_workspaces_hub.py``, against the development stack).
"""

from __future__ import annotations

import threading
from typing import AsyncIterator, Iterable

from gereedschapskist.portal.errors import HubRefused
from gereedschapskist.portal.workspace_hub import HomeHandover, ProgressEvent, ServerInfo, WorkspaceHub


class FakeHub(WorkspaceHub):
    def __init__(self, *, api_url: str, public_url: str, token: str | None = None, timeout: float = 5.0):
        self.api_url, self.public_url = api_url, public_url
        self.servers_by_user: dict[str, dict[str, ServerInfo]] = {}
        self.groups: dict[str, tuple[str, ...]] = {}
        self.options: dict[tuple[str, str], dict] = {}          # the launch options of each (user, server)
        self.handovers: list[tuple[str, str]] = []               # (from, to) of every home-folder handover
        self.shares: dict[tuple[str, str], tuple[list, list]] = {}  # published apps' audience: (users, groups)
        self._lock = threading.Lock()

    def check(self) -> str:
        return "5.0.0-fake"

    def ensure_user(self, *, username: str, groups: Iterable[str]) -> None:
        with self._lock:
            self.groups[username] = tuple(groups)

    def start(self, *, username: str, server_name: str, options: dict[str, str]) -> ServerInfo:
        info = ServerInfo(server_name, ready=True, url=f"/user/{username}/{server_name}/")
        with self._lock:
            self.options[(username, server_name)] = dict(options)
            self.servers_by_user.setdefault(username, {})[server_name] = info
        return info

    def stop(self, *, username: str, server_name: str, remove: bool = True) -> ServerInfo | None:
        with self._lock:
            servers = self.servers_by_user.get(username, {})
            if remove:
                servers.pop(server_name, None)
            elif server_name in servers:      # kept, stopped, as JupyterHub keeps a named server it did not remove
                servers[server_name] = ServerInfo(server_name, ready=False, stopped=True)
        return None

    def servers(self, *, username: str) -> dict[str, ServerInfo]:
        with self._lock:
            return dict(self.servers_by_user.get(username, {}))

    def active_servers(self) -> dict[str, dict[str, ServerInfo]]:
        with self._lock:
            active = {user: {name: info for name, info in servers.items() if info.ready or info.pending}
                      for user, servers in self.servers_by_user.items()}
            return {user: servers for user, servers in active.items() if servers}

    async def progress(self, *, username: str, server_name: str) -> AsyncIterator[ProgressEvent]:
        info = self.servers(username=username).get(server_name)
        yield ProgressEvent(50, "starting (fake hub)")
        if info is None:
            yield ProgressEvent(100, "the fake hub has no such server", failed=True)
        else:
            yield ProgressEvent(100, "ready", ready=True, url=info.url)

    def share_app(self, *, username: str, server_name: str, users, groups) -> dict:
        with self._lock:
            self.shares[(username, server_name)] = (sorted(users), sorted(groups))
        return {"shared": sorted(users) + [f"group:{g}" for g in sorted(groups)], "missing": {"users": [],
                                                                                             "groups": []}}

    def app_logs(self, *, username: str, server_name: str) -> list[str] | None:
        return [f"app proxy: listening ({username}/{server_name})"]

    def hand_over_home(self, *, from_username: str, to_username: str) -> HomeHandover:
        """As the real hub: refused while a server of the leaving user runs; remembered in :attr:`handovers`."""
        with self._lock:
            if any(not info.stopped for info in self.servers_by_user.get(from_username, {}).values()):
                raise HubRefused(f"{from_username} has servers running", reason="workspace-running")
            self.handovers.append((from_username, to_username))
        return HomeHandover(moved=True, folder=f"overgedragen-van-{from_username}")

    def running(self) -> set[tuple[str, str]]:
        """Every (user, server) the hub is running (stopped servers it keeps are not)."""
        with self._lock:
            return {(user, name) for user, servers in self.servers_by_user.items()
                    for name, info in servers.items() if not info.stopped}


class FakeHubs:
    """The factory the app gets, remembering every hub it made (one per environment)."""

    def __init__(self) -> None:
        self.made: list[FakeHub] = []

    def factory(self, **kwargs) -> FakeHub:
        hub = FakeHub(**kwargs)
        self.made.append(hub)
        return hub

    def running(self) -> set[tuple[str, str]]:
        return set().union(*(hub.running() for hub in self.made)) if self.made else set()
