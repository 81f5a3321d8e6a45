"""The last known peaks of a workspace's CPU and memory, kept after it stops (for right-sizing advice).

One row per workspace that the portal has seen usage of. The hub measures (``hub/usage.py``); the portal stores the
highest figures it read, so the advice survives the server, a restart of the hub, and the idle culler's stop.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class WorkspaceUsage(Base):
    __tablename__ = "workspace_usage"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"), primary_key=True)
    peak_cpu_percent: Mapped[float] = mapped_column(Float, doc="highest CPU use seen, in percent of one CPU")
    peak_rss_bytes: Mapped[int] = mapped_column(BigInteger, doc="highest memory use seen (resident, bytes)")
    samples: Mapped[int] = mapped_column(Integer, default=0, doc="how many samples the hub took in the last run")
    run_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), doc="start of the run the peaks are of")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
