"""The hub's own admin page is not offered (issue 12, admin screens): ``/hub/admin`` sends everyone to the portal's
admin screens, which decide who may see what (tests/portal/test_admin_*.py, tests/e2e/test_admin_screens.py).

Against the shared real hub (``hub_stack``), with demo users logged in through the real OIDC provider.
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("username", ["femke", "dana", "anna"])
def test_hub_admin_sends_everyone_to_the_portals_admin_screens(hub_stack, hub_user, username):
    user = hub_user(username)          # femke: platform admin, dana: organisation admin, anna: data scientist
    portal = f"http://127.0.0.1:{hub_stack.ports.portal}"
    for path in ("/hub/admin", "/hub/admin/", "/hub/admin/edit-user"):
        page = user.browser.get(f"{hub_stack.url}{path}", follow_redirects=False)
        assert page.status_code == 302, (username, path, page.status_code)
        assert page.headers["location"] == f"{portal}/admin", (username, path)
    # the hub's admin application is nowhere to be had
    page = user.browser.get(f"{hub_stack.url}/hub/admin", follow_redirects=False)
    assert "admin-react" not in page.text

