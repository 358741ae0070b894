"""/api/v1/files: invoice documents behind signed links (no API key needed).

A link carries an HMAC of the invoice id signed with `Settings.secret_key`, so it works
from an e-mail or a browser, and cannot be turned into a link to another invoice. A bad
token answers 404, as an unknown invoice does.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, settings, unit_of_work
from meterly.api.schemas.invoices import verify_token
from meterly.domain.errors import NotFound
from meterly.services.documents import invoice_pdf as documents
from meterly.store.tables import Invoice

router = APIRouter(prefix="/files", tags=["files"])

_VISIBLE = ("finalized", "voided")


def invoice_html(session: Session, invoice: Invoice) -> str:
    """The invoice HTML view, from the same document model the PDF is drawn from."""
    return documents.invoice_html(session, invoice)


def _signed_invoice(request: Request, session: Session, invoice_id: str) -> Invoice:
    if not verify_token(settings(request), invoice_id, request.query_params.get("token")):
        raise NotFound("invoice")
    row = session.get(Invoice, invoice_id)
    if row is None or row.status not in _VISIBLE:
        raise NotFound("invoice")
    return row


@router.get("/invoices/{invoice_id}.pdf")
def invoice_pdf(invoice_id: str, request: Request) -> Response:
    with unit_of_work(request) as session:
        row = _signed_invoice(request, session, invoice_id)
        path = documents.stored_pdf(row)
        if path is None:
            path = documents.generate_pdf(session, invoice=row, clock=clock(request))
        filename = f"invoice-{row.number or row.id}.pdf"
    return Response(
        path.read_bytes(),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get("/invoices/{invoice_id}.html")
def invoice_page(invoice_id: str, request: Request) -> Response:
    with unit_of_work(request) as session:
        row = _signed_invoice(request, session, invoice_id)
        body = invoice_html(session, row)
    return Response(body, media_type="text/html; charset=utf-8")
