"""Granted datasets in ~/data (issue 15, ``hub/datasets.py``), without a hub: the portal's answer checked, the view
shown read-only (a real read-only bind mount where this machine allows it — it does here, as root — and the
0444/0555 fallback), reconciliation against the portal's grants (revoked, expired, the portal away), release.

The portal is a subclass of the real adapter whose answers the test sets (``ScriptedPortal``): the real portal is
asked in ``test_data_in_workspace.py``."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gereedschapskist.dev.devstack import free_port
from gereedschapskist.hub.datasets import (
    GRANTS_FILE, DataAccess, DataMountFailed, Grant, GrantsUnavailable, LocalDataMounts, PortalGrants, environment,
    is_read_only, parse_grants, probe_read_only_mounts, reconcile,
)

NOW = datetime.now(timezone.utc)


def _grant(identifier: str, *, expires: timedelta = timedelta(days=3), grant: int = 1) -> Grant:
    return Grant(grant=grant, dataset=grant, identifier=identifier, title=f"Title of {identifier}",
                 files=(f"{identifier}.csv",), expires_at=NOW + expires, purpose_code="statistics",
                 legal_ground="avg-6-1-e-cbs-wet", organisation="cbs")


class ScriptedPortal(PortalGrants):
    def __init__(self, answers: list):
        super().__init__("http://127.0.0.1:1", "t" * 40)
        self.answers = answers

    async def current(self, user: str) -> list[Grant]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture(params=["bind", "copy"])
def mounts(request, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    for name in ("woz", "knmi", "bag"):
        (store / f"{name}.csv").write_text(f"id,{name}\n1,2\n")
    mechanism, why = probe_read_only_mounts(tmp_path / "probe")
    if request.param == "bind" and mechanism != "bind":
        pytest.fail(f"a read-only bind mount is expected to work on this machine (root): {why}")
    made = LocalDataMounts(store=store, views=tmp_path / "views", mechanism=request.param, why=why)
    home = tmp_path / "home" / "anna"
    home.mkdir(parents=True)
    yield made, home
    made.release(home, "anna")
    assert not made.mounted(home)


def test_the_portal_answer_is_checked():
    good = {"grants": [{"grant": 1, "dataset": 2, "identifier": "cbs-83625NED", "title_nl": "WOZ", "title_en": None,
                        "files": ["cbs-83625NED.csv"], "expires_at": "2027-01-01T00:00:00Z",
                        "purpose_code": "statistics", "legal_ground": "avg-6-1-e-cbs-wet", "organisation": "cbs"}]}
    [grant] = parse_grants(good)
    assert (grant.identifier, grant.expires_at.tzinfo is not None, grant.title) == ("cbs-83625NED", True, "WOZ")
    for change in ({"identifier": ".."}, {"identifier": "a/b"}, {"files": ["../etc/passwd"]},
                   {"files": ["/etc/passwd"]}, {"expires_at": "soon"}):
        with pytest.raises(GrantsUnavailable):
            parse_grants({"grants": [{**good["grants"][0], **change}]})
    with pytest.raises(GrantsUnavailable):
        parse_grants({"no": "grants"})


def test_a_portal_that_cannot_be_asked_fails_closed():
    portal = PortalGrants(f"http://127.0.0.1:{free_port()}", "t" * 40, timeout=2)
    with pytest.raises(GrantsUnavailable, match="could not be asked"):
        asyncio.run(portal.start("anna", "x"))


def test_data_is_shown_read_only_with_its_expiry(mounts):
    made, home = mounts
    grants = [_grant("woz"), _grant("knmi", grant=2, expires=timedelta(hours=1))]
    made.show(home, "anna", grants)
    folder = home / "data" / "woz"
    assert (folder / "woz.csv").read_text() == "id,woz\n1,2\n"
    index = json.loads((home / "data" / GRANTS_FILE).read_text())
    assert [(d["dataset"], d["expires_at"]) for d in index["datasets"]] == [
        ("woz", grants[0].expires_at.isoformat()), ("knmi", grants[1].expires_at.isoformat())]
    assert "until" in (home / "data" / "README.txt").read_text()
    if made.mechanism == "bind":
        assert is_read_only(home / "data") and made.mounted(home)
        for attempt in (lambda: (folder / "woz.csv").write_text("changed"), lambda: (folder / "new.csv").touch(),
                        lambda: (folder / "woz.csv").unlink(), lambda: (home / "data" / GRANTS_FILE).unlink()):
            with pytest.raises(OSError) as refused:
                attempt()
            assert refused.value.errno == errno.EROFS
    else:
        assert stat.S_IMODE((folder / "woz.csv").stat().st_mode) == 0o444
        assert stat.S_IMODE(folder.stat().st_mode) == 0o555
        assert stat.S_IMODE((home / "data").stat().st_mode) == 0o555
    assert (made.store / "woz.csv").read_text() == "id,woz\n1,2\n"          # the data store is untouched
    env = environment(grants, str(home / "data"))
    assert env["GEREEDSCHAPSKIST_DATA_EXPIRES"] == grants[1].expires_at.isoformat()
    assert [g["dataset"] for g in json.loads(env["GEREEDSCHAPSKIST_GRANTS"])] == ["woz", "knmi"]


def test_a_missing_data_file_refuses_the_start(mounts):
    made, home = mounts
    (made.store / "bag.csv").unlink()
    with pytest.raises(DataMountFailed, match="bag"):
        made.show(home, "anna", [_grant("bag")])


def test_reconciliation_removes_revoked_and_expired_and_all_when_the_portal_is_away_too_long(mounts):
    made, home = mounts
    woz, knmi, bag = _grant("woz"), _grant("knmi", grant=2), _grant("bag", grant=3)
    made.show(home, "anna", [woz, knmi, bag])
    knmi_expired = Grant(**{**knmi.__dict__, "expires_at": NOW - timedelta(seconds=1)})
    new = _grant("new", grant=4)          # granted after the start: comes with the next start, not now
    portal = ScriptedPortal([[woz, knmi_expired, new], GrantsUnavailable("down"), GrantsUnavailable("down")])
    access = DataAccess(portal=portal, mounts=made, interval=1, stale_after=40)

    outcome, answered = asyncio.run(reconcile(access, home=home, user="anna", last_answer=0.0, now=100.0))
    assert (sorted(outcome.removed), outcome.portal_answered, answered) == (["bag", "knmi"], True, 100.0)
    assert sorted(p.name for p in (home / "data").iterdir() if p.is_dir()) == ["woz"]
    assert [d["dataset"] for d in json.loads((home / "data" / GRANTS_FILE).read_text())["datasets"]] == ["woz"]

    outcome, answered = asyncio.run(reconcile(access, home=home, user="anna", last_answer=100.0, now=120.0))
    assert (outcome.removed, outcome.portal_answered, answered) == ([], False, 100.0)      # kept: 20 s unconfirmed
    outcome, _ = asyncio.run(reconcile(access, home=home, user="anna", last_answer=100.0, now=141.0))
    assert outcome.removed == ["woz"]                                                     # 41 s: fail closed
    assert json.loads((home / "data" / GRANTS_FILE).read_text())["datasets"] == []


def test_release_unmounts_and_leftovers_of_a_killed_hub_are_released(mounts, tmp_path):
    made, home = mounts
    made.show(home, "anna", [_grant("woz")])
    if made.mechanism == "bind":
        assert made.release_leftovers(tmp_path / "home") == [home / "data"]
        assert not made.mounted(home)
    made.show(home, "anna", [_grant("woz")])
    made.release(home, "anna")
    assert not made.mounted(home)
    assert not (home / "data" / "woz").exists()
    assert os.access(tmp_path, os.W_OK)
