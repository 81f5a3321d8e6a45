"""Nothing a user does in the portal leaves hub state behind (issue 12, defect 3), and the portal offers only the
interfaces the hub can run (defect 4) — the portal's side, on an in-memory hub. The real hub: the end of
``test_workspaces_hub.py``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gereedschapskist.portal.errors import HubRefused
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import Workspace, WorkspaceStatus
from gereedschapskist.portal.services import hub_start
from gereedschapskist.portal.services import workspaces as service
from gereedschapskist.portal.workspace_hub import InterfaceState, ServerInfo
from tests.portal.fakehub import FakeHub

R_BUNDLE = "bi-r-analysis"        # RStudio first, then JupyterLab


class ToldHub(FakeHub):
    """A hub that says RStudio cannot start here (no ``rserver``), refuses ``refuse`` starts after making the
    server (as JupyterHub does), and holds the servers ``leftovers`` left behind."""

    refuse: set[str] = set()
    leftovers: dict[str, ServerInfo] = {}
    states: dict[str, InterfaceState] | None = {
        "jupyterlab": InterfaceState("jupyterlab", True),
        "rstudio": InterfaceState("rstudio", False, reason="interface-unavailable", missing="rserver"),
        "vscode": InterfaceState("vscode", True),
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.started: list[dict[str, str]] = []
        for username in ("anna",):
            self.servers_by_user[username] = dict(self.leftovers)

    def interfaces(self):
        return self.states

    def start(self, *, username, server_name, options):
        self.started.append(options)
        info = super().start(username=username, server_name=server_name, options=options)
        if options["bundle"] in self.refuse:
            with self._lock:
                self.servers_by_user[username][server_name] = ServerInfo(server_name, ready=False, stopped=True)
            raise HubRefused("refused at the hub", reason="role")
        return info


@pytest.fixture
def told(monkeypatch):
    made: list[ToldHub] = []

    def factory(**kwargs):
        made.append(ToldHub(**kwargs))
        return made[-1]
    return made, factory


@pytest.fixture
def app(settings, told):
    return create_app(settings, hub_factory=told[1])


def test_an_interface_the_hub_cannot_run_is_shown_disabled_with_why_and_refused_before_the_hub(client, login, told):
    anna = login("anna", ["org:minfin", "role:bi"])
    page = client.get(f"/catalogue/{R_BUNDLE}", headers={"Accept-Language": "en"}).text
    assert '<option value="rstudio" disabled>RStudio — cannot start here: rserver is not installed' in page
    assert 'data-interface="jupyterlab" data-available="true"' in page
    dutch = client.get(f"/catalogue/{R_BUNDLE}", headers={"Accept-Language": "nl"}).text
    assert "rserver is niet geïnstalleerd op de machine van de hub" in dutch

    refused = anna.post_json("/api/v1/workspaces", {"bundle": R_BUNDLE, "interface": "rstudio"})
    assert refused.status_code == 409 and refused.json()["reason"] == "interface-unavailable", refused.text
    assert told[0][0].started == []                                           # the hub was not asked
    chosen = anna.post_json("/api/v1/workspaces", {"bundle": R_BUNDLE})       # the first one that can start
    assert chosen.status_code == 202 and chosen.json()["interface"] == "jupyterlab", chosen.text


def test_where_the_hub_does_not_say_availability_is_unknown_and_the_hub_decides(client, login, told, monkeypatch):
    monkeypatch.setattr(ToldHub, "states", None)
    anna = login("anna", ["org:minfin", "role:bi"])
    page = client.get(f"/catalogue/{R_BUNDLE}", headers={"Accept-Language": "en"}).text
    assert "Which interfaces can start here is not known right now" in page and " disabled" not in page
    launched = anna.post_json("/api/v1/workspaces", {"bundle": R_BUNDLE, "interface": "rstudio"})
    assert launched.status_code == 202 and told[0][0].started[-1]["interface"] == "rstudio"


def test_a_start_the_hub_refuses_leaves_no_server(app, client, login, told, monkeypatch):
    """Since issue 13 the launch answers (202, ``starting``) before the hub is asked; the hub's refusal then makes
    the workspace failed with the hub's reason and message, and its server is removed."""
    monkeypatch.setattr(ToldHub, "refuse", {R_BUNDLE})
    anna = login("anna", ["org:minfin", "role:bi"])
    for _ in range(5):
        launched = anna.post_json("/api/v1/workspaces", {"bundle": R_BUNDLE})
        assert launched.status_code == 202 and launched.json()["status"] == "starting"
        stored = client.get(f"/api/v1/workspaces/{launched.json()['id']}").json()
        assert stored["status"] == "failed"
        with app.state.portal.sessions() as session:
            workspace = session.get(Workspace, launched.json()["id"])
            assert hub_start.failure_reason(session, workspace=workspace) == "role"
    assert told[0][0].servers(username="anna") == {}


def test_a_launch_removes_the_portals_leftovers_and_my_workspaces_shows_the_others(app, client, login, told,
                                                                                   monkeypatch):
    monkeypatch.setattr(ToldHub, "leftovers", {
        "bi-sql-duckdb-0a0b0c": ServerInfo("bi-sql-duckdb-0a0b0c", ready=False, stopped=True),
        "my-own": ServerInfo("my-own", ready=False, stopped=True)})
    anna = login("anna", ["org:minfin", "role:bi"])
    page = client.get("/workspaces", headers={"Accept-Language": "en"}).text
    assert "bi-sql-duckdb-0a0b0c" in page and "my-own" in page
    launched = anna.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb"})
    assert launched.status_code == 202, launched.text
    hub = told[0][0]
    assert set(hub.servers(username="anna")) == {"my-own", launched.json()["server_name"]}
    # stopped in the portal: its server stays at the hub (its home folder, for a restart) at the next launch; once
    # deleted in the portal but still at the hub (the removal missed it), the next launch removes it
    with app.state.portal.sessions() as session:
        name = session.scalar(select(Workspace.server_name).where(Workspace.id == launched.json()["id"]))
    assert anna.post_json(f"/api/v1/workspaces/{launched.json()['id']}/stop").status_code == 200
    again = anna.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb"})
    assert {name, again.json()["server_name"]} <= set(hub.servers(username="anna"))
    with app.state.portal.sessions() as session:
        session.get(Workspace, launched.json()["id"]).status = WorkspaceStatus.DELETED
        session.commit()
    third = anna.post_json("/api/v1/workspaces", {"bundle": "bi-sql-duckdb"})
    assert name not in hub.servers(username="anna") and third.json()["server_name"] in hub.servers(username="anna")

    removed = anna.post_form("/workspaces/hub-servers/remove", {"environment": "local", "server": "my-own"})
    assert removed.status_code == 303
    assert "my-own" not in hub.servers(username="anna")
    missing = anna.post_form("/workspaces/hub-servers/remove", {"environment": "local", "server": "my-own"})
    assert missing.status_code == 404


def test_the_portals_naming_scheme():
    name = service.new_server_name("bi-sql-duckdb")
    assert service.is_portal_server_name(name)
    for other in ("", "my-own", "bi-sql-duckdb", "bi-sql-duckdb-0A0B0C", "x-0a0b0c", "-bi-0a0b0c"):
        assert not service.is_portal_server_name(other), other
