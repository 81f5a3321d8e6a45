"""Catalogue pages per role, from the catalogue model: listing, bundle detail, lifecycle, languages."""

from __future__ import annotations

import html
import re

import pytest

from gereedschapskist.catalogue import Status, load

CATALOGUE = load()
ALL_ROLES = sorted(CATALOGUE.roles)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_pages_need_a_login(client):
    response = client.get("/catalogue", follow_redirects=False)
    assert response.status_code == 401
    assert "Log eerst in" in response.text or "Please log in first" in response.text


def test_home_page_without_login_says_what_the_portal_is(client):
    response = client.get("/", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "Welcome to Gereedschapskist" in response.text
    assert "Login is not configured" in response.text      # this test app has no issuer


@pytest.mark.parametrize("role", ALL_ROLES)
def test_catalogue_shows_exactly_the_bundles_offered_for_the_role(client, login, role):
    login("ann", [f"role:{role}", "org:cbs"])
    page = client.get("/catalogue", headers={"Accept-Language": "en"}).text
    shown = set(re.findall(r'href="/catalogue/([a-z0-9-]+)"', page))
    offered = {b.id for b in CATALOGUE.offered_for([role])}
    assert offered and shown == offered
    assert not any(b.id in shown for b in CATALOGUE.bundles.values() if b.lifecycle.status is Status.RETIRED)


def test_a_user_with_two_roles_sees_a_shelf_per_role(client, login):
    login("ann", ["role:bi", "role:ml", "org:cbs"])
    page = client.get("/catalogue", headers={"Accept-Language": "en"}).text
    assert "For the role BI &amp; analysis" in page
    assert f"For the role {html.escape(CATALOGUE.roles['ml'].title.en)}" in page
    only_ml = client.get("/catalogue?role=ml", headers={"Accept-Language": "en"}).text
    assert set(re.findall(r'href="/catalogue/([a-z0-9-]+)"', only_ml)) == {b.id for b in CATALOGUE.offered_for(["ml"])}


def test_no_roles_no_bundles_and_a_clear_note(client, login):
    login("nobody", ["org:cbs"])
    page = client.get("/catalogue", headers={"Accept-Language": "en"}).text
    assert "No bundles are offered for your roles" in page


@pytest.mark.parametrize("bundle_id", sorted(CATALOGUE.bundles))
def test_bundle_detail_shows_interfaces_packages_licence_review_lifecycle_supply(client, login, bundle_id):
    bundle = CATALOGUE.bundles[bundle_id]
    login("ann", [f"role:{r}" for r in bundle.roles] + ["org:cbs"])
    response = client.get(f"/catalogue/{bundle_id}", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    text = _text(response.text)
    for interface in bundle.interfaces:
        assert interface.label in text
    for package in bundle.packages:
        assert f"{package.name} {package.version}" in text
    assert bundle.licence.spdx in text
    assert ("Open source" in text) is bundle.licence.open_source or "Not open source" in text
    review = bundle.security_review
    assert f"by {review.reviewer} on {review.date.isoformat()}, valid until {review.valid_until.isoformat()}" in text
    assert {"standard-contract": "a — standard contract", "saas-package": "b — SaaS package",
            "iaas-component": "c — IaaS component", "custom": "d — custom"}[bundle.supply_model.value] in text
    assert bundle.lifecycle.status.value in text
    if bundle.offered:
        assert 'action="/workspaces"' in response.text
        for size in bundle.sizes:
            assert f'<option value="{size.id}">' in response.text
    else:
        assert 'action="/workspaces"' not in response.text and "You cannot start this bundle" in text


def test_a_deprecated_bundle_names_its_successor():
    deprecated = [b for b in CATALOGUE.bundles.values() if b.deprecated and b.lifecycle.successor]
    assert deprecated, "the catalogue has a deprecated bundle with a successor to show"


@pytest.mark.parametrize("bundle_id", sorted(b.id for b in CATALOGUE.bundles.values()
                                             if b.deprecated and b.lifecycle.successor))
def test_deprecated_bundle_page_links_the_successor(client, login, bundle_id):
    bundle = CATALOGUE.bundles[bundle_id]
    login("ann", [f"role:{r}" for r in bundle.roles] + ["org:cbs"])
    page = client.get(f"/catalogue/{bundle_id}", headers={"Accept-Language": "en"}).text
    assert "deprecated" in page
    assert f'<a href="/catalogue/{bundle.lifecycle.successor}">' in page


def test_a_bundle_of_another_role_is_shown_but_not_startable(client, login):
    bundle = next(b for b in CATALOGUE.offered_for(["ml"]) if "bi" not in b.roles)
    login("bea", ["role:bi", "org:minfin"])
    page = client.get(f"/catalogue/{bundle.id}", headers={"Accept-Language": "en"}).text
    assert "You cannot start this bundle" in page and "you do not have that role" in page
    assert 'action="/workspaces"' not in page


def test_unknown_bundle_is_a_clear_404(client, login):
    login("ann", ["role:bi"])
    response = client.get("/catalogue/no-such-bundle", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "Unknown bundle" in response.text and "no bundle 'no-such-bundle'" in _text(response.text)


def test_dutch_is_the_default_and_english_a_click_away(client, login):
    login("ann", ["role:bi", "org:cbs"])
    dutch = client.get("/catalogue")
    assert '<html lang="nl">' in dutch.text and "Voor de rol BI &amp; analyse" in dutch.text
    switched = client.get("/language/en?next=/catalogue", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/catalogue"
    english = client.get("/catalogue")
    assert '<html lang="en">' in english.text and "For the role BI &amp; analysis" in english.text


def test_language_switch_never_redirects_elsewhere(client):
    response = client.get("/language/en?next=https://evil.example/", follow_redirects=False)
    assert response.headers["location"] == "/"


def test_pages_are_accessible_by_structure(client, login):
    """One h1 per page, a skip link to main, every form control labelled."""
    bundle = CATALOGUE.offered_for(["bi"])[0]
    login("ann", ["role:bi", "org:cbs", "org:minfin"])
    for path in ("/", "/catalogue", f"/catalogue/{bundle.id}", "/workspaces"):
        page = client.get(path).text
        assert page.count("<h1") == 1, path
        assert 'href="#main"' in page and 'id="main"' in page
        for control in re.findall(r'<select id="([^"]+)"', page):
            assert f'<label for="{control}">' in page, (path, control)
