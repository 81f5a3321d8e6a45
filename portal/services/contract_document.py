"""The contract document: the partner's contract template (``contract_template`` in
``catalogue-of-tools/partners/<id>.yaml``: its title, version and framework agreement) filled in with the order's
details, as HTML and as PDF, made once when the contract is approved and stored with it.

What it holds: the template, the ordering organisation, the partner, its EU region and the stage; the roles and
bundles; the allowed sizes with their price per hour (the catalogue's one price rule,
:func:`gereedschapskist.catalogue.price_per_hour`); the expected use, budget, period, contact and cost centre; the
estimate as ordered; who ordered and who approved, when and why. Labels are Dutch and English, the values as entered.

Every value entered by people is escaped in the HTML (Jinja's autoescape). The PDF is made with fpdf2 in its core
font Helvetica (Windows-1252): a character outside that set is written as its closest ASCII letter, else ``?``.

:func:`make_document` is called from the one place a contract becomes approved (``services/contracts.py``,
``transition``); it stores ``document_html``, ``document_pdf`` and ``document_made_at`` and appends
``contract-document-made`` to the register. Nothing here commits.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from jinja2 import Environment, select_autoescape
from sqlalchemy.orm import Session

from gereedschapskist.catalogue import Catalogue, price_per_hour

from ..models import Contract, ContractState, RegisterAction, utcnow
from . import register


@dataclass(frozen=True)
class SizeLine:
    bundle: str
    size: str
    label: str
    machine: str
    eur_per_hour: float | None
    explicit: bool


@dataclass(frozen=True)
class Details:
    """Everything the document says, as text (one source for the HTML and the PDF)."""

    template_id: str
    title_nl: str
    title_en: str
    version: str
    framework: str
    contract_id: int
    organisation: str
    organisation_id: str
    partner: str
    region: str
    stage: str
    roles: tuple[str, ...]
    bundles: tuple[str, ...]
    sizes: tuple[SizeLine, ...]
    expected_users: int
    hours_per_week: str
    budget: str
    starts_on: str
    ends_on: str
    contact: str
    cost_centre: str
    estimate_month: str
    estimate_period: str
    ordered_by: str
    ordered_at: str
    approved_by: str
    approved_at: str
    approval_reason: str
    made_at: str


def _euros(value) -> str:
    return f"€ {float(value):,.2f}".replace(",", " ")


def details(contract: Contract, *, catalogue: Catalogue, at: datetime) -> Details:
    partner = catalogue.partners.get(contract.partner)
    template = partner.contract_template if partner else None
    region = partner.region(contract.region) if partner else None
    sizes = []
    for item in contract.sizes:
        bundle_id, _, size_id = item.partition("/")
        bundle = catalogue.bundles.get(bundle_id)
        size = bundle.size(size_id) if bundle else None
        price = price_per_hour(partner, bundle_id, size) if partner and size else None
        sizes.append(SizeLine(bundle_id, size_id, size.label if size else "?",
                              price.machine.machine_type if price else "—",
                              round(price.eur_per_hour, 4) if price else None, bool(price and price.explicit)))
    approval = next((t for t in reversed(contract.transitions) if t.to_state is ContractState.APPROVED), None)
    ordered = next((t for t in contract.transitions if t.from_state is None), None)
    estimate = contract.estimate or {}
    stamp = "%Y-%m-%d %H:%M UTC"
    return Details(
        template_id=template.id if template else "—", title_nl=template.title.nl if template else "Standaardcontract",
        title_en=template.title.en if template else "Standard contract", version=template.version if template else "—",
        framework=(template.framework or "—") if template else "—", contract_id=contract.id,
        organisation=contract.organisation.name, organisation_id=contract.organisation.slug,
        partner=f"{partner.name} ({partner.id})" if partner else contract.partner,
        region=f"{region.name}, {region.country} ({region.id})" if region else contract.region,
        stage=contract.stage.value, roles=tuple(contract.roles), bundles=tuple(contract.bundles), sizes=tuple(sizes),
        expected_users=contract.expected_users, hours_per_week=f"{float(contract.hours_per_week):g}",
        budget=_euros(contract.budget_eur), starts_on=contract.starts_on.isoformat(),
        ends_on=contract.ends_on.isoformat(), contact=contract.contact, cost_centre=contract.cost_centre,
        estimate_month=_euros(estimate["per_month"]) if "per_month" in estimate else "—",
        estimate_period=_euros(estimate["period"]) if "period" in estimate else "—",
        ordered_by=contract.created_by.display_name(),
        ordered_at=(ordered.at if ordered else contract.created_at).strftime(stamp),
        approved_by=approval.actor.display_name() if approval and approval.actor else "—",
        approved_at=approval.at.strftime(stamp) if approval else "—",
        approval_reason=(approval.reason or "—") if approval else "—", made_at=at.strftime(stamp))


HTML = """<!DOCTYPE html>
<html lang="nl">
<head><meta charset="utf-8"><title>{{ d.title_nl }} — {{ d.contract_id }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; line-height: 1.4; color: #111; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .25rem .5rem;
border-bottom: 1px solid #ccc; vertical-align: top; } td.num { text-align: right; white-space: nowrap; }
.en { color: #555; }
</style></head>
<body>
<h1>{{ d.title_nl }}<br><span class="en" lang="en">{{ d.title_en }}</span></h1>
<p>Contract {{ d.contract_id }} · {{ d.template_id }} versie / version {{ d.version }} · {{ d.framework }}</p>
<h2>Partijen en omgeving <span class="en" lang="en">/ Parties and environment</span></h2>
<table id="facts">
{% for label, value in facts %}<tr><th scope="row">{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
<h2>Formaten en prijzen per uur <span class="en" lang="en">/ Sizes and prices per hour</span></h2>
<table id="sizes">
<thead><tr><th scope="col">Pakket / Bundle</th><th scope="col">Formaat / Size</th><th scope="col">Machine</th>
<th scope="col">Prijs per uur / Price per hour</th></tr></thead>
<tbody>{% for s in d.sizes %}<tr><td>{{ s.bundle }}</td><td>{{ s.size }} ({{ s.label }})</td><td>{{ s.machine }}</td>
<td class="num">{{ price(s) }}</td></tr>
{% endfor %}</tbody></table>
<h2>Goedkeuring <span class="en" lang="en">/ Approval</span></h2>
<table id="approval">
{% for label, value in approval %}<tr><th scope="row">{{ label }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
<p class="en">Gemaakt / Made {{ d.made_at }} · Gereedschapskist</p>
</body>
</html>
"""


def _price(line: SizeLine) -> str:
    if line.eur_per_hour is None:
        return "—"
    return f"€ {line.eur_per_hour:.4f}" + (" (vaste prijs / fixed price)" if line.explicit else "")


def _facts(d: Details) -> list[tuple[str, str]]:
    return [
        ("Organisatie / Organisation", f"{d.organisation} ({d.organisation_id})"),
        ("Cloudpartner / Cloud partner", d.partner),
        ("Regio (EU) / Region (EU)", d.region),
        ("Fase / Stage", d.stage),
        ("Rollen / Roles", ", ".join(d.roles)),
        ("Pakketten / Bundles", ", ".join(d.bundles)),
        ("Verwacht gebruik / Expected use",
         f"{d.expected_users} × {d.hours_per_week} uur per week / hours per week"),
        ("Budget (excl. btw / VAT)", d.budget),
        ("Periode / Period", f"{d.starts_on} – {d.ends_on}"),
        ("Contactpersoon / Contact", d.contact),
        ("Kostenplaats / Cost centre", d.cost_centre),
        ("Schatting per maand / Estimate per month", d.estimate_month),
        ("Schatting periode / Estimate for the period", d.estimate_period),
    ]


def _approval(d: Details) -> list[tuple[str, str]]:
    return [("Besteld door / Ordered by", f"{d.ordered_by}, {d.ordered_at}"),
            ("Goedgekeurd door / Approved by", f"{d.approved_by}, {d.approved_at}"),
            ("Reden / Reason", d.approval_reason)]


@lru_cache(maxsize=1)
def _template():
    return Environment(autoescape=select_autoescape(default=True, default_for_string=True)).from_string(HTML)


def render_html(d: Details) -> str:
    return _template().render(d=d, facts=_facts(d), approval=_approval(d), price=_price)


#: Letters without a decomposition to ASCII (NFKD leaves them whole).
_PLAIN = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Ŀ": "L", "ŀ": "l", "ĸ": "k"}


def _latin(text: str) -> str:
    """``text`` in Windows-1252 (the PDF core font's set): other characters as their ASCII letter, else ``?``."""
    out = []
    for ch in str(text):
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            plain = _PLAIN.get(ch) or unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(plain or "?")
    return "".join(out)


def render_pdf(d: Details) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = "windows-1252"
    pdf.set_title(_latin(f"{d.title_en} — {d.contract_id}"))
    pdf.set_author("Gereedschapskist")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def line(text: str, *, size: float = 10, style: str = "", height: float = 5.5) -> None:
        pdf.set_font("helvetica", style=style, size=size)
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(width, height, _latin(text))

    def pairs(rows: list[tuple[str, str]]) -> None:
        for label, value in rows:
            pdf.set_font("helvetica", style="B", size=9)
            pdf.set_x(pdf.l_margin)
            y = pdf.get_y()
            pdf.multi_cell(62, 5, _latin(label))
            after_label = pdf.get_y()
            pdf.set_xy(pdf.l_margin + 64, y)
            pdf.set_font("helvetica", size=9)
            pdf.multi_cell(width - 64, 5, _latin(value))
            pdf.set_y(max(after_label, pdf.get_y()) + 1)

    line(d.title_nl, size=15, style="B", height=7)
    line(d.title_en, size=12, height=6)
    line(f"Contract {d.contract_id} · {d.template_id} versie / version {d.version} · {d.framework}", size=9)
    pdf.ln(3)
    line("Partijen en omgeving / Parties and environment", size=12, style="B", height=7)
    pairs(_facts(d))
    pdf.ln(2)
    line("Formaten en prijzen per uur / Sizes and prices per hour", size=12, style="B", height=7)
    pairs([(f"{s.bundle}/{s.size}", f"{s.label} · {s.machine} · {_price(s)}") for s in d.sizes])
    pdf.ln(2)
    line("Goedkeuring / Approval", size=12, style="B", height=7)
    pairs(_approval(d))
    pdf.ln(2)
    line(f"Gemaakt / Made {d.made_at} · Gereedschapskist", size=8)
    return bytes(pdf.output())


def make_document(session: Session, *, contract: Contract, catalogue: Catalogue, at: datetime | None = None) -> None:
    """Make the contract's document (HTML and PDF) from its partner's template and store it with the contract."""
    at = at or utcnow()
    d = details(contract, catalogue=catalogue, at=at)
    contract.document_html = render_html(d)
    contract.document_pdf = render_pdf(d)
    contract.document_made_at = at
    session.flush()
    register.append(session, action=RegisterAction.CONTRACT_DOCUMENT_MADE, actor_id=None,
                    organisation_id=contract.organisation_id,
                    subject=f"contract {contract.id}: document {d.template_id} version {d.version} made",
                    purpose=None, details={"contract": contract.id, "template": d.template_id, "version": d.version,
                                           "pdf_bytes": len(contract.document_pdf),
                                           "html_chars": len(contract.document_html)})
