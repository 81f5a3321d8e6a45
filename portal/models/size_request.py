"""Sizes on request (migration 0009): a member asks for a GPU size, or a size above what their contract offers by
default, with a reason and an end date; an admin of the contract's organisation decides. Approved, the size is offered
to that member under that contract until ``ends_on`` (inclusive); after it, it is no longer offered and a workspace
running in it is stopped (``expired``)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, utcnow
from .organisation import User


class SizeRequestState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class SizeRequest(Base):
    __tablename__ = "size_request"
    __table_args__ = (Index("ix_size_request_contract_id_state", "contract_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    bundle: Mapped[str] = mapped_column(String(64))
    size: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    ends_on: Mapped[date] = mapped_column(Date, doc="the last day the size is offered")
    state: Mapped[SizeRequestState] = mapped_column(enum_column(SizeRequestState, "size_request_state"),
                                                    default=SizeRequestState.REQUESTED)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
