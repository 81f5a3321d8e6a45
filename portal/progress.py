"""Live start progress: the hub's progress stream, relayed to the browser as server-sent events.

Events (``event:`` name, JSON ``data``): ``progress`` (percent + message, while starting), then exactly one
of ``ready`` (with ``open_url``), ``failed`` (with the hub's message), ``status`` (the workspace was not
starting: its current status) or ``unavailable`` (the hub does not answer). The final event also updates
the workspace in the database, so the page and the list agree with what the user just saw. ``failed`` carries
the machine ``reason`` too (``start-failed``, or the hub's refusal: ``role``, ``hub-refused``, …).

A launch answers before its hub is asked (issue 13): while this process hands the start to the hub, the stream
says ``Server requested`` and waits for that; a start the hub then refused ends it at once as ``failed``. A start
that another process hands over (the hub has no server yet) is asked after again, every second, until the
workspace is no longer starting (the background sync ends a start that never reaches the hub). A hub stream that
ends while the workspace is still starting is followed again: ``status`` is never sent for a workspace still
starting (the page would reload into the same start).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

from starlette.concurrency import run_in_threadpool

from .errors import HubUnavailable, PortalError, without_urls
from .models import Workspace, WorkspaceStatus
from .services import workspaces as workspace_service
from .services.hub_start import failure_reason
from .state import PortalState
from .workspace_hub import ProgressEvent


#: How often a stream looks whether the start this process hands to the hub has its answer (seconds).
START_POLL_SECONDS = 0.02
#: How long a stream waits before asking again for a start the hub does not know yet (seconds).
NOT_AT_HUB_RETRY_SECONDS = 1.0
#: How long a stream waits before following again a start whose hub stream ended while it was still starting.
FOLLOW_AGAIN_SECONDS = 0.1


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _payload(workspace_id: int, status: WorkspaceStatus, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"workspace": workspace_id, "status": status.value}
    if status is WorkspaceStatus.RUNNING:
        data["open_url"] = f"/workspaces/{workspace_id}/open"
    data.update(extra)
    return data


Outcome = tuple[WorkspaceStatus, str | None, str | None]      # status, message, reason of a failure


def _outcome(session, workspace: Workspace) -> Outcome:
    reason = failure_reason(session, workspace=workspace) if workspace.status is WorkspaceStatus.FAILED else None
    return workspace.status, workspace.status_message, reason


def _finish(state: PortalState, workspace_id: int, event: ProgressEvent) -> Outcome:
    with state.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        workspace_service.apply_progress_end(session, workspace=workspace, event=event)
        session.commit()
        if workspace.status is WorkspaceStatus.FAILED:
            workspace_service.remove_failed_server(state.hubs, workspace=workspace)
        return _outcome(session, workspace)


def _refresh(state: PortalState, workspace_id: int) -> Outcome:
    with state.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        workspace_service.refresh(session, hubs=state.hubs, workspaces=[workspace])
        session.commit()
        return _outcome(session, workspace)


def _current(state: PortalState, workspace_id: int) -> Outcome:
    with state.sessions() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        return _outcome(session, workspace)


def _final(workspace_id: int, status: WorkspaceStatus, message: str | None, reason: str | None = None) -> str:
    if status is WorkspaceStatus.RUNNING:
        return sse("ready", _payload(workspace_id, status, progress=100, message=message or ""))
    if status is WorkspaceStatus.FAILED:   # the hub's message: it can name internal addresses
        return sse("failed", _payload(workspace_id, status, progress=100, message=without_urls(message or ""),
                                      reason=reason or "start-failed"))
    return sse("status", _payload(workspace_id, status, message=message or ""))


async def relay(state: PortalState, *, workspace_id: int, username: str, server_name: str,
                status: WorkspaceStatus, status_message: str | None, environment: Any) -> AsyncIterator[str]:
    if status is not WorkspaceStatus.STARTING:
        reason = (await run_in_threadpool(_current, state, workspace_id))[2] \
            if status is WorkspaceStatus.FAILED else None
        yield _final(workspace_id, status, status_message, reason)
        return
    # starting (above): still being handed to the hub by this process is services.workspaces.start_in_hand's rule
    if state.hubs.start_pending(workspace_id):
        yield sse("progress", _payload(workspace_id, WorkspaceStatus.STARTING, progress=0,
                                       message="Server requested"))
        while state.hubs.start_pending(workspace_id):
            await asyncio.sleep(START_POLL_SECONDS)
        outcome = await run_in_threadpool(_current, state, workspace_id)
        if outcome[0] is not WorkspaceStatus.STARTING:      # refused or failed at the hub, or ready at once
            yield _final(workspace_id, *outcome)
            return
    hub = state.hubs.for_environment(environment)
    while True:
        try:
            with state.hubs.following(workspace_id):     # page views leave this start to this stream meanwhile
                async for event in hub.progress(username=username, server_name=server_name):
                    if event.ready or event.failed:
                        final_status, message, reason = await run_in_threadpool(_finish, state, workspace_id, event)
                        yield _final(workspace_id, final_status,
                                     without_urls(event.message) if event.failed else message, reason)
                        return
                    yield sse("progress", _payload(workspace_id, WorkspaceStatus.STARTING, progress=event.progress,
                                                   message=event.message))
            # the hub's stream ended without an end: JupyterHub ends it so when the spawn is over but the server is
            # not ready yet (its proxy route is still being added; a start a waiting server took gets there first)
            outcome = await run_in_threadpool(_refresh, state, workspace_id)
            if outcome[0] is not WorkspaceStatus.STARTING:
                yield _final(workspace_id, *outcome)
                return
            await asyncio.sleep(FOLLOW_AGAIN_SECONDS)
            continue
        except HubUnavailable as exc:
            state.hubs.report_down(environment.name, exc.message, exc.reason)
            yield sse("unavailable", {"workspace": workspace_id, "reason": exc.reason,
                                         "message": without_urls(exc.message)})
            return
        except PortalError:
            # the hub does not follow this start: it ended between the page and this stream, or it has not reached
            # the hub yet (another process hands it over): ask the hub, and while still starting, follow again
            try:
                outcome = await run_in_threadpool(_refresh, state, workspace_id)
            except HubUnavailable as exc:
                yield sse("unavailable", {"workspace": workspace_id, "reason": exc.reason,
                                             "message": without_urls(exc.message)})
                return
            if outcome[0] is not WorkspaceStatus.STARTING:
                yield _final(workspace_id, *outcome)
                return
            await asyncio.sleep(NOT_AT_HUB_RETRY_SECONDS)
