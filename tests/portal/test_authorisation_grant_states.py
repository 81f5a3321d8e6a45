"""The authorisation matrix's grant-state dimension (issue 15, Tests, first bullet): every role × every dataset action
× own or other organisation × active, expired or revoked grant; each cell asserts allowed or denied through the JSON
API. ``test_authorisation_matrix.py`` checks every route of the portal once per persona against a fresh object; this
module adds what that table has no room for: the state of the grant a dataset action concerns, the hubs as callers,
and a data owner of another dataset.

**The world** (a real database: SQLite, and PostgreSQL when ``GEREEDSCHAPSKIST_TEST_DATABASE_URL`` is set), built once
per class, not per cell: organisations ``minfin`` and ``cbs``, each with an environment of its own (``minfin-env``,
``cbs-env``) next to the shared default one (``shared``). For each organisation and grant state, one dataset (data
owner: olga for minfin's, eva for cbs's) with one grant to a data scientist of that organisation (minfin: anna; cbs:
bram), asked for and approved through the portal's own services, so the register holds the request, the decision and
the grant:

- *active*: approved today, for ten days;
- *expired*: approved, then its period, ``starts_at`` and ``expires_at`` set directly in the past (a fast clock: no
  waiting);
- *revoked*: approved, then revoked by the dataset's data owner with a reason.

**Own or other organisation**: a row names the dataset's (and its grant's) organisation. minfin's datasets are the own
organisation's for anna, mila, dana, olga and otto, and another organisation's for eva and bram; cbs's the other way
round. femke (platform admin) is a member of neither; anonymous callers and hubs are no users at all. A hub's own
organisation is its environment's: the shared environment's hub serves every organisation.

Reading actions run against the shared world. Actions that change something (revoke, request access, approve, reject,
automatic approval off) get a fresh dataset with a grant in the row's state for each row, and again after every cell
that changed something (answered 2xx), so no cell sees another cell's change.

**Expected values**: an HTTP status; ``LISTED``/``ABSENT``: 200, and the row's object (the dataset, the request behind
the grant, the grant, the register entries of the grant) is / is not in the answer; ``APPROVED``/``REQUESTED``: 201,
and the new request was approved automatically (on the earlier approval: same dataset, same organisation, same purpose
code and legal ground, its grant not revoked) / awaits the data owner. :data:`POLICY` is the policy written out for
reviewers; nothing in it is derived from the code under test.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import (
    AccessRequest, AccessRequestState, Dataset, DatasetCategory, EnvironmentKind, EnvironmentStage,
    Organisation, SensitivityLevel, User, utcnow,
)
from gereedschapskist.portal.services import access, dataset_grants
from gereedschapskist.portal.services.environments import register_environment
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.conftest import closed_port
from tests.portal.fakehub import FakeHubs
from tests.portal.support import make_user, session_cookie
from tests.portal.test_authorisation_matrix import CATALOGUE, app_route_table

SHARED_HUB_TOKEN = "s" * 40           # HUB_API_TOKEN: the shared environment's hub
MINFIN_HUB_TOKEN = "m" * 40           # HUB_TOKENS["minfin-env"]
CBS_HUB_TOKEN = "c" * 40              # HUB_TOKENS["cbs-env"]


@dataclass(frozen=True)
class Actor:
    key: str
    groups: tuple[str, ...] = ()
    hub_token: str | None = None
    demo: bool = False

    @property
    def username(self) -> str | None:
        return None if self.hub_token or self.key == "anonymous" else self.key

    @property
    def role(self) -> str:
        return next((g.split(":", 1)[1] for g in self.groups if g.startswith("role:")), "")


#: The columns of :data:`POLICY`, in this order.
ACTORS = (
    Actor("anna", ("org:minfin", "role:bi"), demo=True),       # data scientist of minfin; the grantee of minfin's rows
    Actor("mila", ("org:minfin", "role:bi")),                  # her colleague: same organisation and role, no grant
    Actor("dana", ("org:minfin", "org-admin:minfin"), demo=True),   # organisation admin of minfin
    Actor("olga", ("org:minfin", "data-owner:minfin")),        # data owner of minfin's datasets here
    Actor("otto", ("org:minfin", "data-owner:minfin")),        # data owner in minfin, of another dataset
    Actor("eva", ("org:cbs", "data-owner:cbs"), demo=True),    # data owner of cbs's datasets here
    Actor("femke", ("gereedschapskist:admins", "role:dev"), demo=True),  # platform admin
    Actor("bram", ("org:cbs", "role:ml"), demo=True),          # data scientist of cbs; the grantee of cbs's rows
    Actor("anonymous"),
    Actor("hub", hub_token=SHARED_HUB_TOKEN),                  # the shared environment's hub: every organisation
    Actor("hub-minfin", hub_token=MINFIN_HUB_TOKEN),           # minfin-env's hub
    Actor("hub-cbs", hub_token=CBS_HUB_TOKEN),                 # cbs-env's hub
)
STATES = ("active", "expired", "revoked")
ORGANISATIONS = ("minfin", "cbs")
GRANTEE = {"minfin": "anna", "cbs": "bram"}
DATA_OWNER = {"minfin": "olga", "cbs": "eva"}

LISTED, ABSENT, APPROVED, REQUESTED = "listed", "absent", "approved", "requested"
L, A = LISTED, ABSENT


def rows(organisation: str, cells: tuple, states: tuple[str, ...] = STATES) -> dict[tuple[str, str], tuple]:
    """The same cells for ``organisation``'s rows in ``states``."""
    return {(organisation, state): cells for state in states}


# ------------------------------------------------------------------------------------------------------------ policy
# Columns:          anna mila dana olga otto eva  femke bram anon hub  hub-minfin hub-cbs
USERS_SEE_IT = (L, L, L, L, L, L, L, L, 401, 401, 401, 401)
USERS_200 = (200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 401, 401)

POLICY: dict[str, dict[tuple[str, str], tuple]] = {
    # the catalogue of datasets: every logged-in user, whatever the grants; a hub's token is no login
    "list datasets": {**rows("minfin", USERS_SEE_IT), **rows("cbs", USERS_SEE_IT)},
    "get dataset": {**rows("minfin", USERS_200), **rows("cbs", USERS_200)},
    # my access requests: the grantee's request (and its grant's expiry) for the grantee only
    "my access requests": {
        **rows("minfin", (L, A, A, A, A, A, A, A, 401, 401, 401, 401)),
        **rows("cbs", (A, A, A, A, A, A, A, L, 401, 401, 401, 401))},
    # the data owner's queue: requests for the datasets they are data owner of (decided ones too: the history)
    "data owner's queue": {
        **rows("minfin", (A, A, A, L, A, A, A, A, 401, 401, 401, 401)),
        **rows("cbs", (A, A, A, A, A, L, A, A, 401, 401, 401, 401))},
    # what a hub mounts: hubs only (401 for every login); only an active grant; only a hub of the grant's organisation
    # (its own environment's or the shared one), never another organisation's environment
    "hub: grants": {
        ("minfin", "active"): (401, 401, 401, 401, 401, 401, 401, 401, 401, L, L, A),
        ("minfin", "expired"): (401, 401, 401, 401, 401, 401, 401, 401, 401, A, A, A),
        ("minfin", "revoked"): (401, 401, 401, 401, 401, 401, 401, 401, 401, A, A, A),
        ("cbs", "active"): (401, 401, 401, 401, 401, 401, 401, 401, 401, L, A, L),
        ("cbs", "expired"): (401, 401, 401, 401, 401, 401, 401, 401, 401, A, A, A),
        ("cbs", "revoked"): (401, 401, 401, 401, 401, 401, 401, 401, 401, A, A, A)},
    "hub: workspace start": {
        ("minfin", "active"): (401, 401, 401, 401, 401, 401, 401, 401, 401, L, L, A),
        ("minfin", "expired"): (401, 401, 401, 401, 401, 401, 401, 401, 401, A, A, A),
        ("minfin", "revoked"): (401, 401, 401, 401, 401, 401, 401, 401, 401, A, A, A),
        ("cbs", "active"): (401, 401, 401, 401, 401, 401, 401, 401, 401, L, A, L),
        ("cbs", "expired"): (401, 401, 401, 401, 401, 401, 401, 401, 401, A, A, A),
        ("cbs", "revoked"): (401, 401, 401, 401, 401, 401, 401, 401, 401, A, A, A)},
    # the dataset's register: its data owner and platform admins; a grant, active or not, gives no right to it;
    # refused, never an empty list
    "register of the dataset": {
        **rows("minfin", (403, 403, 403, L, 403, 403, L, 403, 401, 401, 401, 401)),
        **rows("cbs", (403, 403, 403, 403, 403, L, L, 403, 401, 401, 401, 401))},
    "register export of the dataset": {
        **rows("minfin", (403, 403, 403, L, 403, 403, L, 403, 401, 401, 401, 401)),
        **rows("cbs", (403, 403, 403, 403, 403, L, L, 403, 401, 401, 401, 401))},
    # the grantee's register: themselves, the admins of their organisation, the data owners they asked (olga for
    # anna, eva for bram), platform admins; a colleague or a data owner of another dataset sees none of it
    "register export of the grantee": {
        **rows("minfin", (L, 403, L, L, 403, 403, L, 403, 401, 401, 401, 401)),
        **rows("cbs", (403, 403, 403, 403, 403, L, L, L, 401, 401, 401, 401))},
    # revoking: the dataset's data owner or a platform admin, never the grantee; only an active grant (an expired or
    # revoked one: 409, nothing to revoke); changes need the session's CSRF token (anonymous, hubs: 403)
    "revoke the grant": {
        ("minfin", "active"): (403, 403, 403, 200, 403, 403, 200, 403, 403, 403, 403, 403),
        ("minfin", "expired"): (403, 403, 403, 409, 403, 403, 409, 403, 403, 403, 403, 403),
        ("minfin", "revoked"): (403, 403, 403, 409, 403, 403, 409, 403, 403, 403, 403, 403),
        ("cbs", "active"): (403, 403, 403, 403, 403, 200, 200, 403, 403, 403, 403, 403),
        ("cbs", "expired"): (403, 403, 403, 403, 403, 409, 409, 403, 403, 403, 403, 403),
        ("cbs", "revoked"): (403, 403, 403, 403, 403, 409, 409, 403, 403, 403, 403, 403)},
    # asking for the dataset again (members with a workbench role; each for their own organisation): approved
    # automatically on the earlier approval in the same organisation while its grant is active or expired, never on a
    # revoked one, never on another organisation's; the data owners here have no workbench role, femke is no member
    "request access": {
        ("minfin", "active"): (APPROVED, APPROVED, 403, 403, 403, 403, 403, REQUESTED, 403, 403, 403, 403),
        ("minfin", "expired"): (APPROVED, APPROVED, 403, 403, 403, 403, 403, REQUESTED, 403, 403, 403, 403),
        ("minfin", "revoked"): (REQUESTED, REQUESTED, 403, 403, 403, 403, 403, REQUESTED, 403, 403, 403, 403),
        ("cbs", "active"): (REQUESTED, REQUESTED, 403, 403, 403, 403, 403, APPROVED, 403, 403, 403, 403),
        ("cbs", "expired"): (REQUESTED, REQUESTED, 403, 403, 403, 403, 403, APPROVED, 403, 403, 403, 403),
        ("cbs", "revoked"): (REQUESTED, REQUESTED, 403, 403, 403, 403, 403, REQUESTED, 403, 403, 403, 403)},
    # deciding on the grantee's new request (whatever became of the earlier grant): the dataset's data owner only
    "approve the grantee's new request": {
        **rows("minfin", (403, 403, 403, 200, 403, 403, 403, 403, 403, 403, 403, 403)),
        **rows("cbs", (403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403))},
    "reject the grantee's new request": {
        **rows("minfin", (403, 403, 403, 200, 403, 403, 403, 403, 403, 403, 403, 403)),
        **rows("cbs", (403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403))},
    # automatic approval off: the dataset's data owner only
    "automatic approval off": {
        **rows("minfin", (403, 403, 403, 200, 403, 403, 403, 403, 403, 403, 403, 403)),
        **rows("cbs", (403, 403, 403, 403, 403, 200, 403, 403, 403, 403, 403, 403))},
}

#: Actions that change something: a fresh dataset and grant for every cell.
CHANGING = ("revoke the grant", "request access", "approve the grantee's new request",
            "reject the grantee's new request", "automatic approval off")
READING = tuple(action for action in POLICY if action not in CHANGING)

#: The JSON API routes of datasets, access requests, grants and the register, each with the actions that call it:
#: a new route here fails test_every_dataset_route_has_actions until it has a column of cells.
ROUTES = {
    ("GET", "/api/v1/datasets"): ("list datasets",),
    ("GET", "/api/v1/datasets/{dataset_id}"): ("get dataset",),
    ("POST", "/api/v1/datasets/{dataset_id}/auto-approval"): ("automatic approval off",),
    ("GET", "/api/v1/access-requests"): ("my access requests", "data owner's queue"),
    ("POST", "/api/v1/access-requests"): ("request access",),
    ("POST", "/api/v1/access-requests/{request_id}/approve"): ("approve the grantee's new request",),
    ("POST", "/api/v1/access-requests/{request_id}/reject"): ("reject the grantee's new request",),
    ("POST", "/api/v1/grants/{grant_id}/revoke"): ("revoke the grant",),
    ("GET", "/api/v1/hub/grants/{username}"): ("hub: grants",),
    ("POST", "/api/v1/hub/grants/{username}/start"): ("hub: workspace start",),
    ("GET", "/api/v1/register"): ("register of the dataset",),
    ("GET", "/api/v1/register/export"): ("register export of the dataset", "register export of the grantee"),
}
DATASET_ROUTE_PREFIXES = ("/api/v1/datasets", "/api/v1/access-requests", "/api/v1/grants", "/api/v1/hub/grants",
                          "/api/v1/register")


# ------------------------------------------------------------------------------------------------------------- world

@dataclass(frozen=True)
class Target:
    """One row's objects: the dataset, the approved request behind the grant, the grant, its grantee, and (for the
    decisions) a new request of the grantee awaiting the data owner."""

    organisation: str
    state: str
    dataset: int
    request: int
    grant: int
    grantee: str
    pending: int | None = None


class World:
    def __init__(self, app, clients: dict[str, TestClient], csrf: dict[str, str]):
        self.app, self.clients, self.csrf = app, clients, csrf
        self.targets: dict[tuple[str, str], Target] = {}

    def headers(self, actor: Actor, *, change: bool = False) -> dict[str, str]:
        if actor.hub_token:
            return {"Authorization": f"token {actor.hub_token}"}
        if change and actor.key in self.csrf:
            return {"X-CSRF-Token": self.csrf[actor.key]}
        return {}

    def get(self, actor: Actor, url: str, **params):
        return self.clients[actor.key].get(url, params=params, headers=self.headers(actor))

    def post(self, actor: Actor, url: str, body: dict | None = None):
        return self.clients[actor.key].post(url, json=body, headers=self.headers(actor, change=True))

    def target(self, organisation: str, state: str, *, pending: bool = False) -> Target:
        """A fresh dataset of ``organisation`` with a grant to its grantee in ``state`` (through the services: the
        register holds it), and with ``pending`` a new request of the grantee awaiting a decision."""
        grantee, owner = GRANTEE[organisation], DATA_OWNER[organisation]
        with self.app.state.portal.sessions() as session:
            user = {u.username: u for u in session.scalars(select(User).where(
                User.username.in_((grantee, owner)))).all()}
            org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
            dataset = Dataset(identifier=f"{organisation}-{state}-{secrets.token_hex(4)}", title_nl="Matrix",
                              description_nl="", organisation=org, data_owner=user[owner],
                              category=DatasetCategory.OTHER, sensitivity=SensitivityLevel.INTERNAL, keywords=[],
                              auto_approval=True)
            session.add(dataset)
            session.flush()
            asked = access.request_access(session, dataset=dataset, actor=user[grantee],
                                          data=access_form(role_of(grantee)))
            access.decide(session, access_request=asked, actor=user[owner], approve=True)
            grant = asked.grant
            if state == "expired":                       # a fast clock: the period set directly in the past
                today = utcnow().date()
                asked.starts_on, asked.ends_on = today - timedelta(days=11), today - timedelta(days=2)
                grant.starts_at = datetime.combine(asked.starts_on, time(0), tzinfo=timezone.utc)
                grant.expires_at = datetime.combine(asked.ends_on + timedelta(days=1), time(0), tzinfo=timezone.utc)
            elif state == "revoked":
                dataset_grants.revoke(session, grant=grant, actor=user[owner], reason="matrix: access withdrawn")
            pending_id = None
            if pending:                                  # stored as such: the portal would approve it automatically
                form = access_form(role_of(grantee))
                again = AccessRequest(dataset=dataset, requester=user[grantee], organisation=org,
                                      role=form["role"], purpose=form["purpose"], purpose_code=form["purpose_code"],
                                      legal_ground=form["legal_ground"], starts_on=date.fromisoformat(
                                          form["starts_on"]), ends_on=date.fromisoformat(form["ends_on"]),
                                      state=AccessRequestState.REQUESTED, automatic=False)
                session.add(again)
                session.flush()
                pending_id = again.id
            session.commit()
            assert grant.active(utcnow()) is (state == "active"), (organisation, state)
            return Target(organisation, state, dataset.id, asked.id, grant.id, grantee, pending_id)


def role_of(username: str) -> str:
    return next(actor.role for actor in ACTORS if actor.key == username)


def access_form(role: str) -> dict:
    """The request every grant here rests on (and an identical one asked again)."""
    today = utcnow().date()
    return {"role": role, "purpose": "Matrix of who may do what with which grant", "purpose_code": "statistics",
            "legal_ground": "avg-6-1-e-cbs-wet", "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=9)).isoformat()}


@pytest.fixture(scope="class")
def world(database_server, tmp_path_factory) -> Iterator[World]:
    """The world of this module's docstring, once per class (the database emptied first)."""
    database_server.reset()
    settings = PortalSettings(
        database_url=database_server.url, state_dir=tmp_path_factory.mktemp("grant-states"),
        session_secret="s" * 40, organisations="cbs minfin", hub_url=f"http://127.0.0.1:{closed_port()}",
        hub_api_token=SHARED_HUB_TOKEN,
        hub_tokens={"minfin-env": SecretStr(MINFIN_HUB_TOKEN), "cbs-env": SecretStr(CBS_HUB_TOKEN)},
        oidc_issuer=f"http://127.0.0.1:{closed_port()}/issuer", environment_name="shared",
        reconcile_interval_seconds=0, hub_timeout_seconds=5, hub_status_ttl_seconds=0,
        provisioning_interval_seconds=0, budget_watch_interval_seconds=0, grant_expiry_interval_seconds=0)
    app = create_app(settings, catalogue_model=CATALOGUE, hub_factory=FakeHubs().factory)
    with TestClient(app, base_url="http://127.0.0.1"):          # the app's lifespan, for the whole class
        clients, csrf = {}, {}
        for actor in ACTORS:
            clients[actor.key] = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
            if actor.username:
                user_id = make_user(app.state.portal.sessions, username=actor.username, groups=actor.groups)
                csrf[actor.key] = secrets.token_urlsafe(16)
                clients[actor.key].cookies.set(settings.session_cookie, session_cookie(
                    settings, {"uid": user_id, "csrf": csrf[actor.key]}), domain="127.0.0.1")
        with app.state.portal.sessions() as session:
            for slug in ORGANISATIONS:
                organisation = session.scalar(select(Organisation).where(Organisation.slug == slug))
                register_environment(session, name=f"{slug}-env", kind=EnvironmentKind.CLOUD,
                                     stage=EnvironmentStage.PRODUCTION, hub_url=f"http://{slug}.hub.test",
                                     hub_api_url=f"http://{slug}.hub.test/hub/api", organisation=organisation)
            session.commit()
        result = World(app, clients, csrf)
        yield result
        for client in clients.values():
            client.close()


# ----------------------------------------------------------------------------------------------------------- actions

def _listed(response, found: Callable[[object], bool]):
    return (LISTED if found(response.json()) else ABSENT) if response.status_code == 200 else response.status_code


def _grant_entries(entries: list[dict], grant: int) -> bool:
    return any(isinstance(e["details"], dict) and e["details"].get("grant") == grant for e in entries)


def _requested(response):
    if response.status_code != 201:
        return response.status_code
    state = response.json()["state"]
    return {"approved": APPROVED, "requested": REQUESTED}.get(state, f"201 {state}")


ACTIONS: dict[str, Callable[[World, Actor, Target], object]] = {
    "list datasets": lambda w, a, t: _listed(w.get(a, "/api/v1/datasets"),
                                             lambda body: any(d["id"] == t.dataset for d in body)),
    "get dataset": lambda w, a, t: w.get(a, f"/api/v1/datasets/{t.dataset}").status_code,
    "my access requests": lambda w, a, t: _listed(w.get(a, "/api/v1/access-requests"),
                                                  lambda body: any(r["id"] == t.request for r in body)),
    "data owner's queue": lambda w, a, t: _listed(w.get(a, "/api/v1/access-requests", queue="true"),
                                                  lambda body: any(r["id"] == t.request for r in body)),
    "hub: grants": lambda w, a, t: _listed(w.get(a, f"/api/v1/hub/grants/{t.grantee}"),
                                           lambda body: any(g["grant"] == t.grant for g in body["grants"])),
    "hub: workspace start": lambda w, a, t: _listed(
        w.post(a, f"/api/v1/hub/grants/{t.grantee}/start", {"server": ""}),
        lambda body: any(g["grant"] == t.grant for g in body["grants"])),
    "register of the dataset": lambda w, a, t: _listed(w.get(a, "/api/v1/register", dataset=str(t.dataset)),
                                                       lambda body: _grant_entries(body["entries"], t.grant)),
    "register export of the dataset": lambda w, a, t: _listed(
        w.get(a, "/api/v1/register/export", dataset=str(t.dataset), format="json"),
        lambda body: _grant_entries(body, t.grant)),
    "register export of the grantee": lambda w, a, t: _listed(
        w.get(a, "/api/v1/register/export", person=t.grantee, format="json"),
        lambda body: _grant_entries(body, t.grant)),
    "revoke the grant": lambda w, a, t: w.post(a, f"/api/v1/grants/{t.grant}/revoke",
                                               {"reason": "matrix: access ends"}).status_code,
    "request access": lambda w, a, t: _requested(w.post(a, "/api/v1/access-requests",
                                                        {"dataset": t.dataset, **access_form(a.role)})),
    "approve the grantee's new request": lambda w, a, t: w.post(
        a, f"/api/v1/access-requests/{t.pending}/approve", {}).status_code,
    "reject the grantee's new request": lambda w, a, t: w.post(
        a, f"/api/v1/access-requests/{t.pending}/reject", {"reason": "matrix: not now"}).status_code,
    "automatic approval off": lambda w, a, t: w.post(a, f"/api/v1/datasets/{t.dataset}/auto-approval",
                                                     {"enabled": False}).status_code,
}


CHANGED = (200, 201, APPROVED, REQUESTED)      # what a cell that changed something answered


def _run(world: World, action: str, target_for: Callable[[str, str], Target], *, changing: bool = False) -> None:
    """Every cell of ``action``; ``changing``: a fresh target for each row and again after every cell that changed
    something, so no cell sees another cell's change."""
    wrong = []
    for (organisation, state), expected in POLICY[action].items():
        target = None
        for actor, cell in zip(ACTORS, expected):
            target = target or target_for(organisation, state)
            got = ACTIONS[action](world, actor, target)
            if changing and got in CHANGED:
                target = None
            if got != cell:
                wrong.append(f"{actor.key} on {organisation}'s dataset, {state} grant: {got} (expected {cell})")
    assert not wrong, f"{action}:\n  " + "\n  ".join(wrong)


# ------------------------------------------------------------------------------------------------------------- tests

def test_the_policy_has_a_cell_for_every_actor_organisation_and_state():
    assert set(POLICY) == set(ACTIONS)
    for action, cells in POLICY.items():
        assert set(cells) == {(o, s) for o in ORGANISATIONS for s in STATES}, action
        assert all(len(row) == len(ACTORS) for row in cells.values()), action


def test_the_demo_actors_are_the_demo_accounts():
    accounts = load_accounts()
    for actor in ACTORS:
        if actor.demo:
            assert tuple(accounts[actor.key].groups) == actor.groups, actor


@pytest.fixture(scope="class")
def targets(world) -> dict[tuple[str, str], Target]:
    """One dataset and grant per organisation and state, shared by the reading actions."""
    return {(o, s): world.target(o, s) for o in ORGANISATIONS for s in STATES}


class TestReading:
    """Actions that change nothing (a hub's start only appends ``dataset-mounted``): one shared world."""

    def test_every_dataset_route_has_actions(self, world):
        served = {route for route in app_route_table(world.app) if route[1].startswith(DATASET_ROUTE_PREFIXES)}
        assert sorted(served - ROUTES.keys()) == [], "dataset routes without cells in the grant-state matrix"
        assert sorted(ROUTES.keys() - served) == [], "grant-state matrix entries for routes the app no longer has"
        assert {a for actions in ROUTES.values() for a in actions} == set(POLICY)

    def test_a_hub_asking_with_a_nul_character_is_refused_not_a_server_error(self, world):
        """Found by the fuzz run on PostgreSQL, which refuses NUL in a query (a 500 before)."""
        hub = next(actor for actor in ACTORS if actor.key == "hub")
        assert world.get(hub, "/api/v1/hub/grants/an%00na").status_code == 404
        assert world.post(hub, "/api/v1/hub/grants/an%00na/start", {"server": ""}).status_code == 404
        response = world.post(hub, "/api/v1/hub/grants/anna/start", {"server": "x\x00y"})
        assert response.status_code == 422 and "server" in response.text, response.text

    @pytest.mark.parametrize("action", READING)
    def test_cells(self, world, targets, action):
        _run(world, action, lambda organisation, state: targets[(organisation, state)])


class TestChanging:
    """Actions that change something: a fresh dataset with a grant in the row's state for every cell."""

    @pytest.mark.parametrize("action", CHANGING)
    def test_cells(self, world, action):
        pending = action.endswith("new request")
        _run(world, action, lambda organisation, state: world.target(organisation, state, pending=pending),
             changing=True)
