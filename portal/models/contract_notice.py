"""What the portal told an organisation about one of its contracts (migration 0009): the 80 % budget warning, the
budget spent, the end date reached, a size on request that ended. One row per contract and kind, so a warning goes out
once however many workers or restarts see the threshold; ``emailed_at``/``email_error`` say what SMTP did with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class ContractNotice(Base):
    __tablename__ = "contract_notice"
    __table_args__ = (UniqueConstraint("contract_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64), doc="budget-80, budget-100, ended, size-expired:<id>, ...")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    message: Mapped[str] = mapped_column(Text, doc="Dutch / English, as shown in the portal and e-mailed")
    email_to: Mapped[str | None] = mapped_column(Text, doc="comma-separated addresses it was sent to")
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_error: Mapped[str | None] = mapped_column(Text)
