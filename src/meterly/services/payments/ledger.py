"""Payments recorded against invoices, and the receipt of each successful one.

An invoice is `succeeded` only once what it owes (`billing.amount_due_cents`: its total
less payments and credit-note offsets) reaches zero; a payment for more than is due is
refused, so the money an invoice received never exceeds what it asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.services import mail, notifications
from meterly.services.accounts import customers, find_organization
from meterly.services.billing import activation, amount_due_cents
from meterly.services.billing import invoices as invoice_service
from meterly.services.common import Clock, new_id
from meterly.services.payments.port import FAILED, PENDING, PROCESSING, SUCCEEDED, ChargeResult
from meterly.store.sequences import next_value
from meterly.store.tables import Customer, Invoice, Payment, PaymentReceipt

RECEIPTS_SCOPE = "payment_receipts"
# An invoice takes payments once it is final and not void (Lago).
_PAYABLE_STATUSES = ("finalized",)


@dataclass(frozen=True, slots=True)
class ManualPayment:
    invoice_id: str
    amount_cents: int
    reference: str
    paid_at: datetime | None = None


def record_manual(
    session: Session, *, organization_id: str, data: ManualPayment, clock: Clock
) -> Payment:
    """A bank transfer or cheque: paid at once, for all or part of what the invoice owes."""
    errors: dict[str, list[str]] = {}
    if not data.reference.strip():
        errors["reference"] = ["value_is_mandatory"]
    if data.amount_cents <= 0:
        errors["amount_cents"] = ["value_is_invalid"]
    if errors:
        raise ValidationFailed(errors)
    invoice = invoice_service.find(
        session, organization_id=organization_id, invoice_id=data.invoice_id
    )
    # Locked until commit: two payments recorded at once cannot both fit in what is due.
    session.refresh(invoice, with_for_update=True)
    if invoice.status not in _PAYABLE_STATUSES:
        raise ValidationFailed.field("invoice_id", "invalid_status")
    if invoice.payment_status == SUCCEEDED:
        raise ValidationFailed.field("invoice_id", "invoice_already_paid")
    due = amount_due_cents(session, invoice)
    if data.amount_cents > due:
        # Lago's error code for a payment larger than what the invoice still owes.
        raise ValidationFailed.field("amount_cents", "invalid_amount")
    now = clock.now()
    payment = Payment(
        id=new_id(),
        organization_id=organization_id,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        payment_type="manual",
        amount_cents=data.amount_cents,
        currency=invoice.currency,
        status=SUCCEEDED,
        payment_status=SUCCEEDED,
        reference=data.reference.strip(),
        next_action={},
        paid_at=data.paid_at or now,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    _settle(session, invoice=invoice, payment=payment, clock=clock)
    return payment


def apply_charge(
    session: Session,
    *,
    invoice: Invoice,
    result: ChargeResult,
    connection_id: str,
    provider_customer_id: str | None,
    provider_code: str,
    clock: Clock,
) -> Payment:
    """A provider's answer (from the charge job or a webhook) applied to its payment row.

    The payment is found by the provider's payment id, so however many times the same
    state is reported (job, webhook, duplicate deliveries), the invoice changes once.
    """
    now = clock.now()
    # The invoice, then its payment, locked until commit: the job, the page and a webhook
    # reporting the same payment at once apply it one after the other, never twice.
    session.refresh(invoice, with_for_update=True)
    payment = None
    if result.provider_payment_id is not None:
        payment = session.scalars(
            select(Payment)
            .where(
                Payment.organization_id == invoice.organization_id,
                Payment.provider_payment_id == result.provider_payment_id,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
    if payment is None:
        payment = Payment(
            id=new_id(),
            organization_id=invoice.organization_id,
            customer_id=invoice.customer_id,
            invoice_id=invoice.id,
            payment_type="provider",
            amount_cents=result.amount_cents,
            currency=invoice.currency,
            status=result.provider_status,
            payment_status=PENDING,
            connection_id=connection_id,
            provider_payment_id=result.provider_payment_id,
            provider_customer_id=provider_customer_id,
            next_action={},
            created_at=now,
            updated_at=now,
        )
        session.add(payment)
    before = payment.payment_status
    if before in (SUCCEEDED, FAILED) and result.outcome == before:
        return payment  # the same news again
    if before == SUCCEEDED:
        return payment  # money received is never taken back by a late, stale report
    payment.status = result.provider_status
    payment.next_action = result.next_action if result.outcome == "requires_action" else {}
    payment.error_code = result.error_code
    payment.error_message = result.error_message
    payment.updated_at = now
    if result.outcome == SUCCEEDED:
        payment.payment_status = SUCCEEDED
        payment.paid_at = now
    elif result.outcome == FAILED:
        payment.payment_status = FAILED
    else:
        payment.payment_status = PROCESSING if result.outcome != PENDING else PENDING
    session.flush()
    if payment.payment_status == SUCCEEDED:
        _settle(session, invoice=invoice, payment=payment, clock=clock)
    elif payment.payment_status == FAILED and before != FAILED:
        _fail(session, invoice=invoice, payment=payment, provider_code=provider_code, clock=clock)
    elif result.outcome == "requires_action" and before != PROCESSING:
        notifications.enqueue(
            session,
            invoice.organization_id,
            "payment.requires_action",
            "payment",
            payment.id,
            clock,
        )
    return payment


def _settle(session: Session, *, invoice: Invoice, payment: Payment, clock: Clock) -> None:
    """Money received: the receipt, and the invoice paid once nothing is left due."""
    invoice.total_paid_amount_cents += payment.amount_cents
    invoice.updated_at = clock.now()
    session.flush()
    if amount_due_cents(session, invoice) == 0:
        # The billing capability's own path: the webhook, and wallet top-ups credited now.
        invoice_service.update(
            session, invoice=invoice, payment_status=SUCCEEDED, metadata=None, clock=clock
        )
        # A subscription waiting for this payment (an activation rule) starts now.
        activation.on_payment_status(session, invoice=invoice, clock=clock)
    issue_receipt(session, payment=payment, clock=clock)


def _fail(
    session: Session, *, invoice: Invoice, payment: Payment, provider_code: str, clock: Clock
) -> None:
    if invoice.payment_status != SUCCEEDED:
        invoice_service.update(
            session, invoice=invoice, payment_status=FAILED, metadata=None, clock=clock
        )
    customer = session.get(Customer, invoice.customer_id)
    notifications.enqueue(
        session,
        invoice.organization_id,
        "invoice.payment_failure",
        "payment_provider_invoice_payment_error",
        invoice.id,
        clock,
        payload={
            "lago_invoice_id": invoice.id,
            "lago_customer_id": invoice.customer_id,
            "external_customer_id": customer.external_id if customer else None,
            "provider_customer_id": payment.provider_customer_id,
            "payment_provider": "stripe",
            "payment_provider_code": provider_code,
            "provider_error": {
                "message": payment.error_message,
                "error_code": payment.error_code,
            },
        },
    )
    # A subscription waiting for this payment (an activation rule) is canceled.
    activation.on_payment_status(session, invoice=invoice, clock=clock)


def issue_receipt(session: Session, *, payment: Payment, clock: Clock) -> PaymentReceipt:
    """One receipt per successful payment, numbered without gaps or repeats per organization."""
    existing = session.scalars(
        select(PaymentReceipt).where(PaymentReceipt.payment_id == payment.id)
    ).one_or_none()
    if existing is not None:
        return existing
    org = find_organization(session, payment.organization_id)
    sequence = next_value(session, organization_id=payment.organization_id, scope=RECEIPTS_SCOPE)
    receipt = PaymentReceipt(
        id=new_id(),
        organization_id=payment.organization_id,
        payment_id=payment.id,
        number=f"{org.document_number_prefix}-RCPT-{sequence:06d}",
        sequential_id=sequence,
        created_at=clock.now(),
    )
    session.add(receipt)
    session.flush()
    notifications.enqueue(
        session,
        payment.organization_id,
        "payment_receipt.created",
        "payment_receipt",
        receipt.id,
        clock,
    )
    # The customer's copy, sent by the worker (nothing is queued without SMTP settings,
    # an e-mail address, or when the customer opted out).
    mail.enqueue(
        session,
        organization_id=payment.organization_id,
        customer_id=payment.customer_id,
        kind="payment_receipt",
        object_id=receipt.id,
        clock=clock,
    )
    return receipt


# --- reading ---------------------------------------------------------------------------


def find_payment(session: Session, *, organization_id: str, payment_id: str) -> Payment:
    row = session.get(Payment, payment_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("payment")
    return row


def list_payments(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    external_customer_id: str | None = None,
    invoice_id: str | None = None,
) -> tuple[list[Payment], int]:
    where = [Payment.organization_id == organization_id]
    if external_customer_id is not None:
        customer = customers.find(
            session, organization_id=organization_id, external_id=external_customer_id
        )
        where.append(Payment.customer_id == customer.id)
    if invoice_id:
        where.append(Payment.invoice_id == invoice_id)
    total = session.scalar(select(func.count()).select_from(Payment).where(*where)) or 0
    rows = session.scalars(
        select(Payment)
        .where(*where)
        .order_by(Payment.created_at.desc(), Payment.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), int(total)


def find_receipt(session: Session, *, organization_id: str, receipt_id: str) -> PaymentReceipt:
    row = session.get(PaymentReceipt, receipt_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("payment_receipt")
    return row


def list_receipts(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    invoice_id: str | None = None,
) -> tuple[list[PaymentReceipt], int]:
    query = select(PaymentReceipt).where(PaymentReceipt.organization_id == organization_id)
    if invoice_id:
        query = query.join(Payment, Payment.id == PaymentReceipt.payment_id).where(
            Payment.invoice_id == invoice_id
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(PaymentReceipt.sequential_id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), int(total)
