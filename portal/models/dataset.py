"""Datasets and access to them (issue 15; migration 0010).

A :class:`Dataset` is metadata read from a publication point (DCAT-AP or CKAN, ``portal/services/dataset_import.py``)
with a local data file. A member asks for one with an :class:`AccessRequest` (purpose, legal ground, workbench role,
period); the dataset's data owner decides, or the portal approves automatically on an earlier approval
(``relied_on``). An approved request becomes a :class:`DatasetGrant` with an expiry.

The policy lists (sensitivity levels with their maximum grant period, purpose codes, legal grounds) are defined once,
in ``portal/services/access_policy.py``; the README's "Access to data" section lists them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, utcnow
from .organisation import Organisation, User


class DatasetCategory(StrEnum):
    PERSON = "person"
    BUSINESS = "business"
    LOCATION = "location"
    SENSOR = "sensor"
    OTHER = "other"


class SensitivityLevel(StrEnum):
    """How sensitive a dataset is; each level has a maximum grant period (``access_policy.MAX_GRANT_DAYS``)."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    SPECIAL = "special"          # special categories of personal data (AVG art. 9/10)


class AccessRequestState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


class Dataset(Base):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255), unique=True, doc="dct:identifier / CKAN name at the source")
    title_nl: Mapped[str] = mapped_column(String(500))
    title_en: Mapped[str | None] = mapped_column(String(500))
    description_nl: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str | None] = mapped_column(Text)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True,
                                                 doc="the owner organisation")
    data_owner_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"),
                                                      doc="the data owner (bronhouder): a data owner of the "
                                                          "organisation; NULL = any of its data owners")
    category: Mapped[DatasetCategory] = mapped_column(enum_column(DatasetCategory, "dataset_category"))
    sensitivity: Mapped[SensitivityLevel] = mapped_column(enum_column(SensitivityLevel, "sensitivity_level"))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    source_url: Mapped[str | None] = mapped_column(String(1000), doc="the landing page or the record at the source")
    data_path: Mapped[str | None] = mapped_column(String(500), doc="the data file, relative to the data store")
    auto_approval: Mapped[bool] = mapped_column(default=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    data_owner: Mapped[User | None] = relationship(lazy="joined")

    def title(self, language: str) -> str:
        return (self.title_en if language == "en" and self.title_en else self.title_nl)

    def description(self, language: str) -> str:
        return (self.description_en if language == "en" and self.description_en else self.description_nl)


class AccessRequest(Base):
    __tablename__ = "access_request"
    __table_args__ = (
        Index("ix_access_request_dataset_id_state", "dataset_id", "state"),
        Index("ix_access_request_requester_id", "requester_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), doc="the organisation they act for")
    role: Mapped[str] = mapped_column(String(64), doc="the workbench role they act in")
    purpose: Mapped[str] = mapped_column(Text)
    purpose_code: Mapped[str] = mapped_column(String(64))
    legal_ground: Mapped[str] = mapped_column(String(64))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date, doc="the last day of access")
    state: Mapped[AccessRequestState] = mapped_column(enum_column(AccessRequestState, "access_request_state"),
                                                      default=AccessRequestState.REQUESTED)
    automatic: Mapped[bool] = mapped_column(default=False, doc="approved by the portal on an earlier approval")
    relied_on_id: Mapped[int | None] = mapped_column(ForeignKey("access_request.id"),
                                                     doc="the earlier approval an automatic one relied on")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    dataset: Mapped[Dataset] = relationship(lazy="joined")
    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    organisation: Mapped[Organisation] = relationship(lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    grant: Mapped["DatasetGrant | None"] = relationship(back_populates="access_request", uselist=False)

    def details(self) -> dict[str, Any]:
        return {"access_request": self.id, "dataset": self.dataset.identifier, "dataset_id": self.dataset_id,
                "member": self.requester.username, "role": self.role, "purpose_code": self.purpose_code,
                "legal_ground": self.legal_ground, "starts_on": self.starts_on.isoformat(),
                "ends_on": self.ends_on.isoformat(), "state": self.state.value}


class DatasetGrant(Base):
    """Access to a dataset for one member, until ``expires_at`` (mounting into workspaces comes later)."""

    __tablename__ = "dataset_grant"
    __table_args__ = (Index("ix_dataset_grant_user_id_expires_at", "user_id", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    access_request_id: Mapped[int] = mapped_column(ForeignKey("access_request.id"), unique=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    access_request: Mapped[AccessRequest] = relationship(back_populates="grant")

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.starts_at <= now < self.expires_at
