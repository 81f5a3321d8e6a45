"""Migration 0008 (standard contracts) on a filled database at 0007: nothing stored is lost, the register chain still
verifies, its append-only triggers are back, the contract actions are accepted and unknown ones still refused; the
downgrade works while the register holds no contract entry and is refused after. SQLite; PostgreSQL when the test
URL is set."""

from __future__ import annotations

import os

import pytest
from alembic import command
from sqlalchemy import make_url, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from gereedschapskist.portal.db import alembic_config, current_revision, make_engine, upgrade
from gereedschapskist.portal.models.register import entry_digest
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.support import TEST_DATABASE_ENV
from tests.portal.test_lifecycle_migration import NOW, _fill_at_0004


def _backends():
    return ["sqlite"] + (["postgresql"] if os.environ.get(TEST_DATABASE_ENV) else [])


@pytest.fixture(params=_backends())
def engine_at_0007(request, tmp_path):
    """A database filled at 0004 (workspace, register chain) and migrated to 0007, with a role grant."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'at-0007.sqlite'}")
        cleanup = engine.dispose
    else:
        name = f"gk_mig_{os.urandom(4).hex()}"
        admin = make_engine(os.environ[TEST_DATABASE_ENV], pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(make_url(os.environ[TEST_DATABASE_ENV]).set(database=name).render_as_string(False))

        def cleanup():
            engine.dispose()
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    try:
        upgrade(engine, "0004")
        _fill_at_0004(engine)
        upgrade(engine, "0007")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO role_grant (user_id, organisation_id, role, reason, granted_by_id, "
                                    "granted_at, expires_at) VALUES (1, 1, 'ml', 'project', 1, :t, :t)"), {"t": NOW})
        yield engine
    finally:
        cleanup()


def _append(connection, action: str) -> None:
    head = connection.execute(text("SELECT sequence, entry_hash FROM register_entry ORDER BY sequence DESC "
                                   "LIMIT 1")).one()
    sequence = head.sequence + 1
    digest = entry_digest(sequence=sequence, at=NOW, actor_id=1, organisation_id=1, action=action, workspace_id=None,
                          subject="contract 1", purpose=None, details={}, previous_hash=head.entry_hash)
    connection.execute(text("INSERT INTO register_entry (at, actor_id, organisation_id, action, subject, details, "
                            "sequence, previous_hash, entry_hash) VALUES (:at, 1, 1, :action, 'contract 1', '{}', "
                            ":sequence, :previous, :digest)"),
                       {"at": NOW, "action": action, "sequence": sequence, "previous": head.entry_hash,
                        "digest": digest})


def test_0008_keeps_everything_and_accepts_contracts_and_their_register_actions(engine_at_0007):
    engine = engine_at_0007
    upgrade(engine, "0008")
    assert current_revision(engine) == "0008"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT server_name, status FROM workspace WHERE id = 7")).one() == \
            ("b-abcdef", "stopped")
        assert connection.execute(text("SELECT role, reason FROM role_grant")).one() == ("ml", "project")
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == 2, report.broken
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO contract (id, organisation_id, state, partner, region, stage, provisioner, roles, bundles, "
            "sizes, expected_users, hours_per_week, budget_eur, starts_on, ends_on, contact, cost_centre, estimate, "
            "created_by_id, created_at, updated_at) VALUES (1, 1, 'requested', 'aws', 'eu-central-1', 'development', "
            "'local', '[\"bi\"]', '[\"b\"]', '[\"b/small\"]', 3, 10, 5000, '2027-01-01', '2027-03-31', 'Dana', "
            "'KP-1', '{}', 1, :t, :t)"), {"t": NOW})
        connection.execute(text("INSERT INTO contract_transition (contract_id, from_state, to_state, actor_id, at) "
                                "VALUES (1, 'draft', 'requested', 1, :t)"), {"t": NOW})
        _append(connection, "contract-requested")
    for statement in ("UPDATE contract SET state = 'half-approved' WHERE id = 1",
                      "UPDATE contract SET stage = 'staging' WHERE id = 1",
                      "UPDATE register_entry SET subject = 'changed' WHERE sequence = 1",
                      "DELETE FROM register_entry WHERE sequence = 2"):
        with pytest.raises(DatabaseError):
            with engine.begin() as connection:
                connection.execute(text(statement))
    with pytest.raises(DatabaseError):
        with engine.begin() as connection:
            _append(connection, "contract-exploded")
    with Session(engine) as session:
        assert verify_chain(session).entries == 3
    with pytest.raises(RuntimeError, match="contract entries"):     # the register now holds a contract entry
        command.downgrade(alembic_config(engine), "0007")


def test_0008_downgrades_while_the_register_has_no_contract_entries(engine_at_0007):
    engine = engine_at_0007
    upgrade(engine, "0008")
    command.downgrade(alembic_config(engine), "0007")
    assert current_revision(engine) == "0007"
    with Session(engine) as session:
        assert verify_chain(session).entries == 2
    upgrade(engine, "0008")
    assert current_revision(engine) == "0008"
