"""Spend on the pages and in the JSON API (issue 14): the contract page's figures, forecast and server-side SVG chart
(budget line, today marker, axes), the organisation admin's contracts with spend and the budget warning, and the
platform admin's overview with spend against budget, sorted, filtered and as CSV. Real database and app; metered
sessions written straight to the database (metering itself: test_metering.py)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from gereedschapskist.portal.models import Contract, ContractNotice, ContractState, WorkspaceSession, utcnow
from gereedschapskist.portal.services import metering
from tests.portal.spend_support import make_contract, make_workspace

TODAY = utcnow().date()


@pytest.fixture
def filled(app, client, login):
    """minfin: contract A (budget 100, 85 spent, warned), contract B (budget 1000, 10 spent); cbs: C (nothing)."""
    login("anna", ["org:minfin", "role:bi"])
    login("bram", ["org:cbs", "org-admin:cbs"])
    login("dana", ["org:minfin", "org-admin:minfin"])
    now = utcnow()
    with app.state.portal.sessions() as session:
        a = make_contract(session, budget="100", starts_on=TODAY - timedelta(days=10),
                          ends_on=TODAY + timedelta(days=20))
        b = make_contract(session, budget="1000", starts_on=TODAY - timedelta(days=10),
                          ends_on=TODAY + timedelta(days=20), state=ContractState.SUSPENDED)
        c = make_contract(session, organisation="cbs", by="bram", budget="50", starts_on=TODAY,
                          ends_on=TODAY + timedelta(days=5))
        w = make_workspace(session, username="anna", organisation="minfin", contract=a)
        for contract, hours, price in ((a, 42.5, "2"), (b, 5, "2")):
            session.add(WorkspaceSession(workspace_id=w.id, organisation_id=w.organisation_id,
                                         contract_id=contract.id, size="bi-sql-duckdb/small",
                                         price_per_hour=Decimal(price), started_at=now - timedelta(days=2),
                                         stopped_at=now - timedelta(days=2) + timedelta(hours=hours)))
        metering.rebuild_rollup(session)        # closed runs written straight to the database: their rollup
        session.add(ContractNotice(contract_id=a.id, kind="budget-80", at=now, email_to="dana@example.nl",
                                   message="Contract heeft 85 % van het budget gebruikt. / Contract has used 85 % "
                                           "of its budget."))
        session.commit()
        return a.id, b.id, c.id


def test_the_contract_page_shows_spend_forecast_and_a_chart_against_the_budget(client, login, filled):
    a, _, _ = filled
    login("dana", ["org:minfin", "org-admin:minfin"])
    page = client.get(f"/contracts/{a}", headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-eur="85.00"' in html and "85 % of the budget of € 100.00" in html
    forecast = float(re.search(r'id="spend-forecast" data-eur="([0-9.]+)"', html).group(1))
    assert forecast > 85            # spend goes on at the current rate to the end date
    svg = re.search(r"<svg id=\"spend-chart\".*?</svg>", html, re.S).group(0)
    for part in ('id="spend-budget-line"', 'id="spend-today"', 'id="spend-line"', 'id="spend-forecast-line"',
                 "budget € 100.00", "today", "euros (cumulative)"):
        assert part in svg, part
    # the spend line ends at the height of 85 of the axis' € scale, the budget line at 100
    budget_y = float(re.search(r'id="spend-budget-line"[^>]*y1="([0-9.]+)"', svg).group(1))
    last_y = float(re.search(r'id="spend-line" points="[^"]* ([0-9.]+),([0-9.]+)"', svg).group(2))
    assert last_y > budget_y                # below the budget line on screen (higher y)
    assert "has used 85 % of its budget" in html          # the warning shows on the contract page
    dutch = client.get(f"/contracts/{a}", headers={"Accept-Language": "nl"}).text
    assert "vandaag" in dutch and "Uitgegeven tot nu" in dutch and "heeft 85 % van het budget" in dutch


def test_the_organisation_admin_sees_spend_and_the_warning_of_their_contracts(client, login, filled):
    a, b, c = filled
    login("dana", ["org:minfin", "org-admin:minfin"])
    html = client.get("/organisations/minfin/contracts", headers={"Accept-Language": "en"}).text
    assert f'data-contract="{a}"' in html and f'data-contract="{c}"' not in html
    assert 'data-spent="85.00"' in html and 'data-spent="10.00"' in html and 'data-used="85.0"' in html
    assert 'id="contract-notices"' in html and "has used 85 %" in html
    api = client.get("/api/v1/contracts").json()
    assert {x["id"]: x["spend"]["spent_eur"] for x in api} == {a: 85.0, b: 10.0}
    one = client.get(f"/api/v1/contracts/{a}").json()["spend"]
    assert one["used"] == 0.85 and one["days"][-1]["cumulative_eur"] == 85.0 and one["forecast_eur"] >= 85
    assert client.get(f"/api/v1/contracts/{c}").status_code == 403


def test_the_platform_admin_overview_sorts_and_filters_by_spend_and_exports_it(client, login, filled):
    a, b, c = filled
    login("femke", ["gereedschapskist:admins"])

    def ids(query):
        page = client.get(f"/admin/contracts?{query}")
        assert page.status_code == 200, page.text
        return [int(x) for x in re.findall(r'<tr data-contract="(\d+)"', page.text)]

    assert ids("sort=used&order=desc") == [a, b, c]
    assert ids("sort=spend&order=asc") == [c, b, a]
    assert ids("used_min=80") == [a]
    assert ids("used_min=1&state=suspended") == [b]
    # the filter form as a browser sends it, nothing typed: every contract (it answered 422 once)
    assert sorted(ids("state=&partner=&used_min=&sort=id&order=desc")) == sorted([a, b, c])
    assert ids("used_min=80%2C0") == [a]                                         # a Dutch decimal comma
    for bad in ("-1", "lots", "10001"):
        answer = client.get(f"/admin/contracts?used_min={bad}")
        assert answer.status_code == 422, bad
    assert client.get("/admin/contracts?sort=nonsense").status_code == 422
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/contracts.csv?sort=used").text)))
    assert [(int(r["id"]), r["spent_eur"], r["used_percent"]) for r in rows] == \
        [(a, "85.00", "85.0"), (b, "10.00", "1.0"), (c, "0.00", "0.0")]
    login("dana", ["org:minfin", "org-admin:minfin"])
    assert client.get("/admin/contracts").status_code == 403
    assert client.get("/admin/contracts.csv").status_code == 403


def test_the_organisation_page_shows_its_admins_the_budget_warning(client, login, filled):
    a, _, _ = filled
    login("dana", ["org:minfin", "org-admin:minfin"])
    html = client.get("/organisations/minfin", headers={"Accept-Language": "nl"}).text
    assert 'id="contract-notices"' in html and f'data-contract="{a}"' in html
    assert "Contract heeft 85 % van het budget gebruikt." in html and "Contract has used" not in html
    login("bram", ["org:cbs", "org-admin:cbs"])
    assert 'id="contract-notices"' not in client.get("/organisations/cbs").text


def test_the_contract_page_says_what_runs_now_and_what_it_costs_per_hour(app, client, login, filled):
    a, _, _ = filled
    login("dana", ["org:minfin", "org-admin:minfin"])
    assert 'data-workspaces="0"' in client.get(f"/contracts/{a}").text
    now = utcnow()
    with app.state.portal.sessions() as session:
        contract = session.get(Contract, a)
        for username, price in (("anna", "1.25"), ("dana", "0.5")):
            w = make_workspace(session, username=username, organisation="minfin", contract=contract,
                               server_name=f"now-{username}")
            session.add(WorkspaceSession(workspace_id=w.id, organisation_id=w.organisation_id, contract_id=a,
                                         size="bi-sql-duckdb/small", price_per_hour=Decimal(price),
                                         started_at=now - timedelta(minutes=1)))
        session.commit()
    html = client.get(f"/contracts/{a}", headers={"Accept-Language": "en"}).text
    assert 'data-workspaces="2" data-eur-per-hour="1.7500"' in html
    assert "2 workspace(s), together € 1.7500 per hour" in html
    assert "samen € 1.7500 per uur" in client.get(f"/contracts/{a}", headers={"Accept-Language": "nl"}).text
