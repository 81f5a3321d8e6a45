"""Migration 0009 (contracts in operation) on a filled database at 0008: the contract keeps its order and gets empty
provisioning/spend/document fields, the register chain still verifies with its append-only triggers back, the new
actions are accepted and unknown ones still refused, the new tables check their values; the downgrade works while the
register holds no entry of 0009's actions and is refused after. SQLite; PostgreSQL when the test URL is set."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from gereedschapskist.portal.db import alembic_config, current_revision, upgrade
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.test_contracts_migration import NOW, _append, engine_at_0007  # noqa: F401  (the fixture)


@pytest.fixture
def engine_at_0008(engine_at_0007):
    engine = engine_at_0007
    upgrade(engine, "0008")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO contract (id, organisation_id, state, partner, region, stage, provisioner, roles, bundles, "
            "sizes, expected_users, hours_per_week, budget_eur, starts_on, ends_on, contact, cost_centre, estimate, "
            "created_by_id, created_at, updated_at) VALUES (1, 1, 'approved', 'aws', 'eu-central-1', 'development', "
            "'local', '[\"bi\"]', '[\"b\"]', '[\"b/small\"]', 3, 10, 5000, '2027-01-01', '2027-03-31', 'Dana', "
            "'KP-1', '{}', 1, :t, :t)"), {"t": NOW})
    return engine


def test_0009_keeps_contracts_and_accepts_the_operations(engine_at_0008):
    engine = engine_at_0008
    upgrade(engine, "0009")
    assert current_revision(engine) == "0009"
    with engine.connect() as connection:
        row = connection.execute(text("SELECT state, budget_eur, provisioning_status, provisioning_attempts, "
                                      "document_pdf FROM contract WHERE id = 1")).one()
        assert (row.state, float(row.budget_eur), row.provisioning_status, row.provisioning_attempts,
                row.document_pdf) == ("approved", 5000.0, None, 0, None)
        assert connection.execute(text("SELECT contract_id FROM workspace WHERE id = 7")).scalar() is None
    with engine.begin() as connection:
        connection.execute(text("UPDATE contract SET provisioning_status = 'failed', provisioning_attempts = 1, "
                                "provisioning_error = 'disk full' WHERE id = 1"))
        connection.execute(text("INSERT INTO workspace_session (workspace_id, organisation_id, contract_id, size, "
                                "price_per_hour, started_at) VALUES (7, 1, 1, 'b/small', 0.1234, :t)"), {"t": NOW})
        connection.execute(text("INSERT INTO contract_notice (contract_id, kind, at, message) "
                                "VALUES (1, 'budget-80', :t, 'warned')"), {"t": NOW})
        connection.execute(text("INSERT INTO size_request (contract_id, requester_id, bundle, size, reason, ends_on, "
                                "state, created_at) VALUES (1, 1, 'b', 'gpu', 'training', '2027-02-01', 'requested', "
                                ":t)"), {"t": NOW})
        _append(connection, "size-requested")
        _append(connection, "workspace-stopped-by-contract")
    for statement in ("UPDATE contract SET provisioning_status = 'halfway' WHERE id = 1",
                      "UPDATE size_request SET state = 'maybe' WHERE id = 1",
                      "INSERT INTO contract_notice (contract_id, kind, at, message) VALUES (1, 'budget-80', "
                      "'2027-01-02 00:00:00+00:00', 'twice')",
                      "UPDATE register_entry SET subject = 'changed' WHERE sequence = 1"):
        with pytest.raises(DatabaseError):
            with engine.begin() as connection:
                connection.execute(text(statement))
    with pytest.raises(DatabaseError):
        with engine.begin() as connection:
            _append(connection, "size-imagined")
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == 4, report.broken
    with pytest.raises(RuntimeError, match="issue 14's operations"):
        command.downgrade(alembic_config(engine), "0008")


def test_0009_downgrades_while_the_register_has_none_of_its_entries(engine_at_0008):
    engine = engine_at_0008
    upgrade(engine, "0009")
    command.downgrade(alembic_config(engine), "0008")
    assert current_revision(engine) == "0008"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT state FROM contract WHERE id = 1")).scalar() == "approved"
    upgrade(engine, "0009")
    assert current_revision(engine) == "0009"
