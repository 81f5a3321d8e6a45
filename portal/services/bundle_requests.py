"""Requesting a bundle (issue 17; supply model d, "maatwerk op aanvraag"): a member's form is drafted and checked
(:mod:`.bundle_draft`: the catalogue's one loader, every problem by field), stored, and a pull request is opened for
the platform admins.

The pull request (:func:`open_pull_request`) holds the bundle file, its image definition
(:func:`.bundle_draft.render_image`) and the ``catalogue diff`` text (:mod:`gereedschapskist.catalogue.diff`) as its
description. It goes through the gitops provisioner's GitHub client when ``GITOPS_GITHUB_TOKEN`` and
``GITOPS_GITHUB_REPO`` are set, otherwise into a local branch of ``GITOPS_REPO_DIR`` (git plumbing, the checkout
untouched) with the text in the state folder (:mod:`.gitops`: one implementation for contracts and bundles).

Who may: any active member requests (``not-a-member``); the requester and platform admins see a request (others
get 403); platform admins mark its pull request merged or rejected (``not-platform-admin``; a reason to reject).
States: ``drafted`` (the PR could not be opened yet: the error is kept, the requester retries) → ``pr-opened`` →
``merged`` | ``rejected``; with a GitHub token the outcome is also read from GitHub when the request is looked at
(:func:`follow_github`); every step is a register entry. Keyword-only functions; none commits.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue, load_catalogue
from gereedschapskist.catalogue.diff import diff_catalogues, render_markdown

from ..db import get_or_404
from ..errors import Conflict, Forbidden, InvalidInput, PortalError
from ..models import BundleRequest, BundleRequestState, Organisation, RegisterAction, User, utcnow
from . import gitops, register
from .bundle_draft import (  # noqa: F401  (the routes and the API use them from here)
    CATALOGUE_DIR, FIELDS, INTERFACES, BundleRequestRefused, Draft, check, render_image,
)

OPEN = (BundleRequestState.DRAFTED, BundleRequestState.PR_OPENED)
S = BundleRequestState


# -- requests --------------------------------------------------------------------------------------------------------

def organisation_of(user: User, slug: str | None = None) -> Organisation:
    """The organisation a request is made for: ``slug`` or the user's first; an active member's only."""
    memberships = user.active_memberships()
    if slug:
        memberships = [m for m in memberships if m.organisation.slug == slug]
    if not memberships:
        raise Forbidden("only an active member of an organisation may request a bundle" +
                        (f" for {slug!r}" if slug else ""), reason="not-a-member")
    return memberships[0].organisation


def _subject(row: BundleRequest) -> str:
    return f"bundle request {row.id}: {row.bundle_id} ({row.role})"


def _record(session: Session, row: BundleRequest, action: RegisterAction, actor: User | None,
            details: dict[str, Any]) -> None:
    register.append(session, action=action, subject=_subject(row), actor_id=actor.id if actor else None,
                    organisation_id=row.organisation_id, person_id=row.requester_id, details=details)


def create(session: Session, *, catalogue: Catalogue, requester: User, data: dict[str, Any],
           organisation: str | None = None, today: date | None = None, language: str = "en") -> BundleRequest:
    """Store a request whose draft the loader accepts (``drafted``), or :class:`BundleRequestRefused` (its problems
    in ``language``)."""
    org = organisation_of(requester, organisation)
    draft = check(catalogue, data=data, requester=requester, today=today, language=language)
    if not draft.ok:
        raise BundleRequestRefused(draft)
    pending = session.scalar(select(BundleRequest).where(BundleRequest.bundle_id == draft.bundle_id,
                                                         BundleRequest.state.in_(OPEN)))
    if pending is not None:
        raise Conflict(f"bundle request {pending.id} for {draft.bundle_id!r} is still open; follow that one or "
                       "choose another title", reason="bundle-request-pending")
    form = {name: data.get(name) for name in FIELDS}
    row = BundleRequest(requester_id=requester.id, organisation_id=org.id, bundle_id=draft.bundle_id,
                        title=" ".join(str(data.get("title")).split()), role=draft.role, form=form,
                        bundle_yaml=draft.text, state=S.DRAFTED)
    session.add(row)
    session.flush()
    _record(session, row, RegisterAction.BUNDLE_REQUESTED, requester,
            {"bundle": draft.bundle_id, "file": f"{CATALOGUE_DIR}/{draft.file}"})
    return row


def get_request(session: Session, *, request_id: int, user: User) -> BundleRequest:
    row = get_or_404(session, BundleRequest, request_id, what="bundle request", reason="unknown-bundle-request")
    if row.requester_id != user.id and not user.platform_admin:
        raise Forbidden(f"bundle request {request_id} is another member's; only they and platform admins see it",
                        reason="not-your-bundle-request")
    return row


def visible_to(session: Session, *, user: User) -> list[BundleRequest]:
    """The user's own requests; a platform admin's: every request."""
    query = select(BundleRequest).order_by(BundleRequest.id.desc())
    if not user.platform_admin:
        query = query.where(BundleRequest.requester_id == user.id)
    return list(session.scalars(query))


# -- the pull request ------------------------------------------------------------------------------------------------

def pr_title(row: BundleRequest) -> str:
    return f"Bundle request {row.id}: {row.title} ({row.bundle_id}, {row.role})"


def pr_body(row: BundleRequest, *, diff: str, files: list[str]) -> str:
    requester = row.requester
    return "\n".join([
        f"Bundle requested in the portal by **{requester.display_name()}** (`{requester.username}`, "
        f"{row.organisation.name}) — supply model d, *maatwerk op aanvraag* (request {row.id}).", "",
        f"> {' '.join(str(row.form.get('why') or '').split())}", "",
        "Reviewers: set the licence and the security review in the bundle file before merging; then mark the "
        "request merged or rejected in the portal.", "",
        "Files:", *[f"- `{name}`" for name in files], "",
        "`gereedschapskist catalogue diff`:", "", diff.strip(), ""])


def pull_request_files(row: BundleRequest, *, catalogue: Catalogue, today: date | None = None
                       ) -> tuple[dict[str, str], str]:
    """The files of the pull request (bundle file and image definition) and its description."""
    with tempfile.TemporaryDirectory(prefix="bundle-request-pr-") as tmp:
        draft = check(catalogue, data=row.form, requester=row.requester, today=today, keep=Path(tmp))
        if not draft.ok:
            raise BundleRequestRefused(draft)
        head = Path(tmp) / "catalogue"
        files = {f"{CATALOGUE_DIR}/{draft.file}": draft.text, **render_image(head, draft.bundle_id)}
        base_result, head_result = load_catalogue(Path(catalogue.root), today=today), load_catalogue(head, today=today)
    report = diff_catalogues(base_result.catalogue, head_result.catalogue)
    diff = render_markdown(report, base_label="catalogue", head_label=f"bundle request {row.id}",
                           head_errors=len(head_result.errors))
    return files, pr_body(row, diff=diff, files=list(files))


def branch_of(row: BundleRequest) -> str:
    return f"bundle-request/{row.id}-{row.bundle_id}"


def open_pull_request(session: Session, *, row: BundleRequest, catalogue: Catalogue, settings, actor: User | None,
                      today: date | None = None) -> BundleRequest:
    """Open (or find again) the request's pull request: ``pr-opened``; a failure is kept in
    ``pull_request_error`` and the request stays ``drafted`` (the requester may try again)."""
    if row.state is not S.DRAFTED:
        raise Conflict(f"bundle request {row.id} is {row.state.value}; only a drafted one gets a pull request",
                       reason="bundle-request-not-drafted")
    branch, title = branch_of(row), pr_title(row)
    try:
        files, body = pull_request_files(row, catalogue=catalogue, today=today)
        detail: dict[str, Any] = {"branch": branch, "files": list(files)}
        detail.update(gitops.propose(settings=settings, branch=branch, files=files, title=title, body=body,
                                     text_file=settings.state_dir / "bundle-requests" / f"{row.id}.md",
                                     what="the bundle's branch"))
    except PortalError as problem:
        row.pull_request_error = problem.message if hasattr(problem, "message") else str(problem)
        session.flush()
        return row
    row.pull_request = detail
    row.pull_request_error = None
    row.state = S.PR_OPENED
    session.flush()
    _record(session, row, RegisterAction.BUNDLE_REQUEST_PR_OPENED, actor,
            {key: detail[key] for key in ("branch", "url", "number", "commit", "local_only") if key in detail})
    return row


def pull_request_text(row: BundleRequest) -> str | None:
    """The local pull request's text (no token), for the request's page."""
    name = (row.pull_request or {}).get("text_file")
    try:
        return Path(name).read_text(encoding="utf-8") if name else None
    except OSError:
        return None


# -- tracking --------------------------------------------------------------------------------------------------------

def follow_github(session: Session, *, row: BundleRequest, settings) -> BundleRequest:
    """With a GitHub token: read an open request's pull request from GitHub; merged there → ``merged``, closed
    without merging → ``rejected`` (by the portal itself, in the register). Nothing changes when GitHub cannot be
    asked (the state stays as it was; a platform admin can still set it)."""
    number = (row.pull_request or {}).get("number")
    token = settings.gitops_github_token.get_secret_value() if settings.gitops_github_token else None
    if row.state is not S.PR_OPENED or not number or not token or not settings.gitops_github_repo:
        return row
    github = gitops.GitHub(api_url=settings.gitops_github_api_url, repo=settings.gitops_github_repo, token=token)
    try:
        state = github.pull_state(number)
    except gitops.GitopsFailed:
        return row
    finally:
        github.close()
    if state == "open":
        return row
    to = S.MERGED if state == "merged" else S.REJECTED
    reason = f"pull request #{number} {'merged' if to is S.MERGED else 'closed without merging'} on GitHub"
    row.state, row.decided_by_id, row.decided_at, row.decision_reason = to, None, utcnow(), reason
    session.flush()
    action = RegisterAction.BUNDLE_REQUEST_MERGED if to is S.MERGED else RegisterAction.BUNDLE_REQUEST_REJECTED
    _record(session, row, action, None, {"reason": reason, "source": "github"})
    return row


def mark(session: Session, *, row: BundleRequest, actor: User, state: str, reason: str | None = None
         ) -> BundleRequest:
    """A platform admin marks the pull request ``merged`` (from ``pr-opened``) or ``rejected`` (from ``drafted``
    or ``pr-opened``; with a reason)."""
    if not actor.platform_admin:
        raise Forbidden("only platform admins mark a bundle request merged or rejected", reason="not-platform-admin")
    try:
        to = S(state)
    except ValueError:
        raise InvalidInput(f"state = {state!r}: expected merged or rejected", reason="invalid-bundle-request-state") \
            from None
    allowed = {S.MERGED: (S.PR_OPENED,), S.REJECTED: OPEN}.get(to)
    if allowed is None:
        raise InvalidInput(f"state = {state!r}: expected merged or rejected", reason="invalid-bundle-request-state")
    if row.state not in allowed:
        raise Conflict(f"bundle request {row.id} is {row.state.value}; it cannot become {to.value}",
                       reason="bundle-request-state")
    text = " ".join(str(reason or "").split()) or None
    if to is S.REJECTED and (text is None or len(text) < 3):
        raise InvalidInput("reason: say why the bundle request is rejected (3 characters or more)",
                           reason="bundle-request-reason-required")
    row.state, row.decided_by_id, row.decided_at, row.decision_reason = to, actor.id, utcnow(), text
    session.flush()
    action = RegisterAction.BUNDLE_REQUEST_MERGED if to is S.MERGED else RegisterAction.BUNDLE_REQUEST_REJECTED
    _record(session, row, action, actor, {"reason": text} if text else {})
    return row
