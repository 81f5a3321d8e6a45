"""Server-side sessions: the cookie carries a random id (signed with ``SESSION_SECRET``), nothing else.

:class:`SessionStore` keeps sessions in the ``portal_session`` table (keyed by the id's SHA-256), with an
absolute lifetime (``SESSION_MAX_AGE_SECONDS``) and an idle lifetime (``SESSION_IDLE_SECONDS``). Logout
deletes the row, so a cookie captured before it is worthless afterwards; a login gets a fresh id (no
fixation). :class:`ServerSessionMiddleware` gives routes ``request.session`` (a dict) exactly as Starlette's
cookie sessions did, and writes it back when it changed.

The issuer's session id (the ID token's ``sid``) is kept in its own column, so an OpenID Connect back-channel
logout ends exactly the sessions it names (:meth:`SessionStore.end_issuer_sessions`).

A request can opt out of counting as activity (``/language`` does: ``request.scope[NO_TOUCH] = True``),
so it never prolongs a session.

**One query, few thread hops per request.** The middleware opens the request's database session
(:class:`RequestDb`, in ``scope[REQUEST_DB]``; routes get it through ``deps.SessionDep``) and reads the session
row *and* its user with roles, memberships and grants in one query, in one worker-thread hop: as ORM objects, or on
the read-only paths (:data:`.principal.READ_ONLY_PATHS`, GET) as a plain :class:`.principal.Principal` from one
Core query, which costs about half as much CPU. Writing the session
back happens only when something changed or activity is due (at most every ``TOUCH_EVERY``); when nothing is to be
written and the request's database session holds no connection, the request ends without another hop. The busiest
read routes (the catalogue and "my workspaces", page and JSON) are ``async def`` and run their work in one hop of
their own (:meth:`RequestDb.run`), which costs much less than FastAPI's hop for a ``def`` route; on SQLite a read
alone leaves the connection as it is (:func:`without_transaction`).

**Nothing here is cached across requests, on purpose.** A session ends at once when it is deleted (logout,
back-channel logout, a handover) in *any* worker or replica; a per-process cache could not learn of that in time,
so each request reads its row again. The same holds for the user's roles and grants (a revoked grant stops counting
at the next request). What is cached is what cannot change while the portal runs: compiled templates, the
catalogue and its encoded listings.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from itsdangerous import BadSignature, Signer
from sqlalchemy import Connection, bindparam, delete, or_, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .models import PortalSession, User, utcnow
from .principal import SESSION_AND_PRINCIPAL, Principal, principal_of
from .services.identity import request_user_options

NO_TOUCH = "gereedschapskist.session.no_touch"
#: Where the middleware keeps the request's :class:`RequestDb` in the ASGI scope.
REQUEST_DB = "gereedschapskist.request_db"
#: Activity is written at most this often (an idle lifetime of an hour does not need a write per request).
TOUCH_EVERY = timedelta(seconds=60)
PURGE_EVERY_SECONDS = 600.0


@dataclass
class Loaded:
    key: str
    data: dict[str, Any]
    user_id: int | None
    last_seen_at: datetime


def _key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


#: The session row and its user (roles, memberships, grants) in one query; built once.
_SESSION_AND_USER = (select(PortalSession, User).outerjoin(User, User.id == PortalSession.user_id)
                     .where(PortalSession.id == bindparam("key")).options(*request_user_options()))
#: The user alone, as :data:`_SESSION_AND_USER` reads it: for a read-only path's route that asks for the ORM user after
#: all (:meth:`RequestDb.load_user`).
_USER = select(User).where(User.id == bindparam("id")).options(*request_user_options())


class RequestDb:
    """The database session of one request, opened on first use, and the session's user as read with the session
    row (:meth:`SessionStore.load`): the ORM ``user``, or on a read-only path (:data:`.principal.READ_ONLY_PATHS`)
    the plain ``principal`` only. The middleware closes it when the request is done.

    ``local``: the database is a file in this process (SQLite), so ending a transaction is a library call of
    microseconds that never waits for a lock, cheaper done at once than handed to a worker thread."""

    __slots__ = ("_factory", "_session", "user", "principal", "local", "_executor", "_read_ahead")

    def __init__(self, factory: sessionmaker[Session], *, local: bool = False,
                 executor: ThreadPoolExecutor | None = None):
        self._factory = factory
        self._session: Session | None = None
        self.user: User | None = None
        self.principal: Principal | None = None
        self.local = local
        self._executor = executor
        self._read_ahead: tuple[Principal, Any] | None = None

    def read_ahead(self, principal: Principal) -> Any:
        """What the middleware read ahead for this path's route with the session row (``read_ahead`` of
        :class:`ServerSessionMiddleware`), when the route acts for that very principal; else None (the route reads
        it itself): a principal read again (groups refreshed at the issuer) never gets rows read for another."""
        if self._read_ahead is not None and self._read_ahead[0] is principal:
            return self._read_ahead[1]
        return None

    async def run(self, function, /, *args, **kwargs):
        """``function(*args, **kwargs)`` in a worker thread of the routes' pool (:class:`ServerSessionMiddleware`), in
        a copy of the caller's context, as FastAPI runs a plain ``def`` route: for an ``async def`` read route that
        does its database work and its page in that one hop. asyncio's ``run_in_executor`` costs much less than
        AnyIO's thread hop FastAPI takes for a ``def`` route (issue 13: the busiest reads, a quarter to a third more
        requests a second)."""
        call = partial(contextvars.copy_context().run, partial(function, *args, **kwargs))
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self._factory()         # no connection yet: that comes with the first query
        return self._session

    @property
    def busy(self) -> bool:
        """Whether closing talks to a database server (a transaction is open on one), so it belongs in a worker
        thread."""
        return not self.local and self._session is not None and self._session.in_transaction()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def load_user(self) -> User | None:
        """The ORM user of a request that read only the principal (blocking: call it in a worker thread). One
        statement without a transaction, like :meth:`SessionStore.load`."""
        if self.user is None and self.principal is not None:
            session = self.session
            without_transaction(session)
            self.user = session.scalars(_USER, {"id": self.principal.id}).unique().first()
            session.commit()
        return self.user


def without_transaction(session: Session) -> Connection:
    """The session's connection, its statements run without a transaction (no BEGIN, no ROLLBACK round trip).

    On PostgreSQL that is the connection in ``AUTOCOMMIT``. SQLite's driver (the ``sqlite3`` module as SQLAlchemy
    uses it) begins a transaction only before a write, so its reads already run without one; there the connection
    stays as it is, because switching its isolation level is a ``PRAGMA`` on the way out of the pool and another on
    the way back (issue 13: a tenth of a "my workspaces" read). A write on it is committed by ``session.commit()``,
    as in any transaction."""
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        return session.connection()
    return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def read_alone(session: Session) -> bool:
    """Run the session's next statements without a transaction (no BEGIN, no ROLLBACK round trip), for a read-only
    route that asks one question; the route ends it with ``session.commit()``, which hands the connection back in the
    route's own thread, so the request ends without another hop (:attr:`RequestDb.busy` is false). Only when no
    transaction is open (one is after a write): then nothing changes and it returns False. Never for a route that
    writes: in this mode each statement commits on its own."""
    if session.in_transaction():
        return False
    without_transaction(session)
    return True


class SessionStore:
    def __init__(self, sessions: sessionmaker[Session], *, secret: str, max_age_seconds: int, idle_seconds: int):
        self._sessions = sessions
        self._signer = Signer(secret, salt="gereedschapskist.portal.session")
        self.max_age = timedelta(seconds=max_age_seconds)
        self.idle = timedelta(seconds=idle_seconds)
        self._purged_at = 0.0
        self._purge_lock = threading.Lock()
        bind = sessions.kw.get("bind")
        self.local = bind is not None and bind.dialect.name == "sqlite"

    # ----------------------------------------------------------------- cookie values
    def _cookie(self, raw: str) -> str:
        return self._signer.sign(raw).decode()

    def _raw(self, cookie: str) -> str | None:
        try:
            return self._signer.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    # ----------------------------------------------------------------- rows
    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    def load(self, cookie: str, *, db: RequestDb | None = None, now: datetime | None = None,
             principal: bool = False, read_ahead: Callable[[Session, Principal], Any] | None = None) -> Loaded | None:
        """The live session this cookie names, or None (unknown, forged, or expired — then it is deleted).

        With ``db`` (the request's database session) the row is read together with its user, in one query, and the
        user is left in ``db.user``, loaded for the whole request; with ``principal`` as plain data in
        ``db.principal`` instead (one Core query, no ORM objects: for a path whose route only reads). There
        ``read_ahead(session, principal)``, when given, reads what the route will list on the same connection, in the
        same hop, before the connection goes back to the pool (:meth:`RequestDb.read_ahead`)."""
        raw = self._raw(cookie)
        if raw is None:
            return None
        now = now or utcnow()
        key = _key(raw)
        if db is None:
            with self._sessions() as session:
                return self._live(session, session.get(PortalSession, key), key, now)
        session = db.session
        # one statement, nothing to keep consistent with: no transaction (no BEGIN, no ROLLBACK), and the connection
        # goes back to the pool at once; the user stays loaded for the request (expire_on_commit is off)
        connection = without_transaction(session)
        if principal:
            rows = connection.execute(SESSION_AND_PRINCIPAL, {"key": key}).all()
            loaded = None
            if rows:
                first = rows[0]
                if self._expired(first.s_created_at, first.s_last_seen_at, now):
                    session.execute(delete(PortalSession).where(PortalSession.id == key))
                else:
                    loaded = Loaded(key, dict(first.s_data or {}), first.s_user_id, first.s_last_seen_at)
            if loaded is not None:
                db.principal = principal_of(rows)
                if read_ahead is not None and db.principal is not None:
                    db._read_ahead = (db.principal, read_ahead(session, db.principal))
            session.commit()
            return loaded
        found = session.execute(_SESSION_AND_USER, {"key": key}).unique().first()
        loaded = self._live(session, found[0], key, now) if found else None
        session.commit()
        if loaded is not None:
            db.user = found[1]
        return loaded

    def _expired(self, created_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
        """Past the absolute or the idle lifetime."""
        return now - created_at > self.max_age or now - last_seen_at > self.idle

    def _live(self, session: Session, row: PortalSession | None, key: str, now: datetime) -> Loaded | None:
        if row is None:
            return None
        if self._expired(row.created_at, row.last_seen_at, now):
            session.delete(row)
            session.commit()
            return None
        return Loaded(key, dict(row.data or {}), row.user_id, row.last_seen_at)

    def create(self, data: dict[str, Any], *, now: datetime | None = None) -> str:
        """A new session holding ``data``; returns the cookie value."""
        raw = secrets.token_urlsafe(32)
        now = now or utcnow()
        with self._sessions() as session:
            session.add(PortalSession(id=_key(raw), user_id=_user_id(data), oidc_sid=_sid(data), data=data,
                                      created_at=now, last_seen_at=now))
            session.commit()
        self._maybe_purge()
        return self._cookie(raw)

    @staticmethod
    def needs_save(loaded: Loaded | None, data: dict[str, Any], *, touch: bool, now: datetime | None = None) -> bool:
        """Whether :meth:`save` has anything to write (decided without the database)."""
        if loaded is None:
            return bool(data)
        return (not data or _user_id(data) != loaded.user_id or data != loaded.data
                or (touch and (now or utcnow()) - loaded.last_seen_at >= TOUCH_EVERY))

    def save(self, loaded: Loaded | None, data: dict[str, Any], *, touch: bool) -> str | None:
        """Write ``data`` back. Returns a new cookie value when the session is new or got a new id (a login or
        a change of user), "" when it was deleted (empty data), None when the cookie stays as it is."""
        if loaded is None:
            return self.create(data) if data else None
        if not data:
            self.delete(loaded.key)
            return ""
        if _user_id(data) != loaded.user_id:           # logged in (or as someone else): a fresh id
            self.delete(loaded.key)
            return self.create(data)
        now = utcnow()
        changed = data != loaded.data
        touched = touch and now - loaded.last_seen_at >= TOUCH_EVERY
        if changed or touched:
            with self._sessions() as session:
                row = session.get(PortalSession, loaded.key)
                if row is None:                        # ended meanwhile (logout in another tab): stay ended
                    return ""
                if changed:
                    row.data = data
                    row.oidc_sid = _sid(data)
                if touched:
                    row.last_seen_at = now
                session.commit()
        return None

    def delete(self, key: str) -> None:
        with self._sessions() as session:
            session.execute(delete(PortalSession).where(PortalSession.id == key))
            session.commit()

    def end_user_sessions(self, user_id: int) -> int:
        """Log a user out everywhere; returns how many sessions ended."""
        with self._sessions() as session:
            count = session.execute(delete(PortalSession).where(PortalSession.user_id == user_id)).rowcount
            session.commit()
            return count or 0

    def end_issuer_sessions(self, *, user_id: int | None, sid: str | None) -> int:
        """A back-channel logout: end the sessions of the issuer's session ``sid`` (of that user, when known, and
        that user's sessions whose issuer session is unknown), or, without ``sid``, every session of the user."""
        if user_id is None and not sid:
            return 0
        if sid and user_id is not None:
            which = (PortalSession.user_id == user_id) & or_(PortalSession.oidc_sid == sid,
                                                              PortalSession.oidc_sid.is_(None))
        elif sid:
            which = PortalSession.oidc_sid == sid
        else:
            which = PortalSession.user_id == user_id
        with self._sessions() as session:
            count = session.execute(delete(PortalSession).where(which)).rowcount
            session.commit()
            return count or 0

    def purge(self, *, now: datetime | None = None) -> int:
        """Delete every expired session; returns how many."""
        now = now or utcnow()
        with self._sessions() as session:
            count = session.execute(delete(PortalSession).where(or_(
                PortalSession.created_at < now - self.max_age,
                PortalSession.last_seen_at < now - self.idle))).rowcount
            session.commit()
            return count or 0

    def _maybe_purge(self) -> None:
        with self._purge_lock:
            if time.monotonic() - self._purged_at < PURGE_EVERY_SECONDS:
                return
            self._purged_at = time.monotonic()
        self.purge()


def _user_id(data: dict[str, Any]) -> int | None:
    uid = data.get("uid")
    return uid if isinstance(uid, int) else None


def _sid(data: dict[str, Any]) -> str | None:
    sid = (data.get("tokens") or {}).get("sid")
    return sid if isinstance(sid, str) and sid else None


class ServerSessionMiddleware:
    """``request.session`` backed by :class:`SessionStore`; the cookie holds only the signed id. Paths under
    ``skip_prefixes`` (static files) neither read nor prolong a session.

    Its database work runs in a small thread pool of its own, handed over with asyncio's ``run_in_executor``: a
    third of the cost of a hop through AnyIO's pool (measured: ~20 µs against ~60 µs of CPU time), and the
    routes' thread pool stays free for the routes. The read routes that run their work through
    :meth:`RequestDb.run` get a second pool (``route_threads``, as many as AnyIO's default for ``def`` routes), so a
    route that waits on a slow hub never holds up the session reads of other requests."""

    def __init__(self, app: ASGIApp, *, store: SessionStore, cookie_name: str, https_only: bool,
                 skip_prefixes: tuple[str, ...] = (), read_only_paths: frozenset[str] = frozenset(),
                 threads: int = 8, route_threads: int = 40,
                 read_ahead: Mapping[str, Callable[[Session, Principal], Any]] | None = None):
        self.app = app
        self.store = store
        self.cookie_name = cookie_name
        self.read_only_paths = read_only_paths     # GET: the user as a plain principal (portal/principal.py)
        self.read_ahead = dict(read_ahead or {})     # of those paths: what their route lists, read with the session
        self.flags = "; path=/; httponly; samesite=lax" + ("; secure" if https_only else "")
        self.skip_prefixes = skip_prefixes
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="portal-session")
        self.route_executor = ThreadPoolExecutor(max_workers=route_threads, thread_name_prefix="portal-route")

    async def _in_thread(self, function, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(function, *args, **kwargs))

    async def _close(self, db: RequestDb) -> None:
        """Close the request's database session: in a worker thread when that talks to a database server."""
        if db.busy:
            await self._in_thread(db.close)
        else:
            db.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        db = RequestDb(self.store.sessions, local=self.store.local, executor=self.route_executor)
        scope[REQUEST_DB] = db
        if self.skip_prefixes and scope["path"].startswith(self.skip_prefixes):
            scope["session"] = {}
            try:
                await self.app(scope, receive, send)
            finally:
                await self._close(db)
            return
        cookie = _read_cookie(scope, self.cookie_name)
        loaded = None
        try:
            principal = scope["path"] in self.read_only_paths and scope.get("method") in ("GET", "HEAD")
            loaded = await self._in_thread(self.store.load, cookie, db=db, principal=principal,
                                           read_ahead=self.read_ahead.get(scope["path"]) if principal else None) \
                if cookie else None
        finally:
            if loaded is None:
                await self._close(db)                    # a stale cookie, or none: nothing read is kept
        data: dict[str, Any] = dict(loaded.data) if loaded else {}
        scope["session"] = data

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                touch = not scope.get(NO_TOUCH)
                value = None
                if self.store.needs_save(loaded, scope["session"], touch=touch):
                    value = await self._in_thread(self._finish, db, loaded, scope["session"], touch)
                else:
                    await self._close(db)
                if value is None and cookie and loaded is None:
                    value = ""                           # a stale or forged cookie: drop it
                if value is not None:
                    headers = MutableHeaders(scope=message)
                    if value:
                        max_age = int(self.store.max_age.total_seconds())
                        headers.append("Set-Cookie", f"{self.cookie_name}={value}; Max-Age={max_age}{self.flags}")
                    else:
                        headers.append("Set-Cookie", f"{self.cookie_name}=null; Max-Age=0{self.flags}")
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            await self._close(db)

    def _finish(self, db: RequestDb, loaded: Loaded | None, data: dict[str, Any], touch: bool) -> str | None:
        """One worker-thread hop at the response's start: end the request's transaction (first, so a write left
        uncommitted never blocks the session's own write), then write the session back."""
        db.close()
        return self.store.save(loaded, data, touch=touch)


def _read_cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(name)
            if found:
                return found
    return None
