"""Migration 0006 (grants, membership ends, their register actions) on a database that already holds workspaces and
a register chain: nothing stored is lost, the chain verifies, the append-only triggers are back, the new actions are
accepted while unknown ones are still refused, and a downgrade is refused once the register holds a grant entry.
SQLite always; PostgreSQL when the test URL is set (the fixture of ``test_lifecycle_migration.py``)."""

from __future__ import annotations

from importlib import import_module

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from gereedschapskist.portal.db import alembic_config, current_revision, upgrade
from gereedschapskist.portal.models import RegisterAction
from gereedschapskist.portal.services.register import verify_chain
from tests.portal.test_contracts_migration import _append
from tests.portal.test_lifecycle_migration import _fill_at_0004, engine_at_0004  # noqa: F401 - the fixture

NEW_ACTIONS = (RegisterAction.REGISTER_EXPORTED, RegisterAction.ROLE_GRANTED, RegisterAction.ROLE_REVOKED,
               RegisterAction.MEMBER_HANDED_OVER, RegisterAction.WORKSPACE_HANDED_OVER,
               RegisterAction.MEMBER_READMITTED)

_0006 = import_module("gereedschapskist.portal.migrations.versions.0006_role_grants")
#: The actions the register may hold at 0006 (later migrations may add more), as the model names them.
AT_0006 = [RegisterAction(value) for value in _0006.REGISTER_ACTION + _0006.NEW_ACTIONS]


def test_0006_keeps_the_register_and_accepts_every_action_of_the_model(engine_at_0004):  # noqa: F811
    engine = engine_at_0004
    _fill_at_0004(engine)
    upgrade(engine, "0006")
    assert current_revision(engine) == "0006"
    with Session(engine) as session:
        assert verify_chain(session).entries == 2
    with engine.begin() as connection:           # plain SQL: the model's register has 0011's columns
        for action in AT_0006:                   # every action 0006 allows fits the CHECK constraint
            _append(connection, action.value)
    with Session(engine) as session:
        report = verify_chain(session)
    assert report.ok and report.entries == 2 + len(AT_0006), report.broken
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO role_grant (user_id, organisation_id, role, reason, granted_by_id, "
                                "granted_at, expires_at) VALUES (1, 1, 'ml', 'r', 1, '2026-12-01', '2027-01-01')"))
        connection.execute(text("INSERT INTO membership_end (user_id, organisation_id, ended_by_id, ended_at) "
                                "VALUES (1, 1, 1, '2026-12-01')"))
    for statement in ("INSERT INTO register_entry (at, action, subject, details, sequence, previous_hash, "
                      "entry_hash) VALUES ('2026-12-01', 'role-stolen', 's', '{}', 999, 'x', 'y')",
                      "UPDATE register_entry SET subject = 'changed' WHERE sequence = 1",
                      "DELETE FROM register_entry WHERE sequence = 2"):
        with pytest.raises(DatabaseError):
            with engine.begin() as connection:
                connection.execute(text(statement))


def test_0006_downgrades_while_the_register_has_no_grant_entries_and_refuses_after(engine_at_0004):  # noqa: F811
    engine = engine_at_0004
    _fill_at_0004(engine)
    upgrade(engine, "0006")
    command.downgrade(alembic_config(engine), "0005")
    assert current_revision(engine) == "0005"
    upgrade(engine, "0006")
    with engine.begin() as connection:
        _append(connection, RegisterAction.ROLE_GRANTED.value)
    with pytest.raises(RuntimeError, match="0006 cannot be downgraded"):
        command.downgrade(alembic_config(engine), "0005")
    assert {a.value for a in NEW_ACTIONS} <= {a.value for a in RegisterAction}
