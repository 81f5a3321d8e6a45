"""The processing register in the JSON API (issue 15): read it page by page and export it as CSV or JSON, per
organisation, dataset or person, within what the caller sees (``services/register_export.py``: a platform admin
everything, an organisation admin their organisations', a data owner their datasets', every member their own)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ..deps import CurrentUser, SessionDep, StateDep
from ..services import register_export as service
from .schemas import API_PREFIX, ERRORS

router = APIRouter(prefix=API_PREFIX, tags=["processing register"])
Name = Annotated[str | None, Query(max_length=255, description="one of organisation (slug), dataset (id or "
                                                               "identifier) or person (user name); none: everything "
                                                               "you see")]


class EntryOut(BaseModel):
    sequence: int
    at: str = Field(description="when (ISO 8601, UTC)")
    action: str
    actor: str | None = Field(description="who acted (user name); null: the portal itself")
    person: str | None = Field(description="whose data use or request it is (user name)")
    organisation: str | None
    dataset_id: int | None
    dataset: str | None = Field(description="the dataset's identifier")
    workspace_id: int | None
    workspace: str | None = Field(description="how: the workspace's server name")
    bundle: str | None = Field(description="how: the workspace's bundle and version")
    purpose: str | None
    purpose_code: str | None
    legal_ground: str | None
    subject: str
    details: Any
    digest_version: int
    previous_hash: str
    entry_hash: str


class EntriesOut(BaseModel):
    entries: list[EntryOut]
    total: int
    page: int
    per_page: int
    selection: dict[str, Any]


@router.get("/register", responses=ERRORS, summary="Processing register entries you may see")
def register_entries(user: CurrentUser, session: SessionDep, organisation: Name = None, dataset: Name = None,
                     person: Name = None, page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> EntriesOut:
    """Newest first, 50 a page. A platform admin sees every entry; an organisation admin their organisations'; a
    data owner those about their datasets; every member their own. Asking for an organisation, dataset or person you
    have no ground for is refused (403), never answered with an empty list."""
    chosen = service.selection(session, user=user, organisation=organisation, dataset=dataset, person=person)
    result = service.page(session, chosen=chosen, page=page)
    return EntriesOut(entries=[EntryOut(**e) for e in result.entries], total=result.total, page=result.page,
                      per_page=result.per_page, selection=chosen.as_dict())


@router.get("/register/export", responses={**ERRORS, 200: {"content": {"text/csv": {}, "application/json": {}},
                                                            "description": "the entries, streamed"}},
            summary="Export the processing register (CSV or JSON)", response_class=StreamingResponse)
def register_export(user: CurrentUser, session: SessionDep, state: StateDep, organisation: Name = None,
                    dataset: Name = None, person: Name = None,
                    format: Annotated[str, Query(max_length=16, pattern="^(csv|json)$")] = "csv"):
    """Every entry of the selection you may see, oldest first, streamed: who, which dataset, how (workspace,
    bundle), when, purpose and legal ground, and its place in the chain (sequence, hashes). The export itself is
    written to the register first (``register-exported``); ``X-Register-Entries`` says how many entries follow."""
    chosen = service.selection(session, user=user, organisation=organisation, dataset=dataset, person=person)
    upto, entries = service.record_export(session, actor=user, chosen=chosen, fmt=format, via="api")
    session.commit()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    name = service.filename(chosen, format, stamp)
    return StreamingResponse(service.stream(state.sessions, chosen=chosen, upto=upto, fmt=format), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "X-Register-Entries": str(entries), "X-Register-Upto": str(upto)})
