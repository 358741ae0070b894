"""Documents: what invoices and credit notes show (one model), rendered to HTML and PDF.

`invoice_document` / `credit_note_document` compute every figure, date and party of a
document once (see model.py); renderings only format them in the document's language.
"""

from meterly.services.documents import (
    credit_note_pdf,
    custom_sections,
    einvoice,
    i18n,
    invoice_pdf,
    receipt_pdf,
    render,
)
from meterly.services.documents.einvoice import (
    EDocument,
    credit_note_xml,
    einvoicing_on,
    einvoicing_on_credit_note,
    einvoicing_on_invoice,
    facturx_pdf,
    hybrid_pdf,
    invoice_xml,
    set_einvoicing,
)
from meterly.services.documents.i18n import Formatter
from meterly.services.documents.model import (
    CreditNoteDocument,
    CreditNoteLine,
    CustomSection,
    Deduction,
    InvoiceDocument,
    Line,
    Party,
    SubscriptionGroup,
    TaxLine,
    Tier,
    Totals,
    build_credit_note_document,
    build_invoice_document,
    credit_note_document,
    display_unit_price,
    invoice_document,
)

__all__ = [
    "CreditNoteDocument",
    "CreditNoteLine",
    "CustomSection",
    "Deduction",
    "EDocument",
    "Formatter",
    "InvoiceDocument",
    "Line",
    "Party",
    "SubscriptionGroup",
    "TaxLine",
    "Tier",
    "Totals",
    "build_credit_note_document",
    "build_invoice_document",
    "credit_note_document",
    "credit_note_pdf",
    "credit_note_xml",
    "custom_sections",
    "display_unit_price",
    "einvoice",
    "einvoicing_on",
    "einvoicing_on_credit_note",
    "einvoicing_on_invoice",
    "facturx_pdf",
    "hybrid_pdf",
    "i18n",
    "invoice_document",
    "invoice_pdf",
    "invoice_xml",
    "receipt_pdf",
    "render",
    "set_einvoicing",
]
