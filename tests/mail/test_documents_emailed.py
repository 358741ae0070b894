"""Documents e-mailed through a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from pypdf import PdfReader

from meterly.jobs import mail as mail_job
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee
from tests.conftest import ApiClient
from tests.mail.conftest import (
    CUSTOMER_EMAIL,
    FEB,
    FROM,
    SmtpServer,
    billed_invoice,
    ok,
    outbox,
)


def deliver(api: ApiClient, clock: FrozenClock | None = None) -> mail_job.DeliveryReport:
    return mail_job.deliver_due(api.database, clock=clock or FrozenClock(FEB))  # type: ignore[arg-type]


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 1
    return "\n".join(page.extract_text() for page in reader.pages)


def sender_settings(api: ApiClient) -> None:
    delivery = {
        "sender_name": "Acme Billing",
        "reply_to": "help@acme.test",
        "cc": ["books@acme.test"],
        "bcc": ["archive@acme.test"],
    }
    ok(api.put("organizations", {"organization": {"email_delivery": delivery}}))


def test_a_finalized_invoice_is_mailed_with_its_pdf(api: ApiClient, smtp_env: SmtpServer) -> None:
    sender_settings(api)
    invoice = billed_invoice(api)

    report = deliver(api)

    assert (report.claimed, report.sent) == (1, 1)
    [received] = smtp_env.messages
    message = received.message
    assert message["From"] == f"Acme Billing <{FROM}>"
    assert message["To"] == CUSTOMER_EMAIL
    assert message["Cc"] == "books@acme.test"
    assert message["Reply-To"] == "help@acme.test"
    # Bcc travels in the envelope only, never in a header the customer could read.
    assert message["Bcc"] is None
    assert received.mail_from == FROM
    assert sorted(received.rcpt_tos) == sorted(
        [CUSTOMER_EMAIL, "books@acme.test", "archive@acme.test"]
    )
    assert message["Subject"] == f"Invoice {invoice.number} from Acme"
    [row] = outbox(api)
    assert message["Message-ID"] == row.message_id
    assert row.status == "sent" and row.sent_at == FEB and row.attempts == 1
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    # 100.00 EUR plan + 20 % VAT = 120.00 EUR due.
    assert "EUR 120.00" in text.get_content()
    assert "EUR 120.00" in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"invoice-{invoice.number}.pdf"
    assert str(invoice.number) in pdf_text(attachment.get_content())


def test_a_second_pass_sends_nothing_again(api: ApiClient, smtp_env: SmtpServer) -> None:
    billed_invoice(api)
    assert deliver(api).sent == 1
    assert deliver(api, FrozenClock(FEB + timedelta(days=1))).claimed == 0
    assert len(smtp_env.messages) == 1


def test_resend_queues_the_invoice_again_to_the_named_recipients(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    invoice = billed_invoice(api)
    deliver(api)

    body = {"to": ["cfo@customer.test"], "cc": ["ap2@customer.test"], "bcc": []}
    response: Any = api.post(f"invoices/{invoice.id}/resend_email", body)
    assert ok(response)["invoice"]["lago_id"] == invoice.id
    deliver(api, FrozenClock(FEB + timedelta(minutes=1)))

    first, second = smtp_env.messages
    assert first.rcpt_tos == [CUSTOMER_EMAIL]
    assert second.message["To"] == "cfo@customer.test"
    assert second.message["Cc"] == "ap2@customer.test"
    assert sorted(second.rcpt_tos) == ["ap2@customer.test", "cfo@customer.test"]
    # A resend is a message of its own, with its own Message-ID.
    assert first.message["Message-ID"] != second.message["Message-ID"]


def test_resend_refuses_a_bad_address_and_queues_nothing(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    invoice = billed_invoice(api)
    response: Any = api.post(f"invoices/{invoice.id}/resend_email", {"to": ["not-an-address"]})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"to": ["invalid_email_format"]}
    assert len(outbox(api)) == 1


def test_resend_without_smtp_answers_405(
    api: ApiClient, smtp_env: SmtpServer, monkeypatch: Any
) -> None:
    invoice = billed_invoice(api)
    monkeypatch.delenv("METERLY_SMTP_HOST")
    response: Any = api.post(f"invoices/{invoice.id}/resend_email")
    assert response.status_code == 405
    assert response.json()["code"] == "email_settings_disabled"


def test_a_credit_note_is_mailed_with_its_pdf(api: ApiClient, smtp_env: SmtpServer) -> None:
    invoice = billed_invoice(api)
    ok(api.put(f"invoices/{invoice.id}", {"invoice": {"payment_status": "succeeded"}}))
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        fee = session.query(Fee).filter_by(invoice_id=invoice.id, fee_type="subscription").one()
    # 10.00 EUR credited on the fee, + 20 % VAT = 12.00 EUR.
    note_body = {
        "credit_note": {
            "invoice_id": invoice.id,
            "reason": "other",
            "items": [{"fee_id": fee.id, "amount_cents": 1000}],
            "credit_amount_cents": 1200,
        }
    }
    note = ok(api.post("credit_notes", note_body))["credit_note"]
    deliver(api)

    # The API's clock (15 Jan) precedes the billing run's (1 Feb): compare unordered.
    assert sorted(row.kind for row in outbox(api)) == ["credit_note", "invoice"]
    received = [m for m in smtp_env.messages if "Credit note" in str(m.message["Subject"])]
    [message] = [r.message for r in received]
    assert message["Subject"] == f"Credit note {note['number']} from Acme"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "EUR 12.00" in text.get_content()
    [attachment] = list(message.iter_attachments())
    assert note["number"] in pdf_text(attachment.get_content())

    response: Any = api.post(f"credit_notes/{note['lago_id']}/resend_email")
    ok(response)
    deliver(api, FrozenClock(FEB + timedelta(minutes=1)))
    assert sorted(row.kind for row in outbox(api)) == ["credit_note", "credit_note", "invoice"]
    assert len(smtp_env.messages) == 3
