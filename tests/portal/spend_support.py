"""Helpers of the spend tests (issue 14): an active contract and a workspace under it, written straight to the
database (ordering and approval are tested in test_contracts_service.py), and the portal on fake hubs (fixtures
``fake`` and ``app``, imported by the test modules that use them)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import (
    Contract, ContractState, EnvironmentStage, Environment, Organisation, User, Workspace, WorkspaceStatus,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def fake():
    """The fake hubs the spend tests' portal talks to (import it with ``app`` into a test module)."""
    from tests.portal.fakehub import FakeHubs
    return FakeHubs()


@pytest.fixture
def app(settings, fake):
    """The portal of the spend tests, on the fake hubs."""
    return create_app(settings, hub_factory=fake.factory)


def make_contract(session, *, organisation: str = "minfin", by: str = "dana", budget: str = "100",
                  starts_on: date = date(2026, 3, 1), ends_on: date = date(2026, 3, 31),
                  state: ContractState = ContractState.ACTIVE, eur_per_hour: float = 2.0,
                  environment: Environment | None = None) -> Contract:
    org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
    creator = session.scalar(select(User).where(User.username == by))
    line = {"bundle": "bi-sql-duckdb", "size": "small", "label": "small", "eur_per_hour": eur_per_hour,
            "explicit": False, "machine": "m", "hours_per_month": 1.0, "per_month": 1.0, "period": 1.0}
    contract = Contract(organisation=org, organisation_id=org.id, state=state, partner="aws",
                        region="eu-central-1", stage=EnvironmentStage.DEVELOPMENT, provisioner="local", roles=["bi"],
                        bundles=["bi-sql-duckdb"], sizes=["bi-sql-duckdb/small"], expected_users=2,
                        hours_per_week=Decimal("10"), budget_eur=Decimal(budget), starts_on=starts_on,
                        ends_on=ends_on, contact="Dana", cost_centre="KP-1",
                        estimate={"lines": [line], "per_month": 1.0, "period": 1.0, "days": 30, "budget_eur": 100},
                        created_by=creator, environment=environment)
    session.add(contract)
    session.flush()
    return contract


def make_workspace(session, *, username: str, organisation: str, contract: Contract | None,
                   status: WorkspaceStatus = WorkspaceStatus.STARTING, server_name: str | None = None) -> Workspace:
    user = session.scalar(select(User).where(User.username == username))
    org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
    env = session.scalar(select(Environment).order_by(Environment.id))
    workspace = Workspace(user=user, organisation=org, environment=env, contract_id=contract.id if contract else None,
                          server_name=server_name or f"bi-sql-duckdb-{username[:4]}{len(username):02d}",
                          bundle_id="bi-sql-duckdb", bundle_version="1.0.0", size_id="small",
                          interface="jupyterlab", status=status)
    session.add(workspace)
    session.flush()
    return workspace


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
