"""The register screen (``/admin/register``): browse with filters and pages, scoped to the caller's organisations,
the chain's verification status, and the CSV and JSON exports — streamed, scoped, and written to the register.

Runs in the authorisation matrix's world (real database, SQLite and PostgreSQL; workspaces on the in-memory
fake hub, since the hub plays no part here) with register entries written by the real register service.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, text

from gereedschapskist.portal.models import Organisation, RegisterAction, RegisterEntry, User
from gereedschapskist.portal.services.register import append, verify_chain
from tests.portal.test_authorisation_matrix import (  # noqa: F401 - fixtures: the matrix's world
    World, app, hubs, settings, world,
)
from tests.portal.test_register_chain import _tampering


def _entries(world: World, spec: list[tuple[str, str, RegisterAction, str]]) -> None:
    """(actor username, organisation slug, action, subject) per entry, in order."""
    with world.app.state.portal.sessions() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        orgs = {o.slug: o for o in session.scalars(select(Organisation))}
        for actor, org, action, subject in spec:
            append(session, action=action, subject=subject, actor_id=users[actor].id if actor else None,
                   organisation_id=orgs[org].id if org else None)
        session.commit()


def _world_entries(world: World) -> None:
    _entries(world, [("anna", "minfin", RegisterAction.WORKSPACE_LAUNCHED, "bundle a1"),
                     ("bram", "cbs", RegisterAction.WORKSPACE_LAUNCHED, "bundle b1"),
                     ("anna", "minfin", RegisterAction.WORKSPACE_STOPPED, "bundle a1 stopped"),
                     ("dana", "minfin", RegisterAction.WORKSPACE_STOPPED, "=cmd|' /C calc'!A0"),
                     ("bram", "cbs", RegisterAction.WORKSPACE_STOPPED, "bundle b1 stopped"),
                     (None, None, RegisterAction.WORKSPACE_FAILED, "no organisation")])


def _sequences(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'data-sequence="(\d+)"', html)]


def test_the_platform_admin_browses_everything_and_filters(world):
    _world_entries(world)
    femke = world.clients["platform-admin"]
    page = femke.get("/admin/register", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert _sequences(page.text) == [6, 5, 4, 3, 2, 1]                   # newest first, every organisation
    assert 'data-chain="intact"' in page.text and "6 entries, none changed" in page.text
    assert _sequences(femke.get("/admin/register?organisation=cbs").text) == [5, 2]
    assert _sequences(femke.get("/admin/register?actor=anna").text) == [3, 1]
    assert _sequences(femke.get("/admin/register?action=workspace-stopped&organisation=minfin").text) == [4, 3]
    today = datetime.now(timezone.utc).date()
    assert len(_sequences(femke.get(f"/admin/register?from={today}&to={today}").text)) == 6
    assert _sequences(femke.get(f"/admin/register?to={today - timedelta(days=1)}").text) == []


def test_the_organisation_admin_sees_only_their_organisation(world):
    _world_entries(world)
    dana = world.clients["organisation-admin"]
    page = dana.get("/admin/register", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert _sequences(page.text) == [4, 3, 1]
    assert "bundle b1" not in page.text and "no organisation" not in page.text
    assert _sequences(dana.get("/admin/register?actor=bram").text) == []        # a filter never widens the scope
    refused = dana.get("/admin/register?organisation=cbs", headers={"Accept-Language": "en"})
    assert refused.status_code == 403 and "you are not an admin of it" in refused.text
    # the nav of an organisation admin has no admin link (platform admins only); their organisation page links here
    assert 'href="/admin"' not in page.text.split("</header>")[0]


def test_bad_filters_are_refused_naming_field_and_value(world):
    femke = world.clients["platform-admin"]
    cases = {"action=workspace-exploded": ("action = 'workspace-exploded'", 422),
             "actor=nobody": ("actor = 'nobody'", 422),
             "from=2026-13-01": ("from = '2026-13-01'", 422),
             "from=2026-11-30&to=2026-11-01": ("from = '2026-11-30' is after to = '2026-11-01'", 422),
             "organisation=nowhere": ("organisation = 'nowhere'", 404),
             "page=0": ("page", 422)}
    for query, (message, status) in cases.items():
        response = femke.get(f"/admin/register?{query}", headers={"Accept-Language": "en"})
        assert response.status_code == status, (query, response.status_code)
        assert message in response.text.replace("&#39;", "'"), (query, response.text[:600])


def test_pages_of_fifty(world):
    _entries(world, [("anna", "minfin", RegisterAction.WORKSPACE_LAUNCHED, f"bundle {n}") for n in range(1, 121)])
    femke = world.clients["platform-admin"]
    first = femke.get("/admin/register?organisation=minfin", headers={"Accept-Language": "en"}).text
    assert _sequences(first) == list(range(120, 70, -1)) and "page 1 of 3" in first
    assert 'href="/admin/register?organisation=minfin&amp;page=2"' in first
    assert _sequences(femke.get("/admin/register?organisation=minfin&page=3").text) == list(range(20, 0, -1))
    assert _sequences(femke.get("/admin/register?page=9").text) == []


def _export(world: World, persona: str, **form) -> tuple:
    client = world.clients[persona]
    return client.post("/admin/register/export", data={"csrf_token": world.csrf[persona], **form})


def test_the_csv_export_is_streamed_scoped_and_recorded(world):
    _world_entries(world)
    response = _export(world, "organisation-admin", format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert re.match(r'attachment; filename="register-minfin-\d{8}T\d{6}Z\.csv"',
                    response.headers["content-disposition"])
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["sequence"]) for r in rows] == [1, 3, 4]                  # minfin only, oldest first
    assert {r["organisation"] for r in rows} == {"minfin"}
    assert rows[2]["subject"] == "'=cmd|' /C calc'!A0"                   # no formula for spreadsheet programs
    with world.app.state.portal.sessions() as session:
        export = session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence.desc())).first()
        assert export.action is RegisterAction.REGISTER_EXPORTED and export.sequence == 7
        dana = session.scalar(select(User).where(User.username == "dana"))
        assert export.actor_id == dana.id
        assert export.details["entries"] == 3 and export.details["format"] == "csv"
        assert export.details["filter"]["organisation"] == "minfin"
        assert verify_chain(session).ok
    # the export shows up in the register, for the organisation it was of
    page = world.clients["organisation-admin"].get("/admin/register?action=register-exported")
    assert _sequences(page.text) == [7]


def test_the_json_export_holds_the_filtered_entries_with_their_digests(world):
    _world_entries(world)
    response = _export(world, "platform-admin", format="json", action="workspace-stopped")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    entries = json.loads(response.text)
    assert [e["sequence"] for e in entries] == [3, 4, 5]
    assert response.headers["x-register-entries"] == "3"
    with world.app.state.portal.sessions() as session:
        stored = {e.sequence: e for e in session.scalars(select(RegisterEntry))}
        for entry in entries:
            assert entry["entry_hash"] == stored[entry["sequence"]].entry_hash
            assert entry["action"] == "workspace-stopped"
        export = stored[max(stored)]
        assert export.action is RegisterAction.REGISTER_EXPORTED and export.organisation_id is None
        assert export.details["filter"]["action"] == "workspace-stopped"


def test_an_export_is_refused_before_anything_is_recorded(world):
    _world_entries(world)
    cases = [("organisation-admin", {"format": "csv", "organisation": "cbs"}, 403),
             ("platform-admin", {"format": "xml"}, 422),
             ("platform-admin", {"format": "csv", "action": "nonsense"}, 422),
             ("data-scientist", {"format": "csv"}, 403)]
    for persona, form, status in cases:
        assert _export(world, persona, **form).status_code == status, (persona, form)
    no_token = world.clients["platform-admin"].post("/admin/register/export", data={"format": "csv"})
    assert no_token.status_code == 403
    with world.app.state.portal.sessions() as session:
        assert session.scalar(select(RegisterEntry.sequence).order_by(RegisterEntry.sequence.desc()).limit(1)) == 6


def test_a_broken_chain_is_shown(world, database):
    """The chain is walked again when its head moved, or after CHAIN_TTL_SECONDS (not waited for here)."""
    _world_entries(world)
    femke = world.clients["platform-admin"]
    assert 'data-chain="intact"' in femke.get("/admin/register").text
    with _tampering(database) as connection:
        connection.execute(text("UPDATE register_entry SET subject = 'nothing happened' WHERE sequence = 2"))
    assert 'data-chain="intact"' in femke.get("/admin/register").text         # the same head: remembered
    _entries(world, [("anna", "minfin", RegisterAction.WORKSPACE_LAUNCHED, "bundle a2")])
    page = femke.get("/admin/register", headers={"Accept-Language": "nl"})
    assert 'data-chain="broken"' in page.text
    assert "De keten van het register is verbroken" in page.text
    assert "content changed: entry id" in page.text                      # the detail, marked as English
