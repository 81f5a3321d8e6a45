"""The background sync (issue 12, defect 8): one hub request per environment and pass, whatever the number of
users; a workspace the hub no longer lists is looked up once more and recorded as stopped.

The hub here is :mod:`tests.portal.fakehub` (in memory): this is about the portal's bookkeeping. The real hub's
``GET /users?state=active`` and a killed server are tested in ``test_workspaces_hub.py``."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from gereedschapskist.portal.main import create_app, sync_workspaces
from gereedschapskist.portal.models import RegisterAction, RegisterEntry, Workspace, WorkspaceStatus, utcnow
from gereedschapskist.portal.services import hub_start
from gereedschapskist.portal.services import workspaces as workspace_service
from gereedschapskist.portal.workspace_hub import ServerInfo
from tests.portal.fakehub import FakeHub
from tests.portal.support import make_user, session_cookie
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


def test_a_start_that_never_reached_the_hub_fails_after_the_grace_with_a_clear_message(settings):
    """Issue 13: a launch answers before its hub is asked, so a portal that dies meanwhile leaves a workspace
    ``starting`` with no server at the hub. The background sync leaves a young one alone (its start may be on its
    way, in this or another portal process) and marks one older than the grace failed, with a message and the
    reason ``start-lost`` that the workspace page shows in Dutch and English."""
    made: list[CountingHub] = []

    def factory(**kwargs) -> CountingHub:
        made.append(CountingHub(**kwargs))
        return made[-1]

    app = create_app(settings, hub_factory=factory)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for name in ("young", "lost"):
            make_user(app.state.portal.sessions, username=name, groups=["org:cbs", "role:bi"])
        ids = {name: add_workspace(app, username=name, organisation="cbs", status=WorkspaceStatus.STARTING)
               for name in ("young", "lost")}
        with app.state.portal.sessions() as session:
            lost = session.get(Workspace, ids["lost"])
            lost.created_at = utcnow() - timedelta(seconds=workspace_service.START_GRACE_SECONDS + 1)
            session.commit()

        assert sync_workspaces(app.state.portal) == set()
        with app.state.portal.sessions() as session:
            young, lost = session.get(Workspace, ids["young"]), session.get(Workspace, ids["lost"])
            assert young.status is WorkspaceStatus.STARTING
            assert lost.status is WorkspaceStatus.FAILED
            assert "did not reach the hub" in lost.status_message
            assert hub_start.failure_reason(session, workspace=lost) == "start-lost"
            assert hub_start.failure_reason(session, workspace=young) == "start-failed"     # none recorded
            user_id = lost.user_id          # inside the session: one used after its block keeps a connection open
        client.cookies.set(settings.session_cookie, session_cookie(settings, {"uid": user_id, "csrf": "c" * 22}))
        for language, text in (("nl", "de start bereikte de hub niet"), ("en", "the start did not reach the hub")):
            page = client.get(f"/workspaces/{ids['lost']}", headers={"Accept-Language": language}).text
            assert 'data-reason="start-lost"' in page and text in page, language


def test_the_sync_leaves_alone_a_start_this_process_is_handing_to_the_hub(settings):
    """While this process hands a launch to the hub, the hub may already list the named server as stopped (it made
    it, but its spawn has not begun): the background sync must not fail that start (seen walking a launch on
    make up: 'the hub reports the server stopped before it was ready' 0.2 s after the click). Once the hand-over is
    over, the sync judges it again."""
    import threading

    made: list[CountingHub] = []

    def factory(**kwargs) -> CountingHub:
        made.append(CountingHub(**kwargs))
        return made[-1]

    app = create_app(settings, hub_factory=factory)
    with TestClient(app, base_url="http://127.0.0.1"):
        state = app.state.portal
        make_user(state.sessions, username="anna", groups=["org:cbs", "role:bi"])
        workspace_id = add_workspace(app, username="anna", organisation="cbs", status=WorkspaceStatus.STARTING)
        with state.sessions() as session:
            workspace = session.get(Workspace, workspace_id)
            long_ago = utcnow() - timedelta(seconds=workspace_service.HUB_NOT_BEGUN_SECONDS + 5)
            workspace.created_at = workspace.updated_at = long_ago     # outside the hub's "not begun" window
            hub = state.hubs.for_environment(workspace.environment)
            hub.servers_by_user["anna"] = {workspace.server_name: ServerInfo(workspace.server_name, ready=False,
                                                                             stopped=True)}
            session.commit()
        release = threading.Event()
        state.hubs.submit_start(workspace_id, lambda: release.wait(30))
        try:
            sync_workspaces(state)
            with state.sessions() as session:
                assert session.get(Workspace, workspace_id).status is WorkspaceStatus.STARTING
        finally:
            release.set()
        assert state.hubs.wait_starts(30)
        sync_workspaces(state)          # handed over (and here nothing came of it): the sync judges it now
        with state.sessions() as session:
            assert session.get(Workspace, workspace_id).status is WorkspaceStatus.FAILED
