"""`xml_url` of invoices and credit notes: a signed link when their e-invoice exists.

An e-invoice exists for a finalized document whose seller (the billing entity recorded on
the invoice, or the organization) has e-invoicing on.
The link is signed like the PDF's (same token), so it opens without an API key.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.orm import Session

from meterly.api.http import settings
from meterly.api.schemas.invoices import document_url
from meterly.services import documents
from meterly.store.tables import Invoice
from meterly.store.tables_credit_notes import CreditNote


def invoice_xml_url(request: Request, session: Session, row: Invoice) -> str | None:
    if row.status != "finalized" or not documents.einvoicing_on_invoice(session, row):
        return None
    return document_url(settings(request), row.id, "xml")


def credit_note_xml_url(session: Session, row: CreditNote, pdf_url: str) -> str | None:
    """From the credit note's signed PDF link: the same token opens its XML."""
    if row.status != "finalized" or not documents.einvoicing_on_credit_note(session, row):
        return None
    path, _, token = pdf_url.partition("?")
    return f"{path.removesuffix('.pdf')}.xml?{token}"
