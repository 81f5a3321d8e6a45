"""The workspace lifecycle through the portal's pages and JSON API: stop (confirmed; an admin gives a reason the
owner reads), restart (the same named server at the hub, so the same home folder), name, delete (confirmed), and
"my workspaces" folding stopped ones into a history per bundle. Every change lands in the register's chain.

The hub is :mod:`tests.portal.fakehub` (an in-memory ``WorkspaceHub``, keeping stopped servers as JupyterHub does):
these tests are about the portal's rules; the lifecycle against the real hub (the stopped named server kept, the
same one restarted, removed on delete) is walked in Chromium in ``tests/e2e/test_workspace_lifecycle.py``."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from gereedschapskist.catalogue import load
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import RegisterAction, RegisterEntry, Workspace, WorkspaceStatus
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.fakehub import FakeHubs

CATALOGUE = load()
ANNA = ("anna", ["org:minfin", "role:bi"])
DANA = ("dana", ["org:minfin", "org-admin:minfin"])
FEMKE = ("femke", ["gereedschapskist:admins", "role:dev"])
BRAM = ("bram", ["org:cbs", "role:ml"])
EN = {"Accept-Language": "en"}
NL = {"Accept-Language": "nl"}


@pytest.fixture
def hubs() -> FakeHubs:
    return FakeHubs()


@pytest.fixture
def app(settings, hubs):
    return create_app(settings, catalogue_model=CATALOGUE, hub_factory=hubs.factory)


def launch(me) -> dict:
    response = me.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb", "size": "small"})
    assert response.status_code == 202, response.text
    return response.json()


def hub_servers(hubs: FakeHubs, username: str) -> dict:
    [hub] = hubs.made
    return hub.servers(username=username)


def actions(app, workspace_id: int) -> list[tuple[str, dict]]:
    with app.state.portal.sessions() as session:
        return [(e.action.value, e.details) for e in session.scalars(
            select(RegisterEntry).where(RegisterEntry.workspace_id == workspace_id).order_by(RegisterEntry.sequence))]


def row(app, workspace_id: int) -> Workspace:
    with app.state.portal.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        session.expunge(workspace)
        return workspace


def test_stop_keeps_the_named_server_and_restart_starts_the_same_one(app, client, login, hubs):
    anna = login(*ANNA)
    launched = launch(anna)
    server = launched["server_name"]
    stopped = anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    kept = hub_servers(hubs, "anna")
    assert list(kept) == [server] and kept[server].stopped      # kept at the hub, stopped: its home stays
    restarted = anna.post_json(f"/api/v1/workspaces/{launched['id']}/restart")
    assert restarted.status_code == 202, restarted.text
    body = restarted.json()
    assert body["id"] == launched["id"] and body["server_name"] == server and body["status"] == "running"
    assert body["stopped_at"] is None and body["stopped_by"] is None
    assert list(hub_servers(hubs, "anna")) == [server] and not hub_servers(hubs, "anna")[server].stopped
    assert [a for a, _ in actions(app, launched["id"])] == [
        "workspace-launched", "workspace-started", "workspace-stopped", "workspace-restarted", "workspace-started"]
    restart_details = actions(app, launched["id"])[3][1]
    assert restart_details["server"] == server and restart_details["was"] == "stopped"


def test_a_launch_keeps_stopped_servers_and_removes_deleted_ones(app, client, login, hubs):
    """Before a launch the portal tidies the user's hub servers: a stopped workspace's server is its home (kept), a
    deleted workspace's server that the hub still has is removed."""
    anna = login(*ANNA)
    first, second = launch(anna), launch(anna)
    for workspace in (first, second):
        assert anna.post_json(f"/api/v1/workspaces/{workspace['id']}/stop").status_code == 200
    with app.state.portal.sessions() as session:       # deleted in the portal, but the hub missed the removal
        session.get(Workspace, second["id"]).status = WorkspaceStatus.DELETED
        session.commit()
    third = launch(anna)
    assert set(hub_servers(hubs, "anna")) == {first["server_name"], third["server_name"]}


def test_an_admin_must_say_why_and_the_owner_reads_who_stopped_it(app, client, second_client, login, hubs):
    anna = login(*ANNA)
    launched = launch(anna)
    dana = login(*DANA, on=second_client)
    refused = dana.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
    assert refused.status_code == 422 and refused.json()["reason"] == "reason-required"
    assert "reason" in refused.json()["message"]
    assert row(app, launched["id"]).status is WorkspaceStatus.RUNNING
    assert [a for a, _ in actions(app, launched["id"])] == ["workspace-launched", "workspace-started"]
    # the page form: confirmed but without a reason → the confirmation again, naming the field, nothing stopped
    page = dana.post_form(f"/workspaces/{launched['id']}/stop", {"confirm": "yes", "reason": "   "}, headers=EN)
    assert page.status_code == 422 and 'id="reason"' in page.text and "Give a reason" in page.text
    assert row(app, launched["id"]).status is WorkspaceStatus.RUNNING
    done = dana.post_form(f"/workspaces/{launched['id']}/stop",
                          {"confirm": "yes", "reason": "draait buiten kantoortijd", "next": "/organisations/minfin"})
    assert done.status_code == 303 and done.headers["location"] == "/organisations/minfin"
    workspace = row(app, launched["id"])
    assert workspace.status is WorkspaceStatus.STOPPED and workspace.stop_reason == "draait buiten kantoortijd"
    assert actions(app, launched["id"])[-1] == ("workspace-stopped", {"was": "running", "by": "admin",
                                                                       "reason": "draait buiten kantoortijd"})
    for headers, said in ((EN, "stopped this workspace on"), (NL, "heeft deze werkplek gestopt op")):
        own = client.get(f"/workspaces/{launched['id']}", headers=headers)
        notice = re.search(r'<div class="notice" role="status" id="stopped-by">(.*?)</div>', own.text, re.S)
        assert notice and "Dana" in notice.group(1) and said in notice.group(1)
        assert "draait buiten kantoortijd" in notice.group(1)
    assert client.get(f"/api/v1/workspaces/{launched['id']}").json()["stopped_by"] == "dana"
    # a restart by the owner clears it
    anna.post_json(f"/api/v1/workspaces/{launched['id']}/restart")
    assert 'id="stopped-by"' not in client.get(f"/workspaces/{launched['id']}").text


def test_a_platform_admin_stops_with_a_reason_too(app, client, second_client, login):
    launched = launch(login(*ANNA))
    femke = login(*FEMKE, on=second_client)
    stopped = femke.post_json(f"/api/v1/workspaces/{launched['id']}/stop", {"reason": "onderhoud aan de hub"})
    assert stopped.status_code == 200 and stopped.json()["stop_reason"] == "onderhoud aan de hub"
    page = client.get(f"/workspaces/{launched['id']}", headers=EN)
    assert "Femke (platform admin) stopped this workspace" in page.text


@pytest.mark.parametrize("who", [DANA, FEMKE, BRAM])
def test_only_the_owner_restarts_names_and_deletes(app, client, second_client, login, who):
    anna = login(*ANNA)
    launched = launch(anna)
    anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
    other = login(*who, on=second_client)
    expected = 403
    for response in (other.post_json(f"/api/v1/workspaces/{launched['id']}/restart"),
                     other.client.patch(f"/api/v1/workspaces/{launched['id']}", json={"name": "x"},
                                        headers={"X-CSRF-Token": other.csrf}),
                     other.client.delete(f"/api/v1/workspaces/{launched['id']}?confirm=true",
                                         headers={"X-CSRF-Token": other.csrf}),
                     other.post_form(f"/workspaces/{launched['id']}/restart", {}),
                     other.post_form(f"/workspaces/{launched['id']}/name", {"name": "x"}),
                     other.post_form(f"/workspaces/{launched['id']}/delete", {"confirm": "yes"}),
                     other.client.get(f"/workspaces/{launched['id']}/delete")):
        assert response.status_code == expected, response.text
    workspace = row(app, launched["id"])
    assert workspace.status is WorkspaceStatus.STOPPED and workspace.name is None


def test_delete_needs_the_confirmation_and_removes_the_hub_server(app, client, login, hubs):
    anna = login(*ANNA)
    launched = launch(anna)
    running = anna.client.delete(f"/api/v1/workspaces/{launched['id']}?confirm=true",
                                 headers={"X-CSRF-Token": anna.csrf})
    assert running.status_code == 409 and running.json()["reason"] == "not-ended"
    anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
    unconfirmed = anna.client.delete(f"/api/v1/workspaces/{launched['id']}", headers={"X-CSRF-Token": anna.csrf})
    assert unconfirmed.status_code == 422 and unconfirmed.json()["reason"] == "confirmation-required"
    assert "confirm" in unconfirmed.json()["message"]
    page = anna.post_form(f"/workspaces/{launched['id']}/delete", {}, headers=EN)     # box not ticked
    assert page.status_code == 422 and 'id="confirm-error"' in page.text and 'type="checkbox"' in page.text
    assert row(app, launched["id"]).status is WorkspaceStatus.STOPPED
    assert launched["server_name"] in hub_servers(hubs, "anna")
    no_csrf = anna.client.post(f"/workspaces/{launched['id']}/delete", data={"confirm": "yes"},
                               follow_redirects=False)
    assert no_csrf.status_code == 403 and row(app, launched["id"]).status is WorkspaceStatus.STOPPED
    done = anna.post_form(f"/workspaces/{launched['id']}/delete", {"confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/workspaces"
    workspace = row(app, launched["id"])
    assert workspace.status is WorkspaceStatus.DELETED and workspace.deleted_at is not None
    assert hub_servers(hubs, "anna") == {}
    assert actions(app, launched["id"])[-1][0] == "workspace-deleted"
    assert all(w["id"] != launched["id"] for w in client.get("/api/v1/workspaces").json())
    again = anna.post_json(f"/api/v1/workspaces/{launched['id']}/restart")
    assert again.status_code == 409 and again.json()["reason"] == "not-ended"


def test_the_delete_confirmation_says_whether_the_home_folder_goes(app, client, login):
    anna = login(*ANNA)
    launched = launch(anna)
    anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
    local = client.get(f"/workspaces/{launched['id']}/delete", headers=EN)
    assert local.status_code == 200 and "share one home folder; it is kept" in local.text
    with app.state.portal.sessions() as session:
        session.get(Workspace, launched["id"]).environment.kind = "cloud"
        session.commit()
    cloud = client.get(f"/workspaces/{launched['id']}/delete", headers=NL)
    assert "met zijn thuismap en alle bestanden daarin" in cloud.text
    assert "Ik begrijp dat de thuismap van deze werkplek met alle bestanden wordt verwijderd" in cloud.text


def test_stop_is_confirmed_first_on_pages(app, client, login):
    anna = login(*ANNA)
    launched = launch(anna)
    page = client.get(f"/workspaces/{launched['id']}", headers=EN)
    assert f'href="/workspaces/{launched["id"]}/stop"' in page.text      # a link to the confirmation, not a POST
    confirm = client.get(f"/workspaces/{launched['id']}/stop", headers=EN)
    assert confirm.status_code == 200 and "Stop this workspace?" in confirm.text and 'name="confirm"' in confirm.text
    assert 'id="reason"' not in confirm.text                       # the owner gives no reason
    unconfirmed = anna.post_form(f"/workspaces/{launched['id']}/stop", {})
    assert unconfirmed.status_code == 200 and "Werkplek stoppen?" in unconfirmed.text
    assert row(app, launched["id"]).status is WorkspaceStatus.RUNNING
    done = anna.post_form(f"/workspaces/{launched['id']}/stop", {"confirm": "yes"})
    assert done.status_code == 303 and row(app, launched["id"]).status is WorkspaceStatus.STOPPED


@pytest.mark.parametrize("name, problem", [("x" * 81, "at most 80 characters"),
                                           ("kwartaal\u202ecijfers", "control or invisible characters")])
def test_a_bad_name_is_refused_naming_the_field(app, client, login, name, problem):
    anna = login(*ANNA)
    launched = launch(anna)
    response = anna.client.patch(f"/api/v1/workspaces/{launched['id']}", json={"name": name},
                                 headers={"X-CSRF-Token": anna.csrf})
    assert response.status_code == 422 and response.json()["reason"] == "invalid-name"
    assert response.json()["message"].startswith("name = ") and problem in response.json()["message"]
    assert row(app, launched["id"]).name is None


def test_a_name_shows_on_the_pages_and_is_recorded(app, client, login):
    anna = login(*ANNA)
    launched = launch(anna)
    named = anna.post_form(f"/workspaces/{launched['id']}/name", {"name": "  Kwartaalcijfers   Q3 "})
    assert named.status_code == 303
    assert row(app, launched["id"]).name == "Kwartaalcijfers Q3"
    assert "Werkplek Kwartaalcijfers Q3" in client.get(f"/workspaces/{launched['id']}", headers=NL).text
    assert "Kwartaalcijfers Q3" in client.get("/workspaces").text
    assert actions(app, launched["id"])[-1] == ("workspace-renamed", {"from": None, "to": "Kwartaalcijfers Q3"})
    cleared = anna.client.patch(f"/api/v1/workspaces/{launched['id']}", json={"name": ""},
                                headers={"X-CSRF-Token": anna.csrf})
    assert cleared.status_code == 200 and cleared.json()["name"] is None


def test_stopped_workspaces_fold_into_a_history_per_bundle(app, client, login):
    """anna had six identical rows: now the running one is on top, the stopped ones under one History."""
    anna = login(*ANNA)
    ids = []
    for _ in range(6):
        launched = launch(anna)
        anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
        ids.append(launched["id"])
    running = launch(anna)
    page = client.get("/workspaces", headers=EN).text
    active = page[page.index('id="active"'):page.index('id="history"')]
    assert re.findall(r'data-workspace="(\d+)"', active) == [str(running["id"])]
    histories = re.findall(r'<details class="history" data-bundle="([^"]+)">(.*?)</details>', page, re.S)
    assert [bundle for bundle, _ in histories] == ["bi-sql-duckdb"]
    listed = re.findall(r'<tr data-workspace="(\d+)" data-status="stopped">', histories[0][1])
    assert listed == [str(i) for i in reversed(ids)]                # newest first
    assert "(6)</summary>" in histories[0][1]
    assert histories[0][1].count(">Restart</button>") == 6 and histories[0][1].count(">Delete</a>") == 6


def test_restart_with_the_hub_down_changes_nothing(app, client, login, hubs):
    anna = login(*ANNA)
    launched = launch(anna)
    anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
    from gereedschapskist.portal.errors import HubUnavailable

    def down(**_):
        raise HubUnavailable("the hub at http://hub.internal:8081 cannot be reached: ConnectError")

    hubs.made[0].start = down
    response = anna.post_json(f"/api/v1/workspaces/{launched['id']}/restart")
    assert response.status_code == 503 and response.json()["reason"] == "hub-unavailable"
    assert row(app, launched["id"]).status is WorkspaceStatus.STOPPED
    assert actions(app, launched["id"])[-1][0] == "workspace-stopped"


def test_every_lifecycle_step_keeps_the_register_chain_intact(app, client, second_client, login):
    anna = login(*ANNA)
    launched = launch(anna)
    login(*DANA, on=second_client).post_json(f"/api/v1/workspaces/{launched['id']}/stop", {"reason": "test"})
    anna.post_json(f"/api/v1/workspaces/{launched['id']}/restart")
    anna.client.patch(f"/api/v1/workspaces/{launched['id']}", json={"name": "n"}, headers={"X-CSRF-Token": anna.csrf})
    anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
    anna.client.delete(f"/api/v1/workspaces/{launched['id']}?confirm=true", headers={"X-CSRF-Token": anna.csrf})
    with app.state.portal.sessions() as session:
        report = verify_chain(session)
        count = session.scalar(select(func.count()).select_from(RegisterEntry))
    assert report.ok and report.entries == count
    assert {a for a, _ in actions(app, launched["id"])} >= {
        RegisterAction.WORKSPACE_RESTARTED.value, RegisterAction.WORKSPACE_RENAMED.value,
        RegisterAction.WORKSPACE_DELETED.value, RegisterAction.WORKSPACE_STOPPED.value}


def _blocked_starts(monkeypatch, hubs: FakeHubs) -> "threading.Event":
    """Make the fake hub's start wait until the returned event is set (a hub slow to answer a start)."""
    import threading

    from tests.portal.fakehub import FakeHub

    release = threading.Event()
    original = FakeHub.start

    def start(self, **kwargs):
        assert release.wait(30), "the test never released the start"
        return original(self, **kwargs)

    monkeypatch.setattr(FakeHub, "start", start)
    return release


def test_a_stop_while_the_start_is_handed_to_the_hub_waits_for_it(app, client, login, hubs, monkeypatch):
    """A stop that comes while this process still hands the launch to the hub waits for the hub's answer and then
    stops the server the hub started: the start's late answer cannot mark the stopped workspace running again (the
    fuzz run once found a workspace stopped, then running, then 'stopped by the hub': two stops in the register)."""
    import threading

    release = _blocked_starts(monkeypatch, hubs)
    anna = login(*ANNA)
    launched = anna.client.post("/api/v1/workspaces", json={"bundle": "bi-sql-duckdb", "size": "small"},
                                headers={"X-CSRF-Token": anna.csrf})
    assert launched.status_code == 202 and launched.json()["status"] == "starting", launched.text
    workspace_id = launched.json()["id"]
    answers = []
    stopper = threading.Thread(target=lambda: answers.append(
        anna.client.post(f"/api/v1/workspaces/{workspace_id}/stop", headers={"X-CSRF-Token": anna.csrf})))
    stopper.start()
    stopper.join(0.5)
    assert stopper.is_alive() and not answers, "the stop did not wait for the start the hub had not answered yet"
    release.set()
    stopper.join(30)
    [stopped] = answers
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped", stopped.text
    server = launched.json()["server_name"]
    assert hub_servers(hubs, "anna")[server].stopped          # the server the hub started is stopped again
    anna.client.get("/api/v1/workspaces")                     # a later sync agrees: nothing stopped twice
    assert row(app, workspace_id).status is WorkspaceStatus.STOPPED
    assert [a for a, _ in actions(app, workspace_id)] == [
        "workspace-launched", "workspace-started", "workspace-stopped"]


def test_a_start_answered_after_another_process_stopped_the_workspace_is_stopped(app, client, login, hubs,
                                                                                 monkeypatch):
    """The hub answers a start after the workspace was stopped elsewhere (another portal process, or a stop whose
    wait ran out): the workspace stays stopped, and the server the hub started for it is stopped."""
    release = _blocked_starts(monkeypatch, hubs)
    anna = login(*ANNA)
    launched = anna.client.post("/api/v1/workspaces", json={"bundle": "bi-sql-duckdb", "size": "small"},
                                headers={"X-CSRF-Token": anna.csrf})
    assert launched.status_code == 202, launched.text
    workspace_id = launched.json()["id"]
    with app.state.portal.sessions() as session:      # what a stop in another process commits meanwhile
        session.get(Workspace, workspace_id).status = WorkspaceStatus.STOPPED
        session.commit()
    release.set()
    assert app.state.portal.hubs.wait_starts(30)
    assert row(app, workspace_id).status is WorkspaceStatus.STOPPED
    assert hub_servers(hubs, "anna")[launched.json()["server_name"]].stopped
    assert "workspace-started" not in [a for a, _ in actions(app, workspace_id)]


def test_the_page_reloaded_after_a_start_it_showed_still_says_the_workspace_is_ready(app, client, login, hubs):
    """The workspace page reloads itself once a start it showed has ended (static/usage.js, for the live figures),
    with ``?ready=1``: the reloaded page keeps saying the workspace is ready (in the page's language); it says so only
    of a running workspace, and not without the flag (a later visit)."""
    anna = login(*ANNA)
    launched = launch(anna)
    page = anna.client.get(f"/workspaces/{launched['id']}?ready=1", headers=NL)
    assert re.search(r'<p id="progress-message" role="status">\s*Uw werkplek is klaar\.\s*</p>', page.text)
    english = anna.client.get(f"/workspaces/{launched['id']}?ready=1", headers=EN).text
    assert "Your workspace is ready." in english
    assert 'id="progress-message"' not in anna.client.get(f"/workspaces/{launched['id']}", headers=NL).text
    anna.post_json(f"/api/v1/workspaces/{launched['id']}/stop")
    assert 'id="progress-message"' not in anna.client.get(f"/workspaces/{launched['id']}?ready=1", headers=NL).text
