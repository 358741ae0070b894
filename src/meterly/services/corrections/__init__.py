"""Event corrections: void or amend stored events, accept late ones, and correct what was
finalized with credit notes and correction invoices, never by rewriting an invoice.

Above billing, credits and reconciliation (it re-derives fees with the audit's arithmetic);
the billing run (`runs`) calls `run` after billing. See docs/corrections.md.
"""

from meterly.services.corrections import documents, events
from meterly.services.corrections.documents import (
    CORRECTION_INVOICE_TYPE,
    FeeDifference,
    InvoiceCorrection,
    correct_invoice,
    differences,
)
from meterly.services.corrections.events import amend_event, parse_amendment, void_event
from meterly.services.corrections.run import CorrectionReport, run

__all__ = [
    "CORRECTION_INVOICE_TYPE",
    "CorrectionReport",
    "FeeDifference",
    "InvoiceCorrection",
    "amend_event",
    "correct_invoice",
    "differences",
    "documents",
    "events",
    "parse_amendment",
    "run",
    "void_event",
]
