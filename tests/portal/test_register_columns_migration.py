"""Migration 0011 (the register per dataset and per person) on a filled database at 0010: every entry already written
stays exactly as it was and still verifies with its version-1 digest, the append-only triggers and the action CHECK
constraint are back after SQLite's rebuild, the new columns are indexed with ``sequence`` and refer to real datasets
and users, entries written with digest version 2 (which covers them) verify after the version-1 ones, and the
downgrade works while no entry uses the new columns and is refused after. SQLite; PostgreSQL when the test URL is
set."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from gereedschapskist.portal.db import alembic_config, current_revision, upgrade
from gereedschapskist.portal.models.register import entry_digest_v2
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.test_access_system_migration import DATASET, GRANT, REQUEST
from tests.portal.test_contract_operations_migration import engine_at_0008  # noqa: F401  (the fixture)
from tests.portal.test_contracts_migration import NOW, _append, engine_at_0007  # noqa: F401  (the fixture)


@pytest.fixture
def engine_at_0010(engine_at_0008):
    """engine_at_0008's rows (a workspace, two register entries, a contract) at 0010 with a dataset, an approved
    request, its grant and two access entries (version-1 digests: 4 entries in all)."""
    engine = engine_at_0008
    upgrade(engine, "0010")
    with engine.begin() as connection:
        connection.execute(text(DATASET.format(id=1, identifier="cbs-83625NED", category="location",
                                               level="internal")), {"t": NOW})
        connection.execute(text(REQUEST.format(id=1, state="approved")), {"t": NOW})
        connection.execute(text(GRANT), {"t": NOW})
        _append(connection, "access-requested")
        _append(connection, "access-granted")
    return engine


def _rows(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(
            "SELECT id, sequence, action, subject, details, previous_hash, entry_hash FROM register_entry "
            "ORDER BY sequence"))]


def _append_v2(connection, action: str, *, dataset_id: int | None, person_id: int | None) -> None:
    """An entry as a 0011 portal writes it (plain SQL: the model may be newer than 0011)."""
    head = connection.execute(text("SELECT sequence, entry_hash FROM register_entry ORDER BY sequence DESC "
                                   "LIMIT 1")).one()
    sequence = head.sequence + 1
    digest = entry_digest_v2(sequence=sequence, at=NOW, actor_id=1, organisation_id=1, action=action,
                             workspace_id=None, subject="dataset 1", purpose="onderzoek", details={"n": sequence},
                             previous_hash=head.entry_hash, dataset_id=dataset_id, person_id=person_id)
    connection.execute(text(
        "INSERT INTO register_entry (at, actor_id, organisation_id, action, subject, purpose, details, sequence, "
        "previous_hash, entry_hash, dataset_id, person_id, digest_version) VALUES (:at, 1, 1, :action, 'dataset 1', "
        "'onderzoek', :details, :sequence, :previous, :digest, :dataset, :person, 2)"),
        {"at": NOW, "action": action, "details": f'{{"n": {sequence}}}', "sequence": sequence,
         "previous": head.entry_hash, "digest": digest, "dataset": dataset_id, "person": person_id})


def test_0011_keeps_every_entry_and_chains_version_2_entries_after_them(engine_at_0010):
    engine = engine_at_0010
    before = _rows(engine)
    upgrade(engine, "0011")
    assert current_revision(engine) == "0011"
    assert _rows(engine) == before
    with engine.connect() as connection:
        assert connection.execute(text("SELECT DISTINCT digest_version, dataset_id, person_id FROM register_entry")
                                  ).all() == [(1, None, None)]
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("register_entry")}
    assert indexes["ix_register_entry_dataset_id_sequence"] == ["dataset_id", "sequence"]
    assert indexes["ix_register_entry_person_id_sequence"] == ["person_id", "sequence"]
    assert indexes["ix_register_entry_actor_id_sequence"] == ["actor_id", "sequence"]
    assert indexes["ix_register_entry_organisation_id_at"] == ["organisation_id", "at"]   # kept by the rebuild
    with engine.begin() as connection:
        _append_v2(connection, "access-approved", dataset_id=1, person_id=1)
        _append_v2(connection, "workspace-started", dataset_id=None, person_id=1)
        _append(connection, "access-granted")          # a plain insert without the new columns is version 1
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == 7, report.broken
    with engine.connect() as connection:
        assert connection.execute(text("SELECT sequence FROM register_entry WHERE dataset_id = 1")).all() == [(5,)]
        assert connection.execute(text("SELECT sequence FROM register_entry WHERE person_id = 1 ORDER BY sequence")
                                  ).all() == [(5,), (6,)]
    refused = ["UPDATE register_entry SET subject = 'changed' WHERE sequence = 1",
               "UPDATE register_entry SET dataset_id = 1 WHERE sequence = 1",
               "DELETE FROM register_entry WHERE sequence = 7"]
    for statement in refused:                          # the append-only triggers survived SQLite's rebuild
        with pytest.raises(DatabaseError, match="append-only"):
            with engine.begin() as connection:
                connection.execute(text(statement))
    with pytest.raises(DatabaseError):                 # the action CHECK constraint too
        with engine.begin() as connection:
            _append(connection, "access-imagined")
    for dataset_id, person_id in ((99, None), (None, 99)):   # the foreign keys
        with pytest.raises(DatabaseError):
            with engine.begin() as connection:
                _append_v2(connection, "access-approved", dataset_id=dataset_id, person_id=person_id)
    with Session(engine) as session:
        assert verify_chain(session).entries == 7
    with pytest.raises(RuntimeError, match="digest version 2"):
        command.downgrade(alembic_config(engine), "0010")


def test_0011_downgrades_while_no_entry_uses_its_columns(engine_at_0010):
    engine = engine_at_0010
    before = _rows(engine)
    upgrade(engine, "0011")
    command.downgrade(alembic_config(engine), "0010")
    assert current_revision(engine) == "0010"
    assert _rows(engine) == before
    assert "dataset_id" not in {c["name"] for c in inspect(engine).get_columns("register_entry")}
    with pytest.raises(DatabaseError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM register_entry WHERE sequence = 1"))
    upgrade(engine, "0011")
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == 4, report.broken
