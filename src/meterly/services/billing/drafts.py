"""Draft invoices: refreshed from the events until their grace period ends, then finalized."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed
from meterly.domain.periods import (
    BillingPeriod,
)
from meterly.services.accounts import timezone_of
from meterly.services.billing.fees import (
    charge_fees,
)
from meterly.services.billing.issuing import (
    apply_waterfall,
    finalize,
)
from meterly.services.catalog import TaxContext
from meterly.services.common import Clock
from meterly.store.tables import (
    Customer,
    Invoice,
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
        if period.charges_from_datetime is None or period.charges_to_datetime is None:
            continue
        window = BillingPeriod(
            start=period.charges_from_datetime,
            end=period.charges_to_datetime,
            timezone=timezone_of(session, sub),
        )
        new_fees = charge_fees(session, sub, window)
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


def finalize_due_drafts(database: Database, *, as_of: datetime, clock: Clock) -> int:
    """Drafts whose grace period ended: refresh with late events, then finalize."""
    with database.unit_of_work() as session:
        ids = list(
            session.scalars(
                select(Invoice.id).where(
                    Invoice.status == "draft",
                    Invoice.finalize_at.is_not(None),
                    Invoice.finalize_at <= as_of,
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
