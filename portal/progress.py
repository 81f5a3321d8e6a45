"""Live start progress: the hub's progress stream, relayed to the browser as server-sent events.

Events (``event:`` name, JSON ``data``): ``progress`` (percent + message, while starting), then exactly one
of ``ready`` (with ``open_url``), ``failed`` (with the hub's message), ``status`` (the workspace was not
starting: its current status) or ``unavailable`` (the hub does not answer). The final event also updates
the workspace in the database, so the page and the list agree with what the user just saw.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from starlette.concurrency import run_in_threadpool

from .errors import HubUnavailable, PortalError, without_urls
from .models import Workspace, WorkspaceStatus
from .services import workspaces as workspace_service
from .state import PortalState
from .workspace_hub import ProgressEvent


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _payload(workspace_id: int, status: WorkspaceStatus, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"workspace": workspace_id, "status": status.value}
    if status is WorkspaceStatus.RUNNING:
        data["open_url"] = f"/workspaces/{workspace_id}/open"
    data.update(extra)
    return data


def _finish(state: PortalState, workspace_id: int, event: ProgressEvent) -> tuple[WorkspaceStatus, str | None]:
    with state.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        workspace_service.apply_progress_end(session, workspace=workspace, event=event)
        session.commit()
        if workspace.status is WorkspaceStatus.FAILED:
            workspace_service.remove_failed_server(state.hubs, workspace=workspace)
        return workspace.status, workspace.status_message


def _refresh(state: PortalState, workspace_id: int) -> tuple[WorkspaceStatus, str | None]:
    with state.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        workspace_service.refresh(session, hubs=state.hubs, workspaces=[workspace])
        session.commit()
        return workspace.status, workspace.status_message


def _final(workspace_id: int, status: WorkspaceStatus, message: str | None) -> str:
    if status is WorkspaceStatus.RUNNING:
        return sse("ready", _payload(workspace_id, status, progress=100, message=message or ""))
    if status is WorkspaceStatus.FAILED:   # the hub's message: it can name internal addresses
        return sse("failed", _payload(workspace_id, status, progress=100, message=without_urls(message or "")))
    return sse("status", _payload(workspace_id, status, message=message or ""))


async def relay(state: PortalState, *, workspace_id: int, username: str, server_name: str,
                status: WorkspaceStatus, status_message: str | None, environment: Any) -> AsyncIterator[str]:
    if status is not WorkspaceStatus.STARTING:
        yield _final(workspace_id, status, status_message)
        return
    hub = state.hubs.for_environment(environment)
    try:
        with state.hubs.following(workspace_id):     # page views leave this start to this stream meanwhile
            async for event in hub.progress(username=username, server_name=server_name):
                if event.ready or event.failed:
                    final_status, message = await run_in_threadpool(_finish, state, workspace_id, event)
                    yield _final(workspace_id, final_status,
                                 without_urls(event.message) if event.failed else message)
                    return
                yield sse("progress", _payload(workspace_id, WorkspaceStatus.STARTING, progress=event.progress,
                                               message=event.message))
        final_status, message = await run_in_threadpool(_refresh, state, workspace_id)
        yield _final(workspace_id, final_status, message)
    except HubUnavailable as exc:
        state.hubs.report_down(environment.name, exc.message, exc.reason)
        yield sse("unavailable", {"workspace": workspace_id, "reason": exc.reason,
                                     "message": without_urls(exc.message)})
    except PortalError:
        # the hub no longer follows this start (e.g. it ended between the page and this stream): ask it
        try:
            final_status, message = await run_in_threadpool(_refresh, state, workspace_id)
        except HubUnavailable as exc:
            yield sse("unavailable", {"workspace": workspace_id, "reason": exc.reason,
                                     "message": without_urls(exc.message)})
            return
        yield _final(workspace_id, final_status, message)
