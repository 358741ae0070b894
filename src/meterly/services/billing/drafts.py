"""Draft invoices: refreshed from the events until their grace period ends, then finalized.

The grace period is the customer's `invoice_grace_period`, else its billing entity's,
else the organization's. When
it changes, each draft's finalization date moves with it, and drafts whose new date has
passed are finalized at once (lago-semantics item 14, "Grace period lowered").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed
from meterly.domain.periods import (
    BillingPeriod,
)
from meterly.services.accounts import billing_entities, timezone_of
from meterly.services.billing.fees import (
    charge_fees,
    refreshed_commitment_fee,
)
from meterly.services.billing.issuing import apply_waterfall
from meterly.services.billing.issuing import finalize as finalize_numbered
from meterly.services.catalog import TaxContext
from meterly.services.common import Clock
from meterly.services.credits import termination_credits
from meterly.store.clock_scope import in_scope
from meterly.store.tables import (
    Customer,
    Fee,
    Invoice,
    InvoiceSubscription,
    Organization,
    Subscription,
)
from meterly.store.uow import Database

# --- drafts ----------------------------------------------------------------------------


def refresh_draft(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    """Recompute a draft's fees from the events (late events are picked up)."""

    if invoice.status != "draft":
        raise NotAllowed("invoice_not_draft")
    now = clock.now()
    for period in invoice.periods:
        sub = session.get(Subscription, period.subscription_id)
        if sub is None:
            continue
        old = [
            f
            for f in invoice.fees
            if f.subscription_id == sub.id and f.fee_type in ("charge", "commitment")
        ]
        for fee in old:
            fee.deleted_at = now
        session.flush()
        new_fees: list[Fee] = []
        if period.charges_from_datetime is not None and period.charges_to_datetime is not None:
            window = BillingPeriod(
                start=period.charges_from_datetime,
                end=period.charges_to_datetime,
                timezone=timezone_of(session, sub),
            )
            new_fees = charge_fees(session, sub, window)
        # The true-up was deleted with the charges: work it again on the refreshed fees.
        kept = [f for f in invoice.fees if f.subscription_id == sub.id and f.deleted_at is None]
        commitment = refreshed_commitment_fee(session, sub, period, [*kept, *new_fees])
        if commitment is not None:
            new_fees.append(commitment)
        position = len(invoice.fees)
        for offset, fee in enumerate(new_fees):
            fee.invoice_id, fee.position, fee.created_at, fee.updated_at = (
                invoice.id,
                position + offset,
                now,
                now,
            )
            session.add(fee)
    session.flush()
    session.refresh(invoice)
    recompute_totals(session, invoice=invoice, clock=clock)
    return invoice


def recompute_totals(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    customer = session.get(Customer, invoice.customer_id)
    assert customer is not None
    plan = None
    if invoice.periods:
        sub = session.get(Subscription, invoice.periods[0].subscription_id)
        plan = sub.plan if sub else None
    session.refresh(invoice)
    apply_waterfall(
        session,
        invoice=invoice,
        fees=invoice.fees,
        taxes=TaxContext.for_customer(session, customer, plan),
    )
    invoice.updated_at = clock.now()
    return invoice


def finalize(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    """Finalize a draft (credits of this moment applied and consumed, then numbered), and
    with it the draft credit notes made on it while it waited (a pay-in-advance
    subscription terminated during the grace period)."""
    finalize_numbered(session, invoice=invoice, clock=clock)
    termination_credits.finalize_draft_notes(session, invoice=invoice, clock=clock)
    return invoice


def finalize_due_drafts(database: Database, *, as_of: datetime, clock: Clock) -> int:
    """Drafts whose grace period ended: refresh with late events, then finalize."""
    with database.unit_of_work() as session:
        ids = list(
            session.scalars(
                select(Invoice.id).where(
                    Invoice.status == "draft",
                    Invoice.finalize_at.is_not(None),
                    Invoice.finalize_at <= as_of,
                    in_scope(Invoice.customer_id),
                )
            )
        )
    done = 0
    for invoice_id in ids:
        with database.unit_of_work() as session:
            invoice = session.get(
                Invoice,
                invoice_id,
                with_for_update=session.bind is not None
                and session.get_bind().dialect.name == "postgresql",
            )
            if invoice is None or invoice.status != "draft":
                continue
            refresh_draft(session, invoice=invoice, clock=clock)
            finalize(session, invoice=invoice, clock=clock)
            done += 1
    return done


def apply_grace_period(
    session: Session, *, organization_id: str, customer_id: str | None = None, clock: Clock
) -> list[Invoice]:
    """After a grace period changed: move each draft's finalization date to its boundary
    plus the grace period in force now, and finalize those whose date has passed.

    `customer_id`: the customer whose own grace period changed; None: the organization's
    or a billing entity's changed, which concerns the customers without one of their own.
    Returns the drafts finalized.
    """
    org = session.get(Organization, organization_id)
    if org is None:
        return []
    query = (
        select(Invoice, Customer)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(Invoice.organization_id == organization_id, Invoice.status == "draft")
        .order_by(Invoice.created_at, Invoice.id)
    )
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    else:
        query = query.where(Customer.invoice_grace_period.is_(None))
    drafts = [(row[0], row[1]) for row in session.execute(query)]
    # The boundary each draft was issued for: its finalization date counts from there.
    boundaries = {
        row[0]: row[1]
        for row in session.execute(
            select(InvoiceSubscription.invoice_id, func.min(InvoiceSubscription.boundary))
            .where(InvoiceSubscription.invoice_id.in_([d.id for d, _ in drafts]))
            .group_by(InvoiceSubscription.invoice_id)
        )
    }
    now = clock.now()
    finalized = []
    for invoice, customer in drafts:
        boundary = boundaries.get(invoice.id)
        if boundary is None:
            continue  # not a billed period (one-off drafts wait for an explicit finalize)
        grace = billing_entities.customer_settings(session, customer).invoice_grace_period
        invoice.finalize_at = boundary + timedelta(days=grace)
        invoice.updated_at = now
        if invoice.finalize_at <= now:
            refresh_draft(session, invoice=invoice, clock=clock)
            finalize(session, invoice=invoice, clock=clock)
            finalized.append(invoice)
    session.flush()
    return finalized
