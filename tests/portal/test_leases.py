"""The database lease (portal/services/leases.py) that gives background work to one worker per deployment, on the real
database (SQLite; PostgreSQL when the test URL is set): take, renew, refuse while held, expire, release, and a race of
many threads, each with its own connection, for a new lease and for an expired one: exactly one wins each time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from gereedschapskist.portal.models import Lease, utcnow
from gereedschapskist.portal.services import leases


@pytest.fixture
def factory(app, client):
    return app.state.portal.sessions


def test_take_renew_refuse_expire_and_release(factory):
    now = utcnow()
    assert leases.take(factory, "work", holder="a", seconds=30, now=now)
    assert leases.take(factory, "work", holder="a", seconds=30, now=now + timedelta(seconds=10))     # renewal
    assert not leases.take(factory, "work", holder="b", seconds=30, now=now + timedelta(seconds=39))
    with factory() as session:
        lease = session.get(Lease, "work")
        assert (lease.holder, lease.expires_at) == ("a", now + timedelta(seconds=40))
    assert leases.take(factory, "work", holder="b", seconds=30, now=now + timedelta(seconds=40))      # expired
    assert not leases.take(factory, "work", holder="a", seconds=30, now=now + timedelta(seconds=41))
    assert leases.take(factory, "other", holder="a", seconds=30, now=now)            # leases are independent
    leases.release(factory, "work", holder="a")                   # not a's any more: nothing happens
    assert not leases.take(factory, "work", holder="c", seconds=30, now=now + timedelta(seconds=42))
    leases.release(factory, "work", holder="b")
    assert leases.take(factory, "work", holder="c", seconds=30, now=now + timedelta(seconds=42))


def test_holders_are_unique_per_process_and_call():
    assert leases.new_holder() != leases.new_holder()


@pytest.mark.parametrize("expired_first", [False, True], ids=["new", "expired"])
def test_a_race_of_many_workers_has_exactly_one_winner(factory, expired_first):
    now = utcnow()
    if expired_first:
        assert leases.take(factory, "race", holder="old", seconds=1, now=now - timedelta(seconds=5))
    workers = 8
    barrier = threading.Barrier(workers)
    won: list[str] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(10)
            if leases.take(factory, "race", holder=f"w{i}", seconds=60, now=now):
                won.append(f"w{i}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(won) == 1
    with factory() as session:
        assert session.scalars(select(Lease.holder).where(Lease.name == "race")).all() == won
