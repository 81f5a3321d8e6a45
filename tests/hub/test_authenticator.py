"""The hub's authenticator rules that need no issuer: ``sub`` required, one user-name rule, no admin flag."""

from __future__ import annotations

import asyncio

import pytest
from tornado import web

from gereedschapskist.core.identity import hub_username
from gereedschapskist.hub.authenticator import GereedschapskistAuthenticator, _is_start


def _authenticator(**config) -> GereedschapskistAuthenticator:
    settings = dict(username_claim="preferred_username", client_id="hub", client_secret="x",
                    allowed_groups={"org:cbs"}, manage_groups=True, auth_state_groups_key="oauth_user.groups",
                    organisations=["cbs", "minfin"], workbench_roles=["bi", "ml"])
    return GereedschapskistAuthenticator(**(settings | config))


def test_a_userinfo_answer_without_sub_is_refused():
    auth = _authenticator()
    with pytest.raises(web.HTTPError) as refused:
        auth.user_info_to_username({"preferred_username": "anna", "groups": ["org:cbs"]})
    assert refused.value.status_code == 403
    assert auth.user_info_to_username({"sub": "a-1", "preferred_username": "Anna"}) == "Anna"


def test_anna_and_Anna_are_one_hub_user_by_the_shared_rule():
    auth = _authenticator()
    assert auth.normalize_username("Anna") == auth.normalize_username(" anna") == "anna" == hub_username("ANNA")


def test_nobody_becomes_a_jupyterhub_admin_and_a_withdrawn_group_ends_access():
    auth = _authenticator()
    model = asyncio.run(auth.update_auth_model({"name": "femke", "auth_state": {"oauth_user": {"groups": []}}}))
    assert model["admin"] is False
    assert auth._still_allowed({"groups": ["org:cbs", "role:ml"]})
    assert not auth._still_allowed({"groups": ["role:ml"]})


def test_groups_from_the_issuer_pass_the_rule_the_portal_applies(caplog):
    """Finding 7 at the hub: only managed groups of configured organisations, catalogue roles and the admin group
    become hub groups; the rest is dropped with a log line."""
    auth = _authenticator(allowed_groups=set())
    claimed = ["org:cbs", "role:ml", "org-admin:cbs", "org:evil", "org-admin:evil", "role:root", "staff",
               "gereedschapskist:admins", "data-owner:minfin"]
    state = {"oauth_user": {"sub": "s-1", "preferred_username": "bram", "groups": claimed}}
    groups = asyncio.run(auth.get_user_groups(state))
    assert groups == {"org:cbs", "role:ml", "org-admin:cbs", "gereedschapskist:admins", "data-owner:minfin"}
    assert "org:evil" in caplog.text and "role:root" in caplog.text and "staff" in caplog.text

    mapped = _authenticator(allowed_groups=set(), group_mapping={"urn:x:org:*": "org:*", "urn:x:role:*": "role:*"})
    state = {"oauth_user": {"sub": "s-2", "groups": ["urn:x:org:minfin", "urn:x:role:bi", "org:cbs", "urn:x:org:evil"]}}
    assert asyncio.run(mapped.get_user_groups(state)) == {"org:minfin", "role:bi"}  # org:cbs has no mapping entry


def test_a_user_with_no_accepted_organisation_is_refused_unless_a_platform_admin():
    auth = _authenticator(allowed_groups=set(), allow_all=True)   # JupyterHub then skips check_allowed
    check = auth.check_blocked_users
    assert asyncio.run(check("bram", {"name": "bram", "admin": False, "groups": ["org:cbs"]}))
    assert not asyncio.run(check("eve", {"name": "eve", "admin": False, "groups": ["role:ml"]}))
    assert not asyncio.run(check("eve", {"name": "eve", "admin": False, "groups": []}))
    assert asyncio.run(check("femke", {"name": "femke", "admin": False, "groups": ["gereedschapskist:admins"]}))


class _Request:
    def __init__(self, method: str, path: str):
        self.method, self.path = method, path


class _Handler:
    def __init__(self, method: str, path: str):
        self.request = _Request(method, path)


def test_only_a_start_gets_the_hub_login_needed_refusal():
    assert _is_start(_Handler("POST", "/hub/api/users/anna/servers/ws1"))
    assert _is_start(_Handler("POST", "/hub/api/users/anna/server"))
    assert not _is_start(_Handler("GET", "/hub/home"))
    assert not _is_start(_Handler("DELETE", "/hub/api/users/anna/servers/ws1"))
    assert not _is_start(None)
