"""The authorisation matrix: every page and API route of the portal, for each persona, allowed or denied.

The table below is checked against the app's own route table (``app.routes``): a route without an entry fails,
and so does an entry for a route that no longer exists. Each row maps a (method, path template) to one or more
*targets* — which real object fills the path parameters — and each target to the status code every persona
must get, in the column order of :data:`PERSONAS`:

    data scientist · organisation admin · data owner · platform admin · user of another organisation · anonymous

The world every row runs in (created in the test database, SQLite and PostgreSQL): organisations ``minfin`` and
``cbs``, each with its own environment next to the shared default one; a running workspace of the data scientist
(``anna``, minfin) and one of the other organisation's user (``bram``, cbs). So "another organisation's
workspace" and "another organisation's page" are real objects, not made-up ids. Targets named ``missing`` use
ids that do not exist (404 for logged-in users: the get-or-404-and-authorise dependencies in ``portal/deps.py``
first look the object up, then refuse with 403 whoever may not see it).

Denials follow the portal's intent: the API answers 401 to anonymous callers; pages send anonymous visitors to
``/login`` (303; login is configured here, with an issuer that does not answer, so ``/login`` itself is 503);
a POST without the session's CSRF token is refused with 403 before anything else is looked at.

Workspaces run on :mod:`tests.portal.fakehub` (an in-memory ``WorkspaceHub``): the matrix is about who may do
what, not about the hub. A few cells also check *what* comes back where a list must be scoped to the caller
(environments, workspaces).

The grant-state dimension of issue 15 (every role × every dataset action × own or other organisation × active,
expired or revoked grant, the hubs' tokens among the callers) is ``test_authorisation_grant_states.py``.

Personas: ``anna``, ``dana``, ``femke`` and ``bram`` are the demo accounts (``dev/oidc-provider/
demo-accounts.json``, checked below). The demo data owner ``eva`` is one of CBS; the matrix needs a data owner
of the same organisation as the data scientist and the organisation admin, so ``olga`` is a data owner of minfin.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gereedschapskist.catalogue import load
from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.portal.main import create_app
from gereedschapskist.portal.models import Environment, EnvironmentKind, EnvironmentStage, Organisation, User, Workspace
from gereedschapskist.portal.models import WorkspaceStatus
from gereedschapskist.portal.models import MembershipEnd, RoleGrant, utcnow
from gereedschapskist.portal.services.environments import register_environment
from tests.portal.conftest import closed_port
from tests.portal.fakehub import FakeHubs
from tests.portal.support import make_user

CATALOGUE = load()
DEFAULT_ENVIRONMENT = "shared"      # the name of the shared default environment of the world below


@dataclass(frozen=True)
class Persona:
    key: str
    username: str | None
    groups: tuple[str, ...] = ()
    demo: bool = True

    @property
    def role(self) -> str | None:
        return next((g.split(":", 1)[1] for g in self.groups if g.startswith("role:")), None)


PERSONAS = (
    Persona("data-scientist", "anna", ("org:minfin", "role:bi")),
    Persona("organisation-admin", "dana", ("org:minfin", "org-admin:minfin")),
    Persona("data-owner", "olga", ("org:minfin", "data-owner:minfin"), demo=False),
    Persona("platform-admin", "femke", ("gereedschapskist:admins", "role:dev")),
    Persona("other-organisation", "bram", ("org:cbs", "role:ml")),
    Persona("anonymous", None),
)

# Column order: data scientist, organisation admin, data owner, platform admin, other organisation, anonymous.
ALL_200 = (200, 200, 200, 200, 200, 200)
PAGE_LOGGED_IN = (200, 200, 200, 200, 200, 303)
API_LOGGED_IN = (200, 200, 200, 200, 200, 401)
PAGE_MISSING = (404, 404, 404, 404, 404, 303)
API_MISSING = (404, 404, 404, 404, 404, 401)
FORM_MISSING = (404, 404, 404, 404, 404, 403)    # anonymous: no CSRF token in the session → 403 first

#: The register's API routes (issue 15): targets are the selection (see _fill).
REGISTER_ROWS = {
    "-": API_LOGGED_IN,
    "organisation-minfin": (403, 200, 403, 200, 403, 401),
    "organisation-cbs": (403, 403, 403, 200, 403, 401),
    "dataset-minfin": (403, 403, 200, 200, 403, 401),
    "dataset-cbs": (403, 403, 403, 200, 403, 401),
    "person-anna": (200, 200, 200, 200, 403, 401),
    "person-bram": (403, 403, 403, 200, 200, 401),
    "missing": API_MISSING,
}

TABLE: dict[tuple[str, str], dict[str, tuple[int, ...]]] = {
    # --- public: the documentation, static files, health, start page, language switch, login
    ("GET", "/api/openapi.json"): {"-": ALL_200},
    ("GET", "/api/docs"): {"-": ALL_200},
    ("GET", "/static/{path}"): {"portal.css": ALL_200},
    ("GET", "/api/docs/assets/{path}"): {"swagger-ui.css": ALL_200},
    ("GET", "/healthz"): {"-": ALL_200},
    ("GET", "/"): {"-": ALL_200},
    ("GET", "/language/{code}"): {"en": (303, 303, 303, 303, 303, 303)},
    ("GET", "/login"): {"-": (503, 503, 503, 503, 503, 503)},          # the issuer does not answer here
    ("GET", "/auth/callback"): {"-": (400, 400, 400, 400, 400, 400)},   # no login in progress: refused
    ("POST", "/logout"): {"-": (303, 303, 303, 303, 303, 403)},
    # the issuer's back-channel logout (server to server, no CSRF token): without a valid logout token, 400
    # for everyone (tests/portal/test_backchannel_logout.py checks the tokens)
    ("POST", "/auth/backchannel-logout"): {"-": (400, 400, 400, 400, 400, 400)},

    # --- pages for every logged-in user
    ("GET", "/catalogue"): {"-": PAGE_LOGGED_IN},
    ("GET", "/catalogue/{bundle_id}"): {"bi": PAGE_LOGGED_IN, "missing": PAGE_MISSING},
    ("GET", "/workspaces"): {"-": PAGE_LOGGED_IN},
    # launch in minfin the first bundle of one's own role: only the data scientist may (role + membership)
    ("POST", "/workspaces"): {"minfin": (303, 403, 403, 403, 403, 403)},
    # back from the hub's sign-on: only a launch this session posted is shown; none here → my workspaces
    ("GET", "/workspaces/resume"): {"-": (303, 303, 303, 303, 303, 303)},
    # --- one workspace: its owner, an admin of its organisation, a platform admin
    ("GET", "/workspaces/{workspace_id}"): {
        "minfin": (200, 200, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 200, 303),
        "missing": PAGE_MISSING},
    ("GET", "/workspaces/{workspace_id}/open"): {      # only its own user opens it
        "minfin": (303, 403, 403, 403, 403, 303),
        "cbs": (403, 403, 403, 403, 303, 303),
        "missing": PAGE_MISSING},
    ("POST", "/workspaces/{workspace_id}/stop"): {        # confirmed, with a reason (required of admins)
        "minfin": (303, 303, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 303, 403),
        "missing": FORM_MISSING},
    # the workspace lifecycle (issue 12): the stop confirmation for whoever may stop it; restart, name and delete
    # (and the delete confirmation) only for the owner. Restart and delete targets are stopped workspaces. bram's
    # cbs workspace is a bi bundle, which his role (ml) may not start: the role rule refuses its restart too.
    ("GET", "/workspaces/{workspace_id}/stop"): {
        "minfin": (200, 200, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 200, 303),
        "missing": PAGE_MISSING},
    ("POST", "/workspaces/{workspace_id}/restart"): {
        "minfin": (303, 403, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/workspaces/{workspace_id}/name"): {
        "minfin": (303, 403, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 303, 403),
        "missing": FORM_MISSING},
    ("GET", "/workspaces/{workspace_id}/delete"): {
        "minfin": (200, 403, 403, 403, 403, 303),
        "cbs": (403, 403, 403, 403, 200, 303),
        "missing": PAGE_MISSING},
    ("POST", "/workspaces/{workspace_id}/delete"): {
        "minfin": (303, 403, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 303, 403),
        "missing": FORM_MISSING},
    # remove one of one's own hub servers the portal does not know: only ever the caller's own (the form names no
    # user); none here, so 404 for everyone logged in
    ("POST", "/workspaces/hub-servers/remove"): {"missing": FORM_MISSING},
    # --- an organisation: its admins and platform admins
    ("GET", "/organisations/{slug}"): {
        "minfin": (403, 200, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 403, 303),
        "missing": PAGE_MISSING},
    # --- roles and handover (issue 12, item 10): the page for its admins and platform admins; granting and revoking
    # for its admins only (a platform admin is no member: roles are the organisation's decision); a handover (of a
    # fresh member, to the data scientist) and re-admitting (a fresh former member) for its admins and platform admins
    ("GET", "/organisations/{slug}/roles"): {
        "minfin": (403, 200, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 403, 303),
        "missing": PAGE_MISSING},
    ("POST", "/organisations/{slug}/grants"): {
        "minfin": (403, 303, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/organisations/{slug}/grants/{grant_id}/revoke"): {
        "minfin": (403, 303, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/organisations/{slug}/handover"): {
        "minfin": (403, 303, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/organisations/{slug}/former/{username}/readmit"): {
        "minfin": (403, 303, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},

    # --- the admin screens: organisations and environments for platform admins; usage and the register also for
    # organisation admins, scoped to their own organisation (tests/portal/test_admin_*.py check what each one shows)
    ("GET", "/admin"): {"-": (403, 200, 403, 200, 403, 303)},
    ("GET", "/admin/organisations"): {"-": (403, 403, 403, 200, 403, 303)},
    ("GET", "/admin/environments"): {"-": (403, 403, 403, 200, 403, 303)},
    ("GET", "/admin/usage"): {"-": (403, 200, 403, 200, 403, 303)},
    ("GET", "/admin/register"): {"-": (403, 200, 403, 200, 403, 303)},
    ("POST", "/admin/register/export"): {"-": (403, 200, 403, 200, 403, 403)},

    # --- the JSON API
    ("GET", "/api/v1/me"): {"-": API_LOGGED_IN},
    ("GET", "/api/v1/roles"): {"-": API_LOGGED_IN},
    ("GET", "/api/v1/environments"): {"-": API_LOGGED_IN},        # scoped: see ENVIRONMENTS_SEEN
    ("GET", "/api/v1/bundles"): {"-": API_LOGGED_IN},
    ("GET", "/api/v1/bundles/{bundle_id}"): {"bi": API_LOGGED_IN, "missing": API_MISSING},
    ("GET", "/api/v1/workspaces"): {"-": API_LOGGED_IN},          # only one's own: checked below
    ("POST", "/api/v1/workspaces"): {"minfin": (202, 403, 403, 403, 403, 403)},
    ("GET", "/api/v1/workspaces/{workspace_id}"): {
        "minfin": (200, 200, 403, 200, 403, 401),
        "cbs": (403, 403, 403, 200, 200, 401),
        "missing": API_MISSING},
    ("GET", "/api/v1/workspaces/{workspace_id}/progress"): {
        "minfin": (200, 200, 403, 200, 403, 401),
        "cbs": (403, 403, 403, 200, 200, 401),
        "missing": API_MISSING},
    # live usage and kept peaks (issue 12, right-sizing): whoever may see the workspace
    ("GET", "/api/v1/workspaces/{workspace_id}/usage"): {
        "minfin": (200, 200, 403, 200, 403, 401),
        "cbs": (403, 403, 403, 200, 200, 401),
        "missing": API_MISSING},
    ("POST", "/api/v1/workspaces/{workspace_id}/stop"): {
        "minfin": (200, 200, 403, 200, 403, 403),
        "cbs": (403, 403, 403, 200, 200, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/workspaces/{workspace_id}/restart"): {
        "minfin": (202, 403, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("PATCH", "/api/v1/workspaces/{workspace_id}"): {
        "minfin": (200, 403, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 200, 403),
        "missing": FORM_MISSING},
    ("DELETE", "/api/v1/workspaces/{workspace_id}"): {
        "minfin": (200, 403, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 200, 403),
        "missing": FORM_MISSING},
    ("GET", "/api/v1/organisations/{slug}"): {
        "minfin": (403, 200, 403, 200, 403, 401),
        "cbs": (403, 403, 403, 200, 403, 401),
        "missing": API_MISSING},
    ("GET", "/api/v1/organisations/{slug}/workspaces"): {
        "minfin": (403, 200, 403, 200, 403, 401),
        "cbs": (403, 403, 403, 200, 403, 401),
        "missing": API_MISSING},

    # --- standard contracts (issue 14): an organisation's contracts for its admins and platform admins; ordering and
    # requesting by its admins only; approving, rejecting and ending by platform admins only (never of their own
    # organisation: tests/portal/test_contracts_service.py); every contract for platform admins. Targets are fresh
    # contracts of minfin or cbs in the state the step needs (request: a draft; approve/reject: requested; end:
    # approved).
    ("GET", "/organisations/{slug}/contracts"): {
        "minfin": (403, 200, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 403, 303),
        "missing": PAGE_MISSING},
    ("GET", "/organisations/{slug}/contracts/new"): {
        "minfin": (403, 200, 403, 403, 403, 303),
        "cbs": (403, 403, 403, 403, 403, 303),
        "missing": PAGE_MISSING},
    ("POST", "/organisations/{slug}/contracts"): {
        "minfin": (403, 303, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("GET", "/contracts/{contract_id}"): {
        "minfin": (403, 200, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 403, 303),
        "missing": PAGE_MISSING},
    ("POST", "/contracts/{contract_id}/request"): {
        "minfin": (403, 303, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/contracts/{contract_id}/approve"): {
        "minfin": (403, 403, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/contracts/{contract_id}/reject"): {
        "minfin": (403, 403, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/contracts/{contract_id}/end"): {
        "minfin": (403, 403, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},
    # retry provisioning: platform admins (targets: contracts whose provisioning failed)
    ("POST", "/contracts/{contract_id}/retry"): {
        "minfin": (403, 403, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},
    # changing the budget: platform admins of another organisation (targets: active contracts; the refusals in
    # tests/portal/test_contract_budget.py)
    ("POST", "/contracts/{contract_id}/budget"): {
        "minfin": (403, 403, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/contracts/{contract_id}/budget"): {
        "minfin": (403, 403, 403, 200, 403, 403),
        "cbs": (403, 403, 403, 200, 403, 403),
        "missing": FORM_MISSING},
    ("GET", "/admin/contracts"): {"-": (403, 403, 403, 200, 403, 303)},
    ("GET", "/admin/contracts.csv"): {"-": (403, 403, 403, 200, 403, 303)},
    ("GET", "/api/v1/contracts"): {"-": (403, 200, 403, 200, 403, 401)},      # scoped: see _content_check
    ("POST", "/api/v1/contracts/estimate"): {"-": (200, 200, 200, 200, 200, 403)},
    ("POST", "/api/v1/contracts"): {"minfin": (403, 201, 403, 403, 403, 403)},
    ("GET", "/api/v1/contracts/{contract_id}"): {
        "minfin": (403, 200, 403, 200, 403, 401),
        "cbs": (403, 403, 403, 200, 403, 401),
        "missing": API_MISSING},
    ("POST", "/api/v1/contracts/{contract_id}/request"): {
        "minfin": (403, 200, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/contracts/{contract_id}/approve"): {
        "minfin": (403, 403, 403, 200, 403, 403),
        "cbs": (403, 403, 403, 200, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/contracts/{contract_id}/reject"): {
        "minfin": (403, 403, 403, 200, 403, 403),
        "cbs": (403, 403, 403, 200, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/contracts/{contract_id}/end"): {
        "minfin": (403, 403, 403, 200, 403, 403),
        "cbs": (403, 403, 403, 200, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/contracts/{contract_id}/retry"): {
        "minfin": (403, 403, 403, 200, 403, 403),
        "cbs": (403, 403, 403, 200, 403, 403),
        "missing": FORM_MISSING},
    # CI's activation callback: only the deploy's own token (tests/portal/test_gitops.py), never a login
    ("POST", "/api/v1/contracts/{contract_id}/activate"): {
        "minfin": (401, 401, 401, 401, 401, 401),
        "missing": (401, 401, 401, 401, 401, 401)},

    # --- the contract document (issue 14): downloads for the organisation's admins and platform admins (targets:
    # approved contracts with their document made)
    ("GET", "/contracts/{contract_id}/document.html"): {
        "minfin": (403, 200, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 403, 303),
        "missing": PAGE_MISSING},
    ("GET", "/contracts/{contract_id}/document.pdf"): {
        "minfin": (403, 200, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 403, 303),
        "missing": PAGE_MISSING},
    # --- sizes on request (issue 14): the page and asking for members of the organisation (a platform admin is no
    # member); deciding by its admins only, never on their own request (tests/portal/test_size_requests.py). Targets:
    # a fresh active contract of the organisation; requests by anna (minfin) and bram (cbs, where no persona is admin)
    ("GET", "/organisations/{slug}/sizes"): {
        "minfin": (200, 200, 200, 403, 403, 303),
        "cbs": (403, 403, 403, 403, 200, 303),
        "missing": PAGE_MISSING},
    ("POST", "/organisations/{slug}/sizes"): {
        "minfin": (303, 303, 303, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 303, 403),
        "missing": FORM_MISSING},
    ("POST", "/size-requests/{request_id}/approve"): {
        "minfin": (403, 303, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/size-requests/{request_id}/reject"): {
        "minfin": (403, 303, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("GET", "/api/v1/size-requests"): {
        "minfin": (200, 200, 200, 403, 403, 401),
        "cbs": (403, 403, 403, 403, 200, 401)},
    ("POST", "/api/v1/size-requests"): {
        "minfin": (201, 201, 201, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 201, 403)},
    ("POST", "/api/v1/size-requests/{request_id}/approve"): {
        "minfin": (403, 200, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/size-requests/{request_id}/reject"): {
        "minfin": (403, 200, 403, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},

    # --- requesting a bundle (issue 17, supply model d): any active member requests (a platform admin is no member:
    # 403; a member's form here has problems, so 422 — tests/portal/test_bundle_requests.py opens real pull requests);
    # a request is its requester's and the platform admins' to see; only platform admins mark it merged or rejected.
    # Targets: a fresh request of anna (minfin) or bram (cbs) whose pull request is open (a retry: 409)
    ("GET", "/bundle-requests"): {"-": PAGE_LOGGED_IN},
    ("POST", "/bundle-requests/check"): {"-": (200, 200, 200, 200, 200, 403)},
    ("POST", "/bundle-requests"): {"-": (422, 422, 422, 403, 422, 403)},
    ("GET", "/bundle-requests/{request_id}"): {
        "minfin": (200, 403, 403, 200, 403, 303),
        "cbs": (403, 403, 403, 200, 200, 303),
        "missing": PAGE_MISSING},
    ("POST", "/bundle-requests/{request_id}/pull-request"): {
        "minfin": (409, 403, 403, 409, 403, 403),
        "cbs": (403, 403, 403, 409, 409, 403),
        "missing": FORM_MISSING},
    ("POST", "/bundle-requests/{request_id}/status"): {
        "minfin": (403, 403, 403, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},
    ("GET", "/api/v1/bundle-requests"): {"-": API_LOGGED_IN},
    ("POST", "/api/v1/bundle-requests/check"): {"-": (200, 200, 200, 200, 200, 403)},
    ("POST", "/api/v1/bundle-requests"): {"-": (422, 422, 422, 403, 422, 403)},
    ("GET", "/api/v1/bundle-requests/{request_id}"): {
        "minfin": (200, 403, 403, 200, 403, 401),
        "cbs": (403, 403, 403, 200, 200, 401),
        "missing": API_MISSING},
    ("POST", "/api/v1/bundle-requests/{request_id}/pull-request"): {
        "minfin": (409, 403, 403, 409, 403, 403),
        "cbs": (403, 403, 403, 409, 409, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/bundle-requests/{request_id}/status"): {
        "minfin": (403, 403, 403, 200, 403, 403),
        "cbs": (403, 403, 403, 200, 403, 403),
        "missing": FORM_MISSING},

    # --- published apps (issue 17, section 1): the audience opens (the minfin app is anna's, for her organisation;
    # the cbs app is bram's), the owner, its organisation's admins and platform admins manage (olga opens but does not
    # manage: 403); others get 404 (no probing). A form here has problems (422); an app has one version (rollback 409)
    ("GET", "/apps"): {"-": PAGE_LOGGED_IN},
    ("POST", "/apps"): {"-": (422, 422, 422, 422, 422, 403)},
    # back from the hub's sign-on: only a publish this session posted is shown; none here → the apps page
    ("GET", "/apps/resume"): {"-": (303, 303, 303, 303, 303, 303)},
    ("GET", "/apps/{app_id}"): {
        "minfin": (200, 200, 200, 200, 404, 303), "cbs": (404, 404, 404, 200, 200, 303), "missing": PAGE_MISSING},
    ("GET", "/apps/{app_id}/status"): {
        "minfin": (200, 200, 200, 200, 404, 303), "cbs": (404, 404, 404, 200, 200, 303), "missing": PAGE_MISSING},
    ("GET", "/apps/{app_id}/open"): {
        "minfin": (303, 303, 303, 303, 404, 303), "cbs": (404, 404, 404, 303, 303, 303), "missing": PAGE_MISSING},
    ("GET", "/apps/{app_id}/logs"): {
        "minfin": (200, 200, 403, 200, 404, 303), "cbs": (404, 404, 404, 200, 200, 303), "missing": PAGE_MISSING},
    ("POST", "/apps/{app_id}/stop"): {
        "minfin": (303, 303, 403, 303, 404, 403), "cbs": (404, 404, 404, 303, 303, 403), "missing": FORM_MISSING},
    ("POST", "/apps/{app_id}/unpublish"): {
        "minfin": (303, 303, 403, 303, 404, 403), "cbs": (404, 404, 404, 303, 303, 403), "missing": FORM_MISSING},
    ("POST", "/apps/{app_id}/rollback"): {
        "minfin": (409, 409, 403, 409, 404, 403), "cbs": (404, 404, 404, 409, 409, 403), "missing": FORM_MISSING},
    ("GET", "/api/v1/apps"): {"-": API_LOGGED_IN},
    ("POST", "/api/v1/apps"): {"-": (422, 422, 422, 422, 422, 403)},
    ("GET", "/api/v1/apps/{app_id}"): {
        "minfin": (200, 200, 200, 200, 404, 401), "cbs": (404, 404, 404, 200, 200, 401), "missing": API_MISSING},
    ("GET", "/api/v1/apps/{app_id}/logs"): {
        "minfin": (200, 200, 403, 200, 404, 401), "cbs": (404, 404, 404, 200, 200, 401), "missing": API_MISSING},
    ("POST", "/api/v1/apps/{app_id}/open"): {
        "minfin": (200, 200, 200, 200, 404, 403), "cbs": (404, 404, 404, 200, 200, 403), "missing": FORM_MISSING},
    ("POST", "/api/v1/apps/{app_id}/stop"): {
        "minfin": (200, 200, 403, 200, 404, 403), "cbs": (404, 404, 404, 200, 200, 403), "missing": FORM_MISSING},
    ("POST", "/api/v1/apps/{app_id}/unpublish"): {
        "minfin": (204, 204, 403, 204, 404, 403), "cbs": (404, 404, 404, 204, 204, 403), "missing": FORM_MISSING},
    ("POST", "/api/v1/apps/{app_id}/rollback"): {
        "minfin": (409, 409, 403, 409, 404, 403), "cbs": (404, 404, 404, 409, 409, 403), "missing": FORM_MISSING},

    # --- access to data (issue 15): datasets for every logged-in user; requests by members with a workbench role
    # (dana and olga have none; femke is no member); decisions and automatic approval by the dataset's data owner only
    # (olga for minfin's datasets; no persona is a data owner of cbs). Targets: a fresh dataset of minfin or cbs; a
    # fresh request of anna (minfin's dataset) or bram (cbs's) (tests/portal/test_datasets.py checks the rules)
    ("GET", "/datasets"): {"-": PAGE_LOGGED_IN},
    ("GET", "/datasets/{dataset_id}"): {"minfin": PAGE_LOGGED_IN, "cbs": PAGE_LOGGED_IN, "missing": PAGE_MISSING},
    ("POST", "/datasets/{dataset_id}/requests"): {
        "minfin": (303, 403, 403, 403, 303, 403),
        "cbs": (303, 403, 403, 403, 303, 403),
        "missing": FORM_MISSING},
    ("POST", "/datasets/{dataset_id}/auto-approval"): {
        "minfin": (403, 403, 303, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("GET", "/access-requests"): {"-": PAGE_LOGGED_IN},
    ("POST", "/access-requests/{request_id}/approve"): {
        "minfin": (403, 403, 303, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/access-requests/{request_id}/reject"): {
        "minfin": (403, 403, 303, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("GET", "/api/v1/datasets"): {"-": API_LOGGED_IN},
    ("GET", "/api/v1/datasets/{dataset_id}"): {"minfin": API_LOGGED_IN, "cbs": API_LOGGED_IN,
                                               "missing": API_MISSING},
    ("POST", "/api/v1/datasets/{dataset_id}/auto-approval"): {
        "minfin": (403, 403, 200, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("GET", "/api/v1/access-requests"): {"-": API_LOGGED_IN},      # only one's own: see _content_check
    ("POST", "/api/v1/access-requests"): {
        "minfin": (201, 403, 403, 403, 201, 403),
        "cbs": (201, 403, 403, 403, 201, 403)},
    ("POST", "/api/v1/access-requests/{request_id}/approve"): {
        "minfin": (403, 403, 200, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/access-requests/{request_id}/reject"): {
        "minfin": (403, 403, 200, 403, 403, 403),
        "cbs": (403, 403, 403, 403, 403, 403),
        "missing": FORM_MISSING},
    # revoking a grant (issue 15): the dataset's data owner (olga for minfin's; no persona owns cbs's) or a platform
    # admin; never the grantee. Targets: a fresh active grant of anna (minfin's dataset) or bram (cbs's)
    ("POST", "/grants/{grant_id}/revoke"): {
        "minfin": (403, 403, 303, 303, 403, 403),
        "cbs": (403, 403, 403, 303, 403, 403),
        "missing": FORM_MISSING},
    ("POST", "/api/v1/grants/{grant_id}/revoke"): {
        "minfin": (403, 403, 200, 200, 403, 403),
        "cbs": (403, 403, 403, 200, 403, 403),
        "missing": FORM_MISSING},
    # for hubs only: their service token, never a login (tests/portal/test_dataset_grants.py checks the token)
    ("GET", "/api/v1/hub/grants/{username}"): {"anna": (401, 401, 401, 401, 401, 401)},
    ("POST", "/api/v1/hub/grants/{username}/start"): {"anna": (401, 401, 401, 401, 401, 401)},
    # --- the processing register per organisation, dataset or person (issue 15; services/register_export.py): with
    # no selection, what the caller sees (a member their own entries: checked in _content_check); an organisation for
    # its admins; a dataset for its data owner (olga: minfin's fresh dataset; cbs's names none, no persona owns it);
    # a person for themselves, the admins of their organisation and the data owners they asked (anna asks for a
    # fresh dataset of olga's first); platform admins everything. Refusals are 403, never an empty list
    # (tests/portal/test_register_export.py checks what each one sees)
    ("GET", "/register"): {target: tuple(303 if status == 401 else status for status in statuses)
                           for target, statuses in REGISTER_ROWS.items()},
    ("GET", "/api/v1/register"): REGISTER_ROWS,
    ("GET", "/api/v1/register/export"): REGISTER_ROWS,
}

#: Which environments each persona sees on GET /api/v1/environments (issue 11: scoped to the caller's
#: organisations; platform admins see all). "shared" is the default environment every organisation uses.
ENVIRONMENTS_SEEN = {
    "data-scientist": {"shared", "minfin-env"},
    "organisation-admin": {"shared", "minfin-env"},
    "data-owner": {"shared", "minfin-env"},
    "platform-admin": {"shared", "minfin-env", "cbs-env"},
    "other-organisation": {"shared", "cbs-env"},
}


def app_route_table(app) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves (HEAD left out: it follows GET)."""
    try:
        from fastapi.routing import iter_route_contexts   # FastAPI keeps included routers as such
        routes: Iterator = iter_route_contexts(app.routes)
    except ImportError:                                   # pragma: no cover - older FastAPI: a flat list
        routes = iter(app.routes)
    table = set()
    for route in routes:
        path = route.path
        methods = getattr(route, "methods", None)
        if methods is None:                               # a mount (static files): any path below it
            table.add(("GET", path + "/{path}"))
            continue
        table |= {(method, path) for method in methods if method != "HEAD"}
    return table


def first_bundle(role: str | None) -> str:
    return CATALOGUE.offered_for([role or "bi"])[0].id


BI_BUNDLE = first_bundle("bi")


# ---------------------------------------------------------------------------------------------------- fixtures

@pytest.fixture
def hubs() -> FakeHubs:
    return FakeHubs()


@pytest.fixture
def settings(settings):
    """Login configured (so pages send anonymous visitors to /login, as in production), its issuer not answering."""
    return settings.model_copy(update={"oidc_issuer": f"http://127.0.0.1:{closed_port()}/issuer",
                                       "environment_name": "shared"})


@pytest.fixture
def app(settings, hubs):
    return create_app(settings, catalogue_model=CATALOGUE, hub_factory=hubs.factory)


@dataclass
class World:
    app: object
    clients: dict[str, TestClient]
    csrf: dict[str, str]
    workspaces: dict[str, int]

    def new_workspace(self, organisation: str, status: WorkspaceStatus = WorkspaceStatus.RUNNING) -> int:
        owner = {"minfin": "anna", "cbs": "bram"}[organisation]
        with self.app.state.portal.sessions() as session:
            user = session.scalar(select(User).where(User.username == owner))
            org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
            env = session.scalar(select(Environment).where(Environment.name == f"{organisation}-env"))
            count = len(session.scalars(select(Workspace.id)).all())
            server = f"{BI_BUNDLE}-{count}"
            hub = self.app.state.portal.hubs.for_environment(env)
            hub.start(username=owner, server_name=server, options={})
            workspace = Workspace(user=user, organisation=org, environment=env, server_name=server,
                                  bundle_id=BI_BUNDLE, bundle_version="1.0.0", size_id="small",
                                  interface="jupyterlab", status=status,
                                  url=f"{env.hub_url}/user/{owner}/{server}/"
                                  if status is WorkspaceStatus.RUNNING else None)
            session.add(workspace)
            session.commit()
            return workspace.id


@pytest.fixture
def world(app, client, login) -> World:
    clients, csrf = {}, {}
    for persona in PERSONAS:
        persona_client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        if persona.username:
            me = login(persona.username, list(persona.groups), on=persona_client)
            csrf[persona.key] = me.csrf
        clients[persona.key] = persona_client
    with app.state.portal.sessions() as session:
        for slug in ("minfin", "cbs"):
            organisation = session.scalar(select(Organisation).where(Organisation.slug == slug))
            register_environment(session, name=f"{slug}-env", kind=EnvironmentKind.CLOUD,
                                 stage=EnvironmentStage.PRODUCTION, hub_url=f"http://{slug}.hub.test",
                                 hub_api_url=f"http://{slug}.hub.test/hub/api", organisation=organisation)
        session.commit()
    result = World(app, clients, csrf, {})
    result.workspaces = {"minfin": result.new_workspace("minfin"), "cbs": result.new_workspace("cbs")}
    return result


# ---------------------------------------------------------------------------------------------------- the tests

def test_personas_are_the_demo_accounts():
    accounts = load_accounts()
    for persona in PERSONAS:
        if persona.username and persona.demo:
            assert tuple(accounts[persona.username].groups) == persona.groups, persona


def test_the_table_covers_exactly_the_route_table(app):
    served = app_route_table(app)
    assert sorted(served - TABLE.keys()) == [], "routes without an entry in the authorisation matrix"
    assert sorted(TABLE.keys() - served) == [], "matrix entries for routes the app no longer has"


#: Changes that need a stopped workspace (restart, delete; the API's DELETE and PATCH on one): a fresh stopped one.
STOPPED_TARGETS = ("/restart", "/delete", "/api/v1/workspaces/{workspace_id}")


def _new_member(world: World, organisation: str) -> str:
    """A fresh member of ``organisation`` (roles and handover rows): a handover may end their membership."""
    username = f"m{secrets.token_hex(3)}"
    make_user(world.app.state.portal.sessions, username=username, groups=[f"org:{organisation}"])
    return username


def _new_grant(world: World, organisation: str) -> int:
    """A grant of role ``ml`` to a fresh member of ``organisation``, by its admin (minfin: dana; cbs: bram)."""
    username = _new_member(world, organisation)
    with world.app.state.portal.sessions() as session:
        org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
        by = session.scalar(select(User).where(User.username == {"minfin": "dana", "cbs": "bram"}[organisation]))
        grant = RoleGrant(user=session.scalar(select(User).where(User.username == username)), organisation=org,
                          role="ml", reason="matrix", granted_by=by, expires_at=utcnow() + timedelta(days=30))
        session.add(grant)
        session.commit()
        return grant.id


def _new_former(world: World, organisation: str) -> str:
    """A fresh member of ``organisation`` whose membership an admin ended (waiting to be re-admitted)."""
    username = _new_member(world, organisation)
    with world.app.state.portal.sessions() as session:
        org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
        user = session.scalar(select(User).where(User.username == username))
        by = session.scalar(select(User).where(User.username == "femke"))
        session.add(MembershipEnd(user=user, organisation=org, ended_by=by))
        session.commit()
        return username


def _order(**changes) -> dict:
    """A valid order of minfin (tests/portal/test_contracts_service.py checks the refusals)."""
    return {"partner": "aws", "region": "eu-central-1", "stage": "development", "roles": ["bi"],
            "bundles": [BI_BUNDLE], "sizes": [], "expected_users": 3, "hours_per_week": 8, "budget_eur": 2000,
            "starts_on": (date.today() + timedelta(days=1)).isoformat(),
            "ends_on": (date.today() + timedelta(days=60)).isoformat(), "contact": "Dana", "cost_centre": "KP-1",
            **changes}


def _new_contract(world: World, organisation: str, state: str, *, document: bool = False) -> int:
    """A contract of ``organisation`` in ``state``, stored as such (its way there is tested elsewhere)."""
    from gereedschapskist.portal.models import Contract, ContractState, EnvironmentStage

    with world.app.state.portal.sessions() as session:
        org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
        by = session.scalar(select(User).where(User.username == {"minfin": "dana", "cbs": "bram"}[organisation]))
        count = len(session.scalars(select(Contract.id)).all())
        start = date.today() + timedelta(days=1 + 100 * count)       # never overlapping one another
        contract = Contract(organisation=org, state=ContractState(state), partner="aws", region="eu-central-1",
                            stage=EnvironmentStage.DEVELOPMENT, provisioner="local", roles=["bi"], bundles=[BI_BUNDLE],
                            sizes=[f"{BI_BUNDLE}/small"], expected_users=3, hours_per_week=8, budget_eur=2000,
                            starts_on=start, ends_on=start + timedelta(days=30), contact="Dana", cost_centre="KP-1",
                            estimate={}, created_by=by)
        session.add(contract)
        session.flush()
        if document:
            from gereedschapskist.portal.services.contract_document import make_document
            make_document(session, contract=contract, catalogue=CATALOGUE)
        session.commit()
        return contract.id


def _new_size_request(world: World, organisation: str) -> int:
    """A size request of anna (minfin) or bram (cbs) under a fresh active contract of ``organisation``."""
    from gereedschapskist.portal.models import SizeRequest

    contract_id = _new_contract(world, organisation, "active")
    with world.app.state.portal.sessions() as session:
        by = session.scalar(select(User).where(User.username == {"minfin": "anna", "cbs": "bram"}[organisation]))
        row = SizeRequest(contract_id=contract_id, requester=by, bundle=BI_BUNDLE, size="medium", reason="matrix",
                          ends_on=date.today() + timedelta(days=10))
        session.add(row)
        session.commit()
        return row.id


def _new_bundle_request(world: World, organisation: str) -> int:
    """A bundle request of anna (minfin) or bram (cbs) whose pull request is open (stored as such: no branch)."""
    from gereedschapskist.portal.models import BundleRequest, BundleRequestState

    with world.app.state.portal.sessions() as session:
        by = session.scalar(select(User).where(User.username == {"minfin": "anna", "cbs": "bram"}[organisation]))
        org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
        row = BundleRequest(requester=by, organisation_id=org.id, bundle_id=f"bi-m{secrets.token_hex(3)}",
                            title="Matrix", role="bi", form={}, bundle_yaml="id: bi-matrix\n",
                            state=BundleRequestState.PR_OPENED, pull_request={"branch": "matrix", "local_only": True})
        session.add(row)
        session.commit()
        return row.id


def _new_app(world: World, organisation: str) -> int:
    """A published app of anna (minfin) or bram (cbs), for the owner's organisation, in its environment."""
    from gereedschapskist.portal.models import AudienceKind, PublishedApp, PublishedAppVersion
    from gereedschapskist.portal.services.environments import environment_for

    with world.app.state.portal.sessions() as session:
        by = session.scalar(select(User).where(User.username == {"minfin": "anna", "cbs": "bram"}[organisation]))
        org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
        slug = f"matrix-{secrets.token_hex(3)}x"
        row = PublishedApp(owner=by, organisation=org, environment=environment_for(session, organisation=org),
                           slug=slug, server_name=f"app-{slug}", title="Matrix", framework="panel",
                           bundle_id="bi-dashboards", size_id="small", audience_kind=AudienceKind.ORGANISATION,
                           audience=[], current_version=1,
                           versions=[PublishedAppVersion(number=1, source={"entry": "app.py"}, bundle_version="1.1.0",
                                                         published_by=by)])
        session.add(row)
        session.commit()
        return row.id


def _new_failed_provisioning(world: World, organisation: str) -> int:
    """A contract of ``organisation`` whose provisioning failed (a retry is due later)."""
    from gereedschapskist.portal.models import Contract, ProvisioningStatus

    contract_id = _new_contract(world, organisation, "provisioning")
    with world.app.state.portal.sessions() as session:
        contract = session.get(Contract, contract_id)
        contract.provisioning_status = ProvisioningStatus.FAILED
        contract.provisioning_error = "matrix"
        contract.provisioning_next_at = utcnow() + timedelta(hours=1)
        session.commit()
    return contract_id


def _new_dataset(world: World, organisation: str) -> int:
    """A fresh dataset of ``organisation``; minfin's data owner is olga, cbs's names none (any of its data owners)."""
    from gereedschapskist.portal.models import Dataset, DatasetCategory, SensitivityLevel

    with world.app.state.portal.sessions() as session:
        org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
        owner = session.scalar(select(User).where(User.username == "olga")) if organisation == "minfin" else None
        row = Dataset(identifier=f"{organisation}-{secrets.token_hex(4)}", title_nl="Matrix", description_nl="",
                      organisation=org, data_owner=owner, category=DatasetCategory.OTHER,
                      sensitivity=SensitivityLevel.INTERNAL, keywords=[], auto_approval=True)
        session.add(row)
        session.commit()
        return row.id


def _access_form(role: str | None) -> dict:
    return {"role": role or "", "purpose": "Matrix of who may do what", "purpose_code": "statistics",
            "legal_ground": "avg-6-1-e-cbs-wet", "starts_on": date.today().isoformat(),
            "ends_on": (date.today() + timedelta(days=10)).isoformat()}


def _new_access_request(world: World, organisation: str) -> int:
    """A request of anna (for a fresh dataset of minfin) or bram (of cbs), for their own organisation."""
    from gereedschapskist.portal.models import AccessRequest

    dataset_id = _new_dataset(world, organisation)
    with world.app.state.portal.sessions() as session:
        by = session.scalar(select(User).where(User.username == {"minfin": "anna", "cbs": "bram"}[organisation]))
        org = session.scalar(select(Organisation).where(Organisation.slug == organisation))
        form = _access_form("bi")
        row = AccessRequest(dataset_id=dataset_id, requester=by, organisation=org, role="bi", purpose=form["purpose"],
                            purpose_code=form["purpose_code"], legal_ground=form["legal_ground"],
                            starts_on=date.today(), ends_on=date.today() + timedelta(days=10), automatic=False)
        session.add(row)
        session.commit()
        return row.id

def _new_dataset_grant(world: World, organisation: str) -> int:
    """An active grant of anna (to a fresh dataset of minfin) or bram (of cbs), approved by a data owner."""
    from datetime import datetime, time, timezone

    from gereedschapskist.portal.models import AccessRequest, AccessRequestState, DatasetGrant

    request_id = _new_access_request(world, organisation)
    with world.app.state.portal.sessions() as session:
        row = session.get(AccessRequest, request_id)
        row.state = AccessRequestState.APPROVED
        grant = DatasetGrant(access_request=row, dataset_id=row.dataset_id, user_id=row.requester_id,
                             organisation_id=row.organisation_id,
                             starts_at=datetime.combine(date.today(), time(0), tzinfo=timezone.utc),
                             expires_at=datetime.combine(row.ends_on + timedelta(days=1), time(0),
                                                         tzinfo=timezone.utc))
        session.add(grant)
        session.commit()
        return grant.id


def _fill(world: World, path: str, target: str, *, fresh: bool) -> str:
    if path.startswith(("/api/v1/register", "/register")):
        return path + _register_query(world, target)
    if "{app_id}" in path:
        return path.replace("{app_id}", "999999" if target == "missing" else str(_new_app(world, target)))
    if "{dataset_id}" in path:
        return path.replace("{dataset_id}", "999999" if target == "missing" else str(_new_dataset(world, target)))
    if "{request_id}" in path and "/access-requests/" in path:
        return path.replace("{request_id}", "999999" if target == "missing" else
                            str(_new_access_request(world, target)))
    if path == "/api/v1/access-requests" and target != "-":
        return f"{path}?dataset={_new_dataset(world, target)}"
    if path == "/api/v1/size-requests":
        return f"{path}?organisation={target}"
    if "{request_id}" in path and "/bundle-requests/" in path:
        return path.replace("{request_id}", "999999" if target == "missing" else
                            str(_new_bundle_request(world, target)))
    if "{request_id}" in path:
        return path.replace("{request_id}", "999999" if target == "missing" else str(_new_size_request(world, target)))
    if "{contract_id}" in path and "/document." in path:
        return path.replace("{contract_id}", "999999" if target == "missing" else
                            str(_new_contract(world, target, "approved", document=True)))
    if "{contract_id}" in path and path.endswith("/retry"):
        return path.replace("{contract_id}", "999999" if target == "missing" else str(_new_failed_provisioning(
            world, target)))
    if "{contract_id}" in path:
        state = ("draft" if path.endswith("/request") else "approved" if path.endswith("/end") else
                 "active" if path.endswith("/budget") else "requested")
        value = "999999" if target == "missing" else str(_new_contract(world, target, state))
        return path.replace("{contract_id}", value)
    if "{grant_id}" in path and path.startswith(("/grants/", "/api/v1/grants/")):
        return path.replace("{grant_id}", "999999" if target == "missing" else str(_new_dataset_grant(world, target)))
    if path.startswith("/api/v1/hub/grants/"):
        return path.replace("{username}", target)
    if "{grant_id}" in path:
        path = path.replace("{grant_id}", "999999" if target == "missing" else str(_new_grant(world, target)))
    if "{username}" in path:
        path = path.replace("{username}", "nobody" if target == "missing" else _new_former(world, target))
    if "{workspace_id}" in path:
        stopped = fresh and path.endswith(STOPPED_TARGETS)
        value = "999999" if target == "missing" else \
            str(world.new_workspace(target, WorkspaceStatus.STOPPED if stopped else WorkspaceStatus.RUNNING)
                if fresh else world.workspaces[target])
        return path.replace("{workspace_id}", value)
    if "{slug}" in path:
        return path.replace("{slug}", "nowhere" if target == "missing" else target)
    if "{bundle_id}" in path:
        return path.replace("{bundle_id}", "no-such-bundle" if target == "missing" else BI_BUNDLE)
    if "{code}" in path:
        return path.replace("{code}", target)
    if "{path}" in path:
        return path.replace("{path}", target)
    assert "{" not in path, f"no filler for {path}"
    return path


def _call(world: World, persona: Persona, method: str, path: str, url: str):
    client = world.clients[persona.key]
    csrf = world.csrf.get(persona.key)
    if method == "GET":
        return client.get(url)
    if path == "/api/v1/workspaces":
        body = {"bundle": first_bundle(persona.role), "organisation": "minfin"}
        return client.post(url, json=body, headers={"X-CSRF-Token": csrf} if csrf else {})
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    if method == "PATCH":
        return client.patch(url, json={"name": "matrix"}, headers=headers)
    if method == "DELETE":
        return client.delete(url, params={"confirm": "true"}, headers=headers)
    if path == "/api/v1/workspaces/{workspace_id}/stop":
        return client.post(url, json={"reason": "matrix"}, headers=headers)
    if path in ("/api/v1/contracts", "/api/v1/contracts/estimate"):
        return client.post(url, json=_order(organisation="minfin"), headers=headers)
    if path == "/api/v1/size-requests":
        slug = url.split("=", 1)[1]
        return client.post("/api/v1/size-requests", json={
            "contract": _new_contract(world, slug, "active"), "bundle": BI_BUNDLE, "size": "medium",
            "reason": "matrix", "ends_on": (date.today() + timedelta(days=10)).isoformat()}, headers=headers)
    if path == "/api/v1/access-requests":
        return client.post("/api/v1/access-requests", json={"dataset": int(url.split("=", 1)[1]),
                                                            **_access_form(persona.role)}, headers=headers)
    if path == "/api/v1/datasets/{dataset_id}/auto-approval":
        return client.post(url, json={"enabled": False}, headers=headers)
    if path.startswith("/api/v1/grants/"):
        return client.post(url, json={"reason": "matrix"}, headers=headers)
    if path.startswith("/api/v1/access-requests/") and path.endswith("/reject"):
        return client.post(url, json={"reason": "matrix"}, headers=headers)
    if path.startswith("/api/v1/size-requests/") and path.endswith("/reject"):
        return client.post(url, json={"reason": "matrix"}, headers=headers)
    if path.startswith("/api/v1/contracts/") and path.endswith("/budget"):
        return client.post(url, json={"budget_eur": "2500.50", "reason": "matrix"}, headers=headers)
    if path.startswith("/api/v1/contracts/") and path.endswith(("/reject", "/end")):
        return client.post(url, json={"reason": "matrix"}, headers=headers)
    if path in ("/api/v1/bundle-requests", "/api/v1/bundle-requests/check"):
        return client.post(url, json={"title": "x"}, headers=headers)
    if path == "/api/v1/bundle-requests/{request_id}/status":
        return client.post(url, json={"state": "merged"}, headers=headers)
    if path.startswith("/api/"):
        return client.post(url, headers=headers)
    form = {"csrf_token": csrf} if csrf else {}
    if path == "/workspaces":
        form |= {"bundle": first_bundle(persona.role), "organisation": "minfin"}
    if path == "/workspaces/hub-servers/remove":
        form |= {"environment": DEFAULT_ENVIRONMENT, "server": "tiny-cowsay-abcdef"}
    if path == "/workspaces/{workspace_id}/stop":
        form |= {"confirm": "yes", "reason": "matrix"}
    if path == "/workspaces/{workspace_id}/delete":
        form |= {"confirm": "yes"}
    if path == "/workspaces/{workspace_id}/name":
        form |= {"name": "matrix"}
    if path == "/admin/register/export":
        form |= {"format": "csv"}
    if path == "/organisations/{slug}/contracts":
        form |= {**_order(), "action": "submit"}
    if path.startswith("/contracts/"):
        form |= {"reason": "matrix"}
    if path == "/contracts/{contract_id}/budget":
        form |= {"budget_eur": "2500.50"}
    if path.startswith("/size-requests/"):
        form |= {"reason": "matrix"}
    if path in ("/bundle-requests", "/bundle-requests/check"):
        form |= {"title": "x"}
    if path == "/bundle-requests/{request_id}/status":
        form |= {"state": "merged"}
    if path.startswith(("/access-requests/", "/grants/")):
        form |= {"reason": "matrix"}
    if path == "/datasets/{dataset_id}/requests":
        form |= _access_form(persona.role)
    if path == "/organisations/{slug}/sizes":
        slug = url.split("/")[2]
        contract = _new_contract(world, slug, "active") if slug in ("minfin", "cbs") else 999999
        form |= {"choice": f"{contract}:{BI_BUNDLE}/medium", "reason": "matrix",
                 "ends_on": (date.today() + timedelta(days=10)).isoformat()}
    if path == "/organisations/{slug}/grants":
        form |= {"member": "anna", "role": "ml", "until": (date.today() + timedelta(days=30)).isoformat(),
                 "reason": "matrix"}
    if path == "/organisations/{slug}/handover":
        slug = url.split("/")[2]
        form |= {"leaving": _new_member(world, slug) if slug in ("minfin", "cbs") else "nobody",
                 "colleague": {"minfin": "anna", "cbs": "bram"}.get(slug, "anna")}
    return client.post(url, data=form)


def _register_query(world: World, target: str) -> str:
    """The register's selection for a target of REGISTER_ROWS (person-anna: anna asks for a fresh dataset of olga's,
    so olga has a ground to see her entries)."""
    if target == "-":
        return ""
    if target == "missing":
        return "?person=nobody-at-all"
    kind, slug = target.split("-", 1)
    if kind == "organisation":
        return f"?organisation={slug}"
    if kind == "dataset":
        return f"?dataset={_new_dataset(world, slug)}"
    if slug == "anna":
        _new_access_request(world, "minfin")
    return f"?person={slug}"


def _content_check(world: World, persona: Persona, path: str, response) -> str | None:
    """For lists that must be scoped to the caller: what is wrong with this one, if anything."""
    if response.status_code != 200:
        return None
    if path == "/api/v1/environments":
        seen = {e["name"] for e in response.json()}
        if seen != ENVIRONMENTS_SEEN[persona.key]:
            return f"sees environments {sorted(seen)}, should see {sorted(ENVIRONMENTS_SEEN[persona.key])}"
    if path == "/api/v1/workspaces":
        owners = {w["owner"] for w in response.json()}
        if owners - {persona.username}:
            return f"my workspaces lists workspaces of {sorted(owners - {persona.username})}"
    if path == "/api/v1/access-requests":
        members = {r["member"] for r in response.json()}
        if members - {persona.username}:
            return f"my access requests lists requests of {sorted(members - {persona.username})}"
    if path == "/api/v1/contracts":
        organisations = {c["organisation"] for c in response.json()}
        if persona.key != "platform-admin" and organisations - {"minfin"}:
            return f"sees contracts of {sorted(organisations - {'minfin'})}"
    if path == "/api/v1/register" and persona.key in ("data-scientist", "other-organisation"):
        others = [e["sequence"] for e in response.json()["entries"]
                  if persona.username not in (e["person"], e["actor"])]
        if others:
            return f"a member sees register entries that are not theirs: sequences {others}"
    if path == "/api/v1/organisations/{slug}/workspaces":
        organisations = {w["organisation"] for w in response.json()}
        if len(organisations) > 1:
            return f"one organisation's workspaces list several organisations: {sorted(organisations)}"
    return None


@pytest.mark.parametrize("method, path", sorted(TABLE), ids=[f"{m} {p}" for m, p in sorted(TABLE)])
def test_authorisation_matrix(world, method, path):
    wrong = []
    for target, expected in TABLE[(method, path)].items():
        assert len(expected) == len(PERSONAS), (method, path, target)
        for persona, status in zip(PERSONAS, expected):
            url = _fill(world, path, target, fresh=method != "GET")
            response = _call(world, persona, method, path, url)
            if response.status_code != status:
                wrong.append(f"{persona.key} on {target}: {response.status_code} (expected {status}) "
                             f"{response.text[:160]!r}")
                continue
            if status == 303 and persona.username is None and not path.startswith(("/language", "/logout")):
                if not re.match(r"^/login\?next=", response.headers["location"]):
                    wrong.append(f"anonymous on {target}: redirected to {response.headers['location']}, not /login")
            problem = _content_check(world, persona, path, response)
            if problem:
                wrong.append(f"{persona.key} on {target}: {problem}")
    assert not wrong, f"{method} {path}:\n  " + "\n  ".join(wrong)

