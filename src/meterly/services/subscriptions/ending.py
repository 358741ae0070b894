"""Subscriptions that end by themselves: `ending_at` has come (a clock job).

Lago's `TerminateEndedSubscriptionsJob` (lago-semantics item 14): the subscription is
terminated at its `ending_at` instant, not when the clock notices, and billed as any
termination: the boundaries that closed before it first, then its open period up to
`ending_at` (the termination day billed), and for a plan paid in advance the credit note
of the unused days. A downgrade scheduled after it is canceled.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.services.common import Clock, FrozenClock
from meterly.services.subscriptions.lifecycle import terminate_at
from meterly.store.clock_scope import in_scope
from meterly.store.tables import Subscription


def terminate_ended(
    session: Session, *, clock: Clock, organization_id: str | None = None
) -> list[Subscription]:
    """Terminate every active subscription whose `ending_at` is at or before now.

    Each ends at its own `ending_at` (a run after downtime still bills the exact
    instant); a second run finds them terminated and does nothing.
    """
    now = clock.now()
    query = select(Subscription).where(
        Subscription.status == "active",
        Subscription.ending_at.is_not(None),
        Subscription.ending_at <= now,
        in_scope(Subscription.customer_id),
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    ended = list(session.scalars(query.order_by(Subscription.ending_at, Subscription.id)))
    for sub in ended:
        assert sub.ending_at is not None
        started = sub.started_at or sub.subscription_at
        # Never before the start: an ending_at set in the past of a later plan change.
        terminate_at(session, sub=sub, clock=FrozenClock(max(sub.ending_at, started)))
    return ended
