"""The admin screens' organisations and environments pages, the header link, and their language.

Runs in the authorisation matrix's world (organisations minfin and cbs with members, an environment each next to the
shared one, a running workspace each). The hubs are the in-memory fake (:mod:`tests.portal.fakehub`) — one of them
made to be down — because this is about what the page shows of a hub's answer; the real hub's health is shown in
the browser test (tests/e2e/test_admin_screens.py).
"""

from __future__ import annotations

import re

import pytest

from gereedschapskist.portal.errors import HubUnavailable
from tests.portal.fakehub import FakeHub, FakeHubs
from tests.portal.test_authorisation_matrix import (  # noqa: F401 - fixtures: the matrix's world
    PERSONAS, World, app, settings, world,
)
from tests.portal.test_page_language import foreign_in, visible_text


class DownHub(FakeHub):
    def check(self) -> str:
        raise HubUnavailable(f"the hub at {self.api_url} does not answer: connection refused")


class SomeHubsDown(FakeHubs):
    def factory(self, **kwargs) -> FakeHub:
        hub = (DownHub if "cbs" in kwargs["api_url"] else FakeHub)(**kwargs)
        self.made.append(hub)
        return hub


@pytest.fixture
def hubs() -> FakeHubs:
    return SomeHubsDown()


def _header(html: str) -> str:
    return html.split("</header>")[0]


def test_only_platform_admins_have_the_admin_link(world):
    for persona in PERSONAS[:-1]:
        html = world.clients[persona.key].get("/", headers={"Accept-Language": "nl"}).text
        assert ('href="/admin"' in _header(html)) is (persona.key == "platform-admin"), persona.key
    assert '>Beheer</a>' in _header(world.clients["platform-admin"].get("/admin").text)


def test_the_organisations_page_lists_every_organisation_with_its_members(world):
    html = world.clients["platform-admin"].get("/admin/organisations", headers={"Accept-Language": "en"}).text
    sections = dict(re.findall(r'data-organisation="([a-z]+)">(.*?)</section>', html, re.S))
    assert set(sections) == {"minfin", "cbs"}
    minfin, cbs = sections["minfin"], sections["cbs"]
    for username in ("anna", "dana", "olga"):
        assert f'<span class="meta">{username}</span>' in minfin
    assert "bram" not in minfin and '<span class="meta">bram</span>' in cbs
    assert "organisation admin" in minfin and "data owner" in minfin
    assert "3 members, 1 running workspaces" in minfin and "1 members, 1 running workspaces" in cbs
    assert 'href="/organisations/minfin"' in minfin and 'href="/admin/usage?organisation=minfin"' in minfin


def test_the_environments_page_shows_each_hubs_health(world):
    html = world.clients["platform-admin"].get("/admin/environments", headers={"Accept-Language": "en"}).text
    rows = dict(re.findall(r'<tr data-environment="([a-z-]+)" (data-available="[a-z]+".*?)</tr>', html, re.S))
    assert set(rows) == {"shared", "minfin-env", "cbs-env"}
    up = rows["minfin-env"]
    assert 'data-available="yes"' in up and "answers" in up and "5.0.0-fake" in up
    assert re.search(r"<td>\d+ ms</td>", up)                     # the check's latency
    assert "<td>1</td>" in up                                    # one running workspace
    down = rows["cbs-env"]
    assert 'data-available="no"' in down and "does not answer" in down
    assert "connection refused" not in down and "cbs.hub.test/hub/api" not in down   # no internal address


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_admin_pages_speak_one_language(world, language):
    from tests.portal.test_admin_register import _world_entries
    _world_entries(world)
    found, pages = [], 0
    for persona in ("platform-admin", "organisation-admin", "data-scientist"):
        for path in ("/admin", "/admin/organisations", "/admin/environments", "/admin/usage", "/admin/register",
                     "/admin/usage?from=2026-13-01", "/admin/register?action=nonsense"):
            response = world.clients[persona].get(path, headers={"Accept-Language": language})
            assert f'<html lang="{language}">' in response.text
            pages += 1
            foreign = foreign_in(visible_text(response.text, language), language)
            if foreign:
                found.append(f"{persona} {path}: {foreign}")
    assert pages == 21 and not found, found


def test_anonymous_visitors_are_sent_to_login(world):
    response = world.clients["anonymous"].get("/admin/usage?from=2026-11-01")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fadmin%2Fusage%3Ffrom%3D2026-11-01"


def test_every_register_action_has_a_name_in_both_languages():
    from gereedschapskist.portal.models import RegisterAction
    from gereedschapskist.portal.texts import TEXTS

    missing = [action.value for action in RegisterAction if f"action.{action.value}" not in TEXTS]
    assert not missing, f"register actions without a text action.<value>: {missing}"
