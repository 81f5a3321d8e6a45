"""A folder app names its workspace (issue 17, section 1; ``services/apps.py``, ``api/apps.py``, ``routes/apps.py``):
in a cloud environment every workspace has a home volume of its own, so the hub (``hub/kubernetes_apps.py``) runs an
app from a folder only with ``app.workspace``, the server name of the workspace whose home holds it. The portal takes
the id of one of the owner's own workspaces in the app's environment, refuses anyone else's, another environment's and
a deleted one, requires it for a folder app in a cloud environment, and never sends it for an app from git. Against
the in-memory hub; the hub's side is tests/hub/test_kubernetes_apps.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import (
    Environment, EnvironmentKind, EnvironmentStage, Organisation, RegisterEntry, User, Workspace, WorkspaceStatus,
)
from gereedschapskist.portal.services.environments import register_environment
from tests.portal.fakehub import FakeHubs

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
PANEL = {"title": "Verkoop per maand", "framework": "panel", "bundle": "bi-dashboards",
         "entry": "dashboards/verkoop.py"}
GIT = {**PANEL, "git": "https://example.org/verkoop.git", "commit": COMMIT}
SERVER = ("anna", "app-verkoop-per-maand")


@pytest.fixture
def hubs() -> FakeHubs:
    return FakeHubs()


@pytest.fixture
def app(settings, hubs):
    return create_app(settings, hub_factory=hubs.factory)


@pytest.fixture
def people(app, login):
    return {name: login(name, groups, on=TestClient(app, base_url="http://127.0.0.1", follow_redirects=False))
            for name, groups in (("anna", ["org:minfin", "role:bi"]), ("carl", ["org:minfin", "role:bi"]))}


def _cloud(app) -> None:
    """Give minfin a cloud development environment of its own: its members' launches (and apps) go there."""
    with app.state.portal.sessions() as session:
        minfin = session.scalar(select(Organisation).where(Organisation.slug == "minfin"))
        register_environment(session, name="minfin-cloud", kind=EnvironmentKind.CLOUD,
                             stage=EnvironmentStage.DEVELOPMENT, hub_url="http://minfin.hub.test",
                             hub_api_url="http://minfin.hub.test/hub/api", organisation=minfin)
        session.commit()


def _workspace(app, owner: str, *, environment: str | None = None,
               status: WorkspaceStatus = WorkspaceStatus.STOPPED) -> tuple[int, str]:
    """A workspace row of ``owner`` in ``environment`` (default: the organisation's, cloud or the local one)."""
    with app.state.portal.sessions() as session:
        user = session.scalar(select(User).where(User.username == owner))
        minfin = session.scalar(select(Organisation).where(Organisation.slug == "minfin"))
        query = select(Environment).order_by(Environment.id)
        env = (session.scalar(query.where(Environment.name == environment)) if environment
               else session.scalars(query).all()[-1])
        server = f"bi-dashboards-{owner[:1]}{len(session.scalars(select(Workspace.id)).all()):05x}"
        workspace = Workspace(user=user, organisation=minfin, environment=env, server_name=server,
                              bundle_id="bi-dashboards", bundle_version="1.0.0", size_id="small",
                              interface="jupyterlab", status=status)
        session.add(workspace)
        session.commit()
        return workspace.id, server


def _hub(hubs: FakeHubs, url: str):
    return next(hub for hub in hubs.made if hub.public_url.startswith(url))


def _published(app) -> int:
    with app.state.portal.sessions() as session:
        return sum(e.action.value == "app-published" for e in session.scalars(select(RegisterEntry)))


def test_a_folder_app_sends_the_named_workspace_to_the_hub(app, people, hubs):
    _cloud(app)
    workspace_id, server = _workspace(app, "anna")
    made = people["anna"].post_json("/api/v1/apps", {**PANEL, "workspace": workspace_id})
    assert made.status_code == 201, made.text
    assert made.json()["environment"] == "minfin-cloud"
    assert made.json()["versions"][0]["source"] == {"entry": "dashboards/verkoop.py", "workspace": server}
    hub = _hub(hubs, "http://minfin.hub.test")
    assert hub.options[SERVER]["app"] == {"framework": "panel", "entry": "dashboards/verkoop.py",
                                          "workspace": server}
    # a wake after the idle culler sends it again (the version's source keeps it)
    hub.stop(username="anna", server_name=SERVER[1], remove=True)
    hub.options.clear()
    assert people["carl"].client.get(f"/apps/{made.json()['id']}/open").status_code in (200, 303)
    assert hub.options[SERVER]["app"]["workspace"] == server


def test_in_a_cloud_environment_a_folder_app_must_name_its_workspace(app, people):
    _cloud(app)
    refused = people["anna"].post_json("/api/v1/apps", PANEL)
    assert refused.status_code == 422 and refused.json()["reason"] == "app-workspace-required", refused.text
    assert "workspace" in refused.json()["message"] and "minfin-cloud" in refused.json()["message"]
    assert _published(app) == 0


@pytest.mark.parametrize("whose", ["carl", "deleted", "other-environment", "unknown"])
def test_a_workspace_not_the_owners_own_in_the_apps_environment_is_refused(app, people, hubs, whose):
    local = _workspace(app, "anna")[0]              # anna's workspace in the local environment...
    _cloud(app)                                     # ...while her app goes to the cloud one
    workspace_id = {"carl": lambda: _workspace(app, "carl")[0],
                    "deleted": lambda: _workspace(app, "anna", status=WorkspaceStatus.DELETED)[0],
                    "other-environment": lambda: local,
                    "unknown": lambda: 4242}[whose]()
    refused = people["anna"].post_json("/api/v1/apps", {**PANEL, "workspace": workspace_id})
    assert refused.status_code == 422 and refused.json()["reason"] == "bad-app-workspace", refused.text
    assert f"workspace {workspace_id!r}" in refused.json()["message"]
    assert _published(app) == 0 and all(SERVER not in hub.options for hub in hubs.made)


def test_an_app_from_git_never_has_a_workspace(app, people, hubs):
    _cloud(app)
    made = people["anna"].post_json("/api/v1/apps", GIT)          # no workspace needed in the cloud either
    assert made.status_code == 201, made.text
    option = _hub(hubs, "http://minfin.hub.test").options[SERVER]["app"]
    assert "workspace" not in option and option["git"] == GIT["git"]
    workspace_id, _server = _workspace(app, "anna")
    refused = people["anna"].post_json("/api/v1/apps", {**GIT, "workspace": workspace_id})
    assert refused.json()["reason"] == "bad-app-workspace" and "git" in refused.json()["message"]


def test_on_the_local_backend_the_workspace_is_optional_and_sent_when_named(app, people, hubs):
    anna = people["anna"]
    assert anna.post_json("/api/v1/apps", PANEL).status_code == 201
    hub = hubs.made[0]
    assert "workspace" not in hub.options[SERVER]["app"]
    workspace_id, server = _workspace(app, "anna")
    again = anna.post_json("/api/v1/apps", {**PANEL, "workspace": workspace_id})
    assert again.status_code == 201 and again.json()["version"] == 2
    assert hub.options[SERVER]["app"]["workspace"] == server


def test_the_publish_form_offers_the_owners_workspaces_and_sends_the_chosen_one(app, people, hubs):
    _cloud(app)
    workspace_id, server = _workspace(app, "anna")
    _workspace(app, "carl")
    anna = people["anna"]
    page = anna.client.get("/apps")
    assert page.status_code == 200 and '<select id="workspace" name="workspace">' in page.text
    assert f'<option value="{workspace_id}">' in page.text and server in page.text
    assert "bi-dashboards-c" not in page.text                     # carl's workspace is not offered
    refused = anna.post_form("/apps", PANEL)
    assert refused.status_code == 422 and 'id="problem"' in refused.text
    assert "Choose the workspace that holds the app's folder" in refused.text or \
        "Kies de werkplek met de map van de app" in refused.text
    done = anna.post_form("/apps", {**PANEL, "workspace": str(workspace_id)})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=published")
    assert _hub(hubs, "http://minfin.hub.test").options[SERVER]["app"]["workspace"] == server
    refill = anna.client.get(f"/apps?workspace={workspace_id}")
    assert f'<option value="{workspace_id}" selected>' in refill.text
