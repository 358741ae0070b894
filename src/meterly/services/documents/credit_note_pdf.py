"""The credit note as a PDF document, stored under the files directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fpdf import FPDF
from sqlalchemy.orm import Session

from meterly.services.common import Clock
from meterly.services.documents.invoice_pdf import files_dir, format_date, format_money
from meterly.services.documents.invoice_pdf import latin1 as t
from meterly.services.notifications import enqueue
from meterly.store.tables import Customer, Fee, Invoice, Organization
from meterly.store.tables_credit_notes import CreditNote


def pdf_relative_path(note: CreditNote) -> str:
    return f"credit_notes/{note.organization_id}/{note.id}.pdf"


def stored_pdf(note: CreditNote, directory: str | os.PathLike[str] | None = None) -> Path | None:

    if not note.file_path:
        return None
    path = files_dir(directory) / note.file_path
    return path if path.is_file() else None


def credit_note_context(session: Session, note: CreditNote) -> dict[str, Any]:

    org = session.get(Organization, note.organization_id)
    customer = session.get(Customer, note.customer_id)
    invoice = session.get(Invoice, note.invoice_id)
    assert org is not None and customer is not None and invoice is not None
    code = note.currency
    items = []
    for item in note.items:
        fee = session.get(Fee, item.fee_id)
        stored = (fee.item if fee else None) or {}
        name = stored.get("invoice_display_name") or stored.get("name") or stored.get("code")
        items.append({"name": str(name or "Fee"), "amount": format_money(item.amount_cents, code)})
    taxes = [
        {
            "label": f"{t.get('tax_name') or t.get('tax_code')} ({t.get('tax_rate')} %)",
            "amount": format_money(int(t.get("amount_cents") or 0), code),
        }
        for t in note.applied_taxes or []
    ]
    totals = [
        ("Coupons adjustment", "-" + format_money(note.coupons_adjustment_amount_cents, code)),
        ("Subtotal (excl. tax)", format_money(note.sub_total_excluding_taxes_amount_cents, code)),
        ("Taxes", format_money(note.taxes_amount_cents, code)),
        ("Total", format_money(note.total_amount_cents, code)),
        ("Credited", format_money(note.credit_amount_cents, code)),
        ("Refunded", format_money(note.refund_amount_cents, code)),
        ("Offset", format_money(note.offset_amount_cents, code)),
        ("Balance left", format_money(note.balance_amount_cents, code)),
    ]
    return {
        "number": note.number,
        "issuing_date": format_date(note.issuing_date),
        "invoice_number": invoice.number or invoice.id,
        "reason": note.reason,
        "description": note.description or "",
        "credit_status": note.credit_status or "",
        "refund_status": note.refund_status or "",
        "seller": org.name,
        "customer": customer.name or customer.external_id,
        "customer_external_id": customer.external_id,
        "items": items,
        "taxes": taxes,
        "totals": [{"label": label, "amount": amount} for label, amount in totals],
    }


def render_pdf(context: Mapping[str, Any]) -> bytes:
    # fpdf takes ~0.4 s to import: only the paths that draw a PDF pay for it.

    pdf = FPDF(format="A4")
    pdf.set_title(t(f"Credit note {context['number']}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, t(f"Credit note {context['number']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for line in (
        f"Issuing date: {context['issuing_date']}",
        f"Invoice: {context['invoice_number']}",
        f"Reason: {context['reason']}"
        + (f" - {context['description']}" if context["description"] else ""),
        f"From: {context['seller']}",
        f"To: {context['customer']} ({context['customer_external_id']})",
    ):
        pdf.cell(0, 5, t(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for title, rows in (
        ("Items", [(i["name"], i["amount"]) for i in context["items"]]),
        ("Taxes", [(x["label"], x["amount"]) for x in context["taxes"]]),
        ("Totals", [(x["label"], x["amount"]) for x in context["totals"]]),
    ):
        if not rows:
            continue
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 7, t(title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        with pdf.table(
            col_widths=(8, 3), text_align=("LEFT", "RIGHT"), first_row_as_headings=False
        ) as table:
            for label, amount in rows:
                row = table.row()
                row.cell(t(label))
                row.cell(t(amount))
        pdf.ln(4)
    return bytes(pdf.output())


def generate_pdf(
    session: Session,
    *,
    note: CreditNote,
    clock: Clock,
    directory: str | os.PathLike[str] | None = None,
) -> Path:
    """Render the credit note's PDF under the files directory and remember its path."""

    data = render_pdf(credit_note_context(session, note))
    relative = pdf_relative_path(note)
    target = files_dir(directory) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    note.file_path = relative
    note.updated_at = clock.now()
    session.flush()

    enqueue(session, note.organization_id, "credit_note.generated", "credit_note", note.id, clock)
    return target
