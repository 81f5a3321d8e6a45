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
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, or_
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .models import PortalSession, utcnow

NO_TOUCH = "gereedschapskist.session.no_touch"
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


class SessionStore:
    def __init__(self, sessions: sessionmaker[Session], *, secret: str, max_age_seconds: int, idle_seconds: int):
        self._sessions = sessions
        self._signer = Signer(secret, salt="gereedschapskist.portal.session")
        self.max_age = timedelta(seconds=max_age_seconds)
        self.idle = timedelta(seconds=idle_seconds)
        self._purged_at = 0.0
        self._purge_lock = threading.Lock()

    # ----------------------------------------------------------------- cookie values
    def _cookie(self, raw: str) -> str:
        return self._signer.sign(raw).decode()

    def _raw(self, cookie: str) -> str | None:
        try:
            return self._signer.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    # ----------------------------------------------------------------- rows
    def load(self, cookie: str, *, now: datetime | None = None) -> Loaded | None:
        """The live session this cookie names, or None (unknown, forged, or expired — then it is deleted)."""
        raw = self._raw(cookie)
        if raw is None:
            return None
        now = now or utcnow()
        key = _key(raw)
        with self._sessions() as session:
            row = session.get(PortalSession, key)
            if row is None:
                return None
            if now - row.created_at > self.max_age or now - row.last_seen_at > self.idle:
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
    """``request.session`` backed by :class:`SessionStore`; the cookie holds only the signed id."""

    def __init__(self, app: ASGIApp, *, store: SessionStore, cookie_name: str, https_only: bool):
        self.app = app
        self.store = store
        self.cookie_name = cookie_name
        self.flags = "; path=/; httponly; samesite=lax" + ("; secure" if https_only else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cookie = _read_cookie(scope, self.cookie_name)
        loaded = await run_in_threadpool(self.store.load, cookie) if cookie else None
        data: dict[str, Any] = dict(loaded.data) if loaded else {}
        scope["session"] = data

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = await run_in_threadpool(self.store.save, loaded, scope["session"],
                                                touch=not scope.get(NO_TOUCH))
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

        await self.app(scope, receive, send_with_cookie)


def _read_cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(name)
            if found:
                return found
    return None
