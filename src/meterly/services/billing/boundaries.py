"""Billing one boundary of a subscription, and its termination.

Each billed boundary of a subscription is one unit of work: the invoice, its fees and the
`invoice_subscriptions` row keyed by (subscription, boundary, reason). A repeated or
concurrent run hits that unique key, rolls back its unit of work, and bills nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
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
from meterly.services.billing.issuing import (
    PERIODIC,
    STARTING,
    TERMINATING,
    issue_invoice,
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


def bill_boundary(
    session: Session,
    *,
    sub: Subscription,
    boundary: BillingBoundary,
    clock: Clock,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
) -> Invoice | None:
    """The invoice of one boundary: subscription fee and/or the charges of the closed period."""
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
    return issue_invoice(
        session,
        sub=sub,
        fees=fees,
        boundary=boundary.at,
        reason=reason,
        fee_span=boundary.subscription_fee,
        charges_window=charges_window,
        clock=clock,
    )


# --- termination -----------------------------------------------------------------------


def terminate(session: Session, *, sub: Subscription, clock: Clock, upgrading: bool) -> None:
    """End an active subscription now and bill its open period at once.

    Closed boundaries not billed yet (a worker that was down) are billed first; then the
    open period: the termination day is billed; on an upgrade that day goes to the new plan.
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
    bill_termination(session, sub, clock=clock, upgraded=upgrading)
    # A pay-in-advance plan paid for days it will not use: credit them back.

    termination_credits.credit_unused_subscription_fee(
        session, sub=sub, clock=clock, upgrading=upgrading
    )
    enqueue(session, sub.organization_id, "subscription.terminated", "subscription", sub.id, clock)


def terminated_unbilled(session: Session, organization_id: str | None) -> list[Subscription]:
    billed = select(InvoiceSubscription.subscription_id).where(
        InvoiceSubscription.invoicing_reason == TERMINATING
    )
    query = select(Subscription).where(
        Subscription.status == "terminated",
        Subscription.terminated_at.is_not(None),
        Subscription.on_termination_invoice == "generate",
        Subscription.id.not_in(billed),
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    return list(session.scalars(query))


def bill_termination(
    session: Session, sub: Subscription, *, clock: Clock, upgraded: bool
) -> Invoice | None:
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
    return issue_invoice(
        session,
        sub=sub,
        fees=fees,
        boundary=ending.at,
        reason=TERMINATING,
        fee_span=ending.subscription_fee,
        charges_window=ending.charges_period,
        clock=clock,
    )
