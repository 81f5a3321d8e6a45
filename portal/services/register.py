"""Appending to the processing register (never updating it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import RegisterAction, RegisterEntry, User, Workspace


def record(session: Session, *, action: RegisterAction, workspace: Workspace, actor: User | None,
           details: dict[str, Any] | None = None, purpose: str | None = None) -> RegisterEntry:
    subject = f"bundle {workspace.bundle_id} {workspace.bundle_version} ({workspace.size_id}) in " \
              f"{workspace.environment.name}"
    entry = RegisterEntry(action=action, workspace_id=workspace.id,
                          actor_id=actor.id if actor else None, organisation_id=workspace.organisation_id,
                          subject=subject, purpose=purpose, details=details or {})
    session.add(entry)
    return entry


def entries_for_workspace(session: Session, *, workspace: Workspace) -> list[RegisterEntry]:
    return list(session.scalars(select(RegisterEntry).where(RegisterEntry.workspace_id == workspace.id)
                                .order_by(RegisterEntry.id)))
