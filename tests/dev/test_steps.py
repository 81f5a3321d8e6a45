"""The steps of ``gereedschapskist up`` (:mod:`gereedschapskist.dev.steps`; the full ``up`` run is test_up.py)."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from types import SimpleNamespace

import pytest

from gereedschapskist.dev.demo import ACCOUNTS_FILE
from gereedschapskist.dev.devstack import DevSecrets
from gereedschapskist.dev.processes import ProcessFailed
from gereedschapskist.dev.steps import migrate_portal_database, portal_environment, session_secret
from gereedschapskist.dev.up import UP_GROUP, UpContext, all_steps
from gereedschapskist.portal.db import current_revision, head_revision, make_engine
from gereedschapskist.portal.settings import PortalSettings


def test_every_step_is_found_through_the_entry_point_group():
    registered = [ep.load() for ep in entry_points(group=UP_GROUP)]
    assert sorted(registered, key=lambda s: s.order) == all_steps()
    assert [s.name for s in all_steps()] == ["oidc-provider", "kafka", "jupyterhub", "portal"]


def test_the_portal_starts_after_provider_and_hub():
    names = [s.name for s in all_steps()]
    assert names.index("portal") > names.index("jupyterhub") > names.index("oidc-provider")
    assert names.index("jupyterhub") > names.index("kafka")   # the hub tells streaming workspaces where it is


def test_the_session_secret_is_random_and_kept(tmp_path):
    first = session_secret(tmp_path)
    assert len(first) >= 32 and session_secret(tmp_path) == first
    assert (tmp_path / "portal-session-secret").stat().st_mode & 0o777 == 0o600
    assert session_secret(tmp_path / "other") != first


def test_the_portal_is_configured_for_the_local_provider_and_hub(tmp_path, monkeypatch):
    secrets = DevSecrets.load_or_create(tmp_path)
    ctx = UpContext(tmp_path, {"portal": 8080, "hub": 8000, "provider": 8090}, secrets,
                    catalogue_dir=tmp_path / "catalogue",
                    provider=SimpleNamespace(issuer="http://127.0.0.1:8090", accounts_file=ACCOUNTS_FILE),
                    hub=SimpleNamespace(url="http://127.0.0.1:8000"))
    env = portal_environment(ctx)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = PortalSettings()                          # exactly what the portal process will read
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.oidc_issuer == "http://127.0.0.1:8090" and settings.oidc_client_id == "portal"
    assert settings.oidc_client_secret.get_secret_value() == secrets.portal_client_secret
    assert settings.hub_url == "http://127.0.0.1:8000" and settings.hub_token("local") == secrets.portal_api_token
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'portal.sqlite'}"
    assert settings.catalogue_dir == tmp_path / "catalogue"
    assert settings.accepted_organisations == {"cbs", "minfin"}        # the demo accounts' organisations
    # standard contracts' environment files go where the local hub reads them (devstack gives it the same state dir)
    from gereedschapskist.hub.settings import HubSettings
    assert settings.resolved_local_environments_dir == HubSettings(state_dir=tmp_path.resolve()).environments_dir


def test_the_portal_database_is_migrated_by_the_cli_in_a_child_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEREEDSCHAPSKIST_PORTAL_")}
    env["GEREEDSCHAPSKIST_PORTAL_STATE_DIR"] = str(tmp_path)
    log = tmp_path / "logs" / "portal.log"
    migrate_portal_database(env, log, cwd=tmp_path)
    engine = make_engine(PortalSettings(state_dir=tmp_path).resolved_database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    assert "db upgrade" in log.read_text()


def test_a_failed_migration_stops_up_with_the_end_of_the_log(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEREEDSCHAPSKIST_PORTAL_")}
    env["GEREEDSCHAPSKIST_PORTAL_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"
    with pytest.raises(ProcessFailed, match="db upgrade` failed"):
        migrate_portal_database(env, tmp_path / "logs" / "portal.log", cwd=tmp_path)


def test_the_local_smtp_catcher_keeps_the_portals_mail_and_the_portal_is_pointed_at_it(tmp_path, monkeypatch):
    """`make up`'s SMTP catcher (issue 14): a real process on a free loopback port; the portal's settings name it, and
    a message sent the way the budget watcher sends it lands as an .eml file in the state folder."""
    import email
    import smtplib
    from email.message import EmailMessage

    from gereedschapskist.dev.steps import mail_folder, start_smtp_catcher

    secrets = DevSecrets.load_or_create(tmp_path)
    ctx = UpContext(tmp_path, {"portal": 8080, "hub": 8000, "provider": 8090}, secrets,
                    provider=SimpleNamespace(issuer="http://127.0.0.1:8090", accounts_file=ACCOUNTS_FILE),
                    hub=SimpleNamespace(url="http://127.0.0.1:8000"))
    catcher = start_smtp_catcher(ctx)
    try:
        for name, value in portal_environment(ctx).items():
            monkeypatch.setenv(name, value)
        settings = PortalSettings()
        assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", ctx.ports["smtp"])
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = settings.smtp_from, "dana@example.nl", "80 %"
        message.set_content("Contract 1 heeft 85 % van het budget gebruikt.")
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
        [kept] = list(mail_folder(ctx).glob("*.eml"))
        received = email.message_from_bytes(kept.read_bytes())
        assert received["To"] == "dana@example.nl" and "85 % van het budget" in received.get_payload()
    finally:
        catcher.stop()
    assert not catcher.running
