"""A fuzz run of the JSON API from its own OpenAPI document (schemathesis), logged in as demo users.

Every operation of ``/api/openapi.json`` gets schemathesis-generated requests, valid ones (positive) and invalid
ones (negative), plus valid ones aimed at real objects (the users' workspaces, the organisations), sent in-process
to the app through the logged-in test clients (no network), as ``anna`` (data scientist, minfin), ``dana``
(organisation admin, minfin), ``olga`` (data owner, minfin) and ``bram`` (data scientist, cbs); the hubs' routes
(``/api/v1/hub/…``) also as a hub, with the portal's hub token. Access to data (issue 15) has real objects to aim at
too: a dataset of each organisation, access requests awaiting olga, an approved one with its grant. At least
:data:`MINIMUM_CASES` cases in total, none may get a 5xx answer (or raise), and afterwards the database must be
consistent: no orphan rows, one launch entry in the register per workspace, every stop recorded once, workspaces only
in their owners' organisations, a grant only for an approved request, every request, grant and revocation in the
register once, and the database agreeing with the hub about what runs. Deterministic (a fixed hypothesis seed per
database, no example database): the SQLite and the PostgreSQL run try different cases, so together they cover twice
as many. Workspaces run on :mod:`tests.portal.fakehub`: the hub is not what is fuzzed here.

``make test`` generates :data:`EXAMPLES` = 20 cases per operation and kind (about 2,500 per database, a quarter of
the cost of 80, which mostly goes to schemathesis's generation); ``make fuzz`` runs 80
(``GEREEDSCHAPSKIST_FUZZ_EXAMPLES`` sets it).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from datetime import date, timedelta

import pytest
import schemathesis
from hypothesis.errors import Unsatisfiable
from hypothesis import HealthCheck, Phase, given, seed, settings, strategies as st
from schemathesis import GenerationMode
from sqlalchemy import func, select

from gereedschapskist.catalogue import load
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import (
    ACTIVE_STATUSES, Environment, Member, MemberStatus, Organisation, RegisterAction, RegisterEntry, User, Workspace,
    WorkspaceStatus,
)
from tests.portal.fakehub import FakeHubs

CATALOGUE = load()
MINIMUM_CASES = 1000
#: Generated cases per operation and kind (positive, negative, real objects); small operations run out sooner.
EXAMPLES = int(os.environ.get("GEREEDSCHAPSKIST_FUZZ_EXAMPLES", "20"))     # `make fuzz`: 80
#: Each database's run its own cases (``derandomize`` would give both the same ones).
SEEDS = {"sqlite": 20260, "postgresql": 20261}
ODD_TEXTS = ["\x00", "a\x00b", "%00", "..", " ", "\u202e", "💥", "x" * 300, "org:minfin", "minfin\n"]
USERS = {"anna": ["org:minfin", "role:bi"], "dana": ["org:minfin", "org-admin:minfin"], "bram": ["org:cbs", "role:ml"],
         "olga": ["org:minfin", "data-owner:minfin"]}
HUB = "hub"         # the caller with the portal's hub token (the hubs' routes only)


@pytest.fixture
def hubs() -> FakeHubs:
    return FakeHubs()


@pytest.fixture
def app(settings, hubs):
    return create_app(settings, catalogue_model=CATALOGUE, hub_factory=hubs.factory)


def _send(client, headers: dict[str, str], case) -> object:
    """The case as the test client's request (the session's cookie and CSRF token, or the hub's token, added)."""
    kwargs = case.as_transport_kwargs(base_url="http://127.0.0.1")
    url = re.sub(r"[\x00-\x20\x7f]", lambda m: f"%{ord(m.group()):02X}", kwargs["url"])   # httpx wants them encoded
    request = {"method": kwargs["method"], "url": url, "params": kwargs.get("params") or None,
               "headers": {**(kwargs.get("headers") or {}), **headers}}
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        request["content"] = data if isinstance(data, (bytes, str)) else None
        if request["content"] is None:
            request["data"] = data
    return client.request(**request, follow_redirects=False)


def launch_bodies() -> st.SearchStrategy[dict]:
    """Launch requests that name real bundles, sizes, interfaces and organisations (and sometimes none)."""
    sizes = sorted({size.id for bundle in CATALOGUE.bundles.values() for size in bundle.sizes})
    maybe = lambda values: st.one_of(st.none(), st.sampled_from(values), st.text(max_size=8))  # noqa: E731
    return st.fixed_dictionaries({"bundle": st.sampled_from(sorted(CATALOGUE.bundles))}, optional={
        "size": maybe(sizes), "interface": maybe(["jupyterlab", "rstudio", "vscode"]),
        "organisation": maybe(["minfin", "cbs"])})


def access_objects(app) -> dict[str, list]:
    """Datasets of minfin (data owner olga) and cbs; anna's request for minfin's, approved by olga (its grant), and
    requests of anna (for cbs's) and bram (for minfin's) awaiting a decision: ids for the real-object cases."""
    from gereedschapskist.portal.models import Dataset, DatasetCategory, SensitivityLevel
    from gereedschapskist.portal.services import access

    today = date.today()
    form = {"purpose": "Fuzzing the access API", "purpose_code": "statistics", "legal_ground": "avg-6-1-e-cbs-wet",
            "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=9)).isoformat()}
    with app.state.portal.sessions() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        datasets = {}
        for slug in ("minfin", "cbs"):
            datasets[slug] = Dataset(
                identifier=f"fuzz-{slug}", title_nl=f"Fuzz {slug}", description_nl="", category=DatasetCategory.OTHER,
                organisation=session.scalar(select(Organisation).where(Organisation.slug == slug)),
                data_owner=users["olga"] if slug == "minfin" else None, sensitivity=SensitivityLevel.INTERNAL,
                keywords=[], auto_approval=True)
            session.add(datasets[slug])
        session.flush()
        approved = access.request_access(session, dataset=datasets["minfin"], actor=users["anna"],
                                         data={**form, "role": "bi"})
        access.decide(session, access_request=approved, actor=users["olga"], approve=True)
        waiting = [access.request_access(session, dataset=datasets["cbs"], actor=users["anna"],
                                         data={**form, "role": "bi"}),
                   access.request_access(session, dataset=datasets["minfin"], actor=users["bram"],
                                         data={**form, "role": "ml"})]
        session.commit()
        return {"dataset_id": [d.id for d in datasets.values()],
                "request_id": [approved.id] + [r.id for r in waiting],
                "grant_id": [approved.grant.id], "username": ["anna", "bram"]}


def test_fuzz_the_json_api(app, client, second_client, login, hubs, database, capsys):
    from fastapi.testclient import TestClient

    sessions = {}
    others = [TestClient(app, base_url="http://127.0.0.1") for _ in range(len(USERS) - 2)]
    for (username, groups), on in zip(USERS.items(), (client, second_client, *others)):
        sessions[username] = (on, {"X-CSRF-Token": login(username, groups, on=on).csrf})
    hub = (TestClient(app, base_url="http://127.0.0.1"),
           {"Authorization": f"token {app.state.portal.settings.hub_api_token.get_secret_value()}"})

    # real objects to aim at: a launched workspace of each data scientist, one of them stopped
    launched = {}
    for username, bundle_role in (("anna", "bi"), ("bram", "ml"), ("anna", "bi")):
        on, headers = sessions[username]
        response = on.post("/api/v1/workspaces", json={"bundle": CATALOGUE.offered_for([bundle_role])[0].id},
                           headers=headers)
        assert response.status_code == 202, response.text
        launched.setdefault(username, []).append(response.json()["id"])
    on, headers = sessions["anna"]
    assert on.post(f"/api/v1/workspaces/{launched['anna'][1]}/stop", headers=headers).status_code == 200
    real = {"workspace_id": [i for ids in launched.values() for i in ids], "slug": ["minfin", "cbs"],
            "bundle_id": sorted(CATALOGUE.bundles)[:8], **access_objects(app)}

    document = client.get("/api/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    statuses: Counter[tuple[str, int]] = Counter()
    server_errors: list[str] = []
    unsatisfiable: list[str] = []
    started = time.monotonic()

    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
        if operation.path_parameters or operation.query or operation.body:
            strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        names = [p.name for p in operation.path_parameters]
        if names and all(name in real for name in names):
            strategies.append(st.one_of([operation.as_strategy(path_parameters={name: value})
                                         for name in names for value in real[name]]))
        texts = [p["name"] for p in document["paths"][operation.path][operation.method.lower()].get("parameters", [])
                 if p["in"] == "path" and p.get("schema", {}).get("type") == "string"]
        if texts:       # any text at all, control characters included (schemathesis keeps to printable ones)
            strategies.append(st.builds(lambda values: operation.Case(path_parameters=values), st.fixed_dictionaries(
                {name: st.one_of(st.text(min_size=1, max_size=12), st.sampled_from(ODD_TEXTS)) for name in texts})))
        if operation.method.upper() == "POST" and operation.path == "/api/v1/workspaces":
            strategies.append(st.builds(lambda body: operation.Case(body=body, media_type="application/json"),
                                        launch_bodies()))
        callers = sorted(sessions) + ([HUB] if operation.path.startswith("/api/v1/hub/") else [])
        for strategy in strategies:
            @seed(SEEDS[database.dialect])
            @settings(max_examples=EXAMPLES, database=None, deadline=None, print_blob=False,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=strategy, who=st.sampled_from(callers))
            def run(case, who):
                on, headers = hub if who == HUB else sessions[who]
                try:
                    response = _send(on, headers, case)
                except Exception as exc:  # noqa: BLE001 - an unhandled error is the finding
                    server_errors.append(f"{label} as {who}: raised {exc!r}\n    {case.as_curl_command()}")
                    statuses[(label, 500)] += 1
                    return
                statuses[(label, response.status_code)] += 1
                if response.status_code >= 500:
                    server_errors.append(f"{label} as {who}: {response.status_code} {response.text[:200]}\n"
                                         f"    {case.as_curl_command()}")

            try:
                run()
            except Unsatisfiable:      # e.g. no invalid value exists for a lone enum-free string parameter
                unsatisfiable.append(label)

    elapsed = time.monotonic() - started
    total = sum(statuses.values())
    launches = sum(n for (label, status), n in statuses.items() if label == "POST /api/v1/workspaces" and status == 202)
    stops = sum(n for (label, status), n in statuses.items()
                if label == "POST /api/v1/workspaces/{workspace_id}/stop" and status == 200)
    with capsys.disabled():
        print(f"\nschemathesis {schemathesis.__version__}: {total} cases against the JSON API in {elapsed:.1f} s "
              f"({EXAMPLES} examples per operation and kind, seed {SEEDS[database.dialect]}), "
              f"{len(server_errors)} server errors; {launches} launches and {stops} stops accepted")
        if unsatisfiable:
            print(f"  no negative cases possible for: {', '.join(sorted(set(unsatisfiable)))}")
        for (label, status), count in sorted(statuses.items()):
            print(f"  {label:48} {status}: {count}")

    assert not server_errors, f"{len(server_errors)} server errors:\n" + "\n".join(server_errors[:20])
    assert total >= MINIMUM_CASES, f"only {total} cases generated"
    check_database(app, hubs, workspaces=len(real["workspace_id"]) + launches, stops=1 + stops)


def check_database(app, hubs: FakeHubs, *, workspaces: int, stops: int) -> None:
    """The database after the run: consistent, and in step with what the API said it did."""
    with app.state.portal.sessions() as session:
        def count(statement) -> int:
            return session.scalar(select(func.count()).select_from(statement.subquery()))

        # no orphans (SQLite does not enforce every foreign key, so look)
        assert count(select(Workspace.id).where(~Workspace.user_id.in_(select(User.id)))) == 0
        assert count(select(Workspace.id).where(~Workspace.organisation_id.in_(select(Organisation.id)))) == 0
        assert count(select(Workspace.id).where(~Workspace.environment_id.in_(select(Environment.id)))) == 0
        assert count(select(RegisterEntry.id).where(RegisterEntry.workspace_id.is_not(None),
                                                    ~RegisterEntry.workspace_id.in_(select(Workspace.id)))) == 0
        assert count(select(RegisterEntry.id).where(RegisterEntry.actor_id.is_not(None),
                                                    ~RegisterEntry.actor_id.in_(select(User.id)))) == 0
        assert count(select(Member.id).where(~Member.user_id.in_(select(User.id)))) == 0

        # every accepted launch made exactly one workspace, with exactly one launch entry for its organisation
        all_workspaces = session.scalars(select(Workspace)).all()
        assert len(all_workspaces) == workspaces
        for workspace in all_workspaces:
            entries = session.scalars(select(RegisterEntry).where(RegisterEntry.workspace_id == workspace.id)).all()
            actions = Counter(e.action for e in entries)
            assert actions[RegisterAction.WORKSPACE_LAUNCHED] == 1, (workspace.id, actions)
            assert {e.organisation_id for e in entries} == {workspace.organisation_id}
            launch = next(e for e in entries if e.action is RegisterAction.WORKSPACE_LAUNCHED)
            assert launch.actor_id == workspace.user_id
            # only in an organisation its owner is an active member of
            assert session.scalar(select(Member).where(
                Member.user_id == workspace.user_id, Member.organisation_id == workspace.organisation_id,
                Member.status == MemberStatus.ACTIVE)) is not None, workspace.id
            # each restart follows a stop (the lifecycle: stop, restart, stop, …, then perhaps delete)
            restarts = actions[RegisterAction.WORKSPACE_RESTARTED]
            if workspace.status is WorkspaceStatus.STOPPED:
                assert workspace.stopped_at is not None and workspace.url is None
                assert actions[RegisterAction.WORKSPACE_STOPPED] == restarts + 1, (workspace.id, actions)
            if workspace.status is WorkspaceStatus.RUNNING:
                assert workspace.url and actions[RegisterAction.WORKSPACE_STOPPED] == restarts, (workspace.id, actions)
            if workspace.status is WorkspaceStatus.DELETED:
                assert workspace.url is None and actions[RegisterAction.WORKSPACE_DELETED] == 1, (workspace.id, actions)
        assert count(select(RegisterEntry.id).where(RegisterEntry.action == RegisterAction.WORKSPACE_STOPPED)) == stops

        # access to data: a grant only for an approved request, of its dataset and requester; every request, grant
        # and revocation in the register once
        from gereedschapskist.portal.models import AccessRequest, AccessRequestState, DatasetGrant

        def entries(action: RegisterAction, key: str) -> Counter:
            return Counter(e.details.get(key) for e in session.scalars(
                select(RegisterEntry).where(RegisterEntry.action == action)))
        requested = entries(RegisterAction.ACCESS_REQUESTED, "access_request")
        granted = entries(RegisterAction.ACCESS_GRANTED, "grant")
        revoked = entries(RegisterAction.ACCESS_REVOKED, "grant")
        for row in session.scalars(select(AccessRequest)):
            assert requested[row.id] == 1, (row.id, requested[row.id])
            if row.grant is not None:
                assert row.state is AccessRequestState.APPROVED, row.id
        for grant in session.scalars(select(DatasetGrant)):
            row = grant.access_request
            assert (grant.dataset_id, grant.user_id) == (row.dataset_id, row.requester_id), grant.id
            assert granted[grant.id] == 1 and revoked[grant.id] == (grant.revoked_at is not None), grant.id

        # the database and the hub agree on what runs
        active = {(w.user.username, w.server_name) for w in all_workspaces if w.status in ACTIVE_STATUSES}
        assert active == hubs.running()
