"""The processing register per dataset and per person (issue 15): access entries name their dataset and person;
who sees what through the JSON API (a member their own entries, a data owner their datasets', an organisation admin
their organisation's, a platform admin everything; selections without a ground refused, never empty); the export as
CSV and JSON through the API and the CLI, streamed in chain order with who, which dataset, how, when, purpose and
legal ground, sequence and hashes, and itself written to the register first. SQLite; PostgreSQL when the test URL
is set."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gereedschapskist.cli import build_app
from gereedschapskist.portal.models import (
    Dataset, DatasetCategory, Organisation, RegisterAction, RegisterEntry, SensitivityLevel, User,
)
from gereedschapskist.portal.services import access, register_export
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.support import make_user

TODAY = date.today()
PEOPLE = {"anna": ["org:minfin", "role:bi"], "dana": ["org:minfin", "org-admin:minfin"],
          "olga": ["org:minfin", "data-owner:minfin"], "femke": ["gereedschapskist:admins"],
          "bram": ["org:cbs", "role:ml"], "eva": ["org:cbs", "data-owner:cbs", "role:bi"]}


def _user(session, name: str) -> User:
    return session.scalar(select(User).where(User.username == name))


@pytest.fixture
def world(app, client):
    """minfin's dataset (data owner olga) asked for by anna and approved by olga; cbs's dataset (no named data owner)
    asked for by bram, still open. Returns the two datasets' ids."""
    sessions = app.state.portal.sessions
    for name, groups in PEOPLE.items():
        make_user(sessions, username=name, groups=groups)
    with sessions() as session:
        ids = {}
        for slug, owner in (("minfin", "olga"), ("cbs", None)):
            row = Dataset(identifier=f"{slug}-data", title_nl=f"Data van {slug}", description_nl="",
                          organisation=session.scalar(select(Organisation).where(Organisation.slug == slug)),
                          data_owner=_user(session, owner) if owner else None, category=DatasetCategory.PERSON,
                          sensitivity=SensitivityLevel.INTERNAL, keywords=[], auto_approval=True)
            session.add(row)
            session.flush()
            ids[slug] = row.id
        form = {"purpose": "Onderzoek naar regionale verschillen", "purpose_code": "statistics",
                "legal_ground": "avg-6-1-e-cbs-wet", "starts_on": TODAY.isoformat(),
                "ends_on": (TODAY + timedelta(days=9)).isoformat()}
        asked = access.request_access(session, dataset=session.get(Dataset, ids["minfin"]),
                                      actor=_user(session, "anna"), data={**form, "role": "bi"})
        access.decide(session, access_request=asked, actor=_user(session, "olga"), approve=True)
        access.request_access(session, dataset=session.get(Dataset, ids["cbs"]), actor=_user(session, "bram"),
                              data={**form, "role": "ml"})
        session.commit()
    return ids


def _as(client, login, name: str):
    login(name, PEOPLE[name])
    return client


def _entries(client, **params) -> list[dict]:
    response = client.get("/api/v1/register", params=params)
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def test_access_entries_name_their_dataset_and_person_with_digest_version_2(app, world):
    with app.state.portal.sessions() as session:
        anna, bram = _user(session, "anna").id, _user(session, "bram").id
        rows = session.execute(select(RegisterEntry.action, RegisterEntry.dataset_id, RegisterEntry.person_id,
                                      RegisterEntry.actor_id, RegisterEntry.digest_version)
                               .order_by(RegisterEntry.sequence)).all()
        olga = _user(session, "olga").id
        assert verify_chain(session).ok
    assert [tuple(r) for r in rows] == [
        (RegisterAction.ACCESS_REQUESTED, world["minfin"], anna, anna, 2),
        (RegisterAction.ACCESS_APPROVED, world["minfin"], anna, olga, 2),
        (RegisterAction.ACCESS_GRANTED, world["minfin"], anna, olga, 2),
        (RegisterAction.ACCESS_REQUESTED, world["cbs"], bram, bram, 2)]


def test_who_sees_what(client, login, world):
    seen = {}
    for name in ("anna", "olga", "dana", "femke", "bram", "eva"):
        _as(client, login, name)
        seen[name] = [(e["sequence"], e["person"], e["dataset"]) for e in _entries(client)]
    minfin = [(3, "anna", "minfin-data"), (2, "anna", "minfin-data"), (1, "anna", "minfin-data")]
    assert seen["anna"] == minfin                          # her own, newest first
    assert seen["olga"] == minfin                          # her dataset's (she decided)
    assert seen["dana"] == minfin                          # her organisation's
    assert seen["femke"] == [(4, "bram", "cbs-data")] + minfin
    assert seen["bram"] == [(4, "bram", "cbs-data")]
    assert seen["eva"] == [(4, "bram", "cbs-data")]        # a data owner of cbs: its dataset names no data owner


def test_selections_within_what_one_sees_and_refusals_that_name_the_field(client, login, world):
    _as(client, login, "dana")
    assert [e["sequence"] for e in _entries(client, organisation="minfin")] == [3, 2, 1]
    assert [e["sequence"] for e in _entries(client, person="anna")] == [3, 2, 1]
    _as(client, login, "olga")
    assert [e["sequence"] for e in _entries(client, dataset=str(world["minfin"]))] == [3, 2, 1]
    assert [e["sequence"] for e in _entries(client, dataset="minfin-data")] == [3, 2, 1]
    assert [e["sequence"] for e in _entries(client, person="anna")] == [3, 2, 1]
    _as(client, login, "femke")
    assert [e["sequence"] for e in _entries(client, person="bram")] == [4]
    assert [e["sequence"] for e in _entries(client, organisation="cbs")] == [4]
    refusals = [("anna", {"organisation": "minfin"}, 403, "not-organisation-admin"),
                ("anna", {"person": "bram"}, 403, "not-your-entries"),
                ("dana", {"person": "bram"}, 403, "not-your-entries"),
                ("dana", {"organisation": "cbs"}, 403, "not-organisation-admin"),
                ("olga", {"dataset": "cbs-data"}, 403, "not-data-owner"),
                ("dana", {"dataset": "minfin-data"}, 403, "not-data-owner"),
                ("anna", {"dataset": "nothing-like-it"}, 404, "unknown-dataset"),
                ("anna", {"person": "nobody"}, 404, "unknown-user"),
                ("femke", {"organisation": "nowhere"}, 404, "unknown-organisation"),
                ("femke", {"organisation": "minfin", "person": "anna"}, 422, None)]
    for name, params, status, reason in refusals:
        _as(client, login, name)
        for path in ("/api/v1/register", "/api/v1/register/export"):
            response = client.get(path, params=params)
            assert response.status_code == status, (name, params, path, response.text)
            if reason:
                assert response.json()["reason"] == reason, (name, params, response.text)
    with app_sessions(client)() as session:               # a refused export writes nothing
        assert session.scalar(select(RegisterEntry.sequence).order_by(RegisterEntry.sequence.desc()).limit(1)) == 4


def app_sessions(client):
    return client.app.state.portal.sessions


def test_export_json_and_csv_through_the_api(client, login, world):
    _as(client, login, "olga")
    response = client.get("/api/v1/register/export", params={"dataset": "minfin-data", "format": "json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-register-entries"] == "3" and response.headers["x-register-upto"] == "4"
    assert 'filename="register-dataset-minfin-data-' in response.headers["content-disposition"]
    entries = response.json()
    assert [e["sequence"] for e in entries] == [1, 2, 3]   # chain order
    first = entries[0]
    assert set(first) == set(register_export.COLUMNS)
    assert (first["action"], first["actor"], first["person"], first["organisation"], first["dataset"],
            first["purpose"], first["purpose_code"], first["legal_ground"], first["digest_version"]) == (
        "access-requested", "anna", "anna", "minfin", "minfin-data", "Onderzoek naar regionale verschillen",
        "statistics", "avg-6-1-e-cbs-wet", 2)
    assert entries[1]["previous_hash"] == first["entry_hash"]
    with app_sessions(client)() as session:                # the export is in the register, for olga and the dataset
        export = session.scalar(select(RegisterEntry).where(RegisterEntry.action == RegisterAction.REGISTER_EXPORTED))
        assert (export.sequence, export.actor_id, export.dataset_id, export.details["entries"],
                export.details["format"], export.details["selection"]) == (
            5, _user(session, "olga").id, world["minfin"], 3, "json",
            {"kind": "dataset", "value": "minfin-data", "dataset_id": world["minfin"]})
        assert verify_chain(session).entries == 5
    _as(client, login, "anna")                   # her own entries (olga's export names the dataset, not her)
    response = client.get("/api/v1/register/export", params={"format": "csv"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(register_export.COLUMNS)
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert rows[1][rows[0].index("legal_ground")] == "avg-6-1-e-cbs-wet"
    assert client.get("/api/v1/register/export", params={"format": "xml"}).status_code == 422


def test_the_export_streams_in_batches_in_chain_order(app, world):
    sessions = app.state.portal.sessions
    with sessions() as session:
        chosen = register_export.selection(session, user=None)
    chunks = list(register_export.stream(sessions, chosen=chosen, upto=4, fmt="json", batch=2))
    assert len(chunks) >= 2
    assert [e["sequence"] for e in json.loads("".join(chunks))] == [1, 2, 3, 4]
    chunks = list(register_export.stream(sessions, chosen=chosen, upto=3, fmt="csv", batch=2))
    assert len(chunks) == 2 and "".join(chunks).count("\n") == 4          # header + 3 entries, up to sequence 3


def test_register_export_cli(app, settings, world, tmp_path):
    url = settings.resolved_database_url
    out = tmp_path / "minfin.csv"
    result = CliRunner().invoke(build_app(), ["register", "export", "--organisation", "minfin", "--format", "csv",
                                              "--output", str(out), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "3 entries of organisation minfin up to sequence 4" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["sequence"], r["action"], r["person"]) for r in rows] == [
        ("1", "access-requested", "anna"), ("2", "access-approved", "anna"), ("3", "access-granted", "anna")]
    result = CliRunner().invoke(build_app(), ["register", "export", "--person", "bram", "--format", "json",
                                              "--database-url", url])
    assert result.exit_code == 0, result.output
    assert [e["sequence"] for e in json.loads(result.stdout)] == [4]
    for args, message in ((["--dataset", "nope"], "dataset = 'nope'"), (["--format", "xml"], "--format 'xml'"),
                          (["--person", "anna", "--dataset", "cbs-data"], "choose one of")):
        result = CliRunner().invoke(build_app(), ["register", "export", *args, "--database-url", url])
        assert result.exit_code == 2 and message in result.output, result.output
    with Session(app.state.portal.sessions.kw["bind"]) as session:
        exports = session.scalars(select(RegisterEntry).where(
            RegisterEntry.action == RegisterAction.REGISTER_EXPORTED).order_by(RegisterEntry.sequence)).all()
        assert [(e.actor_id, e.organisation_id is not None, e.details["via"]) for e in exports] == [
            (None, True, "cli"), (None, False, "cli")]
        assert verify_chain(session).ok


def test_the_register_page_shows_what_each_one_sees(client, login, world):
    _as(client, login, "anna")
    page = client.get("/register")
    assert page.status_code == 200
    assert 'data-scope="own"' in page.text and 'data-scope="datasets"' not in page.text
    assert [int(s) for s in _sequences(page.text)] == [3, 2, 1]
    assert "avg-6-1-e-cbs-wet" in page.text and "/api/v1/register/export?format=csv" in page.text
    _as(client, login, "olga")
    page = client.get("/register", params={"dataset": "minfin-data"})
    assert 'data-scope="datasets"' in page.text and _sequences(page.text) == ["3", "2", "1"]
    assert "/api/v1/register/export?dataset=minfin-data&amp;format=json" in page.text
    _as(client, login, "bram")
    refused = client.get("/register", params={"person": "anna"})
    assert refused.status_code == 403
    assert _sequences(client.get("/register").text) == ["4"]


def _sequences(html: str) -> list[str]:
    import re
    return re.findall(r'<tr data-sequence="(\d+)"', html)
