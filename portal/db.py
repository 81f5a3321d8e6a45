"""Engines, sessions and migrations: SQLite (the embedded default) and PostgreSQL (production).

The schema is owned by the Alembic migrations in :mod:`gereedschapskist.portal.migrations`; the portal
never creates tables itself. :func:`check_migrated` is what makes it refuse to start on a database that
``gereedschapskist db upgrade`` has not brought to the newest revision.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .errors import NotFound

MIGRATIONS = "gereedschapskist.portal:migrations"
#: The largest id an integer primary key holds on every database (PostgreSQL's ``integer``).
MAX_ID = 2**31 - 1
#: A pooled database-server connection is pinged on checkout only when it has been back in the pool this long
#: (:func:`ping_when_idle`).
PING_AFTER_IDLE_SECONDS = 1.0
_RETURNED_AT = "gereedschapskist.returned_at"


Row = TypeVar("Row")


def get_or_404(session: Session, model: type[Row], row_id: int, *, what: str, reason: str) -> Row:
    """The row of ``model`` with id ``row_id``, else :class:`~gereedschapskist.portal.errors.NotFound` ("there is no
    ``what`` ``row_id``", ``reason``). An id beyond the id column's range (:data:`MAX_ID`) cannot exist and is not
    asked for: the database would fail on it."""
    row = session.get(model, row_id) if 0 < row_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"there is no {what} {row_id}", reason=reason)
    return row


class DatabaseNotMigrated(Exception):
    """The database is not at the newest migration; the message says which revision it is at and what to run."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened."""


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the per-dialect settings the portal relies on (SQLite: foreign keys, WAL, threads)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # a pool as large as PostgreSQL's: connections beyond pool_size are closed on return, and
        # reopening one (with its PRAGMAs) on every busy request cost more than the query itself
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine)
    return engine


def ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout when it has been idle in the pool for :data:`PING_AFTER_IDLE_SECONDS` or
    longer, instead of on every checkout (SQLAlchemy's ``pool_pre_ping``).

    A ping is a round trip to the database server. With ``pool_pre_ping`` every request paid one per checkout, one
    to two per request, about a tenth of a portal read on PostgreSQL (issue 13). The connections that die unseen
    (a restarted or failed-over server, a firewall's or pgbouncer's idle timeout) are those that sat in the pool;
    a dead one found here is replaced, and the pool's other connections of before are replaced too (SQLAlchemy's
    ``InvalidatePoolError``), so the request gets a live connection. A connection returned less than
    that ago was working then; when the server went away in that moment, the request's first statement
    fails (an error page), and SQLAlchemy replaces that connection and the pool's others as it does for any
    disconnect."""
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()          # just opened: alive

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_RETURNED_AT, float("-inf")) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError(f"the pooled connection is gone: {exc}") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration without an ini file: the scripts live inside the package."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))
    head = script.get_current_head()
    assert head is not None, "the portal ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"cannot open the portal database {display_url(str(engine.url))}: "
                                  f"{exc.__class__.__name__}: {exc}") from exc


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations up to ``revision``; return (before, after)."""
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), revision)
    return before, current_revision(engine)


def check_migrated(engine: Engine) -> str:
    """Raise :class:`DatabaseNotMigrated` unless the database is at the newest revision; return it."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return current
    where = display_url(str(engine.url))
    if current is None:
        state = "has no portal tables yet (it was never migrated)"
    else:
        state = f"is at revision {current}, this portal needs {head}"
    raise DatabaseNotMigrated(
        f"the portal database {where} {state}. Run `gereedschapskist db upgrade` (same "
        "GEREEDSCHAPSKIST_PORTAL_DATABASE_URL) and start the portal again.")
