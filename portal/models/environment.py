"""Environments: the deployed hubs workspaces run in.

An environment is *local* (the embedded default on one machine) or *cloud* (a cluster stood up by
``infra/``), and *development* (flexible) or *production* (strict). An environment with no
organisation is shared (the embedded default); one provisioned for a standard contract names it
(``contract_id``, set by the contract's provisioner).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, utcnow
from .organisation import Organisation


class EnvironmentKind(StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"


class EnvironmentStage(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class EnvironmentStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class Environment(Base):
    __tablename__ = "environment"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[EnvironmentKind] = mapped_column(enum_column(EnvironmentKind, "environment_kind"))
    stage: Mapped[EnvironmentStage] = mapped_column(enum_column(EnvironmentStage, "environment_stage"))
    status: Mapped[EnvironmentStatus] = mapped_column(enum_column(EnvironmentStatus, "environment_status"),
                                                      default=EnvironmentStatus.ACTIVE)
    hub_url: Mapped[str] = mapped_column(String(500), doc="public URL users open")
    hub_api_url: Mapped[str] = mapped_column(String(500), doc="the hub's REST API")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"),
                                                        doc="owner; NULL = shared by every organisation")
    contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("contract.id", use_alter=True), index=True,
        doc="the standard contract it was provisioned for (migration 0009); NULL: the shared embedded default")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation | None] = relationship()
