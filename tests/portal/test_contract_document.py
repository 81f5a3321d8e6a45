"""The contract document (issue 14): made from the partner's contract template with the order's details when a contract
is approved, as HTML (people's text escaped) and PDF (fpdf2; its text read back with pypdf), stored with the contract,
in the register, and downloadable by the organisation's admins and platform admins only. Real database (SQLite;
PostgreSQL when the test URL is set)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from gereedschapskist.catalogue import load, price_per_hour
from gereedschapskist.portal.models import Contract, ContractState, RegisterAction, RegisterEntry
from gereedschapskist.portal.services import contracts
from tests.portal.test_contracts_service import order_data, org, user

CATALOGUE = load()
TODAY = date.today()
NASTY = '<script>alert("x")</script> & Zoë Łukasz'


def own_client(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


@pytest.fixture
def world(app, login):
    """dana (minfin's admin) ordered a contract with a hostile contact name; femke (platform admin) approved it."""
    people = {name: login(name, groups, on=own_client(app)) for name, groups in (
        ("anna", ["org:minfin", "role:bi"]), ("dana", ["org:minfin", "org-admin:minfin"]),
        ("bram", ["org:cbs", "org-admin:cbs"]), ("femke", ["gereedschapskist:admins"]))}
    sessions = app.state.portal.sessions
    with sessions() as session:
        contract = contracts.order(session, catalogue=CATALOGUE, organisation=org(session, "minfin"),
                                   actor=user(session, "dana"), data=order_data(contact=NASTY, cost_centre="KP-<b>"),
                                   submit=True)
        assert contract.document_html is None and contract.document_pdf is None
        contracts.transition(session, contract=contract, to=ContractState.APPROVED, actor=user(session, "femke"),
                             reason="Fits the framework & budget", catalogue=CATALOGUE)
        session.commit()
        return people, contract.id, sessions


def test_approval_makes_and_stores_the_document_once_with_its_register_entry(world):
    _, contract_id, sessions = world
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        assert contract.document_made_at is not None
        assert contract.document_pdf.startswith(b"%PDF-")
        made = session.scalars(select(RegisterEntry).where(
            RegisterEntry.action == RegisterAction.CONTRACT_DOCUMENT_MADE)).all()
        assert len(made) == 1 and made[0].details["contract"] == contract_id
        assert made[0].details["template"] == "sc-public-cloud-aws"


def test_the_html_holds_the_order_from_the_partners_template_and_escapes_peoples_text(world):
    _, contract_id, sessions = world
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        html = contract.document_html
        aws = CATALOGUE.partners["aws"]
        assert aws.contract_template.title.nl in html and aws.contract_template.title.en in html
        assert f"versie / version {aws.contract_template.version}" in html
        assert aws.contract_template.framework in html
        for text in (contract.organisation.name, "(minfin)", "Amazon Web Services", "Europe (Frankfurt)", "eu-central-1", "development",
                     "bi-sql-duckdb", "€ 5 000.00", contract.starts_on.isoformat(),
                     contract.ends_on.isoformat(), "4 × 10 uur per week", "Fits the framework &amp; budget"):
            assert text in html, text
        bundle = CATALOGUE.bundles["bi-sql-duckdb"]
        for size in ("small", "large"):
            price = price_per_hour(aws, bundle.id, bundle.size(size)).eur_per_hour
            assert f"€ {price:.4f}" in html
        assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Zoë" in html
        assert "KP-&lt;b&gt;" in html
        assert user(session, "femke").display_name() in html and user(session, "dana").display_name() in html


def test_the_pdfs_text_names_the_order_and_the_approval(world):
    _, contract_id, sessions = world
    with sessions() as session:
        contract = session.get(Contract, contract_id)
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(contract.document_pdf)).pages)
        flat = " ".join(text.split())
        for expected in ("Standaardcontract publieke cloud — Amazon Web Services", "Rijksbrede raamovereenkomst",
                         f"Contract {contract_id}", "Europe (Frankfurt)", "bi-sql-duckdb/small", "€ 5 000.00",
                         "€ 0.0550", contract.starts_on.isoformat(), contract.ends_on.isoformat(), "KP-<b>",
                         '<script>alert("x")</script> & Zoë Lukasz', "Fits the framework & budget",
                         user(session, "femke").display_name(), user(session, "dana").display_name()):
            assert expected in flat, (expected, flat[:2000])


def test_download_for_its_admins_and_platform_admins_only(world, client):
    people, contract_id, _ = world
    for name, status in (("dana", 200), ("femke", 200), ("anna", 403), ("bram", 403)):
        for kind, media in (("html", "text/html"), ("pdf", "application/pdf")):
            response = people[name].client.get(f"/contracts/{contract_id}/document.{kind}")
            assert response.status_code == status, (name, kind, response.text[:200])
            if status == 200:
                assert response.headers["content-type"].startswith(media)
                if kind == "pdf":
                    assert response.content.startswith(b"%PDF-")
                    assert f"contract-{contract_id}.pdf" in response.headers["content-disposition"]
                else:
                    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = people["dana"].client.get(f"/contracts/{contract_id}")
    assert f'href="/contracts/{contract_id}/document.pdf"' in page.text


def test_a_contract_not_yet_approved_has_no_document(app, login):
    dana = login("dana", ["org:minfin", "org-admin:minfin"])
    with app.state.portal.sessions() as session:
        contract = contracts.order(session, catalogue=CATALOGUE, organisation=org(session, "minfin"),
                                   actor=user(session, "dana"), data=order_data(
                                       starts_on=(TODAY + timedelta(days=400)).isoformat(),
                                       ends_on=(TODAY + timedelta(days=420)).isoformat()), submit=True)
        session.commit()
        contract_id = contract.id
    response = dana.client.get(f"/contracts/{contract_id}/document.pdf")
    assert response.status_code == 404 and "no-contract-document" in response.text
    assert "document.pdf" not in dana.client.get(f"/contracts/{contract_id}").text
