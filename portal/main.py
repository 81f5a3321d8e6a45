"""The portal's ASGI app: ``gereedschapskist.portal.main:app``, built by :func:`create_app`.

At start it refuses an un-migrated database (run ``gereedschapskist db upgrade``), registers the default
environment (the local hub) when ``HUB_URL`` is set, and keeps workspace states in step with the hubs in
the background.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from gereedschapskist import __version__
from gereedschapskist.catalogue import Catalogue, load
from gereedschapskist.core.groups import GroupPolicy

from . import api
from .db import DatabaseNotMigrated, DatabaseUnavailable, check_migrated, make_engine, session_factory
from .errors import without_urls
from .fragments import Fragments
from .jupyterhub import JupyterHubAdapter
from .models import EnvironmentKind, EnvironmentStage
from .oidc import OidcLogin
from .principal import READ_ONLY_PATHS
from .routes import (
    admin, apps, auth, bundle_requests, catalogue, contract_documents, contracts, datasets, docs, errors, home, members, organisations,
    register, size_requests, workspaces,
)
from .routes.rendering import compiled_templates
from .security import SecurityHeadersMiddleware
from .services import workspaces as workspace_service
from .services import budget as budget_service
from .services import dataset_grants as grant_service
from .services import leases
from .services import provisioning
from .services import sync as sync_service
from .services.environments import register_environment
from .sessions import ServerSessionMiddleware, SessionStore
from .settings import PortalSettings, load_settings
from .state import PortalState
from .workspace_hub import HubFactory, Hubs

log = logging.getLogger("gereedschapskist.portal")
HERE = Path(__file__).parent


class PortalStartRefused(RuntimeError):
    """The portal will not start (un-migrated or unreachable database); the message says what to do."""


def startup(state: PortalState) -> None:
    try:
        revision = check_migrated(state.engine)
    except (DatabaseNotMigrated, DatabaseUnavailable) as exc:
        log.critical("%s", exc)
        raise PortalStartRefused(str(exc)) from None
    log.info("portal database at revision %s", revision)
    settings = state.settings
    if settings.hub_url:
        for attempt in (1, 2):      # several workers start at once: one inserts, the others update
            try:
                with state.sessions() as session:
                    register_environment(session, name=settings.environment_name,
                                         kind=EnvironmentKind(settings.environment_kind),
                                         stage=EnvironmentStage(settings.environment_stage),
                                         hub_url=settings.hub_url, hub_api_url=settings.resolved_hub_api_url or "")
                    session.commit()
                break
            except IntegrityError:
                if attempt == 2:
                    raise


def sync_workspaces(state: PortalState) -> set[str]:
    """One pass of the background sync: ask the hubs about every active workspace."""
    with state.sessions() as session:
        # not the starts this process is still handing to a hub: their start records how that went
        active = [w for w in workspace_service.active_workspaces(session)
                  if not workspace_service.start_in_hand(state.hubs, workspace_id=w.id, status=w.status)]
        down = sync_service.sync_active(session, hubs=state.hubs, workspaces=active)
        session.commit()
        return down


def watch_budgets(state: PortalState, holder: str) -> bool:
    """One budget-watcher pass when this process holds (or renews) the ``budget-watcher`` lease; False when another
    worker holds it. The lease outlives three intervals, so a dead holder is replaced within about that time."""
    seconds = max(state.settings.budget_watch_interval_seconds * 3, 5.0)
    if not leases.take(state.sessions, budget_service.LEASE, holder=holder, seconds=seconds):
        log.debug("budget-watcher skipped holder=%s: another worker holds the lease", holder)
        return False
    budget_service.run_pass(state.sessions, hubs=state.hubs, mailer=budget_service.mailer_from(state.settings),
                            holder=holder)
    return True


async def _leased_loop(state: PortalState, interval: float, one_pass, lease: str, what: str) -> None:
    """Run ``one_pass(state, holder)`` every ``interval`` seconds in the thread pool (each pass takes the database
    lease ``lease`` itself, so one worker of many does the work); a failed pass is logged and the next one retries; the
    lease is released when the loop ends."""
    holder = leases.new_holder()
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                await run_in_threadpool(one_pass, state, holder)
            except Exception:  # noqa: BLE001 - the loop must survive a bad pass; the next one retries
                log.exception("%s pass failed", what)
    finally:
        try:
            leases.release(state.sessions, lease, holder=holder)
        except Exception:  # noqa: BLE001 - shutting down: the lease expires anyway
            pass


def record_grant_expiries(state: PortalState, holder: str) -> int | None:
    """One pass of the grant-expiry recorder (issue 15) when this process holds the ``grant-expiry`` lease: every
    grant that expired gets its one ``access-expired`` register entry. None when another worker holds the lease."""
    seconds = max(state.settings.grant_expiry_interval_seconds * 3, 5.0)
    if not leases.take(state.sessions, grant_service.GRANT_EXPIRY_LEASE, holder=holder, seconds=seconds):
        return None
    return grant_service.record_expiries(state.sessions)


async def _sync_loop(state: PortalState, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(sync_workspaces, state)
        except Exception:  # noqa: BLE001 - the loop must survive a bad pass; the next one retries
            log.exception("workspace sync failed")


#: The collector's thresholds while the portal serves (issue 14's bench): a page of 100 contracts allocates tens of
#: thousands of short-lived objects; at CPython's default (700, 10, 10) they are promoted while the request still
#: holds them and a full collection follows every few requests, 60–150 ms walking every long-lived object of the
#: process — most of the overview's p95. With a young generation of 50,000 a request's objects die young and a full
#: collection comes every few hundred requests.
GC_THRESHOLDS = (50_000, 10, 10)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: PortalState = app.state.portal
    await run_in_threadpool(startup, state)
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)        # given back at shutdown (tests start many apps in one process)
    interval = state.settings.reconcile_interval_seconds
    task = asyncio.create_task(_sync_loop(state, interval)) if interval > 0 else None
    provisioner_task = (asyncio.create_task(provisioning.worker_loop(state.sessions, settings=state.settings,
                                                                     catalogue=state.catalogue))
                        if state.settings.provisioning_interval_seconds > 0 else None)
    budget_interval = state.settings.budget_watch_interval_seconds
    budget_task = (asyncio.create_task(_leased_loop(state, budget_interval, watch_budgets, budget_service.LEASE,
                                                    "budget watcher")) if budget_interval > 0 else None)
    expiry_interval = state.settings.grant_expiry_interval_seconds
    expiry_task = (asyncio.create_task(_leased_loop(state, expiry_interval, record_grant_expiries,
                                                    grant_service.GRANT_EXPIRY_LEASE, "grant expiry"))
                   if expiry_interval > 0 else None)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if task:
            task.cancel()
        if provisioner_task:
            provisioner_task.cancel()
            try:
                await provisioner_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
        if budget_task:
            budget_task.cancel()
            try:
                await budget_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if expiry_task:
            expiry_task.cancel()
            try:
                await expiry_task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        state.hubs.close()
        state.engine.dispose()


def create_app(settings: PortalSettings | None = None, *, catalogue_model: Catalogue | None = None,
               hub_factory: HubFactory | None = None) -> FastAPI:
    settings = settings or load_settings()
    engine = make_engine(settings.resolved_database_url)
    templates = compiled_templates(HERE / "templates")
    templates.env.filters["without_urls"] = without_urls   # hub messages on pages (they can name internal URLs)
    sessions = session_factory(engine)
    catalogue_model = catalogue_model or load(settings.catalogue_dir)
    provisioning.check_settings(settings, catalogue_model)      # fail closed: a misspelt partner stops the start
    state = PortalState(
        settings=settings, engine=engine, sessions=sessions, catalogue=catalogue_model,
        hubs=Hubs(token_for=settings.hub_token, timeout=settings.hub_timeout_seconds,
                  status_ttl=settings.hub_status_ttl_seconds, factory=hub_factory or JupyterHubAdapter),
        oidc=OidcLogin(settings), templates=templates, fragments=Fragments(templates.env),
        session_store=SessionStore(sessions, secret=settings.session_secret.get_secret_value(),
                                   max_age_seconds=settings.session_max_age_seconds,
                                   idle_seconds=settings.session_idle_seconds),
        group_policy=GroupPolicy(admin_group=settings.admin_group, organisations=settings.accepted_organisations,
                                 roles=frozenset(catalogue_model.roles), mapping=dict(settings.oidc_group_mapping)))
    app = FastAPI(title="Gereedschapskist portal", version=__version__, lifespan=lifespan,
                  description="Browse the catalogue of tools for your roles and launch, follow and stop "
                              "workspaces. Log in through the portal's pages first (session cookie); send "
                              "the CSRF token from GET /api/v1/me as X-CSRF-Token on POST requests.",
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  openapi_url="/api/openapi.json")
    app.state.portal = state
    app.add_middleware(ServerSessionMiddleware, store=state.session_store, cookie_name=settings.session_cookie,
                       https_only=settings.secure_cookies, skip_prefixes=("/static/", docs.ASSETS_PATH + "/"),
                       read_only_paths=READ_ONLY_PATHS, read_ahead=workspace_service.READ_AHEAD)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount(docs.ASSETS_PATH, StaticFiles(directory=docs.assets_dir()), name="swagger-ui")
    # FastAPI tries routes one by one, in this order: the most used pages and the health check first, then the
    # JSON API (every call from the pages' scripts), then the pages admins use now and then
    for router in (home.router, home.healthz, auth.router, catalogue.router, workspaces.router, *api.ROUTERS,
                   *(module.router for module in (organisations, members, contracts, contract_documents, size_requests,
                                                  datasets, register, admin, bundle_requests, apps, docs))):
        add_routes(app, router)
    errors.install(app)
    return app


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Add a router's routes to the app's own list, as they are (issue 13).

    ``include_router`` in FastAPI 0.165 keeps each router as one entry that is matched as a whole, then matched again
    inside to pick the route, with scope bookkeeping at every step; with the portal's twenty routers (the API's nested
    in another) that was about a tenth of a catalogue read's CPU. The routers here add nothing at inclusion (no prefix,
    dependencies or tags beyond their own, which their routes carry already), so their routes are exactly what
    ``include_router`` would serve; a router that includes another is refused rather than served half."""
    for route in router.routes:
        if not isinstance(route, (APIRoute, APIWebSocketRoute)):
            raise TypeError(f"{route!r}: only a router's own path operations can be added to the app's routes")
    app.router.routes.extend(router.routes)


def __getattr__(name: str) -> FastAPI:
    """``gereedschapskist.portal.main:app`` is built on first access, from the environment's settings."""
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
