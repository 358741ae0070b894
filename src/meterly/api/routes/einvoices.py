"""E-invoice XML of invoices and credit notes (Lago's `download_xml`), and their signed files.

- `POST /invoices/{id}/download_xml` answers the invoice with its `xml_url` (as
  `download_pdf` answers with `file_url`); `GET` on the same path answers the XML itself.
- `GET /files/invoices/{id}.xml?token=...`: the XML behind the signed link.
- The same three for credit notes.

`?syntax=factur-x|zugferd|xrechnung|ubl` picks another syntax than the seller country's.
Without e-invoicing on, or for a document not finalized, the XML does not exist (404).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import envelope, organization_id, settings, unit_of_work
from meterly.api.routes import credit_notes as credit_note_routes
from meterly.api.routes import invoices as invoice_routes
from meterly.api.schemas.invoices import verify_token
from meterly.domain.errors import NotFound, ValidationFailed
from meterly.services import documents
from meterly.services.billing import invoices as invoice_service
from meterly.services.credits import credit_notes as notes
from meterly.store.tables import Invoice
from meterly.store.tables_credit_notes import CreditNote

router = APIRouter(tags=["einvoices"])


def _syntax(request: Request) -> str | None:
    syntax = request.query_params.get("syntax")
    if syntax is not None and syntax not in documents.einvoice.SYNTAXES:
        raise ValidationFailed.field("syntax", "value_is_invalid")
    return syntax


def _xml(document: documents.EDocument) -> Response:
    return Response(
        document.content,
        media_type=f"{document.media_type}; charset=utf-8",
        headers={"Content-Disposition": f'inline; filename="{document.filename}"'},
    )


# --- invoices ----------------------------------------------------------------------------------


@router.post("/invoices/{invoice_id}/download_xml")
def invoice_download_xml(
    invoice_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = invoice_service.find(session, organization_id=org, invoice_id=invoice_id)
        documents.invoice_xml(session, row)  # 404 when there is no e-invoice to link to
        return envelope("invoice", invoice_routes.render(request, session, row))


@router.get("/invoices/{invoice_id}/download_xml")
def invoice_xml(invoice_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    syntax = _syntax(request)
    with unit_of_work(request) as session:
        row = invoice_service.find(session, organization_id=org, invoice_id=invoice_id)
        document = documents.invoice_xml(session, row, syntax=syntax)
    return _xml(document)


@router.get("/files/invoices/{invoice_id}.xml")
def invoice_xml_file(invoice_id: str, request: Request) -> Response:
    syntax = _syntax(request)
    if not verify_token(settings(request), invoice_id, request.query_params.get("token")):
        raise NotFound("invoice")
    with unit_of_work(request) as session:
        row = session.get(Invoice, invoice_id)
        if row is None:
            raise NotFound("invoice")
        document = documents.invoice_xml(session, row, syntax=syntax)
    return _xml(document)


# --- credit notes ------------------------------------------------------------------------------


@router.post("/credit_notes/{credit_note_id}/download_xml")
def credit_note_download_xml(
    credit_note_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = notes.find(session, organization_id=org, credit_note_id=credit_note_id)
        documents.credit_note_xml(session, row)
        return envelope("credit_note", credit_note_routes.render(request, session, row))


@router.get("/credit_notes/{credit_note_id}/download_xml")
def credit_note_xml(
    credit_note_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    syntax = _syntax(request)
    with unit_of_work(request) as session:
        row = notes.find(session, organization_id=org, credit_note_id=credit_note_id)
        document = documents.credit_note_xml(session, row, syntax=syntax)
    return _xml(document)


@router.get("/files/credit_notes/{credit_note_id}.xml")
def credit_note_xml_file(credit_note_id: str, request: Request) -> Response:
    syntax = _syntax(request)
    token = request.query_params.get("token") or ""
    config = settings(request)
    if not token or not any(  # any listed secret: links survive a rotation
        hmac.compare_digest(
            credit_note_routes.sign(config, credit_note_id, key=key).encode(), token.encode()
        )
        for key in config.verification_keys
    ):
        raise NotFound("credit_note")
    with unit_of_work(request) as session:
        row = session.get(CreditNote, credit_note_id)
        if row is None:
            raise NotFound("credit_note")
        document = documents.credit_note_xml(session, row, syntax=syntax)
    return _xml(document)
