"""Requesting a bundle (issue 17; supply model d, "maatwerk op aanvraag"): a member fills in a form, the portal
drafts the catalogue file from it, checks it with the catalogue's one loader and opens a pull request for the
platform admins.

The form's fields (:data:`FIELDS`): ``title``, ``role``, ``packages`` (one a line: ``name==version`` for PyPI, or
``cran: name==version`` / ``conda-forge: name==version``), ``interfaces`` (jupyterlab, rstudio, vscode; the first
is the default), ``sizes`` (one a line: ``id cpu memory``, e.g. ``small 1 4Gi``; the first is the default) and
``why``. :func:`check` turns them into the bundle file (``catalogue-of-tools/templates/bundle.yaml``'s shape,
``supply_model: custom``) and every problem, each named by the form field it concerns:

- what the form itself cannot read (a package line without ``==``, a size line without three parts) is refused
  here, naming the line;
- everything else is decided by :func:`gereedschapskist.catalogue.load_catalogue`: the drafted file is written into
  a copy of the catalogue and the whole catalogue is loaded (schema and cross-file rules in one pass, exactly what
  ``gereedschapskist catalogue check`` runs); the errors the draft adds are mapped back to fields by their JSON path
  (``$.packages.pypi[0]`` → ``packages``). The YAML is written here, never read a second way.

The pull request (:func:`open_pull_request`) holds the bundle file, its image definition (written by
``gereedschapskist images render`` on the same copy: the portal never imports ``images``) and the ``catalogue diff``
text (:mod:`gereedschapskist.catalogue.diff`) as its description. It goes through the gitops provisioner's GitHub
client when ``GITOPS_GITHUB_TOKEN`` and ``GITOPS_GITHUB_REPO`` are set, otherwise into a local branch of
``GITOPS_REPO_DIR`` (git plumbing, the checkout untouched) with the text in the state folder
(:mod:`.gitops`: one implementation for contracts and bundles).

Who may: any active member requests (``not-a-member``); the requester and platform admins see a request (others
get 403); platform admins mark its pull request merged or rejected (``not-platform-admin``; a reason to reject).
States: ``drafted`` (the PR could not be opened yet: the error is kept, the requester retries) → ``pr-opened`` →
``merged`` | ``rejected``; with a GitHub token the outcome is also read from GitHub when the request is looked at
(:func:`follow_github`); every step is a register entry. Keyword-only functions; none commits.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue, load_catalogue
from gereedschapskist.catalogue.diff import diff_catalogues, render_markdown
from gereedschapskist.core import paths

from ..errors import Conflict, Forbidden, InvalidInput, NotFound, PortalError
from ..models import BundleRequest, BundleRequestState, Organisation, RegisterAction, User, utcnow
from . import gitops, register

FIELDS = ("title", "role", "packages", "interfaces", "sizes", "why")
#: Problems that concern the file as a whole (licence, review, image, …: what the portal fills in itself).
GENERAL = "bundle"
#: The first part of a problem's JSON path → the form field it concerns.
PATH_FIELDS = {"id": "title", "title": "title", "description": "why", "roles": "role", "packages": "packages",
               "interfaces": "interfaces", "sizes": "sizes"}
ECOSYSTEMS = ("pypi", "cran", "conda-forge")
INTERFACES = ("jupyterlab", "rstudio", "vscode")
TITLE_MIN, TITLE_MAX = 3, 120
WHY_MIN, WHY_MAX = 10, 2000
VERSION = "0.1.0"
CATALOGUE_DIR = "catalogue-of-tools"        # the catalogue's folder in the repository the pull request goes to
IMAGES_DIR = "images"
COPIED = ("roles", "bundles", "partners", "examples")
OPEN = (BundleRequestState.DRAFTED, BundleRequestState.PR_OPENED)
S = BundleRequestState


class BundleRequestRefused(InvalidInput):
    """The form has problems; ``problems`` maps each field to its messages (422)."""

    status = 422
    reason = "bundle-request-invalid"

    def __init__(self, problems: dict[str, list[str]]):
        first = next(iter(problems))
        super().__init__("; ".join(f"{name}: {m}" for name, messages in problems.items() for m in messages))
        self.problems = problems
        self.field = first


@dataclass
class Draft:
    """A drafted bundle file and every problem with it, by form field (empty: the loader accepts it)."""

    bundle_id: str
    role: str
    file: str                       # relative to the catalogue folder: bundles/<role>/<id>.yaml
    text: str
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "bundle_id": self.bundle_id, "file": f"{CATALOGUE_DIR}/{self.file}",
                "yaml": self.text, "problems": self.problems}


# -- the form → the bundle file --------------------------------------------------------------------------------------

def _lines(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def bundle_id_for(title: str, role: str) -> str:
    """The bundle's id: ``<role>-<title as a slug>`` (at most 63 characters, as the schema's id allows)."""
    slug = _slug(title)
    if role and not slug.startswith(f"{role}-"):
        slug = f"{_slug(role)}-{slug}".strip("-")
    return slug[:63].rstrip("-")


def _number(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _form(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The parts of the bundle the form gives, and what the form itself cannot read."""
    problems: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    title = " ".join(str(data.get("title") or "").split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        refuse("title", f"{title!r}: give a title of {TITLE_MIN}–{TITLE_MAX} characters, e.g. 'Geodata with "
                        "GeoPandas'")
    role = str(data.get("role") or "").strip()
    if not role:
        refuse("role", "choose the role the bundle is for, e.g. 'bi'")
    why = " ".join(str(data.get("why") or "").split())
    if not WHY_MIN <= len(why) <= WHY_MAX:
        refuse("why", f"say in {WHY_MIN}–{WHY_MAX} characters what users will do with this bundle and why the "
                      "catalogue's bundles are not enough")
    packages: dict[str, list[str]] = {}
    for number, line in enumerate(_lines(data.get("packages")), 1):
        ecosystem, colon, requirement = line.partition(":")
        if not colon or "==" in ecosystem:
            ecosystem, requirement = "pypi", line
        ecosystem, requirement = ecosystem.strip().lower(), requirement.strip()
        if ecosystem not in ECOSYSTEMS:
            refuse("packages", f"line {number} {line!r}: the source must be one of {', '.join(ECOSYSTEMS)}, e.g. "
                               "'cran: dplyr==1.1.4'")
        elif "==" not in requirement:
            refuse("packages", f"line {number} {line!r}: pin one exact version as name==version, e.g. "
                               "'pandas==2.3.3'")
        else:
            packages.setdefault(ecosystem, []).append(requirement.replace(" ", ""))
    if not packages and "packages" not in problems:
        refuse("packages", "name at least one package, one a line, e.g. 'pandas==2.3.3'")
    interfaces = data.get("interfaces") or []
    if isinstance(interfaces, str):
        interfaces = [part for part in re.split(r"[\s,]+", interfaces) if part]
    interfaces = [str(i).strip().lower() for i in interfaces]
    sizes = []
    for number, line in enumerate(_lines(data.get("sizes")), 1):
        parts = line.split()
        if len(parts) != 3:
            refuse("sizes", f"line {number} {line!r}: give an id, CPUs and memory, e.g. 'small 1 4Gi'")
            continue
        sizes.append({"id": parts[0], "cpu": _number(parts[1]), "memory": parts[2]})
    return {"title": title, "role": role, "why": why, "packages": packages, "interfaces": interfaces,
            "sizes": sizes}, problems


def draft_text(form: dict[str, Any], *, bundle_id: str, requester: User, today: date) -> str:
    """The bundle file (the template's fields and order; supply model d)."""
    email = requester.email or "dataplatform@gereedschapskist.nl"
    bundle = {
        "id": bundle_id,
        "title": {"nl": form["title"], "en": form["title"]},
        "description": {"nl": form["why"], "en": form["why"]},
        "roles": [form["role"]],
        "version": VERSION,
        "lifecycle": {"status": "active"},
        "interfaces": form["interfaces"],
        "image": {"repository": f"ghcr.io/gereedschapskist/{bundle_id or 'requested'}", "tag": VERSION},
        "packages": form["packages"],
        "sizes": form["sizes"],
        "licence": {"spdx": "NOASSERTION", "open_source": True},
        "security_review": {"reviewer": "pending: the platform admins' review of this pull request",
                            "date": today.isoformat(), "valid_until": (today + timedelta(days=365)).isoformat()},
        "supply_model": "custom",
        "maintainers": [{"name": requester.display_name(), "email": email}],
    }
    header = (f"# Requested in the portal by {requester.display_name()} ({requester.username}) on {today.isoformat()}"
              f" (supply model d, maatwerk op aanvraag).\n"
              f"# Reviewers: set licence (SPDX, open source or a justification) and security_review before merging.\n")
    return header + yaml.safe_dump(bundle, sort_keys=False, allow_unicode=True, width=100)


def _copy_catalogue(root: Path, target: Path) -> Path:
    for name in COPIED:
        if (root / name).is_dir():
            shutil.copytree(root / name, target / name)
    return target


def _field_of(path: str) -> str:
    head = re.match(r"^\$\.?([A-Za-z_-]+)", path or "$")
    return PATH_FIELDS.get(head.group(1), GENERAL) if head else GENERAL


_BASE_ERRORS: dict[tuple[str, date, float], frozenset] = {}


def _base_errors(root: Path, today: date) -> frozenset:
    """The errors the catalogue has without the draft (normally none), per folder, day and change: the draft is
    blamed only for the errors it adds."""
    stamp = max((p.stat().st_mtime for name in COPIED if (root / name).is_dir() for p in (root / name).rglob("*")),
                default=0.0)
    key = (str(root), today, stamp)
    if key not in _BASE_ERRORS:
        _BASE_ERRORS.clear()
        _BASE_ERRORS[key] = frozenset((p.file, p.path, p.code) for p in load_catalogue(root, today=today).errors)
    return _BASE_ERRORS[key]


def check(catalogue: Catalogue, *, data: dict[str, Any], requester: User, today: date | None = None,
          keep: Path | None = None) -> Draft:
    """Draft the bundle file from the form and check it with the one loader; every problem, by field.

    ``keep``: a folder to leave the checked catalogue copy in (the pull request renders its image definition
    there)."""
    today = today or date.today()
    form, problems = _form(data)
    role = form["role"]
    if role and role not in catalogue.roles:
        problems.setdefault("role", []).append(f"{role!r}: choose one of the catalogue's roles: "
                                               f"{', '.join(sorted(catalogue.roles))}")
    bundle_id = bundle_id_for(form["title"], role)
    folder = role if re.fullmatch(r"[a-z][a-z0-9-]{0,62}", role) else "unknown-role"
    rel = f"bundles/{folder}/{bundle_id or 'requested'}.yaml"
    text = draft_text(form, bundle_id=bundle_id, requester=requester, today=today)
    root = Path(catalogue.root)
    with tempfile.TemporaryDirectory(prefix="bundle-request-") as tmp:
        head = _copy_catalogue(root, Path(keep or tmp) / "catalogue")
        target = head / rel
        if target.exists():
            problems.setdefault("title", []).append(
                f"{bundle_id!r}: the catalogue already has a bundle with this id ({rel}); choose another title")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            before = _base_errors(root, today)
            for problem in load_catalogue(head, today=today).errors:
                if (problem.file, problem.path, problem.code) in before:
                    continue
                name = _field_of(problem.path) if problem.file == rel else GENERAL
                value = f" = {problem.value!r}" if problem.has_value else ""
                message = f"{problem.path}{value}: {problem.message}"
                if message not in problems.get(name, []):
                    problems.setdefault(name, []).append(message)
    return Draft(bundle_id=bundle_id, role=role, file=rel, text=text, problems=problems)


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
           organisation: str | None = None, today: date | None = None) -> BundleRequest:
    """Store a request whose draft the loader accepts (``drafted``), or :class:`BundleRequestRefused`."""
    org = organisation_of(requester, organisation)
    draft = check(catalogue, data=data, requester=requester, today=today)
    if not draft.ok:
        raise BundleRequestRefused(draft.problems)
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
    row = session.get(BundleRequest, request_id) if 0 < request_id <= 2**31 - 1 else None
    if row is None:
        raise NotFound(f"there is no bundle request {request_id}", reason="unknown-bundle-request")
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

def render_image(catalogue_copy: Path, bundle_id: str, *, timeout: float = 120) -> dict[str, str]:
    """The bundle's image definition (``images/bundles/<id>/…``), by ``gereedschapskist images render`` on the
    checked catalogue copy."""
    images = catalogue_copy.parent / "images"
    images.mkdir(exist_ok=True)
    try:
        result = subprocess.run([sys.executable, "-m", "gereedschapskist", "images", "render", "--catalogue",
                                 str(catalogue_copy), "--images-dir", str(images)], capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise gitops.GitopsFailed(f"images render did not finish within {timeout:.0f} s",
                                  reason="image-definition-failed") from None
    folder = images / "bundles" / bundle_id
    if result.returncode != 0 or not folder.is_dir():
        output = (result.stdout + result.stderr).replace(str(catalogue_copy.parent), "").strip()
        raise gitops.GitopsFailed(f"images render wrote no definition for {bundle_id}: {output[-800:]}",
                                  reason="image-definition-failed")
    return {f"{IMAGES_DIR}/bundles/{bundle_id}/{p.relative_to(folder).as_posix()}": p.read_text(encoding="utf-8")
            for p in sorted(folder.rglob("*")) if p.is_file()}


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
            raise BundleRequestRefused(draft.problems)
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
        token = settings.gitops_github_token.get_secret_value() if settings.gitops_github_token else None
        if token and settings.gitops_github_repo:
            github = gitops.GitHub(api_url=settings.gitops_github_api_url, repo=settings.gitops_github_repo,
                                   token=token)
            try:
                pull = github.open_pull_request(base=settings.gitops_base_branch, branch=branch, files=files,
                                                title=title, body=body)
            finally:
                github.close()
            detail.update(url=pull.url, number=pull.number, commit=pull.commit,
                          repository=settings.gitops_github_repo)
        else:
            repo = settings.gitops_repo_dir or paths.repository()
            if repo is None:
                raise gitops.GitopsFailed("no repository for the bundle's branch: set "
                                          "GEREEDSCHAPSKIST_PORTAL_GITOPS_REPO_DIR or GITOPS_GITHUB_TOKEN and "
                                          "GITOPS_GITHUB_REPO")
            commit = gitops.local_branch(repo=Path(repo), base=settings.gitops_base_branch, branch=branch,
                                         files=files, message=f"{title}\n\n{body}")
            text_file = (settings.state_dir / "bundle-requests" / f"{row.id}.md").resolve()
            text_file.parent.mkdir(parents=True, exist_ok=True)
            text_file.write_text(f"# {title}\n\nbase: {settings.gitops_base_branch} ← {branch} ({commit[:12]}) in "
                                 f"{Path(repo).resolve()}\n\n{body}", encoding="utf-8")
            detail.update(local_only=True, repository=str(Path(repo).resolve()), commit=commit,
                          text_file=str(text_file))
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
