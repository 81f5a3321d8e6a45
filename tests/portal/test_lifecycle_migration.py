"""Migration 0005 (the workspace lifecycle) on a database that already holds workspaces and a register chain:
nothing stored is lost, the chain still verifies, the append-only triggers are back, and the new values are
accepted while unknown ones are still refused. SQLite always; PostgreSQL when the test URL is set."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from gereedschapskist.portal.db import current_revision, make_engine, upgrade
from gereedschapskist.portal.models.register import GENESIS, entry_digest
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.support import TEST_DATABASE_ENV

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)


def _fill_at_0004(engine) -> None:
    """Rows written as a 0004 portal wrote them (plain SQL: the model is already 0005's)."""
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO app_user (id, issuer, subject, username, platform_admin, "
                                "created_at) VALUES (1, 'i', 's', 'anna', false, :t)"), {"t": NOW})
        connection.execute(text("INSERT INTO organisation (id, slug, name, created_at) "
                                "VALUES (1, 'minfin', 'MinFin', :t)"), {"t": NOW})
        connection.execute(text("INSERT INTO environment (id, name, kind, stage, status, hub_url, hub_api_url, "
                                "created_at, updated_at) VALUES (1, 'local', 'local', 'development', 'active', "
                                "'http://h', 'http://h/hub/api', :t, :t)"), {"t": NOW})
        connection.execute(text(
            "INSERT INTO workspace (id, user_id, organisation_id, environment_id, server_name, bundle_id, "
            "bundle_version, size_id, interface, status, created_at, updated_at) VALUES "
            "(7, 1, 1, 1, 'b-abcdef', 'b', '1', 'small', 'jupyterlab', 'stopped', :t, :t)"), {"t": NOW})
        previous = GENESIS
        for sequence, action in enumerate(("workspace-launched", "workspace-stopped"), start=1):
            digest = entry_digest(sequence=sequence, at=NOW, actor_id=1, organisation_id=1, action=action,
                                  workspace_id=7, subject="bundle b 1 (small) in local", purpose=None, details={},
                                  previous_hash=previous)
            connection.execute(text(
                "INSERT INTO register_entry (at, actor_id, organisation_id, action, workspace_id, subject, details, "
                "sequence, previous_hash, entry_hash) VALUES (:at, 1, 1, :action, 7, 'bundle b 1 (small) in local', "
                "'{}', :sequence, :previous, :digest)"),
                {"at": NOW, "action": action, "sequence": sequence, "previous": previous, "digest": digest})
            previous = digest


def _backends():
    return ["sqlite"] + (["postgresql"] if os.environ.get(TEST_DATABASE_ENV) else [])


@pytest.fixture(params=_backends())
def engine_at_0004(request, tmp_path):
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'at-0004.sqlite'}")
        upgrade(engine, "0004")
        yield engine
        engine.dispose()
        return
    from sqlalchemy import make_url

    name = f"gk_mig_{os.urandom(4).hex()}"
    admin = make_engine(os.environ[TEST_DATABASE_ENV], pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(os.environ[TEST_DATABASE_ENV]).set(database=name).render_as_string(False))
    try:
        upgrade(engine, "0004")
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_0005_keeps_workspaces_and_the_register_chain(engine_at_0004):
    engine = engine_at_0004
    _fill_at_0004(engine)
    upgrade(engine, "0005")
    assert current_revision(engine) == "0005"
    with engine.connect() as connection:
        row = connection.execute(text("SELECT server_name, status, name, stopped_by_id, stop_reason, deleted_at "
                                      "FROM workspace WHERE id = 7")).one()
        assert tuple(row) == ("b-abcdef", "stopped", None, None, None, None)
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == 2, report.broken
    with engine.begin() as connection:     # the new values are accepted
        connection.execute(text("UPDATE workspace SET status = 'deleted', name = 'analyse', stopped_by_id = 1 "
                                "WHERE id = 7"))
    for statement in ("UPDATE workspace SET status = 'half-deleted' WHERE id = 7",
                      "UPDATE workspace SET stopped_by_id = 99 WHERE id = 7" if engine.dialect.name != "sqlite"
                      else "INSERT INTO register_entry (at, action, subject, details, sequence, previous_hash, "
                           "entry_hash) VALUES ('2026-12-01', 'workspace-exploded', 's', '{}', 3, 'x', 'y')",
                      "UPDATE register_entry SET subject = 'changed' WHERE sequence = 1",
                      "DELETE FROM register_entry WHERE sequence = 2"):
        with pytest.raises(DatabaseError):
            with engine.begin() as connection:
                connection.execute(text(statement))
    if engine.dialect.name == "sqlite":      # foreign keys are on again for the portal's own connections
        with pytest.raises(DatabaseError):
            with engine.begin() as connection:
                connection.execute(text("UPDATE workspace SET stopped_by_id = 99 WHERE id = 7"))


def test_0005_downgrades_while_the_register_has_no_lifecycle_entries_and_refuses_after(engine_at_0004):
    from gereedschapskist.portal.db import alembic_config
    from alembic import command

    engine = engine_at_0004
    _fill_at_0004(engine)
    upgrade(engine, "0005")
    command.downgrade(alembic_config(engine), "0004")
    assert current_revision(engine) == "0004"
    with Session(engine) as session:
        assert verify_chain(session).entries == 2
    upgrade(engine, "0005")
    with engine.begin() as connection:          # plain SQL: the model's register has 0011's columns
        from tests.portal.test_contracts_migration import _append
        _append(connection, "workspace-deleted")
    with pytest.raises(RuntimeError, match="append-only, so 0005 cannot be downgraded"):
        command.downgrade(alembic_config(engine), "0004")
