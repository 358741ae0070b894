"""Rendering an outbox e-mail: the subject, the text and HTML bodies (Jinja2), the PDF.

Everything is read from the document as it stands when the worker sends, like the
webhook bodies; the PDF is the stored one, generated and stored first if it is missing
(what the download routes do), so the attachment and the download are the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.money import currency, from_minor
from meterly.services import mail, payments
from meterly.services.common import Clock
from meterly.services.documents import credit_note_pdf, invoice_pdf, receipt_pdf
from meterly.store.tables import (
    CreditNote,
    Customer,
    Email,
    Invoice,
    Organization,
    Payment,
    PaymentReceipt,
    PaymentRequest,
)

TEMPLATES_DIR = Path(__file__).parent / "templates" / "mail"

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


class NotRenderable(LookupError):
    """The document behind an e-mail is gone: the e-mail can never be sent."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Content:
    subject: str
    context: dict[str, Any]
    attachment: Attachment | None


@dataclass(frozen=True, slots=True)
class Rendered:
    message: EmailMessage
    # The envelope: To, Cc and Bcc together (Bcc never appears in a header).
    envelope_from: str
    envelope_to: tuple[str, ...]


def format_money(cents: int, code: str) -> str:
    """`EUR 1,234.50`: plain and the same in every mail client, whatever its locale."""
    return f"{code} {format(from_minor(cents, currency(code)), ',f')}"


def _date(value: datetime | None) -> str:
    return value.date().isoformat() if value is not None else ""


def _invoice(session: Session, email: Email, clock: Clock) -> Content:
    invoice = session.get(Invoice, email.object_id)
    if invoice is None:
        raise NotRenderable(f"invoice {email.object_id}")
    path = invoice_pdf.stored_pdf(invoice) or invoice_pdf.generate_pdf(
        session, invoice=invoice, clock=clock
    )
    number = invoice.number or invoice.id
    return Content(
        subject=f"Invoice {number}",
        context={
            "number": number,
            "amount": format_money(invoice.total_amount_cents, invoice.currency),
            "issuing_date": _date(invoice.issuing_date),
            "due_date": _date(invoice.payment_due_date),
        },
        attachment=Attachment(f"invoice-{number}.pdf", path.read_bytes()),
    )


def _credit_note(session: Session, email: Email, clock: Clock) -> Content:
    note = session.get(CreditNote, email.object_id)
    if note is None:
        raise NotRenderable(f"credit note {email.object_id}")
    invoice = session.get(Invoice, note.invoice_id)
    path = credit_note_pdf.stored_pdf(note) or credit_note_pdf.generate_pdf(
        session, note=note, clock=clock
    )
    return Content(
        subject=f"Credit note {note.number}",
        context={
            "number": note.number,
            "amount": format_money(note.total_amount_cents, note.currency),
            "invoice_number": (invoice.number if invoice else None) or note.invoice_id,
        },
        attachment=Attachment(f"credit-note-{note.number}.pdf", path.read_bytes()),
    )


def _payment_receipt(session: Session, email: Email, clock: Clock) -> Content:
    receipt = session.get(PaymentReceipt, email.object_id)
    if receipt is None:
        raise NotRenderable(f"payment receipt {email.object_id}")
    payment = session.get(Payment, receipt.payment_id)
    if payment is None:
        raise NotRenderable(f"payment {receipt.payment_id}")
    invoice = session.get(Invoice, payment.invoice_id)
    # The receipt's PDF, rendered and stored on first use (documents/receipt_pdf.py).
    path = receipt_pdf.receipt_pdf(session, receipt=receipt)
    attachment = Attachment(f"receipt-{receipt.number}.pdf", path.read_bytes())
    return Content(
        subject=f"Receipt {receipt.number}",
        context={
            "number": receipt.number,
            "amount": format_money(payment.amount_cents, payment.currency),
            "invoice_number": (invoice.number if invoice else None) or payment.invoice_id,
            "has_attachment": attachment is not None,
        },
        attachment=attachment,
    )


def _dunning_reminder(session: Session, email: Email, clock: Clock) -> Content:
    """The customer's invoices past due now (or the one invoice the reminder names)."""
    named = session.get(Invoice, email.object_id)
    request = session.get(PaymentRequest, email.object_id) if named is None else None
    if named is not None:
        overdue = [named]
    elif request is not None:
        # A payment request's reminder lists exactly the invoices it asks for.
        overdue = payments.payment_requests.invoices_of(session, request)
    else:
        overdue = list(
            session.scalars(
                select(Invoice)
                .where(
                    Invoice.customer_id == email.customer_id,
                    Invoice.status == "finalized",
                    Invoice.payment_status != "succeeded",
                    Invoice.payment_due_date <= clock.now(),
                )
                .order_by(Invoice.payment_due_date, Invoice.id)
            )
        )
    return Content(
        subject="Payment reminder",
        context={
            "invoices": [
                {
                    "number": invoice.number or invoice.id,
                    "due_date": _date(invoice.payment_due_date),
                    "amount": format_money(invoice.total_amount_cents, invoice.currency),
                }
                for invoice in overdue
            ]
        },
        attachment=None,
    )


CONTENT: dict[str, Callable[[Session, Email, Clock], Content]] = {
    "invoice": _invoice,
    "credit_note": _credit_note,
    "payment_receipt": _payment_receipt,
    "dunning_reminder": _dunning_reminder,
}


def render(session: Session, email: Email, *, clock: Clock, smtp: mail.SmtpSettings) -> Rendered:
    """The full message of one outbox row, with its fixed Message-ID."""
    sender = mail.sender_of(session, email.organization_id, smtp)
    if sender is None:
        raise NotRenderable("no SMTP server or From address is set")
    org = session.get(Organization, email.organization_id)
    customer = session.get(Customer, email.customer_id)
    if org is None or customer is None:
        raise NotRenderable("organization or customer is gone")
    content = CONTENT[email.kind](session, email, clock)
    subject = f"{content.subject} from {org.name}"
    context = {
        **content.context,
        "subject": subject,
        "organization_name": org.name,
        "customer_name": customer.name or customer.external_id,
        "reply_to": sender.reply_to,
    }
    text = _environment.get_template(f"{email.kind}.txt.j2").render(context)
    html = _environment.get_template(f"{email.kind}.html.j2").render(context)

    recipients = email.recipients
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = formataddr((sender.sender_name or org.name, sender.from_address))
    message["To"] = ", ".join(recipients.get("to") or [])
    if recipients.get("cc"):
        message["Cc"] = ", ".join(recipients["cc"])
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message["Message-ID"] = email.message_id
    message["Date"] = format_datetime(email.created_at)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if content.attachment is not None:
        message.add_attachment(
            content.attachment.content,
            maintype="application",
            subtype="pdf",
            filename=content.attachment.filename,
        )
    envelope = (
        *(recipients.get("to") or []),
        *(recipients.get("cc") or []),
        *(recipients.get("bcc") or []),
    )
    return Rendered(
        message=message,
        envelope_from=sender.from_address,
        envelope_to=tuple(dict.fromkeys(envelope)),
    )
