"""Streamlit, Dash and Shiny for Python apps, published (issue 17, section 1), in a real browser: anna (minfin) runs
one app of each framework as her ``app-<slug>`` servers at a real hub, shared with her organisation through the
hub's audience endpoint (as the portal shares them); dana (minfin) opens each in Chromium through the hub's sign-on
and sees it rendered by the framework's JavaScript, and uses it: a Streamlit button (the script reruns over the
WebSocket), a Dash callback (a POST to ``_dash-update-component``), a Shiny reactive output (over its WebSocket),
all through ``hub/app_server.py``'s proxy; bram (cbs) gets 403 at each.

tests/hub/test_app_frameworks.py runs each framework's command without the hub and the proxy;
tests/e2e/test_publish_app.py publishes a Panel app through the portal. Real parts only: a provider and JupyterHub
of their own (``tests/apps_support.py``: ``tiny-apps``, one environment with ``dev-apps``'s pins of the three
frameworks, built from PyPI at the first start), Debian's Chromium driven by Playwright."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, Page, expect

from gereedschapskist.catalogue import load
from gereedschapskist.dev.demo import load_accounts
from gereedschapskist.dev.devstack import hub_api
from tests.apps_support import APP_FRAMEWORK_PINS, apps_stack  # noqa: F401 - fixture
from tests.devclient import HubUser
from tests.e2e.conftest import fixed_shots

pytestmark = pytest.mark.network    # the first start builds tiny-apps's environment (the frameworks from PyPI)

TITLE = "Verkoop per maand"
#: server → (framework, entry file in anna's home, source). The files' names do not shadow the frameworks' modules.
APPS = {
    "app-verkoop-streamlit": ("streamlit", "apps/verkoop_st.py", f'''import streamlit as st

st.title("{TITLE}")
st.write("Een Streamlit-app van anna")
if st.button("Tel op"):
    st.write(f"Opgeteld: {{6 * 7}}")
'''),
    "app-verkoop-dash": ("dash", "apps/verkoop_dash.py", f'''from dash import Dash, Input, Output, html

app = Dash(__name__)
app.layout = html.Div([html.H1("{TITLE}"), html.P("Een Dash-app van anna"),
                       html.Button("Tel op", id="knop", n_clicks=0), html.Div(id="uitkomst")])


@app.callback(Output("uitkomst", "children"), Input("knop", "n_clicks"))
def tel(n_clicks):
    return f"Aantal keer geteld: {{n_clicks}}"


if __name__ == "__main__":
    app.run()
'''),
    "app-verkoop-shiny": ("shiny", "apps/verkoop_shiny.py", f'''from shiny import App, render, ui

app_ui = ui.page_fluid(ui.h1("{TITLE}"), ui.p("Een Shiny-app van anna"),
                       ui.input_action_button("knop", "Tel op"), ui.output_text("uitkomst"))


def server(input, output, session):
    @render.text
    def uitkomst():
        return f"Aantal keer geteld: {{input.knop()}}"


app = App(app_ui, server)
'''),
}


def _hub_login(browser: Browser, hub_url: str, issuer: str, account) -> Page:
    """A new browser context (Dutch, 1280×900) in which ``account`` signs on at the hub through the provider's form,
    as a viewer's first open through the portal does (the portal then shares the app again, now with the viewer)."""
    context = browser.new_context(locale="nl-NL", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{hub_url}/hub/oauth_login?next=/hub/home")
    page.wait_for_url(re.compile(re.escape(issuer)))
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    page.get_by_role("button", name="Inloggen / Log in").click()
    page.wait_for_url(re.compile(re.escape(f"{hub_url}/hub/")))
    return page


def test_the_pins_are_dev_apps_pins():
    """The environment built here is the one the catalogue's development role gets (its frameworks' versions)."""
    pins = {f"{p.name}=={p.version}" for p in load().bundles["dev-apps"].packages}
    assert set(APP_FRAMEWORK_PINS) <= pins, pins


def test_streamlit_dash_and_shiny_apps_render_and_answer_in_a_browser_through_the_hub(
        chromium, apps_stack, accounts_file):  # noqa: F811 - fixture
    shots = fixed_shots("app-frameworks")
    accounts = load_accounts(accounts_file)
    portal = hub_api(apps_stack.hub, apps_stack.secrets.portal_api_token)
    anna = HubUser.login(apps_stack.url, "anna", accounts["anna"].password, starter=portal)
    issuer = apps_stack.provider.issuer
    for _framework, entry, source in APPS.values():
        path = apps_stack.home("anna") / entry
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")      # as anna saved them in her workspace
    timings: dict[str, float] = {}
    dana = bram = None
    try:
        began = time.monotonic()
        first, *others = APPS
        # the first start builds the environment; the others then start alongside each other
        framework, entry, _source = APPS[first]
        anna.start_server(first, {"bundle": "tiny-apps", "size": "small",
                                  "app": {"framework": framework, "entry": entry}})
        anna.wait_until_ready(first)
        timings["first app ready (environment built)"] = time.monotonic() - began
        for server in others:
            framework, entry, _source = APPS[server]
            anna.start_server(server, {"bundle": "tiny-apps", "size": "small",
                                       "app": {"framework": framework, "entry": entry}})
        for server in others:
            anna.wait_until_ready(server)
        timings["all three ready"] = time.monotonic() - began
        dana = _hub_login(chromium, apps_stack.url, issuer, accounts["dana"])
        bram = _hub_login(chromium, apps_stack.url, issuer, accounts["bram"])
        for server in APPS:   # her organisation, as the portal shares an app published for it (at each open)
            shared = portal.post(f"/gereedschapskist/apps/anna/{server}/audience", json={"groups": ["org:minfin"]})
            assert shared.status_code == 200, shared.text
            assert shared.json()["shared"] == ["dana", "group:org:minfin"], shared.text

        urls = {server: anna.server_url(server) for server in APPS}
        with shots.on_failure(dana):
            # Streamlit: the page is its JavaScript; the script's output arrives over the WebSocket, and a button
            # press reruns the script over it
            dana.goto(urls["app-verkoop-streamlit"])
            dana.wait_for_url(urls["app-verkoop-streamlit"])
            expect(dana.get_by_role("heading", name=TITLE)).to_be_visible(timeout=120_000)
            expect(dana.get_by_text("Een Streamlit-app van anna")).to_be_visible()
            expect(dana.get_by_text("Opgeteld: 42")).to_have_count(0)
            dana.get_by_role("button", name="Tel op").click()
            expect(dana.get_by_text("Opgeteld: 42")).to_be_visible()
            shots(dana, "dana-streamlit")

            # Dash: the layout and the callback's first answer are fetched by its JavaScript; a click is a callback
            dana.goto(urls["app-verkoop-dash"])
            expect(dana.get_by_role("heading", name=TITLE)).to_be_visible(timeout=120_000)
            expect(dana.locator("#uitkomst")).to_have_text("Aantal keer geteld: 0")
            dana.get_by_role("button", name="Tel op").click()
            dana.get_by_role("button", name="Tel op").click()
            expect(dana.locator("#uitkomst")).to_have_text("Aantal keer geteld: 2")
            shots(dana, "dana-dash")

            # Shiny: the reactive output is rendered by the server over the WebSocket (prefix stripped by the proxy)
            dana.goto(urls["app-verkoop-shiny"])
            expect(dana.get_by_role("heading", name=TITLE)).to_be_visible(timeout=120_000)
            expect(dana.locator("#uitkomst")).to_have_text("Aantal keer geteld: 0")
            dana.get_by_role("button", name="Tel op").click()
            expect(dana.locator("#uitkomst")).to_have_text("Aantal keer geteld: 1")
            shots(dana, "dana-shiny")
            # the app, not anna's Jupyter server, behind each URL: its contents API is the app's own answer (a 404,
            # or Streamlit's and Dash's page for any path), never a JSON listing of anna's files
            for url in urls.values():
                contents = dana.request.get(f"{url}api/contents")
                assert "json" not in contents.headers.get("content-type", ""), (url, contents.headers)
                assert "verkoop_" not in contents.text(), url

        # bram (cbs), outside the audience: the hub refuses him at each app, and he sees none of them
        with shots.on_failure(bram):
            for server, url in urls.items():
                refused = bram.goto(url)
                assert refused is not None and refused.status == 403, (server, refused and refused.status)
                expect(bram.get_by_text(TITLE)).to_have_count(0)
                expect(bram.get_by_role("button", name="Tel op")).to_have_count(0)
            shots(bram, "bram-refused")
    finally:
        for page in (dana, bram):
            if page is not None:
                page.context.close()
        servers = anna.model()["servers"]
        for server in APPS:
            if server in servers:
                anna.stop_server(server, remove=True)
        anna.close()
        portal.close()
    print("\n" + "\n".join(f"{label}: {seconds:.1f} s" for label, seconds in timings.items()))
