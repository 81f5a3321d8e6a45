"""The processing register: append-only entries of who did what, with which data, when and why.

Rows are never updated or deleted — the ORM refuses it here and database triggers (see the migration)
refuse it for anyone else. Workspace launches and stops are recorded now; data use (dataset, grant,
purpose, legal ground) joins in later with nullable columns.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, enum_column, utcnow


class RegisterAction(StrEnum):
    WORKSPACE_LAUNCHED = "workspace-launched"
    WORKSPACE_STARTED = "workspace-started"
    WORKSPACE_FAILED = "workspace-failed"
    WORKSPACE_STOPPED = "workspace-stopped"


class RegisterEntry(Base):
    __tablename__ = "register_entry"
    __table_args__ = (Index("ix_register_entry_organisation_id_at", "organisation_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), doc="who; NULL = the portal itself")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    action: Mapped[RegisterAction] = mapped_column(enum_column(RegisterAction, "register_action"))
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspace.id"), index=True)
    subject: Mapped[str] = mapped_column(String(255), doc="what, e.g. bundle bi-sql-duckdb 1.0.0 (small)")
    purpose: Mapped[str | None] = mapped_column(Text, doc="why, when the user gave a purpose")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RegisterIsAppendOnly(Exception):
    pass


@event.listens_for(RegisterEntry, "before_update")
@event.listens_for(RegisterEntry, "before_delete")
def _refuse_changes(mapper: Any, connection: Any, target: RegisterEntry) -> None:
    raise RegisterIsAppendOnly(f"register entry {target.id} cannot be changed or deleted: the register is "
                               "append-only")
