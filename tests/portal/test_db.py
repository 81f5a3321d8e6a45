"""Migrations and the database: SQLite and PostgreSQL, the un-migrated refusal, the append-only register."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from gereedschapskist.cli import build_app
from gereedschapskist.portal.db import (
    DatabaseNotMigrated, DatabaseUnavailable, check_migrated, current_revision, head_revision, make_engine,
)
from gereedschapskist.portal.main import PortalStartRefused, create_app
from gereedschapskist.portal.models import (
    Base, Environment, EnvironmentKind, EnvironmentStage, Organisation, RegisterAction, RegisterEntry,
    RegisterIsAppendOnly, User, Workspace, WorkspaceStatus,
)
from gereedschapskist.portal.settings import PortalSettings
from tests.portal.support import TestDatabase


def test_migrations_create_every_table_of_the_model(database):
    assert database.tables() >= {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
    assert current_revision(database.engine) == head_revision()


def test_models_and_migrations_agree(database):
    """Autogenerate finds nothing to do: the model and the migrations describe the same schema."""
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def _workspace_row(session) -> Workspace:
    user = User(issuer="i", subject="s", username="alice")
    org = Organisation(slug="cbs", name="CBS")
    env = Environment(name="local", kind=EnvironmentKind.LOCAL, stage=EnvironmentStage.DEVELOPMENT,
                      hub_url="http://127.0.0.1:1", hub_api_url="http://127.0.0.1:1/hub/api")
    workspace = Workspace(user=user, organisation=org, environment=env, server_name="x-1", bundle_id="b",
                          bundle_version="1", size_id="small", interface="jupyterlab")
    session.add(workspace)
    session.flush()
    return workspace


def test_status_is_one_enum_and_the_database_checks_it(database):
    from sqlalchemy.orm import Session
    with Session(database.engine) as session:
        workspace = _workspace_row(session)
        assert workspace.status is WorkspaceStatus.STARTING
        session.commit()
        with pytest.raises(DatabaseError):
            session.execute(text("UPDATE workspace SET status = 'half-running'"))
            session.flush()
        session.rollback()


def test_fixed_status_sets_are_written_into_the_statement_and_select_what_in_would(database):
    """``one_of`` and ``rank_of`` write the schema's own enum values into SQL (no expanding parameter to render at
    every execution: issue 13); they select and order as ``in_()`` and ``case()`` do, and take nothing but a plain
    word."""
    from sqlalchemy.orm import Session
    from gereedschapskist.portal.models.base import one_of, rank_of
    from gereedschapskist.portal.models.workspace import ACTIVE_STATUSES
    with Session(database.engine) as session:
        _workspace_row(session)
        session.commit()
        for status in WorkspaceStatus:
            session.execute(text("UPDATE workspace SET status = :s"), {"s": status.value})
            written = session.scalar(select(Workspace.id).where(one_of(Workspace.status, ACTIVE_STATUSES)))
            bound = session.scalar(select(Workspace.id).where(Workspace.status.in_(ACTIVE_STATUSES)))
            assert written == bound and (written is not None) == status.active, status
            rank = session.scalar(select(rank_of(Workspace.status, tuple(WorkspaceStatus))))
            assert rank == list(WorkspaceStatus).index(status)
        session.rollback()
    statement = str(select(Workspace.id).where(one_of(Workspace.status, ACTIVE_STATUSES)).compile(database.engine))
    assert "'running'" in statement and "POSTCOMPILE" not in statement
    for bad in ("x' OR '1'='1", "Running", 3):
        with pytest.raises(ValueError, match="enum values only"):
            one_of(Workspace.status, (bad,))
        with pytest.raises(ValueError, match="enum values only"):
            rank_of(Workspace.status, ("running", bad))


def test_register_is_append_only_in_the_orm_and_in_the_database(database):
    """The ORM refuses changes; the database refuses them too — on PostgreSQL the runtime role has no UPDATE or
    DELETE privilege at all, and even the owner meets the triggers."""
    from sqlalchemy.orm import Session

    from gereedschapskist.portal.services.register import append
    with Session(database.engine) as session:
        workspace = _workspace_row(session)
        entry = append(session, action=RegisterAction.WORKSPACE_LAUNCHED, workspace_id=workspace.id,
                       organisation_id=workspace.organisation_id, subject="bundle b 1", details={"a": 1})
        session.commit()
        entry.subject = "rewritten history"
        with pytest.raises(RegisterIsAppendOnly):
            session.flush()
        session.rollback()
    refusal = "permission denied" if database.dialect == "postgresql" else "append-only"
    engines = [database.engine] + ([make_engine(database.owner_url)] if database.owner_url else [])
    for engine in engines:
        with engine.connect() as connection:
            for statement in ("UPDATE register_entry SET subject = 'x'", "DELETE FROM register_entry"):
                with pytest.raises(DatabaseError, match=refusal):
                    connection.execute(text(statement))
                connection.rollback()
            assert connection.execute(text("SELECT subject FROM register_entry")).scalar_one() == "bundle b 1"
        refusal = "append-only"             # the owner may, but the triggers refuse
    engines[-1].dispose()


def test_timestamps_come_back_timezone_aware(database):
    from sqlalchemy.orm import Session
    with Session(database.engine) as session:
        workspace = _workspace_row(session)
        session.commit()
        session.expire_all()
        assert session.get(Workspace, workspace.id).created_at.tzinfo is not None


def test_an_empty_database_is_refused_with_what_to_run(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    with pytest.raises(DatabaseNotMigrated) as caught:
        check_migrated(engine)
    assert "never migrated" in str(caught.value) and "gereedschapskist db upgrade" in str(caught.value)


def test_the_portal_refuses_to_start_on_an_unmigrated_database(tmp_path):
    settings = PortalSettings(database_url=f"sqlite:///{tmp_path / 'empty.sqlite'}", reconcile_interval_seconds=0)
    app = create_app(settings)
    with pytest.raises(PortalStartRefused, match="gereedschapskist db upgrade"):
        with TestClient(app):
            pass


def test_a_database_behind_the_code_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0000')"))
    with pytest.raises(DatabaseNotMigrated, match="at revision 0000, this portal needs"):
        check_migrated(engine)


def test_an_unreachable_database_is_a_clear_error():
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailable, match="cannot open the portal database"):
        check_migrated(engine)


def test_db_upgrade_command_migrates_and_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv("GEREEDSCHAPSKIST_PORTAL_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()
    first = runner.invoke(build_app(), ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"migrated empty → {head_revision()}" in first.output
    assert (tmp_path / "state" / "portal.sqlite").is_file()
    again = runner.invoke(build_app(), ["db", "upgrade"])
    assert "already at revision" in again.output
    current = runner.invoke(build_app(), ["db", "current"])
    assert current.exit_code == 0 and f"revision {head_revision()}" in current.output


def test_db_upgrade_on_the_test_database_server(database_server):
    """Against PostgreSQL too: a second fresh database (with its roles), and the runtime role reads its revision."""
    if database_server.dialect != "postgresql":
        result = CliRunner().invoke(build_app(), ["db", "current", "--database-url", database_server.url])
        assert result.exit_code == 0, result.output
        return
    fresh = TestDatabase.postgresql(database_server._admin_url)
    try:
        result = CliRunner().invoke(build_app(), ["db", "current", "--database-url", fresh.url])
        assert result.exit_code == 0, result.output
    finally:
        fresh.drop()


def test_db_current_fails_on_an_unmigrated_database(tmp_path):
    result = CliRunner().invoke(build_app(), ["db", "current", "--database-url",
                                              f"sqlite:///{tmp_path / 'x.sqlite'}"])
    assert result.exit_code == 1 and "revision none" in result.output


def test_a_requested_but_unreachable_postgresql_fails_the_run(tmp_path):
    """GEREEDSCHAPSKIST_TEST_DATABASE_URL set and unreachable: the tests fail, they are not skipped."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "GEREEDSCHAPSKIST_TEST_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/test"}
    test = Path(__file__).with_name("test_db.py")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra",
                             f"{test}::test_migrations_create_every_table_of_the_model"],
                            env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "does not answer" in output and "1 passed" in output and "skipped" not in output


def test_register_environment_from_its_infra_definition(database_server):
    """A cloud hub from infra/Pulumi.<name>.yaml becomes its organisation's Environment (idempotently);
    that organisation's workspaces then go there, everyone else's stay on the shared default."""
    from pathlib import Path

    from sqlalchemy.orm import Session

    from gereedschapskist.portal.models import Environment, EnvironmentKind, EnvironmentStage, Organisation
    from gereedschapskist.portal.services.environments import environment_for, register_environment

    database_server.reset()
    infra = Path(__file__).resolve().parents[1] / "hub" / "fixtures" / "infra"
    args = ["db", "register-environment", "cbs-prod", "--infra-dir", str(infra), "--database-url", database_server.url]
    for _ in range(2):
        result = CliRunner().invoke(build_app(), args)
        assert result.exit_code == 0, result.output
    assert "production hub of organisation cbs at https://hub.cbs.gereedschapskist.nl" in result.output
    with Session(database_server.engine) as session:
        register_environment(session, name="local", kind=EnvironmentKind.LOCAL, stage=EnvironmentStage.DEVELOPMENT,
                             hub_url="http://127.0.0.1:8000", hub_api_url="http://127.0.0.1:8000/hub/api")
        [cbs_env] = session.scalars(select(Environment).where(Environment.name == "cbs-prod")).all()
        assert cbs_env.kind is EnvironmentKind.CLOUD and cbs_env.stage is EnvironmentStage.PRODUCTION
        assert cbs_env.hub_api_url == "https://hub.cbs.gereedschapskist.nl/hub/api"
        cbs = session.scalar(select(Organisation).where(Organisation.slug == "cbs"))
        minfin = Organisation(slug="minfin", name="minfin")
        session.add(minfin)
        session.flush()
        assert environment_for(session, organisation=cbs).name == "cbs-prod"
        assert environment_for(session, organisation=minfin).name == "local"


def test_register_environment_names_a_missing_definition(tmp_path, database_server):
    result = CliRunner().invoke(build_app(), ["db", "register-environment", "nowhere", "--infra-dir", str(tmp_path),
                                              "--database-url", database_server.url])
    assert result.exit_code == 1 and "no environment 'nowhere'" in result.output
