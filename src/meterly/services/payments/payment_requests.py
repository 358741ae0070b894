"""Payment requests: a customer's overdue invoices asked for at once (Lago's shape).

A request is written with its invoices in the caller's unit of work, together with what
follows from it: the `payment_request.created` webhook, the reminder e-mail (mail outbox)
and, for a customer linked to a provider, one new charge attempt per invoice that the
collection job runs (services/payments/collection.py, outside any transaction). The
request's own `payment_status` follows its invoices: `refresh_statuses`, run by the
worker, turns it `succeeded` once every invoice is paid and `failed` when a charge it
started is declined.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services import mail, notifications
from meterly.services.accounts import customers
from meterly.services.billing import amount_due_cents
from meterly.services.common import Clock, new_id
from meterly.services.payments import collection, connections
from meterly.services.payments.port import FAILED, PENDING, SUCCEEDED
from meterly.store.tables import (
    ChargeAttempt,
    Customer,
    Invoice,
    PaymentProviderConnection,
    PaymentRequest,
    PaymentRequestInvoice,
)

PAYMENT_STATUSES = (PENDING, SUCCEEDED, FAILED)


@dataclass(frozen=True, slots=True)
class RequestInput:
    external_customer_id: str
    email: str | None
    invoice_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class DunningAttempt:
    """The campaign attempt a request belongs to: (campaign, customer, attempt) is unique."""

    campaign_id: str
    attempt: int


def create(
    session: Session, *, organization_id: str, data: RequestInput, clock: Clock
) -> PaymentRequest:
    """`POST /payment_requests`: the named invoices must be the customer's, overdue and unpaid."""
    customer = customers.find(
        session, organization_id=organization_id, external_id=data.external_customer_id
    )
    if not data.invoice_ids:
        raise ValidationFailed.field("lago_invoice_ids", "value_is_mandatory")
    invoices = list(
        session.scalars(
            select(Invoice).where(
                Invoice.organization_id == organization_id,
                Invoice.id.in_(list(dict.fromkeys(data.invoice_ids))),
            )
        )
    )
    if len(invoices) != len(set(data.invoice_ids)):
        raise NotFound("invoice")
    if any(i.customer_id != customer.id for i in invoices):
        raise ValidationFailed.field("lago_invoice_ids", "invoices_not_of_customer")
    if any(not _overdue(i) for i in invoices):
        raise ValidationFailed.field("lago_invoice_ids", "invoices_not_overdue")
    if len({i.currency for i in invoices}) != 1:
        raise ValidationFailed.field("lago_invoice_ids", "invoices_have_different_currencies")
    email = (data.email or "").strip() or None
    if email is not None and not mail.settings.valid_address(email):
        raise ValidationFailed.field("email", "invalid_email_format")
    return issue(
        session, customer=customer, invoices=invoices, email=email, dunning=None, clock=clock
    )


def _overdue(invoice: Invoice) -> bool:
    return (
        invoice.status == "finalized"
        and invoice.payment_status != SUCCEEDED
        and bool(invoice.payment_overdue)
    )


def issue(
    session: Session,
    *,
    customer: Customer,
    invoices: Sequence[Invoice],
    email: str | None,
    dunning: DunningAttempt | None,
    clock: Clock,
) -> PaymentRequest:
    """Write the request and its consequences. A dunning attempt already made (another
    worker got there first) raises `AttemptTaken` and writes nothing."""
    now = clock.now()
    ordered = sorted(invoices, key=lambda i: (i.payment_due_date, i.id))
    row = PaymentRequest(
        id=new_id(),
        organization_id=customer.organization_id,
        customer_id=customer.id,
        email=email or _first_address(customer.email),
        amount_cents=sum(amount_due_cents(session, i) for i in ordered),
        currency=ordered[0].currency,
        payment_status=PENDING,
        dunning_campaign_id=dunning.campaign_id if dunning else None,
        dunning_attempt=dunning.attempt if dunning else None,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise AttemptTaken from None
    for position, invoice in enumerate(ordered):
        session.add(
            PaymentRequestInvoice(
                payment_request_id=row.id, invoice_id=invoice.id, position=position
            )
        )
    session.flush()
    notifications.enqueue(
        session, row.organization_id, "payment_request.created", "payment_request", row.id, clock
    )
    _remind(
        session,
        row=row,
        customer=customer,
        explicit=dunning is None and email is not None,
        clock=clock,
    )
    for invoice in ordered:
        # Through the customer's provider when linked; None when not (nothing to charge
        # through) or when a charge of the invoice is already under way.
        collection.request_retry(session, invoice=invoice, clock=clock)
    return row


class AttemptTaken(Exception):
    """This dunning attempt's payment request exists already."""


def _first_address(addresses: str | None) -> str | None:
    found = mail.settings.split_addresses(addresses)
    return found[0] if found else None


def _remind(
    session: Session, *, row: PaymentRequest, customer: Customer, explicit: bool, clock: Clock
) -> None:
    """The reminder e-mail. A request given an address by the API goes there (an explicit
    request, like a resend); otherwise the customer's own addresses, unless opted out."""
    if explicit and row.email is not None:
        # No SMTP server: the request stands without its e-mail.
        with contextlib.suppress(NotAllowed):
            mail.resend(
                session,
                organization_id=row.organization_id,
                customer_id=customer.id,
                kind="dunning_reminder",
                object_id=row.id,
                overrides=mail.Overrides(to=[row.email]),
                clock=clock,
            )
        return
    mail.enqueue(
        session,
        organization_id=row.organization_id,
        customer_id=customer.id,
        kind="dunning_reminder",
        object_id=row.id,
        clock=clock,
    )


def invoices_of(session: Session, request: PaymentRequest) -> list[Invoice]:
    return list(
        session.scalars(
            select(Invoice)
            .join(PaymentRequestInvoice, PaymentRequestInvoice.invoice_id == Invoice.id)
            .where(PaymentRequestInvoice.payment_request_id == request.id)
            .order_by(PaymentRequestInvoice.position)
        )
    )


# --- the request's status, followed by the worker --------------------------------------


def refresh_statuses(session: Session, *, clock: Clock, limit: int = 500) -> int:
    """Bring unsettled requests in line with their invoices. Returns how many changed."""
    rows = session.scalars(
        select(PaymentRequest)
        .where(PaymentRequest.payment_status != SUCCEEDED)
        .order_by(PaymentRequest.created_at, PaymentRequest.id)
        .limit(limit)
    ).all()
    changed = 0
    for row in rows:
        status = _status_from_invoices(session, row)
        if status != row.payment_status:
            _set_status(session, row=row, status=status, clock=clock)
            changed += 1
    return changed


def _status_from_invoices(session: Session, row: PaymentRequest) -> str:
    invoices = invoices_of(session, row)
    if all(i.payment_status == SUCCEEDED or i.status == "voided" for i in invoices):
        return SUCCEEDED
    declined = session.scalar(
        select(func.count())
        .select_from(ChargeAttempt)
        .where(
            ChargeAttempt.invoice_id.in_([i.id for i in invoices]),
            ChargeAttempt.created_at >= row.created_at,
            ChargeAttempt.state == "done",
            ChargeAttempt.outcome.in_((FAILED, "error")),
        )
    )
    return FAILED if declined else row.payment_status


def _set_status(session: Session, *, row: PaymentRequest, status: str, clock: Clock) -> None:
    row.payment_status = status
    row.updated_at = clock.now()
    session.flush()
    if status == FAILED:
        notifications.enqueue(
            session,
            row.organization_id,
            "payment_request.payment_failure",
            "payment_provider_payment_request_payment_error",
            row.id,
            clock,
            payload=_failure_payload(session, row),
        )
    notifications.enqueue(
        session,
        row.organization_id,
        "payment_request.payment_status_updated",
        "payment_request",
        row.id,
        clock,
    )


def _failure_payload(session: Session, row: PaymentRequest) -> dict[str, object]:
    customer = session.get(Customer, row.customer_id)
    link = connections.find_link(session, customer_id=row.customer_id)
    connection = session.get(PaymentProviderConnection, link.connection_id) if link else None
    attempts = session.scalars(
        select(ChargeAttempt)
        .join(PaymentRequestInvoice, PaymentRequestInvoice.invoice_id == ChargeAttempt.invoice_id)
        .where(
            PaymentRequestInvoice.payment_request_id == row.id,
            ChargeAttempt.created_at >= row.created_at,
            ChargeAttempt.outcome.in_((FAILED, "error")),
        )
        .order_by(ChargeAttempt.finished_at.desc())
    ).all()
    return {
        "lago_payment_request_id": row.id,
        "lago_invoice_ids": [i.id for i in invoices_of(session, row)],
        "lago_customer_id": row.customer_id,
        "external_customer_id": customer.external_id if customer else None,
        "provider_customer_id": link.provider_customer_id if link else None,
        "payment_provider": connection.provider if connection else None,
        "payment_provider_code": connection.code if connection else None,
        "provider_error": {"error_code": attempts[0].error if attempts else None},
    }


# --- reading ---------------------------------------------------------------------------


def find(session: Session, *, organization_id: str, request_id: str) -> PaymentRequest:
    row = session.get(PaymentRequest, request_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("payment_request")
    return row


def list_page(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    external_customer_id: str | None = None,
    payment_status: str | None = None,
    currency: str | None = None,
) -> tuple[list[PaymentRequest], int]:
    where = [PaymentRequest.organization_id == organization_id]
    if external_customer_id is not None:
        customer = customers.find(
            session, organization_id=organization_id, external_id=external_customer_id
        )
        where.append(PaymentRequest.customer_id == customer.id)
    if payment_status:
        if payment_status not in PAYMENT_STATUSES:
            raise ValidationFailed.field("payment_status", "value_is_invalid")
        where.append(PaymentRequest.payment_status == payment_status)
    if currency:
        where.append(PaymentRequest.currency == currency.upper())
    total = session.scalar(select(func.count()).select_from(PaymentRequest).where(*where)) or 0
    rows = session.scalars(
        select(PaymentRequest)
        .where(*where)
        .order_by(PaymentRequest.created_at.desc(), PaymentRequest.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), int(total)
