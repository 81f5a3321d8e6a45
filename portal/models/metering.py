"""Spend metering and the portal's background-work leases (migration 0009).

A :class:`WorkspaceSession` is one run of a workspace, from started to stopped (``stopped_at`` NULL while it runs),
with the price per hour of its size under its contract *as it was when it started*. Spend is
``sum(price_per_hour × (coalesce(stopped_at, now) − started_at))``, worked out in SQL: the closed runs' part kept per
contract (``contract.closed_spend_eur``, added in the transaction that closes a run, once), the open runs' summed up to
now, so a portal killed in the middle of metering loses nothing and counts nothing twice.

A :class:`Lease` gives one piece of background work (the budget watcher, the provisioner) to one holder at a time
across every uvicorn worker and portal process sharing the database: taken or renewed with one conditional UPDATE or
an INSERT, valid until ``expires_at``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class WorkspaceSession(Base):
    __tablename__ = "workspace_session"
    __table_args__ = (
        # covers the spend aggregate: the overview reads the index alone
        Index("ix_workspace_session_contract_spend", "contract_id", "started_at", "stopped_at", "price_per_hour"),
        # one open run per workspace
        Index("uq_workspace_session_open", "workspace_id", unique=True, sqlite_where=text("stopped_at IS NULL"),
              postgresql_where=text("stopped_at IS NULL")),
        # the open runs per contract: the only sessions spend still sums (closed ones are in the contract's rollup)
        Index("ix_workspace_session_open_contract", "contract_id", "started_at", "price_per_hour",
              sqlite_where=text("stopped_at IS NULL"), postgresql_where=text("stopped_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"), doc="NULL: the shared environment")
    size: Mapped[str] = mapped_column(String(130), doc="'bundle/size'")
    price_per_hour: Mapped[Decimal] = mapped_column(Numeric(10, 4), doc="euros per hour when it started")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), doc="NULL while it runs")


class Lease(Base):
    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True, doc="the work, e.g. budget-watcher")
    holder: Mapped[str] = mapped_column(String(128), doc="who holds it: host, process id and a random part")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
