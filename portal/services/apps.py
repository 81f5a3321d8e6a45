"""Published apps and dashboards (issue 17, section 1): publish, list, open (and wake), stop, unpublish, logs and
rollback. Keyword-only functions; none of them commits.

- **Publishing** checks the catalogue's role rule for the bundle, that the bundle pins the framework
  (``framework-not-in-bundle``, naming both: nothing is installed ad hoc), the organisation's place to launch (the
  workspace rule, ``services/environments.py``) and the environment's stage: in **production** only a git commit
  (``git`` + a 40-character ``commit``) is published, in development the owner's folder too. Each publish of the same
  slug is a new version; the app runs as the owner's hub server ``app-<slug>`` (``hub/apps.py``).
- **A folder app's workspace**: the app may name one of the owner's own workspaces (not deleted, in the app's
  environment) whose home holds the folder; its server name goes to the hub as ``app.workspace``. In a cloud
  environment every workspace has a home volume of its own (``services/lifecycle.py`` ``home_is_per_workspace``), so
  there a folder app must name it (``app-workspace-required``), as the hub requires (``hub/kubernetes_apps.py``); on
  the local backend all of a user's workspaces share one home, so it is optional. An app from git has none.
- **Who may open it**: the audience — the owner's organisation (hub group ``org:<slug>``), hub groups
  (``org:…`` or ``role:…``), or named users — enforced by the hub through JupyterHub's sharing; the portal applies
  the same rule first. The owner, the organisation's admins and platform admins always may.
- **Who may manage it** (stop, unpublish, logs, rollback): the owner, an admin of its organisation, platform admins.
- Publishing, unpublishing and rolling back are register entries.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue, LaunchRefused
from gereedschapskist.core.apps import FRAMEWORKS, bundle_frameworks
from gereedschapskist.core.groups import ORG_PREFIX
from gereedschapskist.core.identity import hub_username

from ..db import MAX_ID
from ..errors import Conflict, Forbidden, HubUnavailable, InvalidInput, LaunchNotAllowed, NotFound
from ..models import (
    AppState, AudienceKind, Environment, EnvironmentStage, PublishedApp, PublishedAppVersion,
    RegisterAction, User, Workspace, WorkspaceStatus, utcnow,
)
from ..workspace_hub import Hubs, ServerInfo
from . import register
from .environments import homes_per_workspace, hub_place_options, launch_place
from .grants import is_admin_of, launch_options
from .identity import hub_groups
from .workspaces import choose_membership

SLUG = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,25}")
GROUP = re.compile(r"(org|role):[a-z0-9][a-z0-9_-]{0,62}")
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}")
COMMIT = re.compile(r"[0-9a-f]{40}")
GIT_URL = re.compile(r"(https://|file:///)[^\s'\"\\]+")
LOG_LINES = 100


def slug_of(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)[:26].strip("-")
    return slug


def server_name(slug: str) -> str:
    return f"app-{slug}"


def _lines(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else re.split(r"[\s,]+", value)
    return [item.strip() for item in items if item and item.strip()]


def may_manage(user: User, app: PublishedApp) -> bool:
    return app.owner_id == user.id or user.platform_admin or is_admin_of(user, app.organisation)


def may_open(user: User, app: PublishedApp) -> bool:
    """The audience rule, as the hub's sharing applies it (the portal checks first, the hub decides)."""
    if may_manage(user, app):
        return True
    if app.audience_kind is AudienceKind.ORGANISATION:
        return user.membership(app.organisation_id) is not None
    if app.audience_kind is AudienceKind.GROUP:
        return bool(set(app.audience) & set(hub_groups(user)))
    return hub_username(user.username) in {hub_username(name) for name in app.audience}


def hub_audience(app: PublishedApp) -> tuple[list[str], list[str]]:
    """(users, groups) the hub shares the app's server with."""
    if app.audience_kind is AudienceKind.ORGANISATION:
        return [], [f"{ORG_PREFIX}{app.organisation.slug}"]
    if app.audience_kind is AudienceKind.GROUP:
        return [], list(app.audience)
    return list(app.audience), []


def _audience(kind: str, names: str | list[str] | None) -> tuple[AudienceKind, list[str]]:
    try:
        audience = AudienceKind(kind or "organisation")
    except ValueError:
        raise InvalidInput(f"audience {kind!r} is not one of organisation, group, users",
                           reason="bad-audience") from None
    listed = _lines(names)
    if audience is AudienceKind.ORGANISATION:
        return audience, []
    if not listed:
        what = "group" if audience is AudienceKind.GROUP else "user"
        raise InvalidInput(f"audience {audience.value}: name at least one {what}", reason="bad-audience")
    pattern = GROUP if audience is AudienceKind.GROUP else USERNAME
    wrong = [name for name in listed if not pattern.fullmatch(name)]
    if wrong:
        what = "a hub group org:<organisation> or role:<role>" if audience is AudienceKind.GROUP else "a user name"
        raise InvalidInput(f"audience: {', '.join(repr(w) for w in wrong)} is not {what}", reason="bad-audience")
    return audience, sorted(set(listed))


def _source(*, framework: str, entry: str, git: str | None, commit: str | None, production: bool) -> dict:
    chosen = FRAMEWORKS.get(framework)
    if chosen is None:
        raise InvalidInput(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}", reason="bad-framework")
    entry = (entry or "").strip()
    parts = entry.split("/")
    if not entry or entry.startswith(("/", "~")) or ".." in parts or "\\" in entry or len(entry) > 300:
        raise InvalidInput(f"entry {entry!r}: the app's file, a path relative to the folder (no '..')",
                           reason="bad-entry")
    if not entry.endswith(chosen.suffixes):
        raise InvalidInput(f"entry {entry!r}: a {chosen.label} app is a {' or '.join(chosen.suffixes)} file",
                           reason="bad-entry")
    git, commit = (git or "").strip() or None, (commit or "").strip() or None
    if production and (git is None or commit is None):
        raise InvalidInput("in a production environment an app is published from a git commit only (git URL and "
                           "commit), never from a folder that can be edited in place", reason="commit-required")
    if git is not None or commit is not None:
        if git is None or not GIT_URL.fullmatch(git):
            raise InvalidInput(f"git {git!r}: an https:// repository URL", reason="bad-git")
        if commit is None or not COMMIT.fullmatch(commit):
            raise InvalidInput(f"commit {commit!r}: the full 40-character commit id", reason="bad-commit")
        return {"entry": entry, "git": git, "commit": commit}
    return {"entry": entry}


def app_workspaces(session: Session, *, user: User) -> list[Workspace]:
    """The user's own workspaces a folder app may name (every one not deleted, stopped ones too: a stopped
    workspace keeps its home), newest first."""
    return list(session.scalars(select(Workspace).where(Workspace.user_id == user.id,
                                                        Workspace.status != WorkspaceStatus.DELETED)
                                .order_by(Workspace.id.desc()).limit(200)))


def _workspace(session: Session, *, user: User, environment: Environment, source: dict,
               workspace_id: int | str | None) -> str | None:
    """The server name of the folder app's workspace (``workspace_id``: the id of one of ``user``'s workspaces), or
    None when none is named; the refusals name the field ``workspace`` and its value."""
    if workspace_id is None or (isinstance(workspace_id, str) and not workspace_id.strip()):
        if "git" not in source and homes_per_workspace(environment):
            raise InvalidInput(f"workspace: in environment {environment.name} every workspace has a home folder of "
                               "its own; name the workspace (its id) whose home holds the app's folder",
                               reason="app-workspace-required")
        return None
    if "git" in source:
        raise InvalidInput(f"workspace {workspace_id!r}: an app from git runs from its commit; only an app from a "
                           "folder names a workspace", reason="bad-app-workspace")
    try:
        number = int(str(workspace_id).strip())
    except ValueError:
        number = 0
    found = session.get(Workspace, number) if 0 < number <= MAX_ID else None
    if (found is None or found.user_id != user.id or found.status is WorkspaceStatus.DELETED
            or found.environment_id != environment.id):
        raise InvalidInput(f"workspace {workspace_id!r}: not one of your workspaces in environment "
                           f"{environment.name} (name one that is not deleted and whose home holds the app's folder)",
                           reason="bad-app-workspace")
    return found.server_name


def publish(session: Session, *, catalogue: Catalogue, hubs: Hubs, user: User, title: str, framework: str,
            bundle_id: str, entry: str, git: str | None = None, commit: str | None = None,
            size_id: str | None = None, audience: str = "organisation", audience_names: str | list[str] | None = None,
            organisation: str | None = None, workspace: int | str | None = None) -> PublishedApp:
    """Publish (a new version of) the user's app and start it at the hub; every refusal before anything is written.
    ``workspace``: the id of the user's workspace whose home holds a folder app (required in a cloud environment)."""
    title = (title or "").strip()
    slug = slug_of(title)
    if not (3 <= len(title) <= 120) or not SLUG.fullmatch(slug or "-"):
        raise InvalidInput(f"title {title!r}: 3-120 characters, starting with a letter", reason="bad-title")
    try:
        bundle, size = catalogue.authorise_launch(user.role_ids, bundle_id, size_id or None)
    except LaunchRefused as refused:
        raise LaunchNotAllowed(refused.message, reason=refused.reason) from None
    chosen = FRAMEWORKS.get(framework)
    if chosen is not None and chosen.id not in bundle_frameworks(bundle):
        raise Conflict(f"bundle {bundle.id} {bundle.version} does not contain {chosen.label} (package "
                       f"{chosen.package!r}); its app frameworks: {', '.join(bundle_frameworks(bundle)) or 'none'}. "
                       "Choose a bundle with it: nothing is installed ad hoc", reason="framework-not-in-bundle")
    member = choose_membership(user, organisation=organisation)
    place = launch_place(session, organisation=member.organisation)
    production = place.environment.stage is EnvironmentStage.PRODUCTION
    source = _source(framework=framework, entry=entry, git=git, commit=commit, production=production)
    server = _workspace(session, user=user, environment=place.environment, source=source, workspace_id=workspace)
    if server is not None:
        source["workspace"] = server
    kind, names = _audience(audience, audience_names)
    hub = hubs.for_environment(place.environment)
    try:
        hub.ensure_user(username=user.username, groups=hub_groups(user))
    except HubUnavailable as exc:
        hubs.report_down(place.environment.name, exc.message, exc.reason)
        raise
    app = session.scalar(select(PublishedApp).where(PublishedApp.owner_id == user.id, PublishedApp.slug == slug,
                                                    PublishedApp.state == AppState.PUBLISHED))
    if app is not None and app.organisation_id != member.organisation_id:
        raise Conflict(f"you have an app {slug!r} published for organisation {app.organisation.slug}; choose "
                       "another title", reason="app-exists")
    if app is None:
        app = PublishedApp(owner=user, organisation=member.organisation, environment=place.environment, slug=slug,
                           server_name=server_name(slug), title=title, framework=chosen.id, bundle_id=bundle.id,
                           size_id=size.id, audience_kind=kind, audience=names, current_version=0, versions=[])
        session.add(app)
    app.title, app.framework, app.bundle_id, app.size_id = title, chosen.id, bundle.id, size.id
    app.audience_kind, app.audience = kind, names
    number = max((v.number for v in app.versions), default=0) + 1
    app.versions.append(PublishedAppVersion(number=number, source=source, bundle_version=bundle.version,
                                            published_by=user))
    app.current_version = number
    session.flush()
    options = _options(app, user=user, place_options=hub_place_options(place, organisation=member.organisation))
    if number > 1:      # a new version replaces the running one
        hub.stop(username=user.username, server_name=app.server_name, remove=True)
    hub.start(username=user.username, server_name=app.server_name, options=options)
    share(hubs, app=app)
    register.append(session, action=RegisterAction.APP_PUBLISHED, subject=_subject(app), actor_id=user.id,
                    organisation_id=app.organisation_id, person_id=app.owner_id,
                    details={"app": app.id, "server": app.server_name, "version": number, "source": source,
                             "audience": {"kind": kind.value, "names": names}})
    return app


def _options(app: PublishedApp, *, user: User, place_options: dict | None = None) -> dict:
    version = app.version
    option = {"framework": app.framework, "entry": version.source["entry"]}
    if "git" in version.source:
        option.update(git=version.source["git"], commit=version.source["commit"])
    elif version.source.get("workspace"):
        option["workspace"] = version.source["workspace"]
    place = place_options or {"organisation": app.organisation.slug}
    options = launch_options(app.owner, bundle=app.bundle_id, size=app.size_id, **place)
    options["app"] = option
    return options


def _subject(app: PublishedApp) -> str:
    return f"app {app.slug} ({app.framework}, bundle {app.bundle_id} {app.version.bundle_version}, version " \
           f"{app.current_version}) in {app.environment.name}"


def share(hubs: Hubs, *, app: PublishedApp) -> dict:
    users, groups = hub_audience(app)
    return hubs.for_environment(app.environment).share_app(username=app.owner.username, server_name=app.server_name,
                                                          users=users, groups=groups)


def visible(session: Session, *, user: User) -> list[PublishedApp]:
    """The published apps ``user`` may open or manage, newest first."""
    rows = session.scalars(select(PublishedApp).where(PublishedApp.state == AppState.PUBLISHED)
                           .order_by(PublishedApp.updated_at.desc(), PublishedApp.id.desc()).limit(500))
    return [app for app in rows.unique() if may_open(user, app)]


def get_app(session: Session, *, user: User, app_id: int, manage: bool = False) -> PublishedApp:
    """The app, if ``user`` may open it (``manage``: manage it); 404 for an app they may not see (no probing)."""
    app = session.get(PublishedApp, app_id) if 0 < app_id <= MAX_ID else None
    if app is None or app.state is not AppState.PUBLISHED or not may_open(user, app):
        raise NotFound(f"there is no published app {app_id} you may open", reason="app-not-found")
    if manage and not may_manage(user, app):
        raise Forbidden(f"only the owner of app {app.slug}, its organisation's admins and platform admins manage it",
                        reason="not-app-manager")
    return app


def status(hubs: Hubs, *, app: PublishedApp) -> ServerInfo | None:
    return hubs.for_environment(app.environment).servers(username=app.owner.username).get(app.server_name)


def url(hubs: Hubs, *, app: PublishedApp) -> str:
    return hubs.for_environment(app.environment).server_url(f"/user/{hub_username(app.owner.username)}/"
                                                          f"{app.server_name}/") or ""


def wake(session: Session, *, hubs: Hubs, user: User, app: PublishedApp) -> ServerInfo:
    """Open: start the app again when the idle culler (or a stop) stopped it, and refresh its audience (members who
    logged in to the hub since: a viewer the hub does not know yet is sent through its single sign-on first, as
    :class:`HubLoginNeeded`). Returns the server as the hub reports it."""
    hub = hubs.for_environment(app.environment)
    # the viewer must be a hub user before the share can name them (HubLoginNeeded: the hub's single sign-on first)
    hub.ensure_user(username=user.username, groups=hub_groups(user))
    info = hub.servers(username=app.owner.username).get(app.server_name)
    if info is None or (not info.ready and info.pending is None):
        info = hub.start(username=app.owner.username, server_name=app.server_name, options=_options(app, user=user))
    share(hubs, app=app)
    return info


def stop(hubs: Hubs, *, app: PublishedApp) -> None:
    """Stop the app's server (kept: the next open wakes it)."""
    hubs.for_environment(app.environment).stop(username=app.owner.username, server_name=app.server_name,
                                               remove=False)


def unpublish(session: Session, *, hubs: Hubs, user: User, app: PublishedApp) -> None:
    """Remove the app's server (and with it every share) and mark it unpublished."""
    hubs.for_environment(app.environment).stop(username=app.owner.username, server_name=app.server_name,
                                               remove=True)
    app.state = AppState.UNPUBLISHED
    app.unpublished_at = utcnow()
    register.append(session, action=RegisterAction.APP_UNPUBLISHED, subject=_subject(app), actor_id=user.id,
                    organisation_id=app.organisation_id, person_id=app.owner_id,
                    details={"app": app.id, "server": app.server_name, "version": app.current_version})


def rollback(session: Session, *, hubs: Hubs, user: User, app: PublishedApp) -> None:
    """Run the previous version again (a new start of the server with that version's source)."""
    earlier = [v.number for v in app.versions if v.number < app.current_version]
    if not earlier:
        raise Conflict(f"app {app.slug} has no version before {app.current_version} to roll back to",
                       reason="no-previous-version")
    was = app.current_version
    app.current_version = max(earlier)
    session.flush()
    hub = hubs.for_environment(app.environment)
    hub.stop(username=app.owner.username, server_name=app.server_name, remove=True)
    hub.start(username=app.owner.username, server_name=app.server_name, options=_options(app, user=user))
    share(hubs, app=app)
    register.append(session, action=RegisterAction.APP_ROLLED_BACK, subject=_subject(app), actor_id=user.id,
                    organisation_id=app.organisation_id, person_id=app.owner_id,
                    details={"app": app.id, "from_version": was, "to_version": app.current_version})


def logs(hubs: Hubs, *, app: PublishedApp) -> list[str] | None:
    lines = hubs.for_environment(app.environment).app_logs(username=app.owner.username, server_name=app.server_name)
    return None if lines is None else lines[-LOG_LINES:]
