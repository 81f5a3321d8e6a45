"""Migration 0010 (the access system's foundation) on a filled database at 0009: the register chain still verifies
with its append-only triggers back, the new actions are accepted and unknown ones still refused, the new tables check
their values (category, sensitivity level, state, one dataset per source identifier, one grant per request); the
downgrade works while the register holds no entry of 0010's actions and is refused after. SQLite; PostgreSQL when the
test URL is set."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from gereedschapskist.portal.db import alembic_config, current_revision, upgrade
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.test_contract_operations_migration import engine_at_0008  # noqa: F401  (the fixture)
from tests.portal.test_contracts_migration import NOW, _append, engine_at_0007  # noqa: F401  (the fixture)

DATASET = ("INSERT INTO dataset (id, identifier, title_nl, description_nl, organisation_id, category, sensitivity, "
           "keywords, auto_approval, imported_at, updated_at) VALUES ({id}, '{identifier}', 'Titel', '', 1, "
           "'{category}', '{level}', '[]', true, :t, :t)")
REQUEST = ("INSERT INTO access_request (id, dataset_id, requester_id, organisation_id, role, purpose, purpose_code, "
           "legal_ground, starts_on, ends_on, state, automatic, created_at) VALUES ({id}, 1, 1, 1, 'bi', 'onderzoek', "
           "'statistics', 'avg-6-1-e-cbs-wet', '2027-01-01', '2027-01-31', '{state}', false, :t)")
GRANT = ("INSERT INTO dataset_grant (access_request_id, dataset_id, user_id, organisation_id, starts_at, expires_at, "
         "created_at) VALUES (1, 1, 1, 1, :t, :t, :t)")


def test_0010_keeps_the_register_and_accepts_datasets_requests_and_grants(engine_at_0008):
    engine = engine_at_0008
    upgrade(engine, "0010")
    assert current_revision(engine) == "0010"
    with engine.begin() as connection:
        connection.execute(text(DATASET.format(id=1, identifier="cbs-83625NED", category="location",
                                               level="internal")), {"t": NOW})
        connection.execute(text(REQUEST.format(id=1, state="approved")), {"t": NOW})
        connection.execute(text(GRANT), {"t": NOW})
        _append(connection, "access-requested")
        _append(connection, "access-granted")
    for statement in (DATASET.format(id=2, identifier="x", category="weather", level="internal"),
                      DATASET.format(id=2, identifier="x", category="sensor", level="secret"),
                      DATASET.format(id=2, identifier="cbs-83625NED", category="sensor", level="public"),
                      REQUEST.format(id=2, state="maybe"), GRANT,
                      "UPDATE register_entry SET subject = 'changed' WHERE sequence = 1"):
        with pytest.raises(DatabaseError):
            with engine.begin() as connection:
                connection.execute(text(statement), {"t": NOW})
    with pytest.raises(DatabaseError):
        with engine.begin() as connection:
            _append(connection, "access-imagined")
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == 4, report.broken
    with pytest.raises(RuntimeError, match="issue 15's access system"):
        command.downgrade(alembic_config(engine), "0009")


def test_0010_downgrades_while_the_register_has_none_of_its_entries(engine_at_0008):
    engine = engine_at_0008
    upgrade(engine, "0010")
    command.downgrade(alembic_config(engine), "0009")
    assert current_revision(engine) == "0009"
    with pytest.raises(DatabaseError):
        with engine.begin() as connection:
            _append(connection, "access-requested")
    upgrade(engine, "0010")
    assert current_revision(engine) == "0010"
