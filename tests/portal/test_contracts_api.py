"""Standard contracts over HTTP (issue 14): the JSON API (in the OpenAPI document) and the pages — ordering with an
estimate, refusals that name the field and store nothing, approval and rejection, the platform admin's list
(sorted, filtered, CSV) — on the real app and database."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from gereedschapskist.portal.main import create_app
from tests.portal.test_contracts_service import CATALOGUE, order_data
from tests.portal.test_page_language import foreign_in, visible_text


@pytest.fixture
def app(settings):
    return create_app(settings, catalogue_model=CATALOGUE)


@pytest.fixture
def people(app, client, login):
    from fastapi.testclient import TestClient

    def on(username, groups):
        other = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        return login(username, groups, on=other)

    return {"dana": on("dana", ["org:minfin", "org-admin:minfin"]),
            "femke": on("femke", ["gereedschapskist:admins"]),
            "gijs": on("gijs", ["gereedschapskist:admins", "org:minfin"]),
            "bram": on("bram", ["org:cbs", "org-admin:cbs"]),
            "anna": on("anna", ["org:minfin", "role:bi"])}


def _order(people, who="dana", **changes):
    return people[who].post_json("/api/v1/contracts", {**order_data(**changes), "organisation":
                                                       "cbs" if who == "bram" else "minfin"})


def test_the_contract_api_is_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/v1/contracts", "/api/v1/contracts/estimate", "/api/v1/contracts/{contract_id}",
                 "/api/v1/contracts/{contract_id}/approve", "/api/v1/contracts/{contract_id}/reject",
                 "/api/v1/contracts/{contract_id}/request", "/api/v1/contracts/{contract_id}/end"):
        assert path in paths, path
    assert "OrderIn" in client.get("/api/openapi.json").json()["components"]["schemas"]


def test_order_estimate_approve_through_the_api(people):
    estimate = people["dana"].post_json("/api/v1/contracts/estimate", order_data())
    assert estimate.status_code == 200
    body = estimate.json()
    assert [line["size"] for line in body["lines"]] == ["small", "large"] and body["per_month"] > 0
    created = _order(people)
    assert created.status_code == 201, created.text
    contract = created.json()
    assert contract["state"] == "requested" and contract["estimate"] == body
    assert [(t["from_state"], t["to_state"], t["by"]) for t in contract["transitions"]] == [
        (None, "draft", "dana"), ("draft", "requested", "dana")]
    url = f"/api/v1/contracts/{contract['id']}"
    refused = people["dana"].post_json(url + "/approve")
    assert (refused.status_code, refused.json()["reason"]) == (403, "not-platform-admin")
    own = people["gijs"].post_json(url + "/approve")
    assert (own.status_code, own.json()["reason"]) == (403, "contract-own-organisation")
    approved = people["femke"].post_json(url + "/approve", {"reason": "checked"})
    # approval starts provisioning; the local provisioner makes the environment at once (test_provisioning.py)
    assert approved.status_code == 200 and approved.json()["state"] == "active"
    assert [t["to_state"] for t in approved.json()["transitions"]][-3:] == ["approved", "provisioning", "active"]
    again = people["femke"].post_json(url + "/reject", {"reason": "changed my mind"})
    assert (again.status_code, again.json()["reason"]) == (409, "contract-illegal-transition")
    no_reason = people["femke"].post_json(url + "/end")
    assert (no_reason.status_code, no_reason.json()["reason"]) == (422, "contract-reason-required")
    ended = people["femke"].post_json(url + "/end", {"reason": "project stopped"})
    assert ended.json()["state"] == "ended"
    assert people["dana"].client.get(url).json()["transitions"][-1] == {
        **ended.json()["transitions"][-1], "reason": "project stopped", "by": "femke"}


def test_a_draft_is_requested_and_a_rejection_carries_its_reason(people):
    draft = people["dana"].post_json("/api/v1/contracts", {**order_data(), "organisation": "minfin",
                                                           "submit": False}).json()
    assert draft["state"] == "draft"
    url = f"/api/v1/contracts/{draft['id']}"
    assert people["femke"].post_json(url + "/approve").json()["reason"] == "contract-illegal-transition"
    assert people["dana"].post_json(url + "/request").json()["state"] == "requested"
    no_reason = people["femke"].post_json(url + "/reject", {"reason": ""})
    assert no_reason.status_code == 422
    rejected = people["femke"].post_json(url + "/reject", {"reason": "budget too small for production"})
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["transitions"][-1]["reason"] == "budget too small for production"


@pytest.mark.parametrize("changes, field, reason", [
    ({"budget_eur": 0}, "budget_eur", "invalid-budget"),
    ({"budget_eur": "lots"}, "budget_eur", "invalid-budget"),
    ({"ends_on": date.today().isoformat()}, "ends_on", "end-before-start"),
    ({"starts_on": (date.today() - timedelta(days=3)).isoformat()}, "starts_on", "start-in-past"),
    ({"partner": "hetzner"}, "partner", "unknown-partner"),
    ({"region": "us-east-1"}, "region", "unknown-region"),
    ({"roles": ["ml"], "bundles": ["ml-python-2025"], "sizes": []}, "bundles", "bundle-not-active"),
])
def test_the_api_refuses_bad_input_naming_the_field_and_stores_nothing(people, changes, field, reason):
    response = _order(people, **changes)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["reason"] == reason and error["message"].startswith(field + ": ")
    assert people["dana"].client.get("/api/v1/contracts").json() == []


def test_a_second_contract_for_the_same_partner_stage_and_period_is_a_conflict(people):
    first = _order(people).json()
    second = _order(people, starts_on=(date.today() + timedelta(days=30)).isoformat())
    assert (second.status_code, second.json()["reason"]) == (409, "contract-overlap")
    assert f"contract {first['id']}" in second.json()["message"]
    assert [c["id"] for c in people["dana"].client.get("/api/v1/contracts").json()] == [first["id"]]


def test_each_sees_only_what_they_may(people):
    mine, theirs = _order(people).json(), _order(people, who="bram").json()
    assert [c["id"] for c in people["dana"].client.get("/api/v1/contracts").json()] == [mine["id"]]
    assert {c["id"] for c in people["femke"].client.get("/api/v1/contracts").json()} == {mine["id"], theirs["id"]}
    assert people["dana"].client.get(f"/api/v1/contracts/{theirs['id']}").status_code == 403
    assert people["anna"].client.get("/api/v1/contracts").status_code == 403
    filtered = people["femke"].client.get("/api/v1/contracts", params={"organisation": "cbs"}).json()
    assert [c["id"] for c in filtered] == [theirs["id"]]
    bad = people["femke"].client.get("/api/v1/contracts", params={"state": "half"})
    assert (bad.status_code, bad.json()["reason"]) == (422, "invalid-filter")


# -- pages ---------------------------------------------------------------------------------------------------------

def _form(action: str, csrf: str, **changes) -> dict:
    return {**order_data(**changes), "action": action, "csrf_token": csrf}


def test_the_order_page_shows_the_estimate_and_stores_nothing_until_submitted(people):
    dana = people["dana"]
    page = dana.client.get("/organisations/minfin/contracts/new", headers={"Accept-Language": "nl"})
    assert page.status_code == 200 and 'id="estimate"' not in page.text
    shown = dana.client.post("/organisations/minfin/contracts", data=_form("estimate", dana.csrf),
                             headers={"Accept-Language": "nl"})
    assert shown.status_code == 200 and 'id="estimate-period"' in shown.text
    assert 'data-size="bi-sql-duckdb/large"' in shown.text and "Per maand" in shown.text
    assert foreign_in(visible_text(shown.text, "nl"), "nl") == []
    assert dana.client.get("/api/v1/contracts").json() == []
    placed = dana.client.post("/organisations/minfin/contracts", data=_form("submit", dana.csrf))
    assert placed.status_code == 303 and placed.headers["location"].endswith("?done=requested")
    contract = dana.client.get(placed.headers["location"], headers={"Accept-Language": "nl"})
    assert "aangevraagd" in contract.text and foreign_in(visible_text(contract.text, "nl"), "nl") == []


@pytest.mark.parametrize("language", ["nl", "en"])
def test_a_refused_order_marks_the_field_and_keeps_what_was_entered(people, language):
    dana = people["dana"]
    refused = dana.client.post("/organisations/minfin/contracts",
                               data=_form("submit", dana.csrf, budget_eur="-10", cost_centre="KP-99"), headers={"Accept-Language": language})
    assert refused.status_code == 422
    assert 'id="budget_eur" name="budget_eur" value="-10" aria-invalid="true"' in refused.text
    assert 'value="KP-99"' in refused.text
    assert ("Ongeldig budget" if language == "nl" else "budget_eur: &#39;-10&#39;") in refused.text
    assert foreign_in(visible_text(refused.text, language), language) == []
    assert dana.client.get("/api/v1/contracts").json() == []


def test_the_platform_admin_approves_on_the_page_and_sees_every_contract_sorted_filtered_and_as_csv(people):
    mine = _order(people, budget_eur="700").json()
    theirs = _order(people, who="bram", budget_eur="300").json()
    femke = people["femke"]
    page = femke.client.get(f"/contracts/{mine['id']}", headers={"Accept-Language": "nl"})
    assert 'id="approve-button"' in page.text and foreign_in(visible_text(page.text, "nl"), "nl") == []
    own = people["gijs"].client.get(f"/contracts/{mine['id']}", headers={"Accept-Language": "en"})
    assert 'id="approve-button"' not in own.text and "another platform admin decides" in own.text
    done = femke.post_form(f"/contracts/{mine['id']}/approve", {"reason": ""})
    assert done.status_code == 303
    refused = femke.post_form(f"/contracts/{theirs['id']}/reject", {"reason": ""})
    assert refused.status_code == 422 and 'id="problem"' in refused.text
    listing = femke.client.get("/admin/contracts", params={"sort": "budget", "order": "asc"},
                               headers={"Accept-Language": "nl"})
    assert listing.status_code == 200
    assert listing.text.index(f'data-contract="{theirs["id"]}"') < listing.text.index(f'data-contract="{mine["id"]}"')
    assert foreign_in(visible_text(listing.text, "nl"), "nl") == []
    approved = femke.client.get("/admin/contracts", params={"state": "active"})   # approved, then provisioned
    assert f'data-contract="{mine["id"]}"' in approved.text and f'data-contract="{theirs["id"]}"' not in approved.text
    exported = femke.client.get("/admin/contracts.csv", params={"sort": "budget", "order": "desc"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["id"], r["organisation"], r["state"], r["budget_eur"]) for r in rows] == [
        (str(mine["id"]), "minfin", "active", "700.00"), (str(theirs["id"]), "cbs", "requested", "300.00")]
    assert femke.client.get("/admin/contracts", params={"sort": "colour"}).status_code == 422
