"""Environments: where an organisation's workspaces run."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import HubUnavailable
from ..models import Environment, EnvironmentKind, EnvironmentStage, EnvironmentStatus, Organisation, User


def register_environment(session: Session, *, name: str, kind: EnvironmentKind, stage: EnvironmentStage,
                         hub_url: str, hub_api_url: str, organisation: Organisation | None = None) -> Environment:
    """Create or update the record of a deployed hub (idempotent; the embedded default calls it at start)."""
    environment = session.scalar(select(Environment).where(Environment.name == name))
    if environment is None:
        environment = Environment(name=name, kind=kind, stage=stage, hub_url=hub_url, hub_api_url=hub_api_url,
                                  organisation=organisation, status=EnvironmentStatus.ACTIVE)
        session.add(environment)
    else:
        environment.kind, environment.stage = kind, stage
        environment.hub_url, environment.hub_api_url = hub_url, hub_api_url
        environment.organisation = organisation
        environment.status = EnvironmentStatus.ACTIVE
    session.flush()
    return environment


def list_environments(session: Session) -> list[Environment]:
    return list(session.scalars(select(Environment).order_by(Environment.name)))


def visible_environments(session: Session, *, user: User) -> list[Environment]:
    """The environments a user may know of: platform admins all; anyone else the shared ones and those of
    their own (active) organisations."""
    statement = select(Environment).order_by(Environment.name)
    if not user.platform_admin:
        mine = [m.organisation_id for m in user.active_memberships()]
        statement = statement.where(Environment.organisation_id.is_(None) | Environment.organisation_id.in_(mine))
    return list(session.scalars(statement))


def environment_for(session: Session, *, organisation: Organisation) -> Environment:
    """The organisation's own active environment (production before development), else the shared one."""
    candidates = session.scalars(
        select(Environment).where(Environment.status == EnvironmentStatus.ACTIVE,
                                  (Environment.organisation_id == organisation.id)
                                  | Environment.organisation_id.is_(None))).all()
    if not candidates:
        raise HubUnavailable(f"no environment is registered for organisation {organisation.slug!r}: there is no "
                             "hub to start workspaces in", reason="no-environment")

    def rank(env: Environment) -> tuple[int, int, str]:
        return (0 if env.organisation_id == organisation.id else 1,
                0 if env.stage is EnvironmentStage.PRODUCTION else 1, env.name)

    return sorted(candidates, key=rank)[0]
