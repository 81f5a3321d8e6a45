"""Workspaces without a hub: who may see and stop which workspace, and how hub reports change the status."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gereedschapskist.portal.models import (
    Environment, Organisation, RegisterAction, RegisterEntry, User, Workspace, WorkspaceStatus,
)
from gereedschapskist.portal.api.schemas import WorkspaceOut
from gereedschapskist.portal.services import workspaces as service
from gereedschapskist.portal.workspace_hub import ProgressEvent, ServerInfo


def add_workspace(app, *, username: str, organisation: str, status=WorkspaceStatus.RUNNING,
                  server_name: str | None = None) -> int:
    """A workspace row as a successful launch leaves it (the launch itself is tested against the real hub)."""
    with app.state.portal.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
        env = session.scalar(select(Environment))
        workspace = Workspace(user=user, organisation=org, environment=env,
                              server_name=server_name or f"bi-sql-duckdb-{username}",
                              bundle_id="bi-sql-duckdb", bundle_version="1.0.0", size_id="small",
                              interface="jupyterlab", status=status,
                              url=f"{env.hub_url}/user/{username}/x/" if status is WorkspaceStatus.RUNNING else None)
        session.add(workspace)
        session.commit()
        return workspace.id


@pytest.fixture
def people(client, second_client, login):
    login("owner", ["org:cbs", "role:bi"], on=second_client)
    login("colleague", ["org:cbs", "role:bi"], on=second_client)
    login("cbs-admin", ["org:cbs", "org-admin:cbs"], on=second_client)
    login("minfin-admin", ["org:minfin", "org-admin:minfin"], on=second_client)
    login("platform", ["gereedschapskist:admins"], on=second_client)


@pytest.mark.parametrize("who, status", [("owner", 200), ("cbs-admin", 200), ("platform", 200),
                                         ("colleague", 403), ("minfin-admin", 403)])
def test_who_may_see_a_workspace(app, client, login, people, who, status):
    workspace_id = add_workspace(app, username="owner", organisation="cbs")
    groups = {"owner": ["org:cbs", "role:bi"], "colleague": ["org:cbs", "role:bi"],
              "cbs-admin": ["org:cbs", "org-admin:cbs"], "minfin-admin": ["org:minfin", "org-admin:minfin"],
              "platform": ["gereedschapskist:admins"]}[who]
    login(who, groups)
    response = client.get(f"/api/v1/workspaces/{workspace_id}")
    assert response.status_code == status
    if status == 403:
        assert response.json()["reason"] == "not-yours"
    page = client.get(f"/workspaces/{workspace_id}", headers={"Accept-Language": "en"})
    assert page.status_code == status
    if status == 403:
        assert "This is not your workspace" in page.text


def test_another_organisations_workspace_cannot_be_stopped_and_nothing_changes(app, client, login, people):
    workspace_id = add_workspace(app, username="owner", organisation="cbs")
    me = login("minfin-admin", ["org:minfin", "org-admin:minfin"])
    response = me.post_json(f"/api/v1/workspaces/{workspace_id}/stop")
    assert response.status_code == 403 and response.json()["reason"] == "not-yours"
    page = me.post_form(f"/workspaces/{workspace_id}/stop", {})
    assert page.status_code == 403
    with app.state.portal.sessions() as session:
        assert session.get(Workspace, workspace_id).status is WorkspaceStatus.RUNNING
        assert session.scalar(select(func.count()).select_from(RegisterEntry)) == 0


def test_unknown_workspace_is_404(client, login):
    login("owner", ["org:cbs"])
    response = client.get("/api/v1/workspaces/4242")
    assert response.status_code == 404 and response.json()["reason"] == "unknown-workspace"


def test_only_the_owner_opens_a_workspace(app, client, login, people):
    workspace_id = add_workspace(app, username="owner", organisation="cbs")
    login("cbs-admin", ["org:cbs", "org-admin:cbs"])
    assert client.get(f"/workspaces/{workspace_id}/open", follow_redirects=False).status_code == 403
    login("owner", ["org:cbs", "role:bi"])
    response = client.get(f"/workspaces/{workspace_id}/open", follow_redirects=False)
    assert response.status_code == 303
    # straight to the server (its own OAuth with the hub passes silently with the hub's session; issue 13)
    with app.state.portal.sessions() as session:
        assert response.headers["location"] == session.get(Workspace, workspace_id).url
    assert response.headers["location"].endswith("/user/owner/x/")


def test_an_organisation_admin_sees_the_organisations_running_workspaces(app, client, login, people):
    running = add_workspace(app, username="owner", organisation="cbs")
    with app.state.portal.sessions() as session:     # a stopped one is not listed
        stopped = session.get(Workspace, add_workspace(app, username="colleague", organisation="cbs"))
        stopped.status = WorkspaceStatus.STOPPED
        session.commit()
    add_workspace(app, username="minfin-admin", organisation="minfin")
    login("cbs-admin", ["org:cbs", "org-admin:cbs"])
    assert [w["id"] for w in client.get("/api/v1/organisations/cbs/workspaces").json()] == [running]
    page = client.get("/organisations/cbs", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Members and their roles" in page.text and "Owner" in page.text and "Colleague" in page.text
    assert f'href="/workspaces/{running}"' in page.text and "Minfin-Admin" not in page.text
    assert 'href="/organisations/cbs"' in page.text            # in the navigation of admins


def test_my_workspaces_lists_only_mine(app, client, login, people):
    mine = add_workspace(app, username="owner", organisation="cbs")
    add_workspace(app, username="colleague", organisation="cbs")
    login("owner", ["org:cbs", "role:bi"])
    assert [w["id"] for w in client.get("/api/v1/workspaces").json()] == [mine]


def test_the_json_listing_from_plain_rows_is_the_orm_listing(app, client, login, people):
    """``GET /api/v1/workspaces`` lists from plain rows (``list_mine_rows``, issue 13): the same workspaces, in the
    same order, with the same fields as from ORM objects — running, starting, failed with the hub's message and a
    name, stopped by an admin with a reason, deleted (never listed), and a colleague's (never listed)."""
    statuses = (WorkspaceStatus.RUNNING, WorkspaceStatus.FAILED, WorkspaceStatus.STOPPED, WorkspaceStatus.STOPPED,
                WorkspaceStatus.DELETED, WorkspaceStatus.STARTING)
    ids = [add_workspace(app, username="owner", organisation="cbs", status=status, server_name=f"w{n}")
           for n, status in enumerate(statuses)]
    add_workspace(app, username="colleague", organisation="cbs")
    with app.state.portal.sessions() as session:
        admin = session.scalar(select(User).where(User.username == "cbs-admin"))
        failed, stopped = session.get(Workspace, ids[1]), session.get(Workspace, ids[2])
        failed.status_message, failed.name = "the hub could not start the server", "Mijn analyse"
        stopped.stopped_by_id, stopped.stop_reason = admin.id, "onderhoud"
        session.commit()
    owner = login("owner", ["org:cbs", "role:bi"])
    listed = client.get("/api/v1/workspaces").json()
    with app.state.portal.sessions() as session:
        user = session.get(User, owner.user_id)
        rows = [WorkspaceOut.of_row(r, owner="owner").model_dump(mode="json")
                for r in service.list_mine_rows(session, user=user)]
        orm = [WorkspaceOut.of(w).model_dump(mode="json") for w in service.list_mine(session, user=user)]
    assert rows == orm == listed
    assert [w["id"] for w in listed] == sorted(set(ids) - {ids[4]}, reverse=True)      # newest first; not deleted
    by_id = {w["id"]: w for w in listed}
    assert by_id[ids[2]]["stopped_by"] == "cbs-admin" and by_id[ids[2]]["stop_reason"] == "onderhoud"
    assert by_id[ids[1]]["name"] == "Mijn analyse" and by_id[ids[1]]["status"] == "failed"


def _workspace(app, status) -> tuple:
    workspace_id = add_workspace(app, username="owner", organisation="cbs", status=status)
    session = app.state.portal.sessions()
    return session, session.get(Workspace, workspace_id)


def _actions(session, workspace) -> list[RegisterAction]:
    return list(session.scalars(select(RegisterEntry.action).where(RegisterEntry.workspace_id == workspace.id)))


def test_hub_reports_move_the_status(app, people):
    session, workspace = _workspace(app, WorkspaceStatus.STARTING)
    with session:
        assert not service.apply_server_info(session, workspace=workspace,
                                             info=ServerInfo(workspace.server_name, ready=False, pending="spawn"))
        assert service.apply_server_info(session, workspace=workspace,
                                         info=ServerInfo(workspace.server_name, ready=True, url="/user/owner/x/"))
        assert workspace.status is WorkspaceStatus.RUNNING and workspace.url.endswith("/user/owner/x/")
        assert workspace.started_at is not None
        assert service.apply_server_info(session, workspace=workspace, info=None)     # gone at the hub (culled)
        assert workspace.status is WorkspaceStatus.STOPPED and workspace.url is None
        assert _actions(session, workspace) == [RegisterAction.WORKSPACE_STARTED, RegisterAction.WORKSPACE_STOPPED]


def test_a_stop_the_hub_began_itself_is_recorded_once(app, people):
    session, workspace = _workspace(app, WorkspaceStatus.RUNNING)
    with session:
        service.apply_server_info(session, workspace=workspace,
                                  info=ServerInfo(workspace.server_name, ready=False, pending="stop"))
        service.apply_server_info(session, workspace=workspace, info=None)
        assert workspace.status is WorkspaceStatus.STOPPED
        assert _actions(session, workspace) == [RegisterAction.WORKSPACE_STOPPED]


def test_a_start_that_vanishes_at_the_hub_failed(app, people):
    """JupyterHub lists a named server as stopped from the moment a start request creates it until its spawn
    begins (seen walking a launch on make up: the background sync read that and failed a start that then ran):
    within HUB_NOT_BEGUN_SECONDS of the start that is "not begun yet"; after it, the start failed."""
    from datetime import timedelta

    session, workspace = _workspace(app, WorkspaceStatus.STARTING)
    with session:
        stopped = ServerInfo(workspace.server_name, ready=False, stopped=True)
        asked = workspace.updated_at or workspace.created_at
        service.apply_server_info(session, workspace=workspace, info=stopped,
                                  now=asked + timedelta(seconds=service.HUB_NOT_BEGUN_SECONDS - 1))
        assert workspace.status is WorkspaceStatus.STARTING and _actions(session, workspace) == []
        service.apply_server_info(session, workspace=workspace, info=stopped,
                                  now=asked + timedelta(seconds=service.HUB_NOT_BEGUN_SECONDS + 1))
        assert workspace.status is WorkspaceStatus.FAILED and "stopped before it was ready" in workspace.status_message
        assert _actions(session, workspace) == [RegisterAction.WORKSPACE_FAILED]


def test_a_failed_progress_event_is_recorded_with_the_hubs_message(app, people):
    session, workspace = _workspace(app, WorkspaceStatus.STARTING)
    with session:
        service.apply_progress_end(session, workspace=workspace,
                                   event=ProgressEvent(100, "Spawn failed: package foo==9 not found", failed=True))
        assert workspace.status is WorkspaceStatus.FAILED and "foo==9" in workspace.status_message


def test_progress_of_a_workspace_that_is_not_starting_ends_at_once(app, client, login, people):
    workspace_id = add_workspace(app, username="owner", organisation="cbs")
    login("owner", ["org:cbs", "role:bi"])
    with client.stream("GET", f"/api/v1/workspaces/{workspace_id}/progress") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    assert body.startswith("event: ready\n") and f'"open_url": "/workspaces/{workspace_id}/open"' in body


def test_progress_with_the_hub_down_says_so(app, client, login, people):
    workspace_id = add_workspace(app, username="owner", organisation="cbs", status=WorkspaceStatus.STARTING)
    login("owner", ["org:cbs", "role:bi"])
    body = client.get(f"/api/v1/workspaces/{workspace_id}/progress").text
    assert body.startswith("event: unavailable\n") and "cannot be reached" in body


def test_stopping_an_ended_workspace_is_a_clear_conflict(app, client, login, people):
    workspace_id = add_workspace(app, username="owner", organisation="cbs", status=WorkspaceStatus.STOPPED)
    me = login("owner", ["org:cbs", "role:bi"])
    response = me.post_json(f"/api/v1/workspaces/{workspace_id}/stop")
    assert response.status_code == 409 and response.json()["reason"] == "not-active"


def test_stopping_while_the_hub_is_down_is_a_clear_503_and_changes_nothing(app, client, login, people):
    workspace_id = add_workspace(app, username="owner", organisation="cbs")
    me = login("owner", ["org:cbs", "role:bi"])
    response = me.post_json(f"/api/v1/workspaces/{workspace_id}/stop")
    assert response.status_code == 503 and response.json()["reason"] == "hub-unavailable"
    with app.state.portal.sessions() as session:
        assert session.get(Workspace, workspace_id).status is WorkspaceStatus.RUNNING
        assert session.scalar(select(func.count()).select_from(RegisterEntry)) == 0
