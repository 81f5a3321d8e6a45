"""Workspace handover (issue 12): an admin gives a leaving member's stopped workspaces and home folder to a colleague;
the register records it and the former member's access ends — until an admin re-admits them.

Real portal, real database (SQLite; PostgreSQL too when configured), real server-side sessions and the real
role-recognition at login. The hub is :mod:`tests.portal.fakehub` (in memory): it refuses a handover while a server
runs, as the real one does; the real hub's folder move is ``tests/hub/test_handover.py``.
"""

from __future__ import annotations

import html
from datetime import date

import pytest
from sqlalchemy import select

from gereedschapskist.catalogue import load
from gereedschapskist.portal.errors import LoginFailed
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import (
    Environment, Member, MembershipEnd, MemberStatus, RegisterEntry, RoleGrant, User, Workspace,
)
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.fakehub import FakeHubs
from tests.portal.support import make_user

CATALOGUE = load()
BI_BUNDLE = CATALOGUE.offered_for(["bi"])[0].id


@pytest.fixture
def hubs() -> FakeHubs:
    return FakeHubs()


@pytest.fixture
def app(settings, hubs):
    return create_app(settings.model_copy(update={"environment_name": "shared"}), catalogue_model=CATALOGUE,
                      hub_factory=hubs.factory)


@pytest.fixture
def people(app, client, login, second_client):
    """dana (admin of minfin) on ``client``, anna (leaving, minfin, role bi) on ``second_client``, carla (minfin,
    the colleague), bram (cbs)."""
    dana = login("dana", ["org:minfin", "org-admin:minfin"])
    anna = login("anna", ["org:minfin", "role:bi"], on=second_client)
    make_user(app.state.portal.sessions, username="carla", groups=["org:minfin", "role:bi"])
    make_user(app.state.portal.sessions, username="bram", groups=["org:cbs", "role:ml"])
    make_user(app.state.portal.sessions, username="piet", groups=["org:minfin", "org:cbs"])
    return dana, anna


def launch(anna) -> int:
    response = anna.post_json("/api/v1/workspaces", {"bundle": BI_BUNDLE, "organisation": "minfin"})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def stop(anna, workspace_id: int) -> None:
    assert anna.post_json(f"/api/v1/workspaces/{workspace_id}/stop", {}).status_code == 200


def hand_over(dana, leaving="anna", colleague="carla", **kwargs):
    return dana.post_form("/organisations/minfin/handover", {"leaving": leaving, "colleague": colleague}, **kwargs)


def with_db(app, fn):
    with app.state.portal.sessions() as session:
        return fn(session)


def test_a_running_workspace_refuses_the_handover_and_nothing_changes(app, hubs, people):
    dana, anna = people
    workspace_id = launch(anna)
    before = with_db(app, lambda s: len(s.scalars(select(RegisterEntry)).all()))
    response = hand_over(dana, headers={"Accept-Language": "en"})
    assert response.status_code == 409
    page = html.unescape(response.text)
    assert "Workspaces are still running" in page and f"#{workspace_id}, running" in page
    assert with_db(app, lambda s: len(s.scalars(select(RegisterEntry)).all())) == before
    assert anna.client.get("/api/v1/me").status_code == 200           # still logged in, still a member
    assert hubs.made[0].handovers == []


def test_the_handover_moves_stopped_workspaces_and_the_home_folder_and_ends_the_membership(app, hubs, people):
    dana, anna = people
    first, second = launch(anna), launch(anna)
    stop(anna, first)
    stop(anna, second)
    granted = dana.post_form("/organisations/minfin/grants", {"member": "anna", "role": "ml",
                                                              "until": date.today().isoformat(), "reason": "today"})
    assert granted.status_code == 303           # a running grant, which the handover ends
    assert hubs.made[0].servers(username="anna")            # stopped servers the hub keeps (for a restart)

    response = hand_over(dana)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == ("/organisations/minfin/roles?done=handover&member=anna"
                                            "&folder=overgedragen-van-anna")
    assert hubs.made[0].handovers == [("anna", "carla")]
    assert hubs.made[0].servers(username="anna") == {}      # the leaving user's servers are gone at the hub

    with app.state.portal.sessions() as session:
        carla = session.scalar(select(User).where(User.username == "carla"))
        owners = {w.id: w.user_id for w in session.scalars(select(Workspace))}
        assert owners == {first: carla.id, second: carla.id}
        member = session.scalar(select(Member).join(User).where(User.username == "anna"))
        assert member.status is MemberStatus.FORMER and member.until is not None
        (ended,) = session.scalars(select(MembershipEnd)).all()
        assert (ended.user.username, ended.successor.username, ended.ended_by_id) == ("anna", "carla", dana.user_id)
        assert all(g.revoked_at is not None for g in session.scalars(select(RoleGrant)))
        actions = [e.action.value for e in session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence))]
        assert actions[-4:] == ["workspace-handed-over", "workspace-handed-over", "role-revoked",
                                "member-handed-over"]
        last = session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence.desc())).first()
        assert last.details["from"] == "anna" and last.details["to"] == "carla"
        assert last.details["workspaces"] == [first, second] and last.actor_id == dana.user_id
        assert verify_chain(session).ok

    # anna's portal sessions ended: the API no longer knows her
    assert anna.client.get("/api/v1/me").status_code == 401
    # carla now has the workspaces
    page = dana.client.get("/organisations/minfin/roles?done=handover&member=anna&folder=overgedragen-van-anna",
                           headers={"Accept-Language": "en"}).text
    assert "The handover of anna is done" in page and "overgedragen-van-anna" in page
    assert 'data-former="anna"' in page and 'data-member="anna"' not in page


def test_a_former_member_is_refused_at_login_until_re_admitted(app, people):
    dana, anna = people
    assert hand_over(dana).status_code == 303
    with pytest.raises(LoginFailed) as refused:        # the issuer still sends org:minfin
        make_user(app.state.portal.sessions, username="anna", groups=["org:minfin", "role:bi"])
    assert refused.value.reason == "membership-ended" and "minfin" in refused.value.message

    # a member of another organisation too: admitted, but not to minfin
    make_user(app.state.portal.sessions, username="anna", groups=["org:minfin", "org:cbs", "role:bi"])
    with app.state.portal.sessions() as session:
        anna_user = session.scalar(select(User).where(User.username == "anna"))
        assert [m.organisation.slug for m in anna_user.active_memberships()] == ["cbs"]

    assert dana.post_form("/organisations/minfin/former/anna/readmit", {}).status_code == 303
    make_user(app.state.portal.sessions, username="anna", groups=["org:minfin", "role:bi"])
    with app.state.portal.sessions() as session:
        anna_user = session.scalar(select(User).where(User.username == "anna"))
        assert [m.organisation.slug for m in anna_user.active_memberships()] == ["minfin"]
        actions = [e.action.value for e in session.scalars(select(RegisterEntry))]
        assert actions[-1] == "member-readmitted"
    assert dana.post_form("/organisations/minfin/former/anna/readmit", {}).status_code == 404


@pytest.mark.parametrize("leaving, colleague, status, named", [
    ("anna", "anna", 422, "leaving = colleague = 'anna'"),
    ("anna", "bram", 422, "colleague = 'bram': not an active member of organisation 'minfin'"),
    ("nobody", "carla", 422, "leaving = 'nobody'"),
    ("", "carla", 422, "leaving: choose the member who leaves"),
    ("piet", "carla", 409, "leaving = 'piet' is still a member of cbs"),      # one home folder holds both
])
def test_bad_handovers_are_refused_naming_the_field_and_nothing_changes(app, hubs, people, leaving, colleague,
                                                                       status, named):
    dana, anna = people
    response = hand_over(dana, leaving, colleague, headers={"Accept-Language": "en"})
    assert response.status_code == status
    assert named in html.unescape(response.text)
    assert hubs.made == [] or hubs.made[0].handovers == []
    assert with_db(app, lambda s: s.scalars(select(MembershipEnd)).all()) == []
    assert anna.client.get("/api/v1/me").status_code == 200


def test_an_admin_does_not_hand_over_their_own_workspaces(app, people):
    dana, _anna = people
    response = hand_over(dana, "dana", "carla", headers={"Accept-Language": "en"})
    assert response.status_code == 403 and "hand over your own workspaces" in response.text


def test_a_hub_that_cannot_move_home_folders_stops_the_handover_before_the_portal_changes(app, hubs, people,
                                                                                        monkeypatch):
    """Kubernetes answers 501 (``handover-unsupported``): the portal changes nothing and says why."""
    from gereedschapskist.portal.workspace_hub import WorkspaceHub

    dana, anna = people
    workspace_id = launch(anna)
    stop(anna, workspace_id)
    monkeypatch.setattr(type(hubs.made[0]), "hand_over_home", WorkspaceHub.hand_over_home)
    response = hand_over(dana, headers={"Accept-Language": "en"})
    assert response.status_code == 403 and "cannot hand over home folders" in response.text
    with app.state.portal.sessions() as session:
        assert session.get(Workspace, workspace_id).user.username == "anna"
        assert session.scalars(select(MembershipEnd)).all() == []
        assert session.scalar(select(Environment)) is not None
    assert anna.client.get("/api/v1/me").status_code == 200
