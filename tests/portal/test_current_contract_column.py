"""The current contract's id read with the request's user (``Organisation.current_contract_id``, issue 13) follows
exactly the rule of ``services/environments.current_contract`` (active before suspended before provisioning, approved,
requested, ended; among equals the newest; drafts and rejected orders never), on SQLite and PostgreSQL, through every
mix of states; and a catalogue read sees a contract made by another process at its next request."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import undefer

from gereedschapskist.portal.models import Contract, ContractState, Organisation
from gereedschapskist.portal.services.environments import current_contract
from tests.portal.spend_support import make_contract
from tests.portal.support import make_user

S = ContractState


def _both(sessions, slug: str) -> tuple[int | None, int | None]:
    with sessions() as session:
        org = session.scalar(select(Organisation).where(Organisation.slug == slug)
                            .options(undefer(Organisation.current_contract_id)))
        by_rule = current_contract(session, organisation=org)
        return org.current_contract_id, by_rule.id if by_rule else None


def test_the_column_picks_the_contract_the_rule_picks_through_every_mix_of_states(app, client):  # client: lifespan
    sessions = app.state.portal.sessions
    make_user(sessions, username="dana", groups=["org:minfin", "org-admin:minfin"])
    make_user(sessions, username="bram", groups=["org:cbs", "org-admin:cbs"])
    assert _both(sessions, "minfin") == (None, None)
    seen = []
    for state in (S.DRAFT, S.REJECTED, S.ENDED, S.ENDED, S.REQUESTED, S.APPROVED, S.PROVISIONING, S.SUSPENDED,
                  S.ACTIVE, S.REQUESTED, S.ACTIVE, S.DRAFT):
        with sessions() as session:
            made = make_contract(session, state=state)
            session.commit()
            seen.append((state, made.id))
        column, rule = _both(sessions, "minfin")
        assert column == rule, (seen, column, rule)
        if state not in (S.DRAFT, S.REJECTED):
            assert rule is not None
    assert _both(sessions, "minfin")[0] == max(i for s, i in seen if s is S.ACTIVE)   # the newest active one
    assert _both(sessions, "cbs") == (None, None)                                      # another organisation's: none


def test_a_catalogue_read_sees_a_contract_made_elsewhere_at_its_next_request(app, client, login):
    login("dana", ["org:minfin", "org-admin:minfin"], on=client)
    login("anna", ["org:minfin", "role:bi", "role:ml"])
    before = {b["id"] for b in client.get("/api/v1/bundles").json()}
    assert len(before) > 1, before
    with app.state.portal.sessions() as session:         # as another worker would: not through this client
        make_contract(session, organisation="minfin", state=S.ACTIVE)
        session.commit()
    assert [b["id"] for b in client.get("/api/v1/bundles").json()] == ["bi-sql-duckdb"]
    with app.state.portal.sessions() as session:
        for contract in session.scalars(select(Contract)):
            contract.state = S.ENDED
        session.commit()
    assert [b["id"] for b in client.get("/api/v1/bundles").json()] == ["bi-sql-duckdb"]   # an ended one still holds
