"""The admin screens (``/admin/…``): organisations with their members, environments with their hubs' health,
usage, and the processing register (browse, filter, export).

Organisations and environments are for platform admins only. Usage and the register are also for organisation
admins, scoped to their own organisations (:func:`~..services.admin_scope.admin_scope`); everyone else gets 403,
anonymous visitors go to ``/login``. The register export is a CSRF-protected POST: it is written to the register
before the rows stream out.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..deps import CsrfForm, CurrentUser, HubsDep, SessionDep, StateDep
from ..errors import Forbidden, InvalidInput
from ..models import (
    ACTIVE_STATUSES, Member, MemberStatus, Organisation, RegisterAction, RegisterEntry, User, Workspace,
)
from ..services import register as register_service
from ..services import register_view, usage as usage_service
from ..services.admin_scope import ADMIN_ONLY, admin_scope, require_platform_admin
from ..services.environments import list_environments
from ..services.organisations import administered
from .rendering import render

router = APIRouter(include_in_schema=False)


async def platform_admin(user: CurrentUser) -> User:
    require_platform_admin(user)
    return user


PlatformAdmin = Annotated[User, Depends(platform_admin)]
Text = Annotated[str | None, Query(max_length=200)]


@router.get("/admin", name="admin")
def admin_home(request: Request, user: CurrentUser):
    """Where the admin screens start: the ones this user may open."""
    mine = administered(user)
    if not user.platform_admin and not mine:
        raise Forbidden("only platform admins and organisation admins have admin screens", reason=ADMIN_ONLY)
    return render(request, "admin.html", user=user, mine=mine)


@router.get("/admin/organisations", name="admin-organisations")
def admin_organisations(request: Request, user: PlatformAdmin, session: SessionDep):
    organisations = list(session.scalars(select(Organisation).order_by(Organisation.name)))
    members = session.scalars(select(Member).where(Member.status == MemberStatus.ACTIVE)
                              .options(selectinload(Member.user).selectinload(User.roles))
                              .join(Member.user).order_by(User.username)).all()
    by_organisation: dict[int, list[Member]] = {o.id: [] for o in organisations}
    for member in members:
        by_organisation.setdefault(member.organisation_id, []).append(member)
    running = dict(session.execute(select(Workspace.organisation_id, func.count()).where(
        Workspace.status.in_(ACTIVE_STATUSES)).group_by(Workspace.organisation_id)).all())
    return render(request, "admin_organisations.html", user=user, organisations=organisations,
                  members=by_organisation, running=running)


@router.get("/admin/environments", name="admin-environments")
def admin_environments(request: Request, user: PlatformAdmin, session: SessionDep, hubs: HubsDep):
    environments = list_environments(session)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(environments)))) as pool:   # hubs answer (or not) at once
        statuses = list(pool.map(hubs.status, environments))
    running = dict(session.execute(select(Workspace.environment_id, func.count()).where(
        Workspace.status.in_(ACTIVE_STATUSES)).group_by(Workspace.environment_id)).all())
    return render(request, "admin_environments.html", user=user, rows=list(zip(environments, statuses)),
                  running=running, checked_at=datetime.now(timezone.utc))


@router.get("/admin/usage", name="admin-usage")
def admin_usage(request: Request, user: CurrentUser, session: SessionDep, organisation: Text = None,
                start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
                end: Annotated[str | None, Query(alias="to", max_length=40)] = None):
    scope = admin_scope(session, user=user, organisation=organisation)
    period = usage_service.parse_period(start=start, end=end, today=date.today())
    report = usage_service.usage(session, scope=scope, period=period)
    return render(request, "admin_usage.html", user=user, scope=scope, organisation=organisation or "",
                  report=report, chart=usage_service.chart(report.by_day),
                  running=usage_service.running_workspaces(session, scope=scope),
                  choices=_organisation_choices(session, user))


def _organisation_choices(session, user: User) -> list[Organisation]:
    if user.platform_admin:
        return list(session.scalars(select(Organisation).order_by(Organisation.name)))
    return sorted(administered(user), key=lambda o: o.name)


#: How long a verification of the register's chain is shown again while the chain's head is unchanged. Walking the
#: chain reads every entry (about 0.75 s per 10,000 entries on SQLite), too much for every page view; an entry
#: changed behind the portal's back shows within this time.
CHAIN_TTL_SECONDS = 60.0


def _chain(request: Request, session) -> tuple[register_service.ChainReport, datetime]:
    head = session.execute(select(RegisterEntry.sequence, RegisterEntry.entry_hash)
                           .order_by(RegisterEntry.sequence.desc()).limit(1)).one_or_none()
    key = tuple(head) if head else None
    remembered = getattr(request.app.state, "register_chain", None)
    now = time.monotonic()
    if remembered and remembered[0] == key and now - remembered[1] < CHAIN_TTL_SECONDS:
        return remembered[2], remembered[3]
    report = register_service.verify_chain(session)
    checked_at = datetime.now(timezone.utc)
    request.app.state.register_chain = (key, now, report, checked_at)
    return report, checked_at


@router.get("/admin/register", name="admin-register")
def admin_register(request: Request, user: CurrentUser, session: SessionDep, organisation: Text = None,
                   actor: Text = None, action: Text = None,
                   start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
                   end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
                   page: Annotated[int, Query(ge=1, le=1_000_000)] = 1):
    scope = admin_scope(session, user=user, organisation=organisation)
    query = register_view.parse_filter(session, actor=actor, action=action, start=start, end=end)
    result = register_view.browse(session, query=query, scope=scope, page=page)
    chain, checked_at = _chain(request, session)
    fields = {"organisation": organisation or "", "actor": actor or "", "action": action or "",
              "from": start or "", "to": end or ""}

    def page_url(number: int) -> str:
        return "/admin/register?" + urlencode({**{k: v for k, v in fields.items() if v}, "page": number})

    return render(request, "admin_register.html", user=user, scope=scope, result=result, chain=chain,
                  chain_checked_at=checked_at,
                  fields=fields, page_url=page_url, actions=list(RegisterAction),
                  choices=_organisation_choices(session, user))


@router.post("/admin/register/export", name="admin-register-export", dependencies=[CsrfForm])
def admin_register_export(user: CurrentUser, session: SessionDep, state: StateDep,
                          format: Annotated[str, Form(max_length=16)] = "csv",
                          organisation: Annotated[str | None, Form(max_length=200)] = None,
                          actor: Annotated[str | None, Form(max_length=200)] = None,
                          action: Annotated[str | None, Form(max_length=200)] = None,
                          start: Annotated[str | None, Form(alias="from", max_length=40)] = None,
                          end: Annotated[str | None, Form(alias="to", max_length=40)] = None):
    scope = admin_scope(session, user=user, organisation=organisation)
    query = register_view.parse_filter(session, actor=actor, action=action, start=start, end=end)
    if format not in register_view.FORMATS:
        raise InvalidInput(f"format = {format!r}: choose one of {', '.join(register_view.FORMATS)}")
    upto = register_view.head_sequence(session)
    entries = register_view.count(session, query=query, scope=scope, upto=upto)
    register_view.record_export(session, actor=user, query=query, scope=scope, fmt=format, upto=upto,
                                entries=entries)
    session.commit()
    stream = register_view.stream_csv if format == "csv" else register_view.stream_json
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = f"register-{scope.single.slug if scope.single else 'all'}-{stamp}.{format}"
    return StreamingResponse(stream(state.sessions, query=query, scope=scope, upto=upto), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "X-Register-Entries": str(entries)})

