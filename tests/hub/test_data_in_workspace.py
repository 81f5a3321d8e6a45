"""Granted datasets in a real running workspace (issue 15): the hub asks the portal at the start and shows exactly
the granted datasets read-only in ~/data with their expiry (file and environment variables); writing into them
fails; revoking one and letting another expire takes them out of the running server within a minute; a new start
does not get them; a start while the portal cannot be asked is refused.

Real parts only: the development OIDC provider, JupyterHub (local backend) with a real JupyterLab server of the test
catalogue's ``tiny-cowsay`` (its kernel runs the checks inside the workspace), and the portal served by uvicorn on a
migrated SQLite database. The shared hub of ``tests/conftest.py`` does not ask a portal for grants (its other tests
run without one, and a hub that asks refuses starts when nobody answers), so this module starts one provider and one
hub of its own, with ``PORTAL_API_URL`` set and ``DATA_RECONCILE_SECONDS=1`` (the default is 15 s).

Expiry is simulated: the test sets the grant's ``expires_at`` in the portal's database to a moment just past (the
grant periods themselves are whole days). The revocation goes through the portal's own service function.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from gereedschapskist.dev.datasets import SOURCES, generate
from gereedschapskist.dev.demo import ACCOUNTS_FILE
from gereedschapskist.dev.devstack import DevSecrets, HubProcess, OidcProvider, free_port, hub_api, hub_client
from gereedschapskist.hub.datasets import mount_points
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import DatasetGrant, RegisterEntry, utcnow
from gereedschapskist.portal.services import access, dataset_grants
from gereedschapskist.portal.services.dataset_import import import_source
from gereedschapskist.portal.settings import PortalSettings
from tests.devclient import HubRequestFailed, HubUser, follow_progress
from tests.portal.support import PortalServer, TestDatabase, make_user

CATALOGUE = Path(__file__).parent / "fixtures" / "catalogue"
WOZ, KNMI = "cbs-83625NED", "knmi-daggegevens"

INSIDE = """
import errno, json, os
data = os.environ["GEREEDSCHAPSKIST_DATA_DIR"]
out = {"expires": os.environ.get("GEREEDSCHAPSKIST_DATA_EXPIRES"),
       "granted": json.loads(os.environ.get("GEREEDSCHAPSKIST_GRANTS", "[]")),
       "folders": sorted(p for p in os.listdir(data) if os.path.isdir(os.path.join(data, p))),
       "index": json.load(open(os.path.join(data, "GRANTS.json")))}
for name, attempt in (("append", lambda: open(os.path.join(data, "%s", "%s.csv"), "a").write("x")),
                      ("create", lambda: open(os.path.join(data, "%s", "new.csv"), "w").write("x")),
                      ("remove", lambda: os.remove(os.path.join(data, "%s", "%s.csv")))):
    try:
        attempt()
        out[name] = "allowed"
    except OSError as exc:
        out[name] = errno.errorcode[exc.errno]
print(json.dumps(out))
""" % (WOZ, WOZ, WOZ, WOZ, WOZ)

LISTING = """
import os
data = os.environ["GEREEDSCHAPSKIST_DATA_DIR"]
print(sorted(p for p in os.listdir(data) if os.path.isdir(os.path.join(data, p))))
"""


@pytest.mark.network
def test_granted_data_appears_read_only_and_goes_within_a_minute(tmp_path):
    accounts_file = tmp_path / "accounts.json"
    shutil.copyfile(ACCOUNTS_FILE, accounts_file)
    secrets = DevSecrets.load_or_create(tmp_path)
    hub_port, portal_port = free_port(), free_port()
    while portal_port == hub_port:
        portal_port = free_port()
    generate(tmp_path / "datasets")                              # the data store (make up does the same)
    database = TestDatabase.sqlite(tmp_path / "db")
    settings = PortalSettings(database_url=database.url, state_dir=tmp_path / "portal", session_secret="d" * 40,
                              public_url=f"http://127.0.0.1:{portal_port}", organisations="cbs minfin",
                              hub_url=f"http://127.0.0.1:{hub_port}", hub_api_token=secrets.portal_api_token,
                              catalogue_dir=CATALOGUE, reconcile_interval_seconds=0,
                              provisioning_interval_seconds=0, budget_watch_interval_seconds=0,
                              grant_expiry_interval_seconds=0)
    app = create_app(settings)
    sessions = app.state.portal.sessions
    for name, groups in (("anna", ["org:minfin", "role:bi"]), ("eva", ["org:cbs", "data-owner:cbs"]),
                         ("olga", ["org:minfin", "data-owner:minfin"])):
        make_user(sessions, username=name, groups=groups)
    with sessions() as session:
        for source in SOURCES:
            assert import_source(session, source=str(source)).problems == []
        session.commit()
        grants = {}
        for identifier, owner in ((WOZ, "eva"), (KNMI, "olga")):
            from gereedschapskist.portal.models import Dataset, User
            dataset = session.scalar(select(Dataset).where(Dataset.identifier == identifier))
            anna = session.scalar(select(User).where(User.username == "anna"))
            row = access.request_access(session, dataset=dataset, actor=anna, data={
                "role": "bi", "purpose": "Woningwaarde en weer per gemeente", "purpose_code": "statistics",
                "legal_ground": "avg-6-1-e-cbs-wet", "starts_on": utcnow().date().isoformat(),
                "ends_on": (utcnow().date() + timedelta(days=20)).isoformat()})
            access.decide(session, access_request=row, actor=session.scalar(select(User).where(
                User.username == owner)), approve=True)
            session.commit()
            grants[identifier] = row.grant.id

    provider = OidcProvider.start(tmp_path, [hub_client(hub_port, secrets)], accounts_file=accounts_file)
    portal = PortalServer(app, portal_port).start()
    home = tmp_path / "users" / "anna"
    try:
        with HubProcess.start(tmp_path, provider, secrets=secrets, port=hub_port, catalogue_dir=CATALOGUE,
                              extra_env={"GEREEDSCHAPSKIST_HUB_PORTAL_API_URL": portal.url,
                                         "GEREEDSCHAPSKIST_HUB_DATA_RECONCILE_SECONDS": "1",
                                         "GEREEDSCHAPSKIST_HUB_PREPARE_ENVIRONMENTS": "false"}) as hub:
            starter = hub_api(hub, secrets.portal_api_token)
            anna = HubUser.login(hub.url, "anna", "anna-demo", starter=starter)
            try:
                # 1. the start: exactly the two granted datasets, read-only, with their expiry
                anna.start_server("data", {"bundle": "tiny-cowsay", "size": "small"})
                events = anna.wait_until_ready("data", timeout=600)
                assert any("2 dataset(s) in ~/data, read-only" in e.get("message", "") for e in events), events
                inside = json.loads(anna.run_code("data", INSIDE).strip().splitlines()[-1])
                assert sorted(inside["folders"]) == sorted([WOZ, KNMI]), inside
                assert sorted(g["dataset"] for g in inside["granted"]) == sorted([WOZ, KNMI])
                assert sorted(d["dataset"] for d in inside["index"]["datasets"]) == sorted([WOZ, KNMI])
                assert inside["index"]["read_only"] == "bind"
                expiry = (utcnow().date() + timedelta(days=21)).isoformat()
                assert inside["expires"].startswith(expiry), inside
                assert (inside["append"], inside["create"], inside["remove"]) == ("EROFS", "EROFS", "EROFS"), inside
                assert (tmp_path / "datasets" / f"{WOZ}.csv").read_text().count("\n") == 301   # untouched
                with sessions() as session:
                    mounted = session.scalars(select(RegisterEntry).where(
                        RegisterEntry.action == "dataset-mounted")).all()
                    assert sorted((e.details["dataset"], e.details["server"]) for e in mounted) == [
                        (WOZ, "data"), (KNMI, "data")]

                # 2. revoked (by its data owner) and expired (simulated: expires_at set just past) while it runs
                with sessions() as session:
                    from gereedschapskist.portal.models import User
                    eva = session.scalar(select(User).where(User.username == "eva"))
                    dataset_grants.revoke(session, grant=session.get(DatasetGrant, grants[WOZ]), actor=eva,
                                          reason="the study was stopped")
                    session.commit()
                revoked_at = time.monotonic()
                gone = _wait_for(lambda: not (home / "data" / WOZ).exists(), 60)
                assert gone is not None, "the revoked dataset is still in the running workspace after 60 s"
                with sessions() as session:
                    session.get(DatasetGrant, grants[KNMI]).expires_at = utcnow() - timedelta(seconds=1)
                    session.commit()
                expired_at = time.monotonic()
                gone_expired = _wait_for(lambda: not (home / "data" / KNMI).exists(), 60)
                assert gone_expired is not None, "the expired dataset is still in the running workspace after 60 s"
                assert anna.run_code("data", LISTING).strip().splitlines()[-1] == "[]"
                print(f"\nrevoked -> gone from the running workspace: {gone - revoked_at:.2f} s; "
                      f"expired -> gone: {gone_expired - expired_at:.2f} s (reconciliation every 1 s)")

                # 3. a new start does not get them
                anna.start_server("again", {"bundle": "tiny-cowsay", "size": "small"})
                anna.wait_until_ready("again", timeout=600)
                assert anna.run_code("again", LISTING).strip().splitlines()[-1] == "[]"
                anna.stop_server("again", remove=True)
                anna.stop_server("data", remove=True)
                assert home / "data" not in mount_points(), "~/data stays mounted after the last server stopped"

                # 4. the portal cannot be asked: the start is refused, with the reason
                portal.stop()
                try:        # refused within the hub's slow-spawn wait (500 with the message), or later (202, failed)
                    anna.start_server("refused", {"bundle": "tiny-cowsay", "size": "small"})
                    events = follow_progress(starter, "anna", "refused", timeout=120)
                    assert events[-1].get("failed"), events
                    message = events[-1].get("message", "")
                except HubRequestFailed as refused:
                    message = str(refused)
                assert "could not be asked which datasets may be used" in message, message
            finally:
                anna.close()
                starter.close()
    finally:
        portal.stop()
        provider.stop()
        database.drop()
    assert not [p for p in mount_points() if tmp_path in p.parents], "mounts left behind"


def _wait_for(condition, seconds: float) -> float | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.1)
    return None

