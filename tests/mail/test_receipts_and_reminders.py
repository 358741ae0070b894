"""Payment receipts and dunning reminders, rendered and sent like the documents."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from meterly.jobs import mail as mail_job
from meterly.services import mail, payments
from meterly.services.common import FrozenClock
from meterly.store.tables import Email, PaymentReceipt
from tests.conftest import ApiClient
from tests.mail.conftest import FEB, SmtpServer, billed_invoice


def test_a_payment_receipt_is_mailed(api: ApiClient, smtp_env: SmtpServer) -> None:
    invoice = billed_invoice(api)
    at = FrozenClock(FEB + timedelta(days=2))
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        # A bank transfer of the whole 120.00 EUR: the receipt is issued with it.
        payment = payments.ledger.record_manual(
            session,
            organization_id=api.org_id,
            data=payments.ManualPayment(invoice.id, 12000, "wire 42"),
            clock=at,
        )
        receipt = session.scalars(
            select(PaymentReceipt).where(PaymentReceipt.payment_id == payment.id)
        ).one()
        queued = session.scalars(select(Email).where(Email.kind == "payment_receipt")).all()
        if not queued:  # until the payments capability queues it itself
            mail.enqueue(
                session,
                organization_id=api.org_id,
                customer_id=invoice.customer_id,
                kind="payment_receipt",
                object_id=receipt.id,
                clock=at,
            )
        number = receipt.number
    mail_job.deliver_due(api.database, clock=at)  # type: ignore[arg-type]

    [message] = [
        m.message for m in smtp_env.messages if str(m.message["Subject"]).startswith("Receipt")
    ]
    assert message["Subject"] == f"Receipt {number} from Acme"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert "EUR 120.00" in text.get_content()
    assert str(invoice.number) in text.get_content()


def test_a_dunning_reminder_lists_the_overdue_invoice(api: ApiClient, smtp_env: SmtpServer) -> None:
    invoice = billed_invoice(api)
    # Net payment term 0: due on its issuing day, 1 Feb; ten days later it is overdue.
    at = FrozenClock(FEB + timedelta(days=10))
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        mail.enqueue(
            session,
            organization_id=api.org_id,
            customer_id=invoice.customer_id,
            kind="dunning_reminder",
            object_id=invoice.id,
            clock=at,
        )
    mail_job.deliver_due(api.database, clock=at)  # type: ignore[arg-type]

    [message] = [
        m.message for m in smtp_env.messages if m.message["Subject"] == "Payment reminder from Acme"
    ]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    assert f"{invoice.number}  due 2024-02-01  EUR 120.00" in body
    assert list(message.iter_attachments()) == []
