"""The portal's PostgreSQL pool pings a connection only when it sat idle in the pool (``db.ping_when_idle``, issue
13): a busy portal sends no ping per request, and a connection the server ended while it was idle is found and
replaced before a request uses it. Against the real PostgreSQL server; the server ending a connection is
``pg_terminate_backend``, as a restart or an idle timeout would."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gereedschapskist.portal import db
from gereedschapskist.portal.db import make_engine

pytestmark = pytest.mark.postgres


class Pings:
    def __init__(self, engine):
        self.count = 0
        self._ping = engine.dialect.do_ping
        engine.dialect.do_ping = self

    def __call__(self, dbapi_connection):
        self.count += 1
        return self._ping(dbapi_connection)


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(database, pid: int) -> None:
    admin = make_engine(database.superuser_url or database.url, pool_size=1, max_overflow=0,
                        isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(database):
    engine = make_engine(database.url, pool_size=1, max_overflow=0)
    try:
        pings = Pings(engine)
        first = _backend_pid(engine)
        for _ in range(5):
            assert _backend_pid(engine) == first       # the same pooled connection, used at once again
        assert pings.count == 0
    finally:
        engine.dispose()


def test_a_connection_idle_in_the_pool_is_pinged_and_replaced_when_the_server_ended_it(database, monkeypatch):
    engine = make_engine(database.url, pool_size=1, max_overflow=0)
    try:
        pings = Pings(engine)
        first = _backend_pid(engine)
        _terminate(database, first)
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)     # as if it had sat in the pool a while
        second = _backend_pid(engine)                    # no error: the dead connection was found and replaced
        assert second != first and pings.count >= 1
    finally:
        engine.dispose()
