"""The register against its own database role (issue 11, finding 2): the runtime role may only INSERT and
SELECT on PostgreSQL, ``db init-roles`` sets the roles up, and the hash chain — on SQLite the only tamper
evidence — shows an edited, a deleted and a reordered entry through ``gereedschapskist register verify``."""

from __future__ import annotations

import secrets
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from gereedschapskist.cli import build_app
from gereedschapskist.portal.db import make_engine, upgrade
from gereedschapskist.portal.models import GENESIS, RegisterAction, RegisterEntry
from gereedschapskist.portal.services.register import append, verify_chain


def _append(database, count: int) -> list[int]:
    with Session(database.engine) as session:
        entries = [append(session, action=RegisterAction.WORKSPACE_LAUNCHED, subject=f"bundle b {n}",
                          details={"n": n, "naam": "één"}) for n in range(1, count + 1)]
        session.commit()
        return [entry.id for entry in entries]


def _verify(url: str, *extra: str):
    return CliRunner().invoke(build_app(), ["register", "verify", "--database-url", url, *extra])


@contextmanager
def _tampering(database):
    """A connection that may change the register, as an attacker with more than the runtime role's rights:
    SQLite — whoever can write the file drops the triggers (the test database is rebuilt from its template
    before the next test); PostgreSQL — the owner disables the triggers and enables them again."""
    if database.dialect == "sqlite":
        engine = make_engine(database.url)
        with engine.begin() as connection:
            connection.execute(text("DROP TRIGGER register_entry_no_update"))
            connection.execute(text("DROP TRIGGER register_entry_no_delete"))
            yield connection
        engine.dispose()
        return
    engine = make_engine(database.owner_url, pool_size=1, max_overflow=0)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE register_entry DISABLE TRIGGER USER"))
        yield connection
        connection.execute(text("ALTER TABLE register_entry ENABLE TRIGGER USER"))
    engine.dispose()


def test_appends_make_a_gapless_chain_and_verify_says_ok(database):
    _append(database, 3)
    with Session(database.engine) as session:
        entries = session.scalars(select(RegisterEntry).order_by(RegisterEntry.sequence)).all()
        assert [e.sequence for e in entries] == [1, 2, 3]
        assert entries[0].previous_hash == GENESIS
        assert [e.previous_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]
        assert all(e.digest() == e.entry_hash for e in entries)
        head = entries[-1].entry_hash
    result = _verify(database.url)
    assert result.exit_code == 0, result.output
    assert f"register OK: 3 entries, chain intact, head {head}" in result.output


def test_verify_finds_an_edited_entry(database):
    ids = _append(database, 4)
    with _tampering(database) as connection:
        connection.execute(text("UPDATE register_entry SET subject = 'nothing happened' WHERE id = :id"),
                           {"id": ids[2]})
    result = _verify(database.url)
    assert result.exit_code == 1, result.output
    assert f"register BROKEN at entry id {ids[2]} (sequence 3): content changed" in result.output
    assert "the 2 entries before it are intact" in result.output


def test_verify_finds_an_edited_entry_even_with_its_digest_recomputed(database):
    ids = _append(database, 4)
    with Session(database.engine) as session:
        entry = session.get(RegisterEntry, ids[1])
        entry_copy = {c: getattr(entry, c) for c in ("sequence", "at", "actor_id", "organisation_id", "action",
                                                     "workspace_id", "purpose", "details", "previous_hash",
                                                     "dataset_id", "person_id", "digest_version")}
    from gereedschapskist.portal.models.register import digest_of
    forged = digest_of(**entry_copy, subject="nothing happened")
    with _tampering(database) as connection:
        connection.execute(text("UPDATE register_entry SET subject = 'nothing happened', entry_hash = :h "
                                "WHERE id = :id"), {"id": ids[1], "h": forged})
    result = _verify(database.url)
    assert result.exit_code == 1
    assert f"register BROKEN at entry id {ids[2]} (sequence 3): entry missing or changed before" in result.output


def test_verify_finds_a_deleted_entry(database):
    ids = _append(database, 4)
    with _tampering(database) as connection:
        connection.execute(text("DELETE FROM register_entry WHERE id = :id"), {"id": ids[1]})
    result = _verify(database.url)
    assert result.exit_code == 1, result.output
    assert (f"register BROKEN at entry id {ids[2]} (sequence 3): entry missing: sequence 2 is not in the register"
            in result.output)


def test_verify_finds_a_deleted_entry_with_the_sequence_closed_up(database):
    ids = _append(database, 4)
    with _tampering(database) as connection:
        connection.execute(text("DELETE FROM register_entry WHERE id = :id"), {"id": ids[1]})
        for sequence in (3, 4):
            connection.execute(text("UPDATE register_entry SET sequence = :s - 1 WHERE sequence = :s"),
                               {"s": sequence})
    result = _verify(database.url)
    assert result.exit_code == 1
    assert f"register BROKEN at entry id {ids[2]} (sequence 2): entry missing or changed before" in result.output


def test_a_removed_tail_shows_against_a_recorded_head(database):
    ids = _append(database, 3)
    recorded = _verify(database.url).output.split(" head ")[1].split()[0]
    with _tampering(database) as connection:
        connection.execute(text("DELETE FROM register_entry WHERE id = :id"), {"id": ids[2]})
    assert _verify(database.url).exit_code == 0                # the chain alone cannot tell
    result = CliRunner().invoke(build_app(), ["register", "verify", "--database-url", database.url,
                                              "--expect-head", recorded])
    assert result.exit_code == 1
    assert f"register BROKEN: entry missing: the recorded head {recorded} is not in the chain" in result.output
    _append(database, 1)
    assert _verify(database.url).exit_code == 0


def test_verify_finds_a_reordered_entry(database):
    ids = _append(database, 4)
    with _tampering(database) as connection:     # swap the places of the 2nd and 3rd entries
        for old, new in ((2, -2), (3, 2), (-2, 3)):
            connection.execute(text("UPDATE register_entry SET sequence = :new WHERE sequence = :old"),
                               {"old": old, "new": new})
    result = _verify(database.url)
    assert result.exit_code == 1, result.output
    assert (f"register BROKEN at entry id {ids[2]} (sequence 2): order changed: entry id {ids[2]} (sequence 2) "
            f"was chained after entry id {ids[1]} (sequence 3), not after entry id {ids[0]} (sequence 1)"
            in result.output)


def test_concurrent_appends_do_not_fork_the_chain(database):
    threads, each = 6, 8
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work() -> None:
        try:
            start.wait()
            for n in range(each):
                with Session(database.engine) as session:
                    append(session, action=RegisterAction.WORKSPACE_STARTED, subject=f"{threading.get_ident()} {n}")
                    session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors == []
    with Session(database.engine) as session:
        report = verify_chain(session)
        sequences = session.scalars(select(RegisterEntry.sequence).order_by(RegisterEntry.sequence)).all()
    assert report.ok and report.entries == threads * each, report
    assert sequences == list(range(1, threads * each + 1))


def _runtime_refusals(database) -> list[tuple[str, str]]:
    """What the runtime role tries, and the refusal PostgreSQL gives."""
    return [
        ("UPDATE register_entry SET subject = 'x'", "permission denied"),
        ("DELETE FROM register_entry", "permission denied"),
        ("TRUNCATE register_entry", "permission denied"),
        ("ALTER TABLE register_entry DISABLE TRIGGER register_entry_append_only", "must be owner"),
        ("ALTER TABLE register_entry DISABLE TRIGGER USER", "must be owner"),
        ("DROP TRIGGER register_entry_append_only ON register_entry", "must be owner"),
        ("DROP TRIGGER register_entry_no_truncate ON register_entry", "must be owner"),
        ("DROP TABLE register_entry", "must be owner"),
        ("ALTER TABLE register_entry OWNER TO CURRENT_USER", "must be owner"),
        ("SET session_replication_role = replica", "permission denied"),
        ("UPDATE alembic_version SET version_num = '0001'", "permission denied"),
        (f'SET ROLE "{database.roles[0]}"', "permission denied"),
    ]


@pytest.mark.postgres  # roles are PostgreSQL's; on SQLite the hash chain is the evidence (the tests above)
def test_the_runtime_role_may_only_insert_and_select_the_register(database):
    _append(database, 2)
    assert make_url(database.url).username == database.roles[1]
    with database.engine.connect() as connection:
        for statement, refusal in _runtime_refusals(database):
            with pytest.raises(DatabaseError, match=refusal):
                connection.execute(text(statement))
            connection.rollback()
        assert connection.execute(select(func.count()).select_from(RegisterEntry)).scalar_one() == 2
    _append(database, 1)                                  # INSERT (and SELECT of the head) still work
    assert _verify(database.url).exit_code == 0


@pytest.mark.postgres  # PostgreSQL's TRUNCATE; SQLite has none
def test_truncate_meets_a_trigger_even_as_the_owner(database):
    _append(database, 1)
    owner = make_engine(database.owner_url, pool_size=1, max_overflow=0)
    try:
        with owner.connect() as connection:
            with pytest.raises(DatabaseError, match="append-only"):
                connection.execute(text("TRUNCATE register_entry CASCADE"))
    finally:
        owner.dispose()
    assert _verify(database.url).exit_code == 0


# ---------------------------------------------------------------- migrating existing entries (0001 → 0002)

def _rows_written_before_the_chain(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO organisation (slug, name, created_at) VALUES ('cbs', 'CBS', "
                                "CURRENT_TIMESTAMP)"))
        for n in range(3):
            connection.execute(text(
                "INSERT INTO register_entry (at, organisation_id, action, subject, purpose, details) VALUES "
                "(:at, 1, 'workspace-launched', :subject, NULL, :details)"),
                {"at": f"2026-0{n + 1}-02 10:00:00.12345{n}", "subject": f"bundle old {n}",
                 "details": '{"server": "s%d", "z": [1, 2]}' % n})


def test_the_migration_chains_entries_written_before_it_sqlite(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    upgrade(engine, "0001")
    _rows_written_before_the_chain(engine)
    upgrade(engine)
    engine.dispose()
    result = _verify(f"sqlite:///{tmp_path / 'old.sqlite'}")
    assert result.exit_code == 0 and "register OK: 3 entries" in result.output, result.output


@pytest.fixture
def fresh_server_database(database_server):
    """An empty PostgreSQL database and two role names of its own, all dropped afterwards."""
    assert database_server.dialect == "postgresql", "use with @pytest.mark.postgres"
    name = f"gk_test_{secrets.token_hex(4)}_cli"
    admin = make_engine(database_server._admin_url, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    superuser = make_url(database_server._admin_url).set(database=name)
    try:
        yield superuser, f"{name}_owner", f"{name}_portal"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in (f"{name}_owner", f"{name}_portal"):
                connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


@pytest.mark.postgres
def test_init_roles_on_a_deployed_database_then_upgrade_as_the_owner(fresh_server_database, tmp_path: Path):
    """The path of a running deployment: its tables (at 0001, with entries) belong to the role the portal used;
    init-roles makes the owner own them and the runtime role, the migration chains the entries, and the
    portal's role then has only INSERT and SELECT on the register. A second init-roles changes nothing."""
    superuser, owner, runtime = fresh_server_database
    before = make_engine(superuser.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    upgrade(before, "0001")
    _rows_written_before_the_chain(before)
    before.dispose()
    password_file = tmp_path / "owner-password"
    password_file.write_text("owner-" + secrets.token_hex(8) + "\n")
    runtime_password = "portal-" + secrets.token_hex(8)
    args = ["db", "init-roles", "--database-url", superuser.render_as_string(hide_password=False),
            "--owner-role", owner, "--runtime-role", runtime, "--owner-password-file", str(password_file),
            "--runtime-password", runtime_password]
    first = CliRunner().invoke(build_app(), args)
    assert first.exit_code == 0, first.output
    assert f"created the owner role {owner}" in first.output and f"created the runtime role {runtime}" in first.output
    assert f"table public.register_entry: owner postgres → {owner}" in first.output
    assert f"gereedschapskist db upgrade --database-url postgresql+psycopg://{owner}@" in first.output
    owner_url = superuser.set(username=owner, password=password_file.read_text().strip())
    runtime_url = superuser.set(username=runtime, password=runtime_password).render_as_string(hide_password=False)
    upgraded = CliRunner().invoke(build_app(), ["db", "upgrade", "--database-url",
                                                owner_url.render_as_string(hide_password=False)])
    assert upgraded.exit_code == 0 and "migrated 0001 →" in upgraded.output, upgraded.output
    verified = _verify(runtime_url)
    assert verified.exit_code == 0 and "register OK: 3 entries" in verified.output, verified.output
    again = CliRunner().invoke(build_app(), args)
    assert again.exit_code == 0 and f"kept the owner role {owner}, set its password" in again.output, again.output
    assert "owner postgres" not in again.output
    engine = make_engine(runtime_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as connection:
            for statement in ("UPDATE register_entry SET subject = 'x'", "TRUNCATE register_entry",
                              "DROP TRIGGER register_entry_no_truncate ON register_entry"):
                with pytest.raises(DatabaseError, match="permission denied|must be owner"):
                    connection.execute(text(statement))
                connection.rollback()
            connection.execute(text("SELECT 1 FROM app_user"))
        with Session(engine) as session:                                     # the portal's own work
            append(session, action=RegisterAction.WORKSPACE_STOPPED, subject="bundle new")
            session.commit()
            assert verify_chain(session).entries == 4
    finally:
        engine.dispose()


@pytest.mark.parametrize("args, message", [
    (["--owner-role", "same", "--runtime-role", "same"], "must differ"),
    (["--runtime-role", "Portal;DROP"], "role name 'Portal;DROP'"),
    (["--runtime-role", "postgres"], "is a superuser"),
])
@pytest.mark.postgres
def test_init_roles_refuses_clearly(database_server, args, message):
    result = CliRunner().invoke(build_app(), ["db", "init-roles", "--database-url", database_server.superuser_url,
                                              "--owner-role", database_server.roles[0], *args])
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_init_roles_on_sqlite_and_on_an_unreachable_server_are_clear_errors(tmp_path: Path):
    sqlite = CliRunner().invoke(build_app(), ["db", "init-roles", "--database-url",
                                              f"sqlite:///{tmp_path / 'x.sqlite'}"])
    assert sqlite.exit_code == 1 and "PostgreSQL only; SQLite has none" in sqlite.output
    down = CliRunner().invoke(build_app(), ["db", "init-roles", "--database-url",
                                            "postgresql+psycopg://nobody@127.0.0.1:1/none"])
    assert down.exit_code == 1 and "127.0.0.1:1/none" in down.output and "Traceback" not in down.output


def test_verify_in_parallel_reports_what_the_single_walk_reports(database):
    """``--workers``: the digests are checked in worker processes over ranges of the chain; the first problem in
    chain order is reported exactly as the single walk reports it (an intact chain, a changed entry, a changed entry
    after a link that broke earlier, a forged digest)."""
    ids = _append(database, 30)
    assert _verify(database.url, "--workers", "3").output == _verify(database.url).output
    with _tampering(database) as connection:
        connection.execute(text("UPDATE register_entry SET subject = 'nothing happened' WHERE id = :id"),
                           {"id": ids[20]})
    serial = _verify(database.url)
    assert serial.exit_code == 1 and "content changed" in serial.output
    assert _verify(database.url, "--workers", "3").output == serial.output
    with Session(database.engine) as session:
        assert verify_chain(session, workers=4, batch=7) == verify_chain(session)


def test_verify_in_parallel_reports_a_broken_link_before_a_changed_entry(database):
    ids = _append(database, 30)
    with _tampering(database) as connection:
        connection.execute(text("DELETE FROM register_entry WHERE id = :id"), {"id": ids[5]})
        connection.execute(text("UPDATE register_entry SET subject = 'nothing happened' WHERE id = :id"),
                           {"id": ids[20]})
    serial = _verify(database.url)
    assert serial.exit_code == 1 and "entry missing: sequence 6" in serial.output
    assert _verify(database.url, "--workers", "2").output == serial.output
    with Session(database.engine) as session:
        assert verify_chain(session, workers=4, batch=7) == verify_chain(session)


# 30 entries with batch=7 and 4 workers: ranges of sequence numbers ..7, 8..14, 15..21, 22..28, 29.. (the first and
# the last open-ended), so sequences 7 and 8, 14 and 15 lie on either side of a border between two workers' ranges.
@pytest.mark.parametrize("sequence", [1, 7, 8, 14, 15, 29, 30])
def test_verify_in_parallel_finds_a_changed_entry_at_a_range_border(database, sequence):
    ids = _append(database, 30)
    with Session(database.engine) as session:
        intact = verify_chain(session, workers=4, batch=7)
    assert intact.ok and intact.entries == 30
    with _tampering(database) as connection:
        connection.execute(text("UPDATE register_entry SET details = '{\"n\": 0}' WHERE id = :id"),
                           {"id": ids[sequence - 1]})
    with Session(database.engine) as session:
        parallel, single = verify_chain(session, workers=4, batch=7), verify_chain(session)
    assert parallel == single
    assert parallel.entry_id == ids[sequence - 1] and parallel.sequence == sequence
    assert parallel.broken.startswith(f"content changed: entry id {ids[sequence - 1]} (sequence {sequence})")
    assert parallel.entries == sequence - 1


@pytest.mark.parametrize("sequence", [7, 8, 15])
def test_verify_in_parallel_finds_a_deleted_entry_and_a_forged_link_at_a_range_border(database, sequence):
    """A whole range's entries intact, but the link across the border broken: a deleted entry on either side of it,
    or an entry whose content and digest were both forged (the next range starts with the link to the old digest)."""
    ids = _append(database, 30)
    with _tampering(database) as connection:
        connection.execute(text("DELETE FROM register_entry WHERE id = :id"), {"id": ids[sequence - 1]})
    with Session(database.engine) as session:
        parallel, single = verify_chain(session, workers=4, batch=7), verify_chain(session)
    assert parallel == single and parallel.entry_id == ids[sequence]
    assert parallel.broken.startswith(f"entry missing: sequence {sequence} is not in the register")


def test_verify_in_parallel_finds_a_forged_digest_at_a_range_border(database):
    ids = _append(database, 30)
    with Session(database.engine) as session:
        entry = session.get(RegisterEntry, ids[6])                            # sequence 7, the first range's last
        content = {c: getattr(entry, c) for c in ("sequence", "at", "actor_id", "organisation_id", "action",
                                                  "workspace_id", "purpose", "details", "previous_hash",
                                                  "dataset_id", "person_id", "digest_version")}
    from gereedschapskist.portal.models.register import digest_of
    forged = digest_of(**content, subject="nothing happened")
    with _tampering(database) as connection:
        connection.execute(text("UPDATE register_entry SET subject = 'nothing happened', entry_hash = :h "
                                "WHERE id = :id"), {"id": ids[6], "h": forged})
    with Session(database.engine) as session:
        parallel, single = verify_chain(session, workers=4, batch=7), verify_chain(session)
    assert parallel == single and parallel.entry_id == ids[7] and parallel.entries == 7
    assert parallel.broken.startswith(f"entry missing or changed before entry id {ids[7]} (sequence 8)")


def test_verify_in_parallel_checks_a_recorded_head(database):
    ids = _append(database, 30)
    with Session(database.engine) as session:
        heads = {entry.sequence: entry.entry_hash for entry in session.scalars(select(RegisterEntry))}
        for sequence in (1, 7, 8, 30):             # in the first, at a border, in the last range: all found
            assert verify_chain(session, workers=4, batch=7, expect_head=heads[sequence]).ok
    with _tampering(database) as connection:
        connection.execute(text("DELETE FROM register_entry WHERE id = :id"), {"id": ids[29]})
    with Session(database.engine) as session:
        parallel = verify_chain(session, workers=4, batch=7, expect_head=heads[30])
        assert parallel == verify_chain(session, expect_head=heads[30])
        assert not parallel.ok and parallel.broken.startswith("entry missing: the recorded head")
        assert verify_chain(session, workers=4, batch=7, expect_head=heads[29]).ok
