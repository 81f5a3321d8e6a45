"""The processing register: append-only entries of who did what, with which data, when and why.

Rows are never updated or deleted — the ORM refuses it here and database triggers (see the migrations)
refuse it for anyone else; on PostgreSQL the portal's runtime role may only INSERT and SELECT. Entries are
hash-chained: each stores :func:`entry_digest` of its own content and of the previous entry's digest, with
a gapless ``sequence``, so an edited, deleted or reordered entry breaks the chain (``gereedschapskist
register verify``). Workspace launches and stops are recorded now; data use (dataset, grant, purpose, legal
ground) joins in later with nullable columns.

Since migration 0011 an entry also names the dataset it concerns (``dataset_id``) and the person whose data use or
request it is (``person_id``: the requester or grantee, a workspace's owner), both indexed with ``sequence`` so the
register is read and exported per dataset and per person without a scan. Their digest is version 2
(:func:`entry_digest_v2`, which covers the two columns); ``digest_version`` says which version an entry was written
with. Entries written before 0011 keep version 1 (:func:`entry_digest`, frozen) and are checked exactly as written;
a version-1 entry never names a dataset or person in these columns (they are outside its digest), so
``verify`` treats one that does as changed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, enum_column, utcnow


class RegisterAction(StrEnum):
    WORKSPACE_LAUNCHED = "workspace-launched"
    WORKSPACE_STARTED = "workspace-started"
    WORKSPACE_FAILED = "workspace-failed"
    WORKSPACE_STOPPED = "workspace-stopped"
    WORKSPACE_RESTARTED = "workspace-restarted"
    WORKSPACE_RENAMED = "workspace-renamed"
    WORKSPACE_DELETED = "workspace-deleted"
    #: an admin exported register entries (CSV/JSON; the filter and the number of entries in ``details``). Needs
    #: the register_action CHECK constraint widened by the next migration that widens it (0005/0006).
    REGISTER_EXPORTED = "register-exported"
    #: an organisation admin granted or revoked a workbench role (``models/grant.py``; migration 0006)
    ROLE_GRANTED = "role-granted"
    ROLE_REVOKED = "role-revoked"
    #: a handover: a leaving member's membership ended, their stopped workspaces and home folder went to a colleague
    MEMBER_HANDED_OVER = "member-handed-over"
    WORKSPACE_HANDED_OVER = "workspace-handed-over"
    MEMBER_READMITTED = "member-readmitted"
    #: a standard contract changed state (``models/contract.py``; migration 0008): one action per state reached
    CONTRACT_DRAFTED = "contract-drafted"
    CONTRACT_REQUESTED = "contract-requested"
    CONTRACT_APPROVED = "contract-approved"
    CONTRACT_REJECTED = "contract-rejected"
    CONTRACT_PROVISIONING = "contract-provisioning"
    CONTRACT_ACTIVATED = "contract-activated"
    CONTRACT_SUSPENDED = "contract-suspended"
    CONTRACT_ENDED = "contract-ended"
    #: issue 14's operations (migration 0009): a provisioning attempt failed (it is retried); the 80 % budget
    #: warning went out; the contract document was made; a size on request was asked for, decided or ended; a
    #: workspace was stopped because its contract was suspended or ended or its size on request ended
    CONTRACT_PROVISIONING_FAILED = "contract-provisioning-failed"
    CONTRACT_BUDGET_WARNED = "contract-budget-warned"
    CONTRACT_DOCUMENT_MADE = "contract-document-made"
    SIZE_REQUESTED = "size-requested"
    SIZE_APPROVED = "size-approved"
    SIZE_REJECTED = "size-rejected"
    SIZE_EXPIRED = "size-expired"
    WORKSPACE_STOPPED_BY_CONTRACT = "workspace-stopped-by-contract"
    #: a platform admin changed a contract's budget (old and new in ``details``; ``services/contracts.py``)
    CONTRACT_BUDGET_CHANGED = "contract-budget-changed"
    #: access to data (issue 15; migration 0010): a request, its decision (an automatic one names the earlier
    #: approval it relied on in ``details``), the grant it became, a data owner turning automatic approval on or off;
    #: expiry, revocation and mounts are for the hub's part of issue 15 (the actions exist already)
    ACCESS_REQUESTED = "access-requested"
    ACCESS_APPROVED = "access-approved"
    ACCESS_REJECTED = "access-rejected"
    ACCESS_GRANTED = "access-granted"
    ACCESS_EXPIRED = "access-expired"
    ACCESS_REVOKED = "access-revoked"
    DATASET_AUTO_APPROVAL_CHANGED = "dataset-auto-approval-changed"
    DATASET_MOUNTED = "dataset-mounted"
    #: a member requested a bundle (supply model d; migration 0012), its pull request was opened, a platform admin
    #: marked it merged or rejected (``services/bundle_requests.py``)
    BUNDLE_REQUESTED = "bundle-requested"
    BUNDLE_REQUEST_PR_OPENED = "bundle-request-pr-opened"
    BUNDLE_REQUEST_MERGED = "bundle-request-merged"
    BUNDLE_REQUEST_REJECTED = "bundle-request-rejected"
    #: an app or dashboard was published (a new version), unpublished, or rolled back to its previous version
    #: (issue 17, section 1; migration 0013; ``services/apps.py``)
    APP_PUBLISHED = "app-published"
    APP_UNPUBLISHED = "app-unpublished"
    APP_ROLLED_BACK = "app-rolled-back"


#: The digest version new entries are written with (:func:`entry_digest_v2`).
DIGEST_VERSION = 2


class RegisterEntry(Base):
    __tablename__ = "register_entry"
    __table_args__ = (Index("ix_register_entry_organisation_id_at", "organisation_id", "at"),
                      Index("ix_register_entry_dataset_id_sequence", "dataset_id", "sequence"),
                      Index("ix_register_entry_person_id_sequence", "person_id", "sequence"),
                      Index("ix_register_entry_actor_id_sequence", "actor_id", "sequence"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), doc="who; NULL = the portal itself")
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    action: Mapped[RegisterAction] = mapped_column(enum_column(RegisterAction, "register_action"))
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspace.id"), index=True)
    subject: Mapped[str] = mapped_column(String(255), doc="what, e.g. bundle bi-sql-duckdb 1.0.0 (small)")
    purpose: Mapped[str | None] = mapped_column(Text, doc="why, when the user gave a purpose")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sequence: Mapped[int] = mapped_column(unique=True, doc="place in the chain: 1, 2, 3, … without gaps")
    previous_hash: Mapped[str] = mapped_column(String(64), doc="entry_hash of entry sequence - 1 (GENESIS for 1)")
    entry_hash: Mapped[str] = mapped_column(String(64), doc="entry_digest of this entry's content")
    #: migration 0011: which dataset, whose data use (see the module's text); covered by digest version 2
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("dataset.id"), doc="the dataset the entry concerns")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"),
                                                  doc="whose data use or request it is (requester, grantee, owner)")
    digest_version: Mapped[int] = mapped_column(SmallInteger, default=DIGEST_VERSION, server_default="1",
                                                doc="the entry_digest version entry_hash was made with (1 or 2)")

    def digest(self) -> str:
        """The digest this entry's stored content has now (equal to ``entry_hash`` unless it was altered)."""
        return digest_of(digest_version=self.digest_version, sequence=self.sequence, at=self.at,
                         actor_id=self.actor_id, organisation_id=self.organisation_id, action=self.action,
                         workspace_id=self.workspace_id, subject=self.subject, purpose=self.purpose,
                         details=self.details, previous_hash=self.previous_hash, dataset_id=self.dataset_id,
                         person_id=self.person_id)


#: The previous_hash of the first entry.
GENESIS = "0" * 64


def entry_digest(*, sequence: int, at: datetime, actor_id: int | None, organisation_id: int | None, action: str,
                 workspace_id: int | None, subject: str, purpose: str | None, details: Any,
                 previous_hash: str) -> str:
    """SHA-256 (hex) of an entry's canonical content, version 1 — frozen: entries already written are checked
    against exactly this form, so a change needs a new version field, never an edit here.

    The canonical content is JSON with sorted keys and no spaces; the time is UTC with microseconds.
    """
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    content = {
        "v": 1, "sequence": sequence, "at": at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": actor_id, "organisation_id": organisation_id, "action": str(getattr(action, "value", action)),
        "workspace_id": workspace_id, "subject": subject, "purpose": purpose, "details": details,
        "previous_hash": previous_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def entry_digest_v2(*, sequence: int, at: datetime, actor_id: int | None, organisation_id: int | None, action: str,
                    workspace_id: int | None, subject: str, purpose: str | None, details: Any, previous_hash: str,
                    dataset_id: int | None, person_id: int | None) -> str:
    """SHA-256 (hex) of an entry's canonical content, version 2 (migration 0011) — frozen like version 1: version 1's
    content with ``"v": 2`` and the entry's ``dataset_id`` and ``person_id``."""
    content = {
        "v": 2, "sequence": sequence, "at": _utc_text(at), "actor_id": actor_id, "organisation_id": organisation_id,
        "action": str(getattr(action, "value", action)), "workspace_id": workspace_id, "subject": subject,
        "purpose": purpose, "details": details, "previous_hash": previous_hash, "dataset_id": dataset_id,
        "person_id": person_id,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _utc_text(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UnknownDigestVersion(ValueError):
    pass


def digest_of(*, digest_version: int | None, dataset_id: int | None = None, person_id: int | None = None,
              **content: Any) -> str:
    """The digest of an entry's content by its ``digest_version``. A version-1 entry that names a dataset or person
    has content its digest does not cover: its digest is then refused (``"v1-with-v2-columns"``, never equal to a
    SHA-256 hex), so ``verify`` reports it as changed."""
    if digest_version == 2:
        return entry_digest_v2(dataset_id=dataset_id, person_id=person_id, **content)
    if digest_version == 1:
        if dataset_id is not None or person_id is not None:
            return "v1-with-v2-columns"
        return entry_digest(**content)
    raise UnknownDigestVersion(f"digest_version = {digest_version!r}: this portal knows versions 1 and 2")


class RegisterIsAppendOnly(Exception):
    pass


@event.listens_for(RegisterEntry, "before_update")
@event.listens_for(RegisterEntry, "before_delete")
def _refuse_changes(mapper: Any, connection: Any, target: RegisterEntry) -> None:
    raise RegisterIsAppendOnly(f"register entry {target.id} cannot be changed or deleted: the register is "
                               "append-only")
