"""The background sync (issue 12, defect 8): one hub request per environment and pass, whatever the number of
users; a workspace the hub no longer lists is looked up once more and recorded as stopped.

The hub here is :mod:`tests.portal.fakehub` (in memory): this is about the portal's bookkeeping. The real hub's
``GET /users?state=active`` and a killed server are tested in ``test_workspaces_hub.py``."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from gereedschapskist.portal.main import create_app, sync_workspaces
from gereedschapskist.portal.models import RegisterAction, RegisterEntry, Workspace, WorkspaceStatus
from gereedschapskist.portal.workspace_hub import ServerInfo
from tests.portal.fakehub import FakeHub
from tests.portal.support import make_user
from tests.portal.test_workspaces_service import add_workspace


class CountingHub(FakeHub):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls: list[str] = []

    def active_servers(self):
        self.calls.append("active_servers")
        return super().active_servers()

    def servers(self, *, username: str):
        self.calls.append(f"servers {username}")
        return super().servers(username=username)


def test_one_request_per_environment_and_dead_servers_are_recorded(settings):
    made: list[CountingHub] = []

    def factory(**kwargs) -> CountingHub:
        made.append(CountingHub(**kwargs))
        return made[-1]

    app = create_app(settings, hub_factory=factory)
    with TestClient(app):                        # startup (the default environment) and, at the end, shutdown
        _run(app, made, ids={})


def _run(app, made: list[CountingHub], ids: dict[str, int]) -> None:
    for name in ("u1", "u2", "u3", "u4"):      # the users, as a login leaves them
        make_user(app.state.portal.sessions, username=name, groups=["org:cbs", "role:bi"])
    ids.update({name: add_workspace(app, username=name, organisation="cbs") for name in ("u1", "u2", "u3", "u4")})
    with app.state.portal.sessions() as session:
        hub = app.state.portal.hubs.for_environment(session.get(Workspace, ids["u1"]).environment)
        assert hub is made[0] and hub.calls == []
        for name in ("u1", "u2", "u3"):         # u4's server died: the hub does not list it
            workspace = session.get(Workspace, ids[name])
            hub.servers_by_user.setdefault(name, {})[workspace.server_name] = ServerInfo(
                workspace.server_name, ready=True, url=f"/user/{name}/{workspace.server_name}/")
        session.commit()

    assert sync_workspaces(app.state.portal) == set()
    assert hub.calls == ["active_servers", "servers u4"], hub.calls     # 1 request, + 1 for the unlisted one
    with app.state.portal.sessions() as session:
        status = {name: session.get(Workspace, ids[name]).status for name in ids}
        assert status == {"u1": WorkspaceStatus.RUNNING, "u2": WorkspaceStatus.RUNNING,
                          "u3": WorkspaceStatus.RUNNING, "u4": WorkspaceStatus.STOPPED}
        stopped = session.scalars(select(RegisterEntry).where(RegisterEntry.workspace_id == ids["u4"])).all()
        assert [e.action for e in stopped] == [RegisterAction.WORKSPACE_STOPPED]
        assert stopped[0].details == {"by": "hub"}

    hub.calls.clear()
    sync_workspaces(app.state.portal)            # nothing changed: one request, nothing more
    assert hub.calls == ["active_servers"]
