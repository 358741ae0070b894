"""The invoice lifecycle after creation: void, update, delete, overdue, fees.

The billing engine (issuing, drafts) creates invoices and fees and recomputes drafts;
numbering and finalizing live in services/invoicing; everything that happens to an
invoice afterwards lives here. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services.billing.drafts import recompute_totals
from meterly.services.common import Clock, new_id
from meterly.services.credits import offsetted_amount_cents, wallets
from meterly.services.invoicing import (
    HIDDEN_STATUSES as HIDDEN_STATUSES,
)
from meterly.services.invoicing import (
    enqueue_webhook as enqueue_webhook,
)
from meterly.services.invoicing import (
    finalize as finalize,
)
from meterly.services.invoicing import (
    next_sequence as next_sequence,
)
from meterly.store.clock_scope import in_scope
from meterly.store.tables import (
    Customer,
    Fee,
    Invoice,
    InvoiceSubscription,
    Subscription,
)

INVOICE_PAYMENT_STATUSES = ("pending", "succeeded", "failed")
FEE_PAYMENT_STATUSES = ("pending", "succeeded", "failed", "refunded")
# Statuses a caller never sees (Lago's invisible ones).


# --- queries ---------------------------------------------------------------------------


def find(session: Session, *, organization_id: str, invoice_id: str) -> Invoice:
    row = session.get(Invoice, invoice_id)
    if row is None or row.organization_id != organization_id or row.status in HIDDEN_STATUSES:
        raise NotFound("invoice")
    return row


@dataclass(frozen=True, slots=True)
class InvoiceFilters:
    """`GET /invoices` filters; empty means "any"."""

    external_customer_id: str | None = None
    statuses: tuple[str, ...] = ()
    payment_statuses: tuple[str, ...] = ()
    invoice_types: tuple[str, ...] = ()
    currency: str | None = None
    issuing_date_from: date | None = None
    issuing_date_to: date | None = None
    payment_overdue: bool | None = None
    search_term: str | None = None
    amount_from: int | None = None
    amount_to: int | None = None


def list_page(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    filters: InvoiceFilters | None = None,
) -> tuple[list[Invoice], int]:
    where = _invoice_filters(organization_id, filters or InvoiceFilters())
    base = select(Invoice).join(Customer, Customer.id == Invoice.customer_id).where(*where)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(Invoice.issuing_date.desc(), Invoice.created_at.desc(), Invoice.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _invoice_filters(organization_id: str, f: InvoiceFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        Invoice.organization_id == organization_id,
        Invoice.status.not_in(HIDDEN_STATUSES),
    ]
    if f.external_customer_id:
        where.append(Customer.external_id == f.external_customer_id)
    if f.statuses:
        where.append(Invoice.status.in_(f.statuses))
    if f.payment_statuses:
        where.append(Invoice.payment_status.in_(f.payment_statuses))
    if f.invoice_types:
        where.append(Invoice.invoice_type.in_(f.invoice_types))
    if f.currency:
        where.append(Invoice.currency == f.currency.upper())
    if f.issuing_date_from:
        where.append(Invoice.issuing_date >= _day_start(f.issuing_date_from))
    if f.issuing_date_to:
        where.append(Invoice.issuing_date < _day_start(f.issuing_date_to) + timedelta(days=1))
    if f.payment_overdue is not None:
        where.append(Invoice.payment_overdue.is_(f.payment_overdue))
    if f.amount_from is not None:
        where.append(Invoice.total_amount_cents >= f.amount_from)
    if f.amount_to is not None:
        where.append(Invoice.total_amount_cents <= f.amount_to)
    if f.search_term:
        like = f"%{f.search_term.lower()}%"
        where.append(
            or_(
                func.lower(func.coalesce(Invoice.number, "")).like(like),
                Invoice.id == f.search_term,
                func.lower(Customer.external_id).like(like),
                func.lower(func.coalesce(Customer.name, "")).like(like),
                func.lower(func.coalesce(Customer.email, "")).like(like),
            )
        )
    return where


# --- void, update, delete ---------------------------------------------------------------


def void(session: Session, *, invoice: Invoice, clock: Clock, force: bool = False) -> Invoice:
    """Lago: only a finalized invoice whose payment has not succeeded can be voided, unless
    a credit note gives back what it asked (`force`, from `voiding.void_with_credit_note`)."""
    if invoice.status != "finalized" or (invoice.payment_status == "succeeded" and not force):
        raise NotAllowed("not_voidable")
    now = clock.now()
    invoice.status = "voided"
    invoice.voided_at = now
    invoice.payment_overdue = False
    invoice.updated_at = now
    session.flush()
    _paid_top_ups(session, invoice=invoice, clock=clock)
    enqueue_webhook(session, invoice=invoice, webhook_type="invoice.voided", clock=clock)
    return invoice


def _paid_top_ups(session: Session, *, invoice: Invoice, clock: Clock) -> None:
    """Paid credits waiting on their credit invoice settle when it is paid, fail otherwise."""
    if invoice.invoice_type != "credit":
        return

    if invoice.status == "voided" or invoice.payment_status == "failed":
        wallets.fail_paid_top_ups(session, invoice=invoice, clock=clock)
    elif invoice.payment_status == "succeeded":
        wallets.settle_paid_top_ups(session, invoice=invoice, clock=clock)


def update(
    session: Session,
    *,
    invoice: Invoice,
    payment_status: str | None,
    metadata: list[Any] | None,
    clock: Clock,
) -> Invoice:
    if invoice.status == "voided":
        raise NotAllowed("update_on_voided_invoice")
    if payment_status is not None and payment_status not in INVOICE_PAYMENT_STATUSES:
        raise ValidationFailed.field("payment_status", "value_is_invalid")
    if metadata is not None:
        invoice.invoice_metadata = _metadata(invoice.invoice_metadata, metadata, clock.now())
    now = clock.now()
    changed = payment_status is not None and payment_status != invoice.payment_status
    if payment_status is not None and changed:
        if invoice.status != "finalized":
            raise NotAllowed("payment_status_update_on_draft_invoice")
        invoice.payment_status = payment_status
        if payment_status == "succeeded":
            invoice.total_paid_amount_cents = invoice.total_amount_cents
            invoice.payment_overdue = False
        _paid_top_ups(session, invoice=invoice, clock=clock)
    invoice.updated_at = now
    session.flush()
    if changed:
        enqueue_webhook(
            session, invoice=invoice, webhook_type="invoice.payment_status_updated", clock=clock
        )
    return invoice


def _metadata(existing: list[Any], incoming: list[Any], now: datetime) -> list[dict[str, Any]]:
    """Lago's metadata update: items with a known id change, others are added; the rest go."""
    by_id = {m.get("lago_id"): m for m in existing if isinstance(m, dict)}
    by_key = {m.get("key"): m for m in existing if isinstance(m, dict)}
    result: list[dict[str, Any]] = []
    for item in incoming:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise ValidationFailed.field("metadata", "value_is_invalid")
        value = item.get("value")
        old = by_id.get(item.get("id")) or by_key.get(item["key"])
        result.append(
            {
                "lago_id": old["lago_id"] if old else new_id(),
                "key": item["key"],
                "value": None if value is None else str(value),
                "created_at": old["created_at"] if old else now.isoformat(),
            }
        )
    return result


def delete_draft(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    """A draft disappears (Lago's invisible `deleted` status); its fees go with it.

    The invoice's billing periods stay, so the billing clock does not bill them again.
    """
    if invoice.status != "draft":
        raise NotAllowed("not_deletable")
    now = clock.now()
    for fee in session.scalars(select(Fee).where(Fee.invoice_id == invoice.id)):
        fee.deleted_at = now
    invoice.status = "deleted"
    invoice.updated_at = now
    session.flush()
    session.expire(invoice, ["fees"])
    enqueue_webhook(session, invoice=invoice, webhook_type="invoice.deleted", clock=clock)
    return invoice


def lose_dispute(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    """The customer won a payment dispute: the invoice is marked as lost (once)."""
    if invoice.status != "finalized":
        raise NotAllowed("not_disputable")
    breakdown = dict(invoice.breakdown or {})
    if breakdown.get("payment_dispute_lost_at"):
        return invoice
    now = clock.now()
    breakdown["payment_dispute_lost_at"] = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    invoice.breakdown = breakdown
    invoice.updated_at = now
    session.flush()
    enqueue_webhook(
        session, invoice=invoice, webhook_type="invoice.payment_dispute_lost", clock=clock
    )
    return invoice


def check_payment_retry(invoice: Invoice) -> None:
    """Lago retries a payment only for a finalized invoice not yet paid."""
    if invoice.status != "finalized" or invoice.payment_status == "succeeded":
        raise NotAllowed("invalid_status")


def mark_overdue(session: Session, *, clock: Clock, organization_id: str | None = None) -> int:
    """Finalized, unpaid invoices whose due date has passed become overdue. Returns how many."""
    today = _day_start(clock.now().astimezone(UTC).date())
    query = select(Invoice).where(
        Invoice.status == "finalized",
        Invoice.payment_status != "succeeded",
        Invoice.payment_overdue.is_(False),
        Invoice.payment_due_date < today,
        in_scope(Invoice.customer_id),
    )
    if organization_id is not None:
        query = query.where(Invoice.organization_id == organization_id)
    count = 0
    now = clock.now()
    for invoice in session.scalars(query.order_by(Invoice.payment_due_date, Invoice.id)):
        invoice.payment_overdue = True
        invoice.updated_at = now
        enqueue_webhook(
            session, invoice=invoice, webhook_type="invoice.payment_overdue", clock=clock
        )
        count += 1
    session.flush()
    return count


def record_file(session: Session, *, invoice: Invoice, file_path: str, clock: Clock) -> Invoice:
    """The PDF is stored: remember where, and announce it (`invoice.generated`)."""
    invoice.file_path = file_path
    invoice.updated_at = clock.now()
    session.flush()
    enqueue_webhook(session, invoice=invoice, webhook_type="invoice.generated", clock=clock)
    return invoice


# --- fees ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeeFilters:
    fee_types: tuple[str, ...] = ()
    payment_statuses: tuple[str, ...] = ()
    external_subscription_id: str | None = None
    external_customer_id: str | None = None
    billable_metric_code: str | None = None
    currency: str | None = None
    event_transaction_id: str | None = None
    created_at_from: datetime | None = None
    created_at_to: datetime | None = None


def find_fee(session: Session, *, organization_id: str, fee_id: str) -> Fee:
    row = session.get(Fee, fee_id)
    if row is None or row.organization_id != organization_id or row.deleted_at is not None:
        raise NotFound("fee")
    if row.invoice_id is not None:
        invoice = session.get(Invoice, row.invoice_id)
        if invoice is None or invoice.status in HIDDEN_STATUSES:
            raise NotFound("fee")
    return row


def list_fees(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    filters: FeeFilters | None = None,
) -> tuple[list[Fee], int]:
    f = filters or FeeFilters()
    where: list[ColumnElement[bool]] = [
        Fee.organization_id == organization_id,
        Fee.deleted_at.is_(None),
        or_(Fee.invoice_id.is_(None), Invoice.status.not_in(HIDDEN_STATUSES)),
    ]
    if f.fee_types:
        where.append(Fee.fee_type.in_(f.fee_types))
    if f.payment_statuses:
        where.append(Fee.payment_status.in_(f.payment_statuses))
    if f.external_customer_id:
        where.append(Customer.external_id == f.external_customer_id)
    if f.external_subscription_id:
        where.append(Subscription.external_id == f.external_subscription_id)
    if f.currency:
        where.append(Fee.currency == f.currency.upper())
    if f.event_transaction_id:
        where.append(Fee.event_transaction_id == f.event_transaction_id)
    if f.created_at_from:
        where.append(Fee.created_at >= f.created_at_from)
    if f.created_at_to:
        where.append(Fee.created_at <= f.created_at_to)
    base = (
        select(Fee)
        .join(Customer, Customer.id == Fee.customer_id)
        .outerjoin(Invoice, Invoice.id == Fee.invoice_id)
        .outerjoin(Subscription, Subscription.id == Fee.subscription_id)
        .where(*where)
    )
    rows = list(session.scalars(base.order_by(Fee.created_at.desc(), Fee.position, Fee.id)))
    if f.billable_metric_code:
        code = f.billable_metric_code
        rows = [r for r in rows if r.fee_type == "charge" and (r.item or {}).get("code") == code]
    total = len(rows)
    start = (page - 1) * per_page
    return rows[start : start + per_page], total


def update_fee(session: Session, *, fee: Fee, payment_status: str | None, clock: Clock) -> Fee:
    """Lago: the payment status of a fee outside any invoice (pay in advance, not invoiceable)."""
    if payment_status is None:
        return fee
    if payment_status not in FEE_PAYMENT_STATUSES:
        raise ValidationFailed.field("payment_status", "value_is_invalid")
    if fee.invoice_id is not None or fee.invoiceable:
        raise NotAllowed("invoiced_fee")
    now = clock.now()
    fee.payment_status = payment_status
    stamp = {"succeeded": "succeeded_at", "failed": "failed_at", "refunded": "refunded_at"}
    if payment_status in stamp:
        setattr(fee, stamp[payment_status], now)
    fee.updated_at = now
    session.flush()
    return fee


def delete_fee(session: Session, *, fee: Fee, clock: Clock) -> Fee:
    """A fee not yet invoiced goes (Lago: a pay-in-advance fee outside any invoice); so
    does, beyond Lago, a fee on a draft, whose totals are then recomputed. A fee on an
    issued invoice never goes: 405 `invoiced_fee`."""
    invoice = session.get(Invoice, fee.invoice_id) if fee.invoice_id else None
    now = clock.now()
    if fee.invoice_id is None:
        fee.deleted_at = now
        fee.updated_at = now
        session.flush()
        return fee
    if invoice is None or invoice.status != "draft":
        raise NotAllowed("invoiced_fee")
    fee.deleted_at = now
    fee.updated_at = now
    invoice.updated_at = now
    session.flush()
    session.expire(invoice, ["fees"])
    recompute_totals(session, invoice=invoice, clock=clock)
    return fee


# --- past usage ---------------------------------------------------------------------------


def past_usage_periods(
    session: Session,
    *,
    organization_id: str,
    external_customer_id: str,
    external_subscription_id: str,
    billable_metric_code: str | None = None,
    periods_count: int | None = None,
    page: int = 1,
    per_page: int = 100,
) -> tuple[list[tuple[Invoice, InvoiceSubscription, list[Fee]]], int]:
    """Finalized subscription invoices of one subscription, newest period first."""
    customer = session.scalar(
        select(Customer).where(
            Customer.organization_id == organization_id,
            Customer.external_id == external_customer_id,
            Customer.deleted_at.is_(None),
        )
    )
    if customer is None:
        raise NotFound("customer")
    subscription_ids = list(
        session.scalars(
            select(Subscription.id).where(
                Subscription.organization_id == organization_id,
                Subscription.customer_id == customer.id,
                Subscription.external_id == external_subscription_id,
            )
        )
    )
    if not subscription_ids:
        raise NotFound("subscription")
    query = (
        select(InvoiceSubscription, Invoice)
        .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
        .where(
            and_(
                InvoiceSubscription.subscription_id.in_(subscription_ids),
                Invoice.status == "finalized",
                Invoice.invoice_type.in_(("subscription", "progressive_billing")),
            )
        )
        .order_by(InvoiceSubscription.boundary.desc(), Invoice.issuing_date.desc())
    )
    pairs = list(session.execute(query).tuples())
    if periods_count is not None and periods_count > 0:
        pairs = pairs[:periods_count]
    total = len(pairs)
    result: list[tuple[Invoice, InvoiceSubscription, list[Fee]]] = []
    for period, invoice in pairs[(page - 1) * per_page : page * per_page]:
        fees = [
            fee
            for fee in invoice.fees
            if fee.fee_type == "charge"
            and fee.subscription_id == period.subscription_id
            and (
                billable_metric_code is None or (fee.item or {}).get("code") == billable_metric_code
            )
        ]
        result.append((invoice, period, fees))
    return result, total


def amount_due_cents(session: Session, invoice: Invoice) -> int:
    """What is left to pay: the total (already net of prepaid credits), less what was paid
    and what credit notes offset. A draft owes its total; a voided invoice nothing."""
    if invoice.status == "voided":
        return 0
    if invoice.status == "draft":
        return invoice.total_amount_cents

    offset = offsetted_amount_cents(session, invoice_id=invoice.id)
    return max(invoice.total_amount_cents - invoice.total_paid_amount_cents - offset, 0)
