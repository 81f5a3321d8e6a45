"""Migration 0012 (bundle requests, issue 17) on a filled database at 0011: every register entry already written stays
exactly as it was and still verifies, the register accepts the four bundle-request actions after it (and still refuses
unknown ones), the append-only triggers survive SQLite's rebuild, ``bundle_request`` takes a request and refuses an
unknown state, and the downgrade works while no bundle-request entry exists and is refused after. SQLite; PostgreSQL
when the test URL is set."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from gereedschapskist.portal.db import alembic_config, current_revision, upgrade
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.test_contract_operations_migration import engine_at_0008  # noqa: F401  (the fixture)
from tests.portal.test_contracts_migration import NOW, _append, engine_at_0007  # noqa: F401  (the fixture)
from tests.portal.test_register_columns_migration import _rows, engine_at_0010  # noqa: F401  (the fixture)

REQUEST = ("INSERT INTO bundle_request (requester_id, organisation_id, bundle_id, title, role, form, bundle_yaml, "
           "state, created_at, updated_at) VALUES (1, 1, 'bi-geo', 'Geo', 'bi', '{{}}', 'id: bi-geo', '{state}', :t, "
           ":t)")


@pytest.fixture
def engine_at_0011(engine_at_0010):
    upgrade(engine_at_0010, "0011")
    return engine_at_0010


def test_0012_keeps_every_entry_and_accepts_the_bundle_request_actions(engine_at_0011):
    engine = engine_at_0011
    before = _rows(engine)
    upgrade(engine, "0012")
    assert current_revision(engine) == "0012"
    assert _rows(engine) == before
    assert {ix["name"] for ix in inspect(engine).get_indexes("bundle_request")} == {
        "ix_bundle_request_requester_id", "ix_bundle_request_state"}
    with engine.begin() as connection:
        connection.execute(text(REQUEST.format(state="drafted")), {"t": NOW})
        for action in ("bundle-requested", "bundle-request-pr-opened", "bundle-request-merged",
                       "bundle-request-rejected"):
            _append(connection, action)
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == len(before) + 4, report.broken
    with pytest.raises(DatabaseError):                 # the action CHECK constraint still refuses the unknown
        with engine.begin() as connection:
            _append(connection, "bundle-imagined")
    with pytest.raises(DatabaseError):                 # and the request's state CHECK
        with engine.begin() as connection:
            connection.execute(text(REQUEST.format(state="half-merged")), {"t": NOW})
    with pytest.raises(DatabaseError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM register_entry WHERE sequence = 1"))
    with pytest.raises(RuntimeError, match="bundle-request entries"):
        command.downgrade(alembic_config(engine), "0011")


def test_0012_downgrades_while_no_bundle_request_entry_exists(engine_at_0011):
    engine = engine_at_0011
    before = _rows(engine)
    upgrade(engine, "0012")
    command.downgrade(alembic_config(engine), "0011")
    assert current_revision(engine) == "0011"
    assert _rows(engine) == before
    assert "bundle_request" not in inspect(engine).get_table_names()
    with pytest.raises(DatabaseError):
        with engine.begin() as connection:
            _append(connection, "bundle-requested")
    upgrade(engine, "0012")
    assert current_revision(engine) == "0012"
