"""E-invoices: the XML of a finalized invoice or credit note, when the seller has e-invoicing on.

The syntax follows the seller's country, as Lago's: France gets Factur-X (CII, EN 16931
profile), Germany XRechnung (CII under the German CIUS), everyone else UBL 2.1 under
Peppol BIS Billing 3.0. Any syntax can also be asked for by name. Factur-X and ZUGFeRD
also travel inside the PDF, a PDF/A-3 with the CII XML attached (`facturx_pdf`).

E-invoicing is a setting of the seller: the billing entity recorded on the invoice, or
the organization for its own invoices (`einvoicing_on_invoice`).

The XML is computed from the stored, finalized document each time it is asked for; it
writes nothing. Package-internal: other capabilities use it through `documents`.
"""

from __future__ import annotations

from dataclasses import dataclass

import facturx
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound
from meterly.services.accounts import billing_entities
from meterly.services.common import Clock
from meterly.services.documents.einvoice.cii import EN16931, XRECHNUNG, cii_xml
from meterly.services.documents.einvoice.model import EInvoice, read_credit_note, read_invoice
from meterly.services.documents.einvoice.ubl import ubl_xml
from meterly.store.tables import Invoice, Organization
from meterly.store.tables_credit_notes import CreditNote

SYNTAXES = ("factur-x", "zugferd", "xrechnung", "ubl")


@dataclass(frozen=True)
class EDocument:
    """One e-invoice file: its syntax, a file name and the XML."""

    syntax: str
    filename: str
    content: bytes
    media_type: str = "application/xml"


def set_einvoicing(org: Organization, *, enabled: bool, clock: Clock) -> None:
    """Lago's `einvoicing` switch of the organization (its only seller for now)."""
    org.einvoicing = enabled
    org.updated_at = clock.now()


def einvoicing_on(
    session: Session, organization_id: str, billing_entity_code: str | None = None
) -> bool:
    """Whether the seller (an entity by its code; None: the organization) e-invoices."""
    org = session.get(Organization, organization_id)
    if org is None:
        return False
    if not billing_entity_code or billing_entity_code == billing_entities.DEFAULT_CODE:
        return bool(org.einvoicing)
    seller = billing_entities.invoice_seller(session, organization_id, billing_entity_code)
    return seller.einvoicing


def einvoicing_on_invoice(session: Session, invoice: Invoice) -> bool:
    """The invoice's seller (the entity that numbered it) has e-invoicing on."""
    return einvoicing_on(session, invoice.organization_id, invoice.billing_entity_code)


def einvoicing_on_credit_note(session: Session, note: CreditNote) -> bool:
    """A credit note is issued by the seller of the invoice it credits."""
    invoice = session.get(Invoice, note.invoice_id)
    code = invoice.billing_entity_code if invoice is not None else None
    return einvoicing_on(session, note.organization_id, code)


def syntax_for(country: str) -> str:
    """The e-invoice a seller of `country` issues by default."""
    return {"FR": "factur-x", "DE": "xrechnung"}.get(country.upper(), "ubl")


def render(doc: EInvoice, syntax: str) -> bytes:
    if syntax in ("factur-x", "zugferd"):
        return cii_xml(doc, guideline=EN16931)
    if syntax == "xrechnung":
        return cii_xml(doc, guideline=XRECHNUNG)
    if syntax == "ubl":
        return ubl_xml(doc)
    raise ValueError(f"unknown e-invoice syntax {syntax!r}")


def _document(doc: EInvoice, syntax: str | None, stem: str) -> EDocument:
    chosen = syntax or syntax_for(doc.seller.country)
    return EDocument(chosen, f"{stem}-{doc.number}-{chosen}.xml", render(doc, chosen))


def invoice_xml(session: Session, invoice: Invoice, *, syntax: str | None = None) -> EDocument:
    """The e-invoice of a finalized invoice of an organization with e-invoicing on."""
    if invoice.status != "finalized" or not einvoicing_on_invoice(session, invoice):
        raise NotFound("invoice_xml")
    return _document(read_invoice(session, invoice), syntax, "invoice")


def credit_note_xml(session: Session, note: CreditNote, *, syntax: str | None = None) -> EDocument:
    """The e-invoice (a credit note document) of a finalized credit note."""
    if note.status != "finalized" or not einvoicing_on_credit_note(session, note):
        raise NotFound("credit_note_xml")
    return _document(read_credit_note(session, note), syntax, "credit-note")


def facturx_pdf(pdf: bytes, document: EDocument, *, lang: str | None = None) -> bytes:
    """The PDF as a PDF/A-3 carrying the CII XML: Factur-X, which ZUGFeRD 2.x is too.

    ZUGFeRD 2.1 and later attach the same `factur-x.xml` under the same XMP schema, so one
    embedding serves both (the library's "zugferd" flavor is the older ZUGFeRD 1.0). The
    `factur-x` library checks the XML against the official XSD before it embeds it, writes
    the PDF/A-3 XMP (`pdfaid`, the Factur-X schema) and the `/AF` association; the PDF
    given should already be PDF/A-3 (WeasyPrint's `pdf/a-3b`: fonts embedded, an sRGB
    output intent). `lang`: the document's language, for readers of the PDF.
    """
    if document.syntax not in ("factur-x", "zugferd", "xrechnung"):
        raise ValueError("only CII e-invoices are embedded in a PDF")
    embedded: bytes = facturx.generate_from_binary(
        pdf,
        document.content,
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        lang=lang.replace("_", "-") if lang else None,
    )
    return embedded


def hybrid_pdf(pdf: bytes, einvoice: EInvoice, *, lang: str | None = None) -> bytes:
    """A Factur-X / ZUGFeRD PDF of the document: the EN 16931 CII XML embedded.

    The embedded XML is always Factur-X's EN 16931 profile, whatever syntax the seller's
    country serves on its own (`download_xml`): it is what both the French Factur-X and
    the German ZUGFeRD 2.x (profile EN 16931, "COMFORT") expect inside a PDF.
    """
    stem = "credit-note" if einvoice.kind == "credit_note" else "invoice"
    return facturx_pdf(pdf, _document(einvoice, "factur-x", stem), lang=lang)


__all__ = [
    "SYNTAXES",
    "EDocument",
    "credit_note_xml",
    "einvoicing_on",
    "einvoicing_on_credit_note",
    "einvoicing_on_invoice",
    "facturx_pdf",
    "hybrid_pdf",
    "invoice_xml",
    "read_credit_note",
    "read_invoice",
    "set_einvoicing",
    "syntax_for",
]
