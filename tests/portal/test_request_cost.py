"""What one portal read costs the database (issue 13, portal reads), on SQLite and PostgreSQL: the session row, the
user, their roles, memberships and grants in one query; nothing written when nothing changed; static files read no
session; and, because nothing of it is cached between requests, a session or grant ended by another portal process
(another worker or replica on the same database) counts at the very next request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select, text, update

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import Organisation, PortalSession, RoleGrant, utcnow
from gereedschapskist.portal.routes.rendering import compiled_templates


class Statements:
    """The SQL statements the app's engine sends while the block runs (the pool's own pings are not statements)."""

    def __init__(self, app):
        self.engine = app.state.portal.engine
        self.sent: list[str] = []

    def _record(self, _conn, _cursor, statement, *_args) -> None:
        self.sent.append(" ".join(statement.split()))

    def __enter__(self) -> "Statements":
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def writes(self) -> list[str]:
        return [s for s in self.sent if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def _grant(app, *, user_id: int, role: str, organisation: str) -> int:
    """A grant as an organisation admin makes it (the granting itself is tested in test_grants.py)."""
    with app.state.portal.sessions() as session:
        organisation_id = session.scalar(select(Organisation.id).where(Organisation.slug == organisation))
        grant = RoleGrant(user_id=user_id, organisation_id=organisation_id, role=role, reason="bench",
                          granted_by_id=user_id, expires_at=utcnow() + timedelta(days=30))
        session.add(grant)
        session.commit()
        return grant.id


@pytest.fixture
def kim(app, login):
    """kim: two issuer roles, member of two organisations (admin of one), and a granted role (ml) on top."""
    me = login("kim", ["role:bi", "role:dev", "org:cbs", "org:minfin", "org-admin:minfin"])
    _grant(app, user_id=me.user_id, role="ml", organisation="minfin")
    return me


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/bundles", "/catalogue"])
def test_a_read_costs_one_query_for_session_user_roles_memberships_and_grants(app, client, kim, path):
    client.get(path)                                          # the first request may refresh the session's activity
    with Statements(app) as sql:
        response = client.get(path, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    # the catalogue's listings need the member's organisation's current standard contract too (under one, its offer
    # is what is listed: issue 14, services/environments.py member_offer): its id comes in the same query
    assert len(sql.sent) == 1, sql.sent
    query = sql.sent[0]
    for table in ("portal_session", "app_user", "user_role", "member", "member_role", "organisation", "role_grant",
                  "contract"):
        assert f" {table}" in query, (table, query)
    if path == "/api/v1/me":
        me = response.json()
        assert me["roles"] == ["bi", "dev", "ml"]             # the issuer's and the grant's
        assert sorted(m["organisation"] for m in me["organisations"]) == ["cbs", "minfin"]


def test_my_workspaces_costs_the_session_query_and_its_own(app, client, kim):
    client.get("/api/v1/workspaces")
    with Statements(app) as sql:
        assert client.get("/api/v1/workspaces").status_code == 200
    assert len(sql.sent) == 2 and "portal_session" in sql.sent[0] and "FROM workspace" in sql.sent[1], sql.sent


def _transactions(app, client, path: str) -> list[str]:
    """How each of the request's statements ran: "autocommit" (a read alone), "in a transaction", and "rollback" for
    a transaction ended that way. A read alone is PostgreSQL's AUTOCOMMIT; SQLite's driver (``sqlite3``) opens a
    transaction only before a write, so there a read runs without one unless a transaction is open on the driver's
    connection after it (read from the driver itself, not from SQLAlchemy's bookkeeping)."""
    client.get(path)
    engine, seen = app.state.portal.engine, []

    def executed(conn, _cursor, *_args) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            seen.append("autocommit")
        elif engine.dialect.name == "sqlite":
            seen.append("in a transaction" if conn.connection.dbapi_connection.in_transaction else "autocommit")
        else:
            seen.append("in a transaction")

    listeners = {"after_cursor_execute": executed, "rollback": lambda conn: seen.append("rollback")}
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        assert client.get(path).status_code == 200
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)
    return seen


def test_my_workspaces_reads_without_a_transaction_to_end(app, client, kim):
    """Its one query runs as a read alone (``sessions.read_alone``): no BEGIN, and no ROLLBACK at the end, which on
    PostgreSQL are two round trips and a thread hop per request."""
    seen = _transactions(app, client, "/api/v1/workspaces")
    assert seen == ["autocommit", "autocommit"], seen      # the session row's query and the workspaces'


def test_the_my_workspaces_page_reads_without_a_transaction_to_end(app, client, kim):
    """The page's reads too (the user's workspaces, then what the hub has that the portal does not know); only what a
    hub says about a workspace would be written in a transaction (none here: nothing is starting)."""
    seen = _transactions(app, client, "/workspaces")
    assert seen and set(seen) == {"autocommit"}, seen


@pytest.mark.parametrize("path", ["/api/v1/bundles", "/api/v1/workspaces", "/catalogue", "/workspaces"])
def test_the_busiest_reads_take_one_hop_and_one_connection(app, client, kim, path):
    """The four busiest reads are ``async def`` routes that run their work in the routes' own pool
    (``RequestDb.run``: asyncio's hop, much cheaper than FastAPI's hop for a ``def`` route; issue 13), apart from the
    session middleware's pool, so a route waiting on a slow hub never holds up other requests' session reads. "My
    workspaces" has its workspaces read ahead with the session row, on the same connection in the session's hop
    (``workspace_service.READ_AHEAD``): one connection from the pool per request, and the JSON listing takes no
    second hop at all. Seen from the threads the statements run on and the pool's checkouts."""
    import threading
    client.get(path)
    threads: list[tuple[str, str]] = []
    checkouts: list[int] = []
    engine = app.state.portal.engine
    listener = (lambda _conn, _cursor, statement, *_a:
                threads.append((threading.current_thread().name.split("_")[0], " ".join(statement.split()[:8]))))
    checkout = (lambda *_a: checkouts.append(1))
    event.listen(engine, "before_cursor_execute", listener)
    event.listen(engine.pool, "checkout", checkout)
    try:
        assert client.get(path, headers={"Accept-Language": "en"}).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
        event.remove(engine.pool, "checkout", checkout)
    assert threads[0][0] == "portal-session", threads     # the session row with the principal
    if path in ("/api/v1/workspaces", "/workspaces"):
        assert threads[1][0] == "portal-session" and "workspace.organisation_id" in threads[1][1], threads
        route = threads[2:]
        assert not any("workspace.organisation_id" in statement for _n, statement in route), threads   # not again
        if path == "/api/v1/workspaces":
            assert route == [] and len(checkouts) == 1, (threads, checkouts)
    else:
        route = threads[1:]
    assert all(name == "portal-route" for name, _s in route), threads


def test_rows_read_ahead_serve_only_the_principal_they_were_read_for():
    """A route gets what the middleware read ahead only for the very principal read with it: a principal read again
    (its groups refreshed at the issuer, another user's session) reads its own rows."""
    from gereedschapskist.portal.sessions import RequestDb
    db = RequestDb(factory=None)
    assert db.read_ahead(object()) is None                 # nothing read ahead
    principal, other = object(), object()
    db._read_ahead = (principal, ["row"])
    assert db.read_ahead(principal) == ["row"]
    assert db.read_ahead(other) is None


def test_a_read_alone_on_sqlite_leaves_the_connection_as_it_is(tmp_path):
    """On SQLite a read alone does not switch the connection to AUTOCOMMIT: its driver opens no transaction for a
    read, and a switch is a PRAGMA out of the pool and another back in (issue 13). A write after it is committed by
    ``session.commit()`` as in any transaction; on PostgreSQL the connection is switched."""
    from gereedschapskist.portal.db import make_engine, session_factory
    from gereedschapskist.portal.sessions import read_alone

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    pragmas: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _k, statement, *_a: pragmas.append(statement)
                 if statement.upper().startswith("PRAGMA READ_UNCOMMITTED") else None)
    with session_factory(engine)() as session:
        assert read_alone(session) is True
        assert session.connection().get_execution_options().get("isolation_level") is None
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
        assert session.connection().connection.dbapi_connection.in_transaction    # the write is in a transaction
        session.commit()
        assert read_alone(session) is True
        assert session.scalar(text("SELECT count(*) FROM t")) == 1
        session.commit()
    assert pragmas == []
    engine.dispose()


def test_a_read_that_changes_nothing_writes_nothing_and_activity_is_written_at_most_once_a_minute(app, client, kim):
    client.get("/api/v1/me")
    with Statements(app) as sql:
        for path in ("/api/v1/me", "/catalogue", "/api/v1/bundles"):
            assert client.get(path).status_code == 200
    assert sql.writes() == []
    with app.state.portal.sessions() as session:                # a minute later: the next request counts as activity
        session.execute(update(PortalSession).values(last_seen_at=utcnow() - timedelta(seconds=61)))
        session.commit()
    with Statements(app) as sql:
        assert client.get("/api/v1/me").status_code == 200
    assert [w.split()[0] for w in sql.writes()] == ["UPDATE"] and "portal_session" in sql.writes()[0]


def test_static_files_read_no_session(app, client, kim):
    with Statements(app) as sql:
        response = client.get("/static/portal.css")
    assert response.status_code == 200 and sql.sent == []
    assert "set-cookie" not in response.headers


def test_a_session_ended_by_another_portal_process_ends_here_at_the_next_request(app, client, kim, settings):
    """Two workers on one database: logging kim out everywhere in the other one counts here at once."""
    assert client.get("/api/v1/me").status_code == 200
    other = create_app(settings)
    assert other.state.portal.session_store.end_user_sessions(kim.user_id) == 1
    other.state.portal.engine.dispose()
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/catalogue", follow_redirects=False).status_code in (302, 303, 401)


def test_a_grant_revoked_elsewhere_stops_counting_at_the_next_request(app, client, kim):
    catalogue = app.state.portal.catalogue
    ml_only = {b.id for b in catalogue.offered_for(["ml"])} - {b.id for b in catalogue.offered_for(["bi", "dev"])}
    assert ml_only, "the catalogue has a bundle for ml only"
    assert client.get("/api/v1/me").json()["roles"] == ["bi", "dev", "ml"]
    assert ml_only & {b["id"] for b in client.get("/api/v1/bundles").json()}
    with app.state.portal.sessions() as session:                # another worker's revocation, straight in the table
        session.execute(update(RoleGrant).values(revoked_at=utcnow(), revoked_by_id=kim.user_id))
        session.commit()
    assert client.get("/api/v1/me").json()["roles"] == ["bi", "dev"]
    assert not ml_only & {b["id"] for b in client.get("/api/v1/bundles").json()}


def test_templates_are_compiled_once_and_not_read_again(tmp_path: Path):
    (tmp_path / "page.html").write_text("first {{ n }}")
    templates = compiled_templates(tmp_path)
    assert templates.env.get_template("page.html").render(n=1) == "first 1"
    (tmp_path / "page.html").write_text("second {{ n }}")
    assert templates.env.get_template("page.html").render(n=2) == "first 2"      # the compiled one is kept
    assert compiled_templates(tmp_path).env.get_template("page.html").render(n=3) == "second 3"  # a new start
