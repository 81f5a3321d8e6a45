"""Migration 0013 (published apps, issue 17 section 1) on a filled database at 0012: every register entry stays
exactly as it was and still verifies, the register accepts the three app actions after it (and still refuses unknown
ones), the append-only triggers survive SQLite's rebuild, ``published_app`` refuses an unknown state or audience, and
the downgrade works while no app entry exists and is refused after. SQLite; PostgreSQL when the test URL is set."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from gereedschapskist.portal.db import alembic_config, current_revision, upgrade
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.test_bundle_requests_migration import engine_at_0011  # noqa: F401  (the fixture)
from tests.portal.test_contract_operations_migration import engine_at_0008  # noqa: F401  (the fixture)
from tests.portal.test_contracts_migration import NOW, _append, engine_at_0007  # noqa: F401  (the fixture)
from tests.portal.test_register_columns_migration import _rows, engine_at_0010  # noqa: F401  (the fixture)

APP = ("INSERT INTO published_app (owner_id, organisation_id, environment_id, slug, server_name, title, framework, "
       "bundle_id, size_id, audience_kind, audience, state, current_version, created_at, updated_at) VALUES "
       "(1, 1, 1, 'sales', 'app-sales', 'Sales', 'panel', 'bi-dashboards', 'small', '{audience}', '[]', '{state}', 1, "
       ":t, :t)")


@pytest.fixture
def engine_at_0012(engine_at_0011):
    upgrade(engine_at_0011, "0012")
    return engine_at_0011


def test_0013_keeps_every_entry_and_accepts_the_app_actions(engine_at_0012):
    engine = engine_at_0012
    before = _rows(engine)
    upgrade(engine, "0013")
    assert current_revision(engine) == "0013"
    assert _rows(engine) == before
    assert {ix["name"] for ix in inspect(engine).get_indexes("published_app")} == {
        "ix_published_app_owner_id", "ix_published_app_organisation_id_state"}
    with engine.begin() as connection:
        connection.execute(text(APP.format(audience="organisation", state="published")), {"t": NOW})
        for action in ("app-published", "app-unpublished", "app-rolled-back"):
            _append(connection, action)
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == len(before) + 3, report.broken
    with pytest.raises(DatabaseError):                 # the action CHECK constraint still refuses the unknown
        with engine.begin() as connection:
            _append(connection, "app-imagined")
    for audience, state in (("everyone", "published"), ("organisation", "half-published")):
        with pytest.raises(DatabaseError):             # the audience and state CHECKs
            with engine.begin() as connection:
                connection.execute(text(APP.format(audience=audience, state=state)), {"t": NOW})
    with pytest.raises(DatabaseError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM register_entry WHERE sequence = 1"))
    with pytest.raises(RuntimeError, match="published-app entries"):
        command.downgrade(alembic_config(engine), "0012")


def test_0013_downgrades_while_no_app_entry_exists(engine_at_0012):
    engine = engine_at_0012
    before = _rows(engine)
    upgrade(engine, "0013")
    command.downgrade(alembic_config(engine), "0012")
    assert current_revision(engine) == "0012"
    assert _rows(engine) == before
    assert "published_app" not in inspect(engine).get_table_names()
    with pytest.raises(DatabaseError):
        with engine.begin() as connection:
            _append(connection, "app-published")
    upgrade(engine, "0013")
    assert current_revision(engine) == "0013"
