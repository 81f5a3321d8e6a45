"""Datasets and access requests (issue 15, the foundation): importing DCAT-AP and CKAN metadata (a file, a URL on a
small local HTTP server, malformed records, an unknown organisation), and the access rules: refusals that name the
field and store nothing, decisions by the dataset's data owner only and never on one's own request, automatic
approval on an earlier approval of the same organisation (named in the decision and the register), and no grant for
someone who left. SQLite; PostgreSQL when the test URL is set."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gereedschapskist.dev.datasets import SOURCES, generate
from gereedschapskist.portal.datasets_cli import app as datasets_cli
from gereedschapskist.portal.errors import Conflict, Forbidden
from gereedschapskist.portal.models import (
    AccessRequest, AccessRequestState, Dataset, DatasetGrant, MembershipEnd, RegisterEntry,
)
from gereedschapskist.portal.services import access
from gereedschapskist.portal.services.access import AccessRefused
from gereedschapskist.portal.services.dataset_import import import_source
from tests.portal.support import make_user
from tests.portal.test_contracts_service import org, user

TODAY = date.today()


@pytest.fixture
def sessions(app, client):
    sessions = app.state.portal.sessions
    for name, groups in (("anna", ["org:minfin", "role:bi"]), ("bram", ["org:cbs", "role:ml"]),
                         ("eva", ["org:cbs", "data-owner:cbs", "role:bi"]), ("carl", ["org:cbs", "role:bi"]),
                         ("dirk", ["org:cbs", "data-owner:cbs"]), ("olga", ["org:minfin", "data-owner:minfin"])):
        make_user(sessions, username=name, groups=groups)
    with sessions() as session:
        for source in SOURCES:
            summary = import_source(session, source=str(source))
            assert summary.problems == [], summary.problems
        session.commit()
    return sessions


def _ask(session, who: str, identifier: str, **changes):
    dataset = session.scalar(select(Dataset).where(Dataset.identifier == identifier))
    data = {"role": "bi" if who != "bram" else "ml", "purpose": "Onderzoek naar woningwaarde per gemeente",
            "purpose_code": "policy-evaluation", "legal_ground": "avg-6-1-e-cw2016",
            "starts_on": TODAY.isoformat(), "ends_on": (TODAY + timedelta(days=29)).isoformat(), **changes}
    return access.request_access(session, dataset=dataset, actor=user(session, who), data=data)


def test_the_sample_imports_once_and_a_reimport_updates(app, sessions, tmp_path):
    with sessions() as session:
        rows = {d.identifier: d for d in session.scalars(select(Dataset))}
        assert set(rows) == {"cbs-83625NED", "cbs-microdata-inkomen-personen", "kadaster-bag-verblijfsobjecten",
                             "knmi-daggegevens", "rdw-gekentekende-voertuigen"}
        woz = rows["cbs-83625NED"]
        assert (woz.organisation.slug, woz.data_owner.username, woz.category.value, woz.sensitivity.value,
                woz.title_en) == ("cbs", "eva", "location", "public", "Average WOZ value of dwellings; municipalities")
        assert rows["rdw-gekentekende-voertuigen"].organisation.slug == "minfin"
        woz.auto_approval = False                                     # a local setting survives a re-import
        session.commit()
        summary = import_source(session, source=str(SOURCES[0]))
        session.commit()
        assert (summary.created, summary.updated, summary.skipped) == (0, 4, 0)
        assert session.scalar(select(func.count()).select_from(Dataset)) == 5
        assert session.scalar(select(Dataset.auto_approval).where(Dataset.identifier == "cbs-83625NED")) is False
    files = generate(tmp_path / "a")
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in generate(tmp_path / "b")]
    assert all(len(f.read_text().splitlines()) == 301 for f in files)


def test_malformed_records_are_reported_by_position_and_skipped(app, sessions, tmp_path):
    document = json.loads(SOURCES[0].read_text())
    good = document["dcat:dataset"][0]
    document["dcat:dataset"] = [
        {**good, "dct:title": [{"@language": "nl", "@value": "Nieuwe titel"}]},                  # 1: an update
        {**good, "dct:identifier": ""},                                                          # 2
        {**good, "dct:identifier": "x-1", "dct:title": []},                                      # 3
        {**good, "dct:identifier": "x-2", "gk:category": "weather"},                             # 4
        {**good, "dct:identifier": "x-3", "dct:publisher": {"skos:notation": "nowhere"}},        # 5: fail closed
        "not an object",                                                                         # 6
        {**good, "dct:identifier": "x-4", "dct:publisher": None, "dcat:contactPoint": None},  # 7
    ]
    source = tmp_path / "broken.jsonld"
    source.write_text(json.dumps(document))
    with sessions() as session:
        summary = import_source(session, source=str(source), organisation="minfin")
        session.commit()
        assert [(p.position, p.field) for p in summary.problems] == [
            (2, "dct:identifier"), (3, "dct:title"), (4, "gk:category"), (5, "organisation"), (6, "@type")]
        assert "'nowhere'" in str(summary.problems[3]) and "record 5 (organisation)" in str(summary.problems[3])
        assert (summary.created, summary.updated, summary.skipped) == (1, 1, 5)
        assert session.scalar(select(Dataset.title_nl).where(Dataset.identifier == "cbs-83625NED")) == "Nieuwe titel"
        assert session.scalar(select(func.count()).select_from(Dataset)) == 6            # nothing lost
        assert org(session, "minfin").id == session.scalar(select(Dataset.organisation_id).where(
            Dataset.identifier == "x-4"))


def test_the_cli_reads_a_url_and_refuses_an_unknown_organisation(app, sessions, settings, tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SOURCES[1].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runner = CliRunner()
        url = f"http://127.0.0.1:{server.server_port}/ckan.json"
        result = runner.invoke(datasets_cli, ["import", url, "--database-url", settings.resolved_database_url])
        assert result.exit_code == 0, result.output
        assert "0 created, 1 updated, 0 skipped" in result.output
        document = json.loads(SOURCES[1].read_text())
        document["result"]["results"][0] |= {"name": "rdw-other", "organization": {"name": "rijkswaterstaat"}}
        (tmp_path / "other.json").write_text(json.dumps(document))
        result = runner.invoke(datasets_cli, ["import", str(tmp_path / "other.json"), "--database-url",
                                              settings.resolved_database_url])
        assert result.exit_code == 1 and "record 1 (organisation): 'rijkswaterstaat'" in result.output
        result = runner.invoke(datasets_cli, ["import", f"http://127.0.0.1:{server.server_port}/missing.json",
                                              "--database-url", settings.resolved_database_url])
        assert result.exit_code == 1 and "404" in result.output
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("changes, field, reason", [
    ({"starts_on": (TODAY - timedelta(days=1)).isoformat()}, "starts_on", "start-in-past"),
    ({"starts_on": (TODAY + timedelta(days=60)).isoformat(),
      "ends_on": (TODAY + timedelta(days=70)).isoformat()}, "starts_on", "start-too-far"),
    ({"ends_on": (TODAY + timedelta(days=90)).isoformat()}, "ends_on", "period-too-long"),   # confidential: 90 days
    ({"ends_on": "31-01-2027"}, "ends_on", "invalid-date"),
    ({"legal_ground": ""}, "legal_ground", "legal-ground-required"),
    ({"legal_ground": "because"}, "legal_ground", "unknown-legal-ground"),
    ({"purpose_code": "curiosity"}, "purpose_code", "unknown-purpose-code"),
    ({"purpose": "data"}, "purpose", "purpose-required"),
    ({"role": "ml"}, "role", "not-your-role"),
])
def test_bad_requests_name_the_field_and_store_nothing(app, sessions, changes, field, reason):
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(RegisterEntry))
        with pytest.raises(AccessRefused) as refused:
            _ask(session, "anna", "cbs-microdata-inkomen-personen", **changes)
        assert (refused.value.field, refused.value.reason) == (field, reason)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(AccessRequest)) == 0
        assert session.scalar(select(func.count()).select_from(RegisterEntry)) == before


def test_the_data_owner_decides_then_the_same_purpose_is_approved_automatically(app, sessions):
    with sessions() as session:
        first = _ask(session, "anna", "cbs-83625NED")
        assert first.state is AccessRequestState.REQUESTED
        with pytest.raises(Forbidden, match="data owner"):       # a data owner of another organisation
            access.decide(session, access_request=first, actor=user(session, "olga"), approve=True)
        with pytest.raises(Forbidden, match="data owner"):       # cbs's other data owner: eva owns this one
            access.decide(session, access_request=first, actor=user(session, "dirk"), approve=True)
        with pytest.raises(AccessRefused) as refused:
            access.decide(session, access_request=first, actor=user(session, "eva"), approve=False, reason="")
        assert refused.value.field == "reason"
        access.decide(session, access_request=first, actor=user(session, "eva"), approve=True, reason="past ok")
        session.commit()
        grant = session.scalar(select(DatasetGrant).where(DatasetGrant.access_request_id == first.id))
        assert grant.expires_at.date() == TODAY + timedelta(days=30) and grant.active(grant.starts_at)
        assert [g.id for g in access.active_grants(session, user=user(session, "anna"))] == [grant.id]

        second = _ask(session, "anna", "cbs-83625NED", purpose="Vervolgonderzoek woningwaarde")
        session.commit()
        assert (second.state, second.automatic, second.relied_on_id) == (AccessRequestState.APPROVED, True, first.id)
        approved = session.scalars(select(RegisterEntry).where(RegisterEntry.action == "access-approved")
                                   .order_by(RegisterEntry.sequence)).all()
        assert [(e.details["relied_on"], e.details["automatic"], e.actor_id) for e in approved] == [
            (None, False, user(session, "eva").id), (first.id, True, None)]
        assert {e.details["legal_ground"] for e in approved} == {"avg-6-1-e-cw2016"}

        other_ground = _ask(session, "anna", "cbs-83625NED", legal_ground="avg-89-uavg-24")
        other_org = _ask(session, "bram", "cbs-83625NED")          # cbs never relies on minfin's approval
        assert other_ground.state is other_org.state is AccessRequestState.REQUESTED
        session.commit()


def test_automatic_approval_off_and_a_revoked_grant_leave_it_to_the_data_owner(app, sessions):
    with sessions() as session:
        first = _ask(session, "anna", "knmi-daggegevens")
        access.decide(session, access_request=first, actor=user(session, "olga"), approve=True)
        dataset = first.dataset
        with pytest.raises(Forbidden):
            access.set_auto_approval(session, dataset=dataset, actor=user(session, "anna"), enabled=False)
        access.set_auto_approval(session, dataset=dataset, actor=user(session, "olga"), enabled=False)
        waiting = _ask(session, "anna", "knmi-daggegevens")
        assert waiting.state is AccessRequestState.REQUESTED
        access.decide(session, access_request=waiting, actor=user(session, "olga"), approve=False, reason="ask later")
        access.set_auto_approval(session, dataset=dataset, actor=user(session, "olga"), enabled=True)
        first.grant.revoked_at = first.grant.created_at
        session.flush()
        assert _ask(session, "anna", "knmi-daggegevens").state is AccessRequestState.REQUESTED
        session.commit()


def test_no_decision_on_ones_own_request_nor_for_someone_who_left(app, sessions):
    with sessions() as session:
        own = _ask(session, "eva", "kadaster-bag-verblijfsobjecten")
        with pytest.raises(Forbidden) as refused:
            access.decide(session, access_request=own, actor=user(session, "eva"), approve=True)
        assert refused.value.reason == "access-request-own"
        leaving = _ask(session, "carl", "kadaster-bag-verblijfsobjecten")
        with pytest.raises(Conflict):
            _ask(session, "carl", "kadaster-bag-verblijfsobjecten")              # one open request at a time
        carl = user(session, "carl")
        member = carl.membership(org(session, "cbs").id)
        member.status, member.until = member.status.__class__("former"), member.since
        session.add(MembershipEnd(user=carl, organisation=org(session, "cbs"), ended_by=user(session, "dirk")))
        session.flush()
        session.expire_all()
        leaving = session.get(AccessRequest, leaving.id)
        with pytest.raises(Conflict) as refused:
            access.decide(session, access_request=leaving, actor=user(session, "dirk"), approve=True)
        assert refused.value.reason == "requester-left"
        assert session.scalar(select(func.count()).select_from(DatasetGrant)) == 0


def test_the_pages_search_request_and_decide_in_dutch_and_english(app, sessions, client, login, second_client):
    anna = login("anna", ["org:minfin", "role:bi"])
    page = client.get("/datasets", params={"q": "woz"})
    assert page.status_code == 200 and 'data-dataset="cbs-83625NED"' in page.text
    assert 'data-dataset="knmi-daggegevens"' not in page.text
    page = client.get("/datasets", params={"category": "sensor", "organisation": "minfin"})
    assert 'data-dataset="knmi-daggegevens"' in page.text and 'data-dataset="cbs-83625NED"' not in page.text
    client.get("/language/en")
    page = client.get("/datasets", params={"q": "weather"})
    assert "KNMI daily weather data" in page.text and "Search in title and description" in page.text
    client.get("/language/nl")
    with sessions() as session:
        woz = session.scalar(select(Dataset.id).where(Dataset.identifier == "cbs-83625NED"))
    page = client.get(f"/datasets/{woz}")
    assert page.status_code == 200 and 'id="access-request-form"' in page.text and "Grondslag" in page.text
    form = {"role": "bi", "purpose": "Onderzoek naar woningwaarde", "purpose_code": "policy-evaluation",
            "legal_ground": "", "starts_on": TODAY.isoformat(), "ends_on": (TODAY + timedelta(days=10)).isoformat()}
    refused = anna.post_form(f"/datasets/{woz}/requests", form)
    assert refused.status_code == 422 and 'id="legal_ground" name="legal_ground" aria-invalid="true"' in refused.text
    assert "Onderzoek naar woningwaarde" in refused.text                         # what was entered comes back
    done = anna.post_form(f"/datasets/{woz}/requests", form | {"legal_ground": "avg-6-1-e-cw2016"})
    assert done.status_code == 303 and done.headers["location"] == "/access-requests?done=requested"
    eva = login("eva", ["org:cbs", "data-owner:cbs", "role:bi"], on=second_client)
    queue = second_client.get("/access-requests")
    with sessions() as session:
        first = session.scalar(select(AccessRequest.id))
    assert f'id="decide-{first}"' in queue.text
    assert eva.post_form(f"/access-requests/{first}/approve", {"reason": ""}).status_code == 303
    again = anna.post_form(f"/datasets/{woz}/requests", form | {"legal_ground": "avg-6-1-e-cw2016"})
    assert again.headers["location"] == "/access-requests?done=approved"
    mine = client.get("/access-requests")
    assert f"automatisch, op goedkeuring {first}" in mine.text
    listed = anna.client.get("/api/v1/access-requests").json()
    assert [(r["state"], r["automatic"], r["relied_on"]) for r in listed] == [
        ("approved", True, first), ("approved", False, None)]
    assert listed[0]["grant_expires_at"] is not None
    found = client.get("/api/v1/datasets", params={"q": "BAG"}).json()
    assert [d["identifier"] for d in found] == ["kadaster-bag-verblijfsobjecten"]
    assert found[0]["max_grant_days"] == 365 and found[0]["organisation"] == "cbs"
    bad = anna.post_json("/api/v1/access-requests", {"dataset": woz, **form, "legal_ground": "avg-6-1-e-cw2016",
                                                     "ends_on": (TODAY + timedelta(days=400)).isoformat()})
    assert bad.status_code == 422 and "ends_on" in bad.text and "365 days" in bad.text
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/v1/datasets", "/api/v1/datasets/{dataset_id}", "/api/v1/access-requests"} <= set(paths)


def test_an_organisation_the_portal_serves_is_made_others_are_refused(app, sessions, tmp_path):
    from gereedschapskist.portal.services.dataset_import import parse, store

    document = json.loads(SOURCES[1].read_text())
    records, _ = parse(document)
    records[0].organisation, records[0].data_owner = "rijkswaterstaat", None
    with sessions() as session:
        refused = store(session, records=records)
        assert [str(p) for p in refused.problems] == [
            "record 1 (organisation): 'rijkswaterstaat': no such organisation in the portal (give --organisation, "
            "or add it first)"]
        made = store(session, records=records, accepted=frozenset({"rijkswaterstaat"}))
        session.commit()
        assert (made.updated, made.skipped) == (1, 0) and org(session, "rijkswaterstaat") is not None
