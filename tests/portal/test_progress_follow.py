"""While a progress stream relays a workspace's start, page views leave that start to the stream (issue 12: pages
answer quickly while workspaces start, because they do not wait on a busy hub); before and after, they ask the hub.

The hub is an in-memory double (:mod:`tests.portal.fakehub`) whose progress stream holds the start until the test
lets it end, and which counts the requests the portal makes: this is about which requests the portal makes, not
about the hub. ``tests/bench/test_latency_under_load.py`` measures the effect against the real hub.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import Environment, Workspace, WorkspaceStatus
from gereedschapskist.portal.progress import relay
from gereedschapskist.portal.workspace_hub import ProgressEvent, ServerInfo, WorkspaceUsage
from tests.portal.fakehub import FakeHub
from tests.portal.test_workspaces_service import add_workspace


class HeldHub(FakeHub):
    """Counts ``servers`` and ``usage`` requests; its progress stream waits for :attr:`release` before ``ready``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls: list[str] = []
        self.release: asyncio.Event | None = None

    def servers(self, *, username: str):
        self.calls.append("servers")
        return super().servers(username=username)

    def usage(self, *, username: str, server_name: str):
        self.calls.append("usage")
        info = super().servers(username=username).get(server_name)
        return WorkspaceUsage(running=bool(info and info.ready), cpu_percent=12.0, rss_bytes=2**28,
                              peak_cpu_percent=50.0, peak_rss_bytes=2**29, samples=3)

    async def progress(self, *, username: str, server_name: str):
        yield ProgressEvent(40, "starting the server process")
        assert self.release is not None
        await self.release.wait()
        with self._lock:
            self.servers_by_user[username][server_name] = ServerInfo(server_name, ready=True,
                                                                     url=f"/user/{username}/{server_name}/")
        yield ProgressEvent(100, "ready", ready=True, url=f"/user/{username}/{server_name}/")


@pytest.fixture
def made() -> list[HeldHub]:
    return []


@pytest.fixture
def app(settings, made):
    def factory(**kwargs) -> HeldHub:
        made.append(HeldHub(**kwargs))
        return made[-1]

    return create_app(settings, hub_factory=factory)


VIEWS = ("/workspaces/{id}", "/api/v1/workspaces/{id}", "/api/v1/workspaces/{id}/usage", "/workspaces")


def _starting(app, login) -> tuple[int, HeldHub]:
    login("anna", ["org:minfin", "role:bi"])
    workspace_id = add_workspace(app, username="anna", organisation="minfin", status=WorkspaceStatus.STARTING)
    with app.state.portal.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        hub = app.state.portal.hubs.for_environment(workspace.environment)
        hub.servers_by_user["anna"] = {workspace.server_name: ServerInfo(workspace.server_name, ready=False,
                                                                         pending="spawn")}
    return workspace_id, hub


def _view_all(client, workspace_id: int) -> None:
    for path in VIEWS:
        response = client.get(path.format(id=workspace_id))
        assert response.status_code == 200, (path, response.text[:300])


def test_a_followed_start_is_left_to_its_stream_and_asked_about_again_after(app, client, login):
    workspace_id, hub = _starting(app, login)
    state = app.state.portal

    _view_all(client, workspace_id)          # nobody follows the start: the pages ask the hub (defect 8)
    asked_unfollowed = list(hub.calls)
    assert asked_unfollowed.count("servers") >= 3, asked_unfollowed
    assert "usage" not in asked_unfollowed   # a starting workspace has no usage yet: not asked

    async def follow() -> list[str]:
        hub.release = asyncio.Event()
        with state.sessions() as session:
            workspace = session.get(Workspace, workspace_id)
            stream = relay(state, workspace_id=workspace_id, username="anna", server_name=workspace.server_name,
                           status=workspace.status, status_message=None, environment=workspace.environment)
        events = [await anext(stream)]
        assert state.hubs.followed(workspace_id)
        hub.calls.clear()
        await asyncio.to_thread(_view_all, client, workspace_id)
        # only "my workspaces" asks (for the user's servers the portal does not know), never about this start
        assert hub.calls == ["servers"], hub.calls
        with state.sessions() as session:
            assert session.get(Workspace, workspace_id).status is WorkspaceStatus.STARTING
        hub.release.set()
        events += [event async for event in stream]
        return events

    events = asyncio.run(follow())
    assert events[0].startswith("event: progress") and events[-1].startswith("event: ready"), events
    assert not state.hubs.followed(workspace_id)
    with state.sessions() as session:            # the stream recorded the end
        assert session.get(Workspace, workspace_id).status is WorkspaceStatus.RUNNING

    hub.calls.clear()
    _view_all(client, workspace_id)             # running and no longer followed: asked again on every view
    assert hub.calls.count("servers") >= 2 and hub.calls.count("usage") == 2, hub.calls


def test_a_stream_that_ends_early_stops_following(app, client, login):
    """A browser that closes the page ends the stream: the start is asked about again on the next view."""
    workspace_id, hub = _starting(app, login)
    state = app.state.portal

    async def leave() -> None:
        hub.release = asyncio.Event()
        with state.sessions() as session:
            workspace = session.get(Workspace, workspace_id)
            stream = relay(state, workspace_id=workspace_id, username="anna", server_name=workspace.server_name,
                           status=workspace.status, status_message=None, environment=workspace.environment)
        await anext(stream)
        assert state.hubs.followed(workspace_id)
        await stream.aclose()                    # what the server does when the browser goes away

    asyncio.run(leave())
    assert not state.hubs.followed(workspace_id)
    hub.calls.clear()
    assert client.get(f"/api/v1/workspaces/{workspace_id}").json()["status"] == "starting"
    assert hub.calls == ["servers"], hub.calls



def test_a_hub_stream_that_ends_while_still_starting_is_followed_again(app, client, login):
    """JupyterHub ends a progress stream without a last event when the spawn is over but the server is not ready yet
    (its proxy route is still being added; a start a waiting server took gets there fast). The portal's stream then
    follows the start again and ends in ``ready``, never in ``status`` (the page would reload into the same start:
    the journey test once saw no 'ready' message for that)."""
    workspace_id, hub = _starting(app, login)
    state = app.state.portal
    follows: list[int] = []

    async def progress(*, username: str, server_name: str):
        follows.append(1)
        if len(follows) == 1:
            yield ProgressEvent(90, "spawn finished; route pending")
            return                                      # the server is still pending at the hub
        with hub._lock:
            hub.servers_by_user[username][server_name] = ServerInfo(server_name, ready=True,
                                                                    url=f"/user/{username}/{server_name}/")
        yield ProgressEvent(100, "ready", ready=True, url=f"/user/{username}/{server_name}/")

    hub.progress = progress

    async def follow() -> list[str]:
        with state.sessions() as session:
            workspace = session.get(Workspace, workspace_id)
            stream = relay(state, workspace_id=workspace_id, username="anna", server_name=workspace.server_name,
                           status=workspace.status, status_message=None, environment=workspace.environment)
        return [event async for event in stream]

    events = asyncio.run(follow())
    assert len(follows) == 2
    assert [e.split("\n")[0] for e in events] == ["event: progress", "event: ready"], events
    with state.sessions() as session:
        assert session.get(Workspace, workspace_id).status is WorkspaceStatus.RUNNING


def test_my_workspaces_page_builds_orm_objects_only_for_the_workspaces_a_hub_is_asked_about(app, client, login):
    """"My workspaces" lists plain rows (issue 13): a workspace is loaded as an ORM object only when its hub is asked
    about it (it is starting or stopping), and what the hub says shows on that same page view."""
    workspace_id, hub = _starting(app, login)
    running_id = add_workspace(app, username="anna", organisation="minfin", server_name="bi-sql-duckdb-other")
    loaded: list[tuple[str, int]] = []

    def count(target, _context) -> None:
        loaded.append((type(target).__name__, target.id))

    for model in (Workspace, Environment):
        event.listen(model, "load", count)
    try:
        page = client.get("/workspaces")
        assert page.status_code == 200, page.text[:300]
        assert f'data-workspace="{workspace_id}" data-status="starting"' in page.text
        assert f'data-workspace="{running_id}" data-status="running"' in page.text
        assert ("Workspace", workspace_id) in loaded and ("Workspace", running_id) not in loaded, loaded

        with app.state.portal.sessions() as session:
            server_name = session.get(Workspace, workspace_id).server_name
        hub.servers_by_user["anna"][server_name] = ServerInfo(server_name, ready=True,
                                                              url=f"/user/anna/{server_name}/")
        page = client.get("/workspaces")
        assert f'data-workspace="{workspace_id}" data-status="running"' in page.text   # the hub's word, at once

        loaded.clear()
        page = client.get("/workspaces")                  # nothing in transition: no workspace as an ORM object
        assert page.status_code == 200 and page.text.count('data-status="running"') == 2, page.text[:300]
        # (the organisation's environment is, where the page asks its hub for servers the portal does not know)
        assert [name for name, _id in loaded if name == "Workspace"] == [], loaded
    finally:
        for model in (Workspace, Environment):
            event.remove(model, "load", count)
