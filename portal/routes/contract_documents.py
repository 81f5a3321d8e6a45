"""The contract document's downloads (HTML and PDF), for the organisation's admins and platform admins (the contract's
get-or-404-and-authorise dependency). The document is made when the contract is approved
(``services/contract_document.py``); before that there is none (404, ``no-contract-document``). The HTML is served
with a policy that lets it run nothing and load nothing."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from ..api.contracts import ContractDep
from ..errors import NotFound
from ..models import Contract

router = APIRouter(include_in_schema=False)
DOCUMENT_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _made(contract: Contract) -> None:
    if contract.document_made_at is None or contract.document_pdf is None or contract.document_html is None:
        raise NotFound(f"contract {contract.id} has no document yet: it is made when the contract is approved",
                       reason="no-contract-document")


@router.get("/contracts/{contract_id}/document.html", name="contract_document_html")
def document_html(contract: ContractDep) -> HTMLResponse:
    _made(contract)
    return HTMLResponse(contract.document_html, headers={
        "Content-Security-Policy": DOCUMENT_CSP, "Cache-Control": "private, no-store",
        "Content-Disposition": f'inline; filename="contract-{contract.id}.html"'})


@router.get("/contracts/{contract_id}/document.pdf", name="contract_document_pdf")
def document_pdf(contract: ContractDep) -> Response:
    _made(contract)
    return Response(contract.document_pdf, media_type="application/pdf", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="contract-{contract.id}.pdf"'})
