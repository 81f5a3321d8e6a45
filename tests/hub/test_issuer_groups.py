"""Finding 7 at the hub: any group string in the claim was trusted. Now the hub applies the portal's rule
(:func:`gereedschapskist.core.groups.accept_groups`): the issuer's entitlements are mapped
(``GEREEDSCHAPSKIST_HUB_OIDC_GROUP_MAPPING``), and only the managed groups of the configured organisations
(``…_ORGANISATIONS``), roles the catalogue knows and the admin group become hub groups; the rest is dropped with a
log line and never created. A user with no accepted organisation who is no platform admin cannot log in.

A real development provider (entitlements in an editable accounts file) and a real hub, configured only through
its documented settings.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterator

import pytest

from gereedschapskist.dev.demo import ACCOUNTS_FILE
from gereedschapskist.dev.devstack import DevSecrets, HubProcess, OidcProvider, free_port, hub_api, hub_client
from tests.devclient import HubUser, LoginFailed

TEST_CATALOGUE = Path(__file__).parent / "fixtures" / "catalogue"
MAPPING = {"urn:x:org:*": "org:*", "urn:x:org-admin:*": "org-admin:*", "urn:x:role:*": "role:*",
           "urn:x:platform-admins": "gereedschapskist:admins"}
ACCOUNTS = [
    # accepted: minfin, bi; dropped: an organisation the hub does not serve, a role the catalogue lacks, an admin
    # group of that organisation, our own names the mapping has no entry for, and something else entirely
    {"username": "kees", "password": "kees-demo", "name": "Kees", "email": "k@example.nl",
     "groups": ["urn:x:org:minfin", "urn:x:role:bi", "urn:x:org:evil", "urn:x:org-admin:evil", "urn:x:role:root",
                "org:cbs", "gereedschapskist:admins", "staff"]},
    # no accepted organisation: refused at login, whatever else the claim says
    {"username": "mallory", "password": "mallory-demo", "name": "Mallory", "email": "m@example.nl",
     "groups": ["urn:x:org:evil", "urn:x:role:bi", "org:minfin"]},
    # a platform admin needs no organisation
    {"username": "pia", "password": "pia-demo", "name": "Pia", "email": "p@example.nl",
     "groups": ["urn:x:platform-admins"]},
]


@dataclasses.dataclass
class Issuer:
    provider: OidcProvider
    hub: HubProcess
    portal_token: str


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> Iterator[Issuer]:
    state = tmp_path_factory.mktemp("issuer-groups")
    accounts = json.loads(ACCOUNTS_FILE.read_text(encoding="utf-8"))
    accounts["accounts"] = ACCOUNTS
    accounts_file = state / "accounts.json"
    accounts_file.write_text(json.dumps(accounts), encoding="utf-8")
    secrets = DevSecrets.load_or_create(state)
    port = free_port()
    provider = OidcProvider.start(state, [hub_client(port, secrets)], accounts_file=accounts_file)
    try:
        hub = HubProcess.start(state, provider, secrets=secrets, port=port, catalogue_dir=TEST_CATALOGUE,
                               extra_env={"GEREEDSCHAPSKIST_HUB_ORGANISATIONS": "minfin cbs",
                                          "GEREEDSCHAPSKIST_HUB_OIDC_GROUP_MAPPING": json.dumps(MAPPING)})
        try:
            yield Issuer(provider, hub, secrets.portal_api_token)
        finally:
            hub.stop()
    finally:
        provider.stop()


def _hub_log(issuer: Issuer) -> str:
    return (issuer.hub.state_dir / "logs" / "jupyterhub.log").read_text(encoding="utf-8", errors="replace")


def test_only_accepted_groups_become_hub_groups_and_the_rest_is_logged(issuer):
    kees = HubUser.login(issuer.hub.url, "kees", "kees-demo")
    pia = HubUser.login(issuer.hub.url, "pia", "pia-demo")
    try:
        portal = hub_api(issuer.hub, issuer.portal_token)
        assert sorted(portal.get("/users/kees").json()["groups"]) == ["org:minfin", "role:bi"]
        assert portal.get("/users/pia").json()["groups"] == ["gereedschapskist:admins"]
        # no dropped name was ever created as a hub group (pia, a platform admin, may list them)
        groups = {g["name"] for g in pia.api.get("/groups").json()}
        assert not groups & {"org:evil", "org-admin:evil", "role:root", "org:cbs", "staff", "urn:x:org:evil"}, groups
        log = _hub_log(issuer)
        assert "groups from the issuer dropped for kees" in log
        for dropped in ("urn:x:org:evil", "urn:x:role:root", "org:cbs: no entry in OIDC_GROUP_MAPPING", "staff"):
            assert dropped in log, dropped
    finally:
        kees.close()
        pia.close()


def test_a_user_with_no_accepted_organisation_is_refused_at_hub_login(issuer):
    with pytest.raises(LoginFailed) as refused:
        HubUser.login(issuer.hub.url, "mallory", "mallory-demo")
    assert "403" in str(refused.value)
    assert hub_api(issuer.hub, issuer.portal_token).get("/users/mallory").status_code == 404
    assert "Login of mallory refused: no organisation this hub serves" in _hub_log(issuer)
