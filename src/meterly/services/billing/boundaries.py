"""What a boundary of a subscription bills, and its termination.

Each billed boundary of a subscription is an `InvoicePart`: its fees and the
`invoice_subscriptions` row keyed by (subscription, boundary, reason). Parts go on an
invoice alone or consolidated (`consolidation`); a repeated or concurrent run hits the
unique key, rolls back its unit of work, and bills nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists
from sqlalchemy.orm import Session

from meterly.domain.schedule import (
    BillingBoundary,
    closed_boundaries,
    termination_boundary,
)
from meterly.services.accounts import terms_of
from meterly.services.billing.fees import (
    PrefetchedUsage,
    UsageKey,
    build_subscription_fee,
    charge_fees,
)
from meterly.services.billing.fixed_charge_fees import periodic_fixed_charge_fees
from meterly.services.billing.issuing import (
    PERIODIC,
    STARTING,
    TERMINATING,
    InvoicePart,
    issue_parts,
)
from meterly.services.common import Clock
from meterly.services.credits import termination_credits
from meterly.services.notifications import enqueue
from meterly.store.tables import (
    Fee,
    Invoice,
    InvoiceSubscription,
    Subscription,
)


def boundary_part(
    session: Session,
    *,
    sub: Subscription,
    boundary: BillingBoundary,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
) -> InvoicePart:
    """What one boundary bills: the subscription fee and/or the charges of the closed period."""
    reason = (
        STARTING
        if "subscription_start" in boundary.reasons and boundary.charges_period is None
        else PERIODIC
    )
    fees: list[Fee] = []
    if boundary.subscription_fee is not None:
        fees.append(
            build_subscription_fee(
                session, sub, boundary.subscription_fee, terminated=False, upgraded=False
            )
        )
    charges_window = boundary.charges_period
    if charges_window is not None:
        fees.extend(charge_fees(session, sub, charges_window, usage=usage))
        fees.extend(periodic_fixed_charge_fees(session, sub, charges_window))
    return InvoicePart(sub, fees, boundary.at, reason, boundary.subscription_fee, charges_window)


def bill_boundary(
    session: Session,
    *,
    sub: Subscription,
    boundary: BillingBoundary,
    clock: Clock,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
) -> Invoice | None:
    """The invoice of one boundary of one subscription alone."""
    part = boundary_part(session, sub=sub, boundary=boundary, usage=usage)
    return issue_parts(session, parts=[part], at=boundary.at, clock=clock)


# --- termination -----------------------------------------------------------------------


def terminate(
    session: Session,
    *,
    sub: Subscription,
    clock: Clock,
    upgrading: bool,
    successor: Subscription | None = None,
) -> None:
    """End an active subscription now and bill its open period at once.

    Closed boundaries not billed yet (a worker that was down) are billed first; then the
    open period: the termination day is billed; on an upgrade that day goes to the new plan.
    A plan change passes the `successor` that starts now: its first fees (a plan paid in
    advance) go on the termination invoice, one invoice for the change (Lago).
    """
    now = clock.now()
    for boundary in closed_boundaries(
        terms_of(session, sub), after=sub.last_billed_boundary, as_of=now
    ):
        bill_boundary(session, sub=sub, boundary=boundary, clock=clock)
        sub.last_billed_boundary = boundary.at
    sub.status = "terminated"
    sub.terminated_at = now
    sub.updated_at = now
    session.flush()
    # A pay-in-advance plan paid for days it will not use: credit them back first, so
    # the termination invoice consumes that credit (Lago's order, lago-semantics item 14).
    termination_credits.credit_unused_subscription_fee(
        session, sub=sub, clock=clock, upgrading=upgrading
    )
    parts = [termination_part(session, sub, upgraded=upgrading)]
    if successor is not None:
        parts.extend(_first_parts(session, successor, as_of=now))
    issue_parts(session, parts=[p for p in parts if p is not None], at=now, clock=clock)
    enqueue(session, sub.organization_id, "subscription.terminated", "subscription", sub.id, clock)


def _first_parts(session: Session, sub: Subscription, *, as_of: datetime) -> list[InvoicePart]:
    """The boundaries of a subscription that just started (its fee paid in advance)."""
    parts = []
    for boundary in closed_boundaries(
        terms_of(session, sub), after=sub.last_billed_boundary, as_of=as_of
    ):
        parts.append(boundary_part(session, sub=sub, boundary=boundary))
        sub.last_billed_boundary = boundary.at
    return parts


def termination_billed(subscription_id: Any) -> ColumnElement[bool]:
    """The subscription's termination has its key already (billed, here or by another run)."""
    return exists().where(
        InvoiceSubscription.subscription_id == subscription_id,
        InvoiceSubscription.invoicing_reason == TERMINATING,
    )


def termination_part(session: Session, sub: Subscription, *, upgraded: bool) -> InvoicePart | None:
    """What the end of a subscription bills: its open period's fee and charges."""
    if sub.on_termination_invoice == "skip" or sub.terminated_at is None:
        return None
    terms = terms_of(session, sub)
    ending = termination_boundary(terms, sub.terminated_at, upgraded=upgraded)
    fees: list[Fee] = []
    if ending.subscription_fee is not None:
        fees.append(
            build_subscription_fee(
                session, sub, ending.subscription_fee, terminated=True, upgraded=upgraded
            )
        )
    if ending.charges_period is not None:
        fees.extend(charge_fees(session, sub, ending.charges_period))
        fees.extend(
            periodic_fixed_charge_fees(session, sub, ending.charges_period, terminating=True)
        )
    return InvoicePart(
        sub, fees, ending.at, TERMINATING, ending.subscription_fee, ending.charges_period
    )
