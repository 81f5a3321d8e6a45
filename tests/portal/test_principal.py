"""The read-only principal (issue 13, ``portal/principal.py``): the busiest reads get the logged-in user as plain
data from one Core query instead of ORM objects. It must be the same user the ORM reads — the same roles (the
issuer's and the grants that count), memberships, organisations, member roles and current contract — through every
mix of states, on SQLite and PostgreSQL; the read-only paths must ask for nothing else; and nothing of the ORM user
is built for them. Real portal, real database."""

from __future__ import annotations

from datetime import timedelta

from fastapi.routing import APIRoute
from sqlalchemy import event, select, update

from gereedschapskist.portal import deps
from gereedschapskist.portal.models import (
    ContractState, Member, MemberStatus, Organisation, PortalSession, RoleGrant, User, utcnow,
)
from gereedschapskist.portal.principal import READ_ONLY_PATHS, Principal
from gereedschapskist.portal.services.organisations import administered
from gereedschapskist.portal.sessions import RequestDb
from tests.portal.spend_support import make_contract


def _grant(session, *, user_id: int, organisation: str, role: str, days: int = 30, revoked: bool = False) -> None:
    organisation_id = session.scalar(select(Organisation.id).where(Organisation.slug == organisation))
    session.add(RoleGrant(user_id=user_id, organisation_id=organisation_id, role=role, reason="test",
                          granted_by_id=user_id, expires_at=utcnow() + timedelta(days=days),
                          revoked_at=utcnow() if revoked else None, revoked_by_id=user_id if revoked else None))


def _both_ways(app, client) -> tuple[Principal, Principal, User]:
    """The session's user read as the principal and as the ORM user (each as the session middleware reads it)."""
    store = app.state.portal.session_store
    cookie = client.cookies.get(app.state.portal.settings.session_cookie)
    plain, orm = RequestDb(store.sessions), RequestDb(store.sessions)
    try:
        assert store.load(cookie, db=plain, principal=True) is not None
        assert store.load(cookie, db=orm) is not None
        assert plain.user is None and orm.principal is None
        return plain.principal, Principal.of(orm.user), orm.user
    finally:
        plain.close()
        orm.close()


def _facts(p: Principal) -> dict:
    return {"role_ids": p.role_ids, "issuer": p.issuer_role_ids, "granted": p.granted_role_ids,
            "active": [(m.organisation.slug, m.role_names) for m in p.active_memberships()],
            "admin of": [o.slug for o in administered(p)], "name": p.display_name()}


def test_the_principal_is_the_orm_user_through_every_mix_of_states(app, client, login):
    kim = login("kim", ["role:bi", "role:dev", "org:cbs", "org:minfin", "org-admin:minfin"])
    sessions = app.state.portal.sessions
    plain, orm, _ = _both_ways(app, client)
    assert plain == orm and plain.role_ids == ["bi", "dev"]
    steps = [
        ("a grant that counts", lambda s: _grant(s, user_id=kim.user_id, organisation="minfin", role="ml")),
        ("an expired grant", lambda s: _grant(s, user_id=kim.user_id, organisation="minfin", role="streaming",
                                              days=-1)),
        ("a revoked grant", lambda s: _grant(s, user_id=kim.user_id, organisation="cbs", role="streaming",
                                             revoked=True)),
        ("a contract for minfin", lambda s: make_contract(s, organisation="minfin", by="kim",
                                                          state=ContractState.ACTIVE)),
        ("a grant of cbs, then kim leaves cbs", lambda s: (
            _grant(s, user_id=kim.user_id, organisation="cbs", role="streaming"), s.flush(),
            s.execute(update(Member).where(Member.user_id == kim.user_id, Member.organisation_id == select(
                Organisation.id).where(Organisation.slug == "cbs").scalar_subquery()).values(
                status=MemberStatus.FORMER)))),
    ]
    for what, change in steps:
        with sessions() as session:
            change(session)
            session.commit()
        plain, orm, user = _both_ways(app, client)
        assert plain == orm, what
        assert _facts(plain) == _facts(orm), what
        assert plain.role_ids == user.role_ids, what
    assert plain.role_ids == ["bi", "dev", "ml"]                 # the ml grant; not the expired, revoked or cbs one
    assert [m.organisation.slug for m in plain.active_memberships()] == ["minfin"]
    assert plain.memberships[1].organisation.current_contract_id is not None      # minfin's active contract
    assert [o.slug for o in administered(plain)] == ["minfin"]


def test_a_user_without_roles_or_memberships(app, client, login):
    login("femke", ["gereedschapskist:admins"])
    plain, orm, _ = _both_ways(app, client)
    assert plain == orm and plain.platform_admin and plain.role_ids == [] and plain.memberships == ()


def _calls(dependant) -> set:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def test_the_read_only_paths_routes_ask_for_the_principal_and_never_for_the_orm_user(app):
    routes = {(route.path, method): route for route in app.routes if isinstance(route, APIRoute)
              for method in route.methods}
    for path in READ_ONLY_PATHS:
        calls = _calls(routes[(path, "GET")].dependant)
        assert deps.current_principal in calls, path
        assert not calls & {deps.current_user, deps.optional_user}, path
    # and the other way round: a route that takes the principal is a read-only path (else it pays for both)
    takers = {(path, method) for (path, method), route in routes.items()
              if deps.current_principal in _calls(route.dependant)}
    assert takers == {(path, "GET") for path in READ_ONLY_PATHS}, takers


def test_no_orm_user_is_built_on_a_read_only_path_and_one_is_elsewhere(app, client, login):
    login("kim", ["role:bi", "org:minfin", "org-admin:minfin"])
    built: list[str] = []

    def count(target, _context) -> None:
        built.append(type(target).__name__)

    for model in (User, Member, Organisation):
        event.listen(model, "load", count)
    try:
        for path in sorted(READ_ONLY_PATHS):
            assert client.get(path).status_code == 200, path
        assert built == [], built
        assert client.get("/api/v1/me").status_code == 200
        assert "User" in built and "Member" in built
    finally:
        for model in (User, Member, Organisation):
            event.remove(model, "load", count)


def test_an_expired_session_on_a_read_only_path_is_deleted_and_refused(app, client, login):
    login("kim", ["role:bi", "org:minfin"])
    assert client.get("/api/v1/bundles").status_code == 200
    with app.state.portal.sessions() as session:
        session.execute(update(PortalSession).values(created_at=utcnow() - timedelta(days=30)))
        session.commit()
    assert client.get("/api/v1/bundles").status_code == 401
    with app.state.portal.sessions() as session:
        assert session.scalars(select(PortalSession)).all() == []


def test_a_route_on_a_read_only_path_can_still_have_the_orm_user(app, client, login):
    """``RequestDb.load_user``: what ``deps.optional_user`` does when such a route asks for the ORM user after all."""
    login("kim", ["role:bi", "org:minfin"])
    store = app.state.portal.session_store
    db = RequestDb(store.sessions)
    try:
        assert store.load(client.cookies.get(app.state.portal.settings.session_cookie), db=db, principal=True)
        user = db.load_user()
        assert isinstance(user, User) and user.id == db.principal.id and db.user is user
        assert Principal.of(user) == db.principal
    finally:
        db.close()
