"""Payment receipts as PDF files: who paid what, for which invoice, and when.

Drawn with the same HTML-to-PDF engine as invoices (`render.html_to_pdf`) and stored
under the files directory the first time they are asked for, like invoice PDFs.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import jinja2
from sqlalchemy.orm import Session

from meterly.domain.money import currency as find_currency
from meterly.services.documents import render
from meterly.services.documents.invoice_pdf import files_dir, write_atomically
from meterly.store.tables import Customer, Invoice, Organization, Payment, PaymentReceipt

_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html><head><meta charset="utf-8"><title>Receipt {{ number }}</title>
<style>
  @page { size: A4; margin: 20mm; }
  body { font-family: sans-serif; font-size: 11pt; color: #111; }
  h1 { font-size: 20pt; margin: 0 0 4mm; }
  table { border-collapse: collapse; width: 100%; margin-top: 8mm; }
  td { padding: 2mm 0; border-bottom: 0.2mm solid #ccc; }
  td.value { text-align: right; }
  .muted { color: #555; }
  tr.paid td { font-weight: bold; }
</style></head>
<body>
  <h1>Payment receipt</h1>
  <p class="muted">Receipt number {{ number }} · issued {{ issued }}</p>
  <p><strong>{{ seller }}</strong></p>
  <p>Received from: <strong>{{ payer }}</strong></p>
  <table>
    <tr><td>Invoice</td><td class="value">{{ invoice_number }}</td></tr>
    <tr><td>Payment date</td><td class="value">{{ paid_on }}</td></tr>
    <tr><td>Payment method</td><td class="value">{{ method }}</td></tr>
    <tr><td>Reference</td><td class="value">{{ reference }}</td></tr>
    <tr><td>Invoice total</td><td class="value">{{ invoice_total }}</td></tr>
    <tr class="paid"><td>Amount paid</td><td class="value">{{ amount }}</td></tr>
    <tr><td>Still due on the invoice</td><td class="value">{{ remaining }}</td></tr>
  </table>
</body></html>"""
)


def _money(cents: int, code: str) -> str:
    exponent = find_currency(code).exponent
    return f"{Decimal(cents).scaleb(-exponent):,.{exponent}f} {code}"


def receipt_html(session: Session, receipt: PaymentReceipt) -> str:
    payment = session.get(Payment, receipt.payment_id)
    assert payment is not None
    invoice = session.get(Invoice, payment.invoice_id)
    customer = session.get(Customer, payment.customer_id)
    organization = session.get(Organization, receipt.organization_id)
    assert invoice is not None and customer is not None and organization is not None
    paid_at = payment.paid_at or payment.created_at
    remaining = max(invoice.total_amount_cents - invoice.total_paid_amount_cents, 0)
    return _TEMPLATE.render(
        number=receipt.number,
        issued=receipt.created_at.date().isoformat(),
        seller=organization.name,
        payer=customer.name or customer.external_id,
        invoice_number=invoice.number or invoice.id,
        paid_on=paid_at.date().isoformat(),
        method="Manual payment" if payment.payment_type == "manual" else "Card",
        reference=payment.reference or payment.provider_payment_id or "—",
        invoice_total=_money(invoice.total_amount_cents, invoice.currency),
        amount=_money(payment.amount_cents, payment.currency),
        remaining=_money(remaining, invoice.currency),
    )


def pdf_relative_path(receipt: PaymentReceipt) -> str:
    return f"receipts/{receipt.organization_id}/{receipt.id}.pdf"


def receipt_pdf(
    session: Session,
    *,
    receipt: PaymentReceipt,
    directory: str | os.PathLike[str] | None = None,
) -> Path:
    """The receipt's PDF, rendered and stored on first use."""
    if receipt.file_path:
        stored = files_dir(directory) / receipt.file_path
        if stored.is_file():
            return stored
    relative = pdf_relative_path(receipt)
    target = files_dir(directory) / relative
    write_atomically(target, render.html_to_pdf(receipt_html(session, receipt)))
    receipt.file_path = relative
    session.flush()
    return target
