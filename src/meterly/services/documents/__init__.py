"""Documents: invoices and credit notes as PDF files (and the invoice's HTML template)."""

from meterly.services.documents import credit_note_pdf, invoice_pdf
from meterly.services.documents.invoice_pdf import format_major, format_money, latin1, render_pdf

__all__ = [
    "credit_note_pdf",
    "format_major",
    "format_money",
    "invoice_pdf",
    "latin1",
    "render_pdf",
]
