"""Helpers for the portal's tests, benchmarks and end-to-end tests (``tests.portal.support``).

* :class:`TestDatabase` — a migrated database per test run, isolated from everything else: a fresh
  SQLite file, or a fresh PostgreSQL database with its own owner and runtime roles on the server named by
  the test URL (all dropped afterwards); the portal and the tests use the runtime role, as in production.
  :meth:`TestDatabase.reset` empties it between tests without the runtime role's help (SQLite copies a
  migrated template file; PostgreSQL empties the tables that have rows as the superuser, the register's
  triggers left in place).
* :func:`session_cookie` — a session for a user, stored server-side exactly as the portal's session
  middleware stores it after a login, and its cookie. Tests of everything *but* the login flow use it; the OIDC login
  itself is tested against the real development provider.
"""

from __future__ import annotations

import json
import secrets
import shutil
from base64 import b64encode
from pathlib import Path
from typing import Iterable

import itsdangerous
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from gereedschapskist.core.groups import ROLE_PREFIX, roles_of, split
from gereedschapskist.portal.db import display_url, make_engine, upgrade
from gereedschapskist.portal.models import Base
from gereedschapskist.portal.services.identity import GroupPolicy, Identity, record_login
from gereedschapskist.portal.settings import PortalSettings


class DatabaseUnreachable(Exception):
    """The PostgreSQL server named for the tests does not answer (the run fails, it does not skip)."""


class TestDatabase:
    """A migrated database for one test run. On PostgreSQL it is set up as production is: a fresh database
    ``gk_test_<random>`` with its own owner and runtime roles (``gereedschapskist db init-roles``), migrated
    as the owner; :attr:`url` and :attr:`engine` are the runtime role's, as the portal's are in production."""

    __test__ = False  # not a pytest test class

    def __init__(self, url: str, *, template: Path | None = None, schema: str | None = None,
                 admin_url: str | None = None, name: str | None = None, superuser_url: str | None = None,
                 owner_url: str | None = None, roles: tuple[str, str] | None = None):
        self.url = url
        self.template = template
        self.schema = schema
        self._admin_url = admin_url
        self.name = name
        self.superuser_url = superuser_url
        self.owner_url = owner_url
        self.roles = roles
        self.engine: Engine = make_engine(url)
        self._superuser: Engine | None = (make_engine(superuser_url, pool_size=1, max_overflow=0)
                                          if superuser_url else None)

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    @classmethod
    def sqlite(cls, folder: Path) -> "TestDatabase":
        folder.mkdir(parents=True, exist_ok=True)
        template = folder / "template.sqlite"
        engine = make_engine(f"sqlite:///{template}")
        upgrade(engine)
        engine.dispose()
        live = folder / "portal.sqlite"
        shutil.copyfile(template, live)
        return cls(f"sqlite:///{live}", template=template)

    @classmethod
    def postgresql(cls, base_url: str) -> "TestDatabase":
        """A fresh database ``gk_test_<random>`` on the server of ``base_url`` (a superuser's URL), with roles
        ``<database>_owner`` and ``<database>_runtime``, migrated as the owner; raises when unreachable."""
        from gereedschapskist.portal.roles import init_roles

        name = f"gk_test_{secrets.token_hex(4)}"
        owner, runtime = f"{name}_owner", f"{name}_runtime"
        passwords = {owner: secrets.token_urlsafe(16), runtime: secrets.token_urlsafe(16)}
        base = make_url(base_url)
        admin = make_engine(base_url, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except OperationalError as exc:
            raise DatabaseUnreachable(f"PostgreSQL at {display_url(base_url)} does not answer: {exc.orig}") from exc
        finally:
            admin.dispose()

        def as_role(role: str | None) -> str:
            url = base.set(database=name)
            if role:
                url = url.set(username=role, password=passwords[role])
            return url.render_as_string(hide_password=False)

        database = cls(as_role(runtime), admin_url=base_url, name=name, superuser_url=as_role(None),
                       owner_url=as_role(owner), roles=(owner, runtime))
        try:
            superuser = make_engine(database.superuser_url, pool_size=1, max_overflow=0)
            try:
                init_roles(superuser, owner=owner, runtime=runtime, owner_password=passwords[owner],
                           runtime_password=passwords[runtime])
            finally:
                superuser.dispose()
            as_owner = make_engine(database.owner_url, pool_size=1, max_overflow=0)
            try:
                upgrade(as_owner)
            finally:
                as_owner.dispose()
        except BaseException:
            database.drop()
            raise
        return database

    def reset(self) -> None:
        """Empty every table, keeping the migrations. SQLite: a copy of the migrated template file. PostgreSQL:
        as the superuser, ``DELETE`` from the tables that have rows and restart the sequences of their columns that
        were used — what ``TRUNCATE … RESTART IDENTITY`` of every table did, in a few milliseconds instead of
        hundreds (TRUNCATE gives each table new files; a test fills a handful) — with the register's triggers
        left in place and enabled: only a superuser session may set ``session_replication_role = replica``, under
        which ordinary triggers (and the foreign keys' checks) do not fire (the reason the register is
        hash-chained: a DBA can always do this). The portal's runtime role can not."""
        if self.dialect == "sqlite":
            self.engine.dispose()
            database = make_url(self.url).database
            assert database and self.template
            for suffix in ("-wal", "-shm"):
                Path(database + suffix).unlink(missing_ok=True)
            shutil.copyfile(self.template, database)
            return
        assert self._superuser is not None
        tables = [t.name for t in Base.metadata.sorted_tables]
        with self._superuser.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            filled = connection.scalars(text(" UNION ALL ".join(
                f"SELECT '{table}' WHERE EXISTS (SELECT FROM \"{table}\")" for table in tables))).all()
            for table in filled:
                connection.execute(text(f'DELETE FROM "{table}"'))
            used = connection.scalars(text(
                "SELECT format('%I.%I', n.nspname, s.relname) FROM pg_class s"
                " JOIN pg_namespace n ON n.oid = s.relnamespace"
                " JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
                "  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"   # owned: serial, identity
                " JOIN pg_class t ON t.oid = d.refobjid"
                " JOIN pg_sequences q ON q.schemaname = n.nspname AND q.sequencename = s.relname"
                " WHERE s.relkind = 'S' AND t.relname = ANY(:tables) AND q.last_value IS NOT NULL"),
                {"tables": tables}).all()
            for sequence in used:
                connection.execute(text(f"ALTER SEQUENCE {sequence} RESTART"))

    def tables(self) -> set[str]:
        return set(inspect(self.engine).get_table_names())

    def drop(self) -> None:
        """Drop what :meth:`postgresql` made: the database and its two roles (SQLite: nothing to do)."""
        self.engine.dispose()
        if self._superuser is not None:
            self._superuser.dispose()
        if self.name and self._admin_url:
            admin = make_engine(self._admin_url, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
                    for role in self.roles or ():
                        connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
            finally:
                admin.dispose()


def session_cookie(settings: PortalSettings, data: dict) -> str:
    """A server-side session holding ``data`` (as a login would make it), in the settings' database; returns
    the cookie value. Its groups count as just read from the issuer (``groups_at``), so no refresh is due
    within ``GROUPS_MAX_AGE_SECONDS``."""
    import time

    from gereedschapskist.portal.db import session_factory
    from gereedschapskist.portal.sessions import SessionStore

    engine = make_engine(settings.resolved_database_url, pool_size=1, max_overflow=0)
    try:
        store = SessionStore(session_factory(engine), secret=settings.session_secret.get_secret_value(),
                             max_age_seconds=settings.session_max_age_seconds,
                             idle_seconds=settings.session_idle_seconds)
        return store.create({"groups_at": time.time(), **data})
    finally:
        engine.dispose()


def forged_cookie(secret: str, data: dict) -> str:
    """A cookie as Starlette's signed-cookie sessions wrote it (what the portal used before server-side
    sessions): anyone who knows the secret can make one."""
    signer = itsdangerous.TimestampSigner(secret)
    return signer.sign(b64encode(json.dumps(data).encode())).decode()


def make_user(sessions, *, username: str, groups: Iterable[str], issuer: str = "http://127.0.0.1:1/test-issuer",
              name: str | None = None, admin_group: str = "gereedschapskist:admins") -> int:
    """Record a login (the real role-recognition service) and return the user's id. The organisations and
    roles named in ``groups`` count as configured."""
    groups = tuple(groups)
    policy = GroupPolicy(admin_group=admin_group, organisations=frozenset(
        v for g in groups if (found := split(g)) and found[0] != ROLE_PREFIX for v in [found[1]]),
        roles=frozenset(roles_of(groups)))
    identity = Identity(issuer=issuer, subject=f"sub-{username}", username=username, name=name or username.title(),
                        email=f"{username}@example.nl", groups=groups)
    with sessions() as session:
        user = record_login(session, identity=identity, policy=policy)
        session.commit()
        return user.id


class PortalServer:
    """The portal served by uvicorn on 127.0.0.1:``port`` in a thread of the test process, so tests can
    use real HTTP (the OIDC redirect flow, a browser) and still look into ``app.state``."""

    def __init__(self, app, port: int):
        import threading

        import uvicorn

        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"portal-{port}", daemon=True)

    def start(self, timeout: float = 30.0) -> "PortalServer":
        import time

        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the portal at {self.url} did not start (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the portal at {self.url} did not start within {timeout} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)

    def __enter__(self) -> "PortalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class TcpRelay:
    """A switchable TCP connection to a real server: ``down()`` closes the port (connections are refused, open
    ones are cut), ``up()`` opens it again. Used to take a real hub off the network and back, as an outage
    does, without stopping the hub other tests use."""

    def __init__(self, target_port: int, port: int):
        self.target_port, self.port = target_port, port
        self._listener = None
        self._conns: list = []
        self._lock = __import__("threading").Lock()

    def up(self) -> "TcpRelay":
        import socket
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        import socket

        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def down(self) -> "TcpRelay":
        import socket

        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)   # wakes the accepting thread
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._conns:
                try:
                    sock.close()
                except OSError:
                    pass
            self._conns.clear()
        return self


# --------------------------------------------------------------------------- pytest fixtures
# Imported by the conftest of tests/portal and tests/e2e (``from tests.portal.support import …``).

import os as _os  # noqa: E402

import pytest  # noqa: E402

TEST_DATABASE_ENV = "GEREEDSCHAPSKIST_TEST_DATABASE_URL"


def database_backends() -> list[str]:
    """SQLite always; PostgreSQL too when the test URL is set (then it must answer: the run fails, not skips)."""
    return ["sqlite"] + (["postgresql"] if _os.environ.get(TEST_DATABASE_ENV) else [])


def journey_backend(name: str, backends: list[str]) -> str:
    """The one database a test marked ``one_database`` (or a browser journey, tests/e2e) runs on when both are
    configured: a stable hash of its name picks it, so about half of such tests take each."""
    import zlib

    return backends[zlib.crc32(name.encode()) % len(backends)]


@pytest.fixture(scope="session", params=database_backends())
def database_server(request, tmp_path_factory):
    """One migrated database per backend and test run: a fresh SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        database = TestDatabase.sqlite(tmp_path_factory.mktemp("portal-sqlite"))
    else:
        try:
            database = TestDatabase.postgresql(_os.environ[TEST_DATABASE_ENV])
        except DatabaseUnreachable as exc:
            pytest.fail(f"{TEST_DATABASE_ENV} is set but {exc}", pytrace=False)
    yield database
    database.drop()


@pytest.fixture
def database(database_server):
    """The test run's database, emptied for this test."""
    database_server.reset()
    return database_server
